//! What `start`, `run` and `run --batch` take from the command line alike:
//! the prompt file, and whether a task gets a worktree.

use std::io::Read;

use executor_core::model::WorktreeRequest;
use executor_core::{IsolationChoice, TaskManager, TaskSpec};

use crate::cli::Isolation;
use crate::exit::{CliError, code};

/// Whether the task gets a worktree of its own (see
/// [`TaskManager::worktree_for`]); a `--sync` to a host ships the repository
/// of the current directory (the workspace is a path over there).
pub(crate) fn worktree_request(
    manager: &TaskManager,
    spec: &TaskSpec,
    isolation: &Isolation,
    forced: bool,
) -> Result<Option<WorktreeRequest>, CliError> {
    let choice = IsolationChoice {
        worktree: isolation.worktree,
        no_worktree: isolation.no_worktree,
        sync: isolation.sync,
        base: isolation.base.clone(),
    };
    // Only a sync to a host needs it; without one that sync is refused.
    let here = std::env::current_dir().ok();
    Ok(manager.worktree_for(spec, &choice, forced, here.as_deref())?)
}

pub(crate) fn read_prompt_file(path: &std::path::Path) -> Result<String, CliError> {
    let mut bytes = Vec::new();
    let result = if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ()))
    };
    result.map_err(|err| {
        CliError::new(
            code::USAGE,
            format!("cannot read prompt file {}: {err}", path.display()),
        )
    })?;
    String::from_utf8(bytes).map_err(|_| {
        CliError::new(
            code::USAGE,
            format!("prompt file {} is not valid UTF-8", path.display()),
        )
    })
}
