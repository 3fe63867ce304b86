//! A task's own git worktree, on the executing host: the scripts that check
//! and make it, commit its work (sourced by the runner), bundle its branch and
//! remove it. Every backend runs them the same way ([`Executor::run_script`]);
//! the dispatching side's git work (diff, apply, fetch) is in `git`.
//!
//! [`Executor::run_script`]: crate::Executor::run_script

pub mod git;

use crate::model::{TaskId, Worktree};
use crate::runner::{TaskFile, WORKTREE_FILE};
use crate::sh::sh_quote;

/// The part of `worktree.sh` that is the same for every task.
const RUNNER_PART: &str = include_str!("runner_worktree.sh");
/// Arguments: workspace, base, branch. See the script.
pub const PROBE_SCRIPT: &str = include_str!("probe.sh");
/// Arguments: repository, worktree dir, branch, `keep` or nothing.
pub const CLEANUP_SCRIPT: &str = include_str!("cleanup.sh");
/// Checks that git is installed (exit 90 when not), for `--sync` hosts.
pub const GIT_PRESENT_SCRIPT: &str = "command -v git >/dev/null 2>&1 || exit 90\n";
/// Arguments: repository, branch, base commit.
pub const BUNDLE_SCRIPT: &str = include_str!("bundle.sh");

/// What the probe found on the executing host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorktreeSite {
    pub base: String,
    pub repo: String,
    pub subdir: String,
}

/// The bare repository a `--sync` task's bundle is unpacked into, in its task dir.
pub const SYNCED_REPO: &str = "repo.git";

/// Why a worktree task cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorktreeError {
    #[error("git is not installed on {place}")]
    GitMissing { place: String },
    #[error("workspace `{workspace}` is not inside a git repository")]
    NotARepository { workspace: String },
    #[error("unknown base `{base}`: no such commit in the workspace's repository")]
    UnknownBase { base: String },
    #[error("branch `{branch}` already exists")]
    BranchExists { branch: String },
    #[error("cannot check the workspace's repository: {0}")]
    Probe(String),
}

/// Reads what [`PROBE_SCRIPT`] printed and how it exited.
pub fn parse_probe(
    code: Option<i32>,
    stdout: &[u8],
    stderr: &[u8],
    workspace: &str,
    base: &str,
    branch: &str,
    place: &str,
) -> Result<WorktreeSite, WorktreeError> {
    match code {
        Some(0) => {}
        Some(90) => {
            return Err(WorktreeError::GitMissing {
                place: place.to_owned(),
            });
        }
        Some(91) => {
            return Err(WorktreeError::NotARepository {
                workspace: workspace.to_owned(),
            });
        }
        Some(92) => {
            return Err(WorktreeError::UnknownBase {
                base: base.to_owned(),
            });
        }
        Some(93) => {
            return Err(WorktreeError::BranchExists {
                branch: branch.to_owned(),
            });
        }
        _ => {
            return Err(WorktreeError::Probe(
                String::from_utf8_lossy(stderr).trim().to_owned(),
            ));
        }
    }
    let mut parts = stdout.split(|b| *b == 0).map(String::from_utf8_lossy);
    let (Some(base), Some(repo), Some(subdir)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(WorktreeError::Probe("the check printed no result".into()));
    };
    Ok(WorktreeSite {
        base: base.into_owned(),
        repo: repo.into_owned(),
        subdir: subdir.trim_end_matches('/').to_owned(),
    })
}

/// The worktree a task at `task_dir` works in (a path on the executing side).
pub fn worktree_dir(task_dir: &str) -> String {
    format!("{task_dir}/{}", crate::runner::WORKTREE_DIR)
}

/// Where the payload of a worktree task starts: its worktree, at the place
/// the workspace has in the repository.
pub fn payload_workspace(task_dir: &str, worktree: &Worktree) -> String {
    let dir = worktree_dir(task_dir);
    if worktree.subdir.is_empty() {
        dir
    } else {
        format!("{dir}/{}", worktree.subdir)
    }
}

/// `worktree.sh` for one task: its facts, then the shared functions.
/// Makes the worktree on this machine (tasks with `on_host`). Argument: the
/// task dir here.
pub const HOST_SETUP_SCRIPT: &str =
    "cd -- \"$1\" || exit 1\nmask=$(umask)\n. ./worktree-host.sh\nwt_setup >>task.log 2>&1\n";
/// Commits the work on this machine once the task ended (tasks with
/// `on_host`), once: the first process records it, the others wait for it.
/// The lock is a symlink naming its holder, made in one step; a holder killed
/// midway leaves it behind, and since the record can be made again from any
/// point, the next process takes such a lock over. Argument: the task dir here.
pub const HOST_FINISH_SCRIPT: &str = "cd -- \"$1\" || exit 1
[ -e result.json ] && exit 0
i=0
until ln -s \"$$\" .wt-finish.lock 2>/dev/null; do
    holder=$(readlink .wt-finish.lock 2>/dev/null)
    if [ -n \"$holder\" ] && ! kill -0 \"$holder\" 2>/dev/null; then
        rm -f .wt-finish.lock
        continue
    fi
    i=$((i + 1)); [ $i -gt 300 ] && exit 1; sleep 0.1
done
trap 'rm -f .wt-finish.lock' EXIT
[ -e result.json ] && exit 0
. ./worktree-host.sh
wt_finish
";

pub fn runner_file(id: &TaskId, worktree: &Worktree) -> TaskFile {
    let sync = worktree.synced;
    let head = format!(
        "wt_task={}\nwt_repo={}\nwt_base={}\nwt_branch={}\nwt_sync={}\n",
        sh_quote(&id.to_string()),
        sh_quote(&worktree.repo),
        sh_quote(&worktree.base),
        sh_quote(&worktree.branch),
        if sync { "1" } else { "''" },
    );
    TaskFile {
        name: if worktree.on_host {
            crate::runner::WORKTREE_HOST_FILE
        } else {
            WORKTREE_FILE
        },
        contents: [head.as_bytes(), RUNNER_PART.as_bytes()].concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finish_lock_left_by_a_killed_holder_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("worktree-host.sh"),
            "wt_finish() { echo recorded >result.json; }\n",
        )
        .unwrap();
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        gone.wait().unwrap();
        std::os::unix::fs::symlink(gone.id().to_string(), dir.path().join(".wt-finish.lock"))
            .unwrap();
        let started = std::time::Instant::now();
        let status = std::process::Command::new("sh")
            .args(["-c", HOST_FINISH_SCRIPT, "sh"])
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success());
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        let result = std::fs::read_to_string(dir.path().join("result.json")).unwrap();
        assert_eq!(result, "recorded\n");
        assert!(!dir.path().join(".wt-finish.lock").exists());
        assert!(std::fs::symlink_metadata(dir.path().join(".wt-finish.lock")).is_err());
    }

    #[test]
    fn probe_results_map_to_errors() {
        let probe = |code| parse_probe(Some(code), b"", b"", "/w", "main", "openclaw/x", "here");
        assert!(matches!(probe(90), Err(WorktreeError::GitMissing { .. })));
        assert!(matches!(
            probe(91),
            Err(WorktreeError::NotARepository { .. })
        ));
        assert!(matches!(probe(92), Err(WorktreeError::UnknownBase { .. })));
        assert!(matches!(probe(93), Err(WorktreeError::BranchExists { .. })));
        let site = parse_probe(Some(0), b"abc\0/r e\npo\0sub/dir/\0", b"", "", "", "", "").unwrap();
        assert_eq!(site.repo, "/r e\npo");
        assert_eq!(site.subdir, "sub/dir");
    }
}
