//! The task runner: the files of a task directory, the script that supervises the
//! payload, and how the runner's records turn into a task status.
//!
//! Every executor uses the same runner; they differ only in how the files reach
//! the task directory, how the runner is started, and how records are read back.

mod files;
mod records;

pub use files::{
    AGENT_USAGE_FILE, BUNDLE_FILE, COMMAND_FILE, EXIT_FILE, GATED, KEEP_BACKGROUND, KILL_MARKER,
    LOG_FILE, META_FILE, PATCH_FILE, PAYLOAD_FILE, PID_FILE, PROMPT_FILE, RESULT_FILE, RUNNER_FILE,
    RUNNER_PID_FILE, RUNNER_SCRIPT, TaskFile, WORKTREE_DIR, WORKTREE_FILE, WORKTREE_HOST_FILE,
    keep_background_arg, sh_quote, task_files,
};
pub use records::{
    ExitRecord, FileStat, ObservedState, RunnerObservation, parse_kill_marker, parse_pid_file,
};
