//! The Slurm executor (in progress): jobs submitted with `sbatch`, locally or on
//! a login node over SSH, running the core task runner inside the job.

use executor_core::{Executor, ExecutorConfig, ExecutorError, Paths};

pub fn executor(
    config: &ExecutorConfig,
    _paths: &Paths,
    _claude_default: &str,
) -> Result<Box<dyn Executor>, ExecutorError> {
    Err(ExecutorError::Unsupported {
        executor: config.name.clone(),
        kind: "slurm".into(),
    })
}
