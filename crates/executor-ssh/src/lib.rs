//! The SSH executor. Its configuration is parsed and validated by
//! `executor-core`; the transport arrives with the SSH issue, and until then
//! dispatching to an SSH executor fails with a clear error instead of guessing.

use executor_core::{Executor, ExecutorConfig, ExecutorError, Paths};

pub fn executor(
    config: &ExecutorConfig,
    _paths: &Paths,
) -> Result<Box<dyn Executor>, ExecutorError> {
    Err(ExecutorError::Unsupported {
        executor: config.name.clone(),
        kind: "ssh".into(),
    })
}
