//! Exit codes and the one-line error every failure becomes.

use executor_core::config::ConfigError;
use executor_core::{StoreError, TaskError, error_chain};

/// Documented exit codes (README, `--help`).
pub mod code {
    pub const OK: u8 = 0;
    /// An operation failed for a reason not covered below.
    pub const FAILURE: u8 = 1;
    /// Bad command-line usage (clap's own code).
    pub const USAGE: u8 = 2;
    pub const CONFIG: u8 = 3;
    /// Unknown, ambiguous or malformed task id.
    pub const NO_SUCH_TASK: u8 = 4;
    /// Unknown executor, bad workspace, launch or transport failure.
    pub const EXECUTOR: u8 = 5;
    /// The data directory or the task index cannot be used.
    pub const STORE: u8 = 6;
    /// The task is in the wrong state for the request (e.g. kill of a finished task).
    pub const TASK_STATE: u8 = 7;
    /// `wait --timeout` ran out.
    pub const TIMEOUT: u8 = 124;
    /// `wait` on a task that ended without an exit code (lost).
    pub const NO_EXIT_CODE: u8 = 125;
}

#[derive(Debug)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The message as one line, whatever the sources held.
    pub fn one_line(&self) -> String {
        self.message
            .split(['\n', '\r'])
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

impl From<ConfigError> for CliError {
    fn from(err: ConfigError) -> Self {
        Self::new(code::CONFIG, error_chain(&err))
    }
}

impl From<StoreError> for CliError {
    fn from(err: StoreError) -> Self {
        let code = match err {
            StoreError::NotFound(_) | StoreError::Ambiguous { .. } => code::NO_SUCH_TASK,
            _ => code::STORE,
        };
        Self::new(code, store_message(&err))
    }
}

impl From<TaskError> for CliError {
    fn from(err: TaskError) -> Self {
        let code = match &err {
            TaskError::Store(StoreError::NotFound(_) | StoreError::Ambiguous { .. })
            | TaskError::InvalidId(_) => code::NO_SUCH_TASK,
            TaskError::Store(_) | TaskError::Mirror { .. } => code::STORE,
            TaskError::UnknownExecutor { .. }
            | TaskError::Executor(_)
            | TaskError::Refused { .. }
            | TaskError::NoExecutorForLabels { .. } => code::EXECUTOR,
            TaskError::NotResumable { .. } => code::TASK_STATE,
            TaskError::AlreadyFinished { .. }
            | TaskError::StillLive { .. }
            | TaskError::ProcessesLeft { .. } => code::TASK_STATE,
            TaskError::Timeout { .. } => code::TIMEOUT,
            TaskError::InvalidRequest(_) => code::USAGE,
        };
        match &err {
            TaskError::Store(store) => Self::new(code, store_message(store)),
            _ => Self::new(code, error_chain(&err)),
        }
    }
}

/// A store error, pointing to the recovery when the index itself is damaged.
fn store_message(err: &StoreError) -> String {
    let message = error_chain(err);
    if err.is_damaged_index() {
        format!("{message}; run `openclaw-agent reindex` to rebuild it")
    } else {
        message
    }
}

impl From<executor_core::paths::NoHome> for CliError {
    fn from(err: executor_core::paths::NoHome) -> Self {
        Self::new(code::STORE, err.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(err: std::io::Error) -> Self {
        // A closed pipe (`list | head`) is the reader's choice, not a failure.
        if err.kind() == std::io::ErrorKind::BrokenPipe {
            return Self::new(code::OK, "");
        }
        Self::new(code::FAILURE, format!("cannot write output: {err}"))
    }
}

impl From<executor_core::ExecutorError> for CliError {
    fn from(err: executor_core::ExecutorError) -> Self {
        Self::new(code::EXECUTOR, error_chain(&err))
    }
}
