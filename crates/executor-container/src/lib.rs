//! The container executor (Docker / Podman). Its configuration is parsed and
//! validated by `executor-core`; the engine driver arrives with the container
//! issue, and until then dispatching to it fails with a clear error.

use executor_core::{Executor, ExecutorConfig, ExecutorError, Paths};

pub fn executor(
    config: &ExecutorConfig,
    _paths: &Paths,
) -> Result<Box<dyn Executor>, ExecutorError> {
    Err(ExecutorError::Unsupported {
        executor: config.name.clone(),
        kind: "container".into(),
    })
}
