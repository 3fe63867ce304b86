//! A worktree task's work: its patch, its branch brought home, its worktree
//! and branch removed on the executing host.

use std::path::Path;

use super::{TaskError, TaskManager};
use crate::model::{BRANCH_PREFIX, TaskRecord, WorkResult, Worktree};
use crate::runner::{PATCH_FILE, RESULT_FILE, WORKTREE_DIR};
use crate::worktree::{self, git};

impl TaskManager {
    /// The worktree and recorded result of `task`, or why it has none.
    pub fn work_result<'t>(
        &self,
        task: &'t TaskRecord,
    ) -> Result<(&'t Worktree, &'t WorkResult), TaskError> {
        let worktree = task
            .worktree
            .as_ref()
            .ok_or(TaskError::NoWorktree { id: task.id })?;
        let result = worktree.result.as_ref().ok_or(TaskError::NoWorkResult {
            id: task.id,
            status: task.status,
        })?;
        Ok((worktree, result))
    }

    /// A worktree task's `result.json`, for backends whose observe does not
    /// bring it along: one read when the task ends. `None` when the runner
    /// wrote none (the worktree could not be made, the runner was killed).
    pub(super) fn read_work_result(&mut self, task: &TaskRecord) -> Option<WorkResult> {
        let executor = self.executor(&task.executor).ok()?;
        if task.worktree.as_ref().is_some_and(|w| w.on_host)
            && let Some(dir) = executor.host_task_dir(&task.id)
        {
            // The payload could not commit: its work is committed here, once.
            let _ = executor.run_script(worktree::HOST_FINISH_SCRIPT, &[&dir]);
        }
        let bytes = executor.read_task_file(task, RESULT_FILE).ok()?;
        WorkResult::parse(&bytes)
    }

    /// The binary-safe patch from the task's base to its head, read from its
    /// task dir over the executor's connection.
    pub fn work_patch(&mut self, task: &TaskRecord) -> Result<Vec<u8>, TaskError> {
        self.work_result(task)?;
        Ok(self
            .executor(&task.executor)?
            .read_task_file(task, PATCH_FILE)?)
    }

    /// Applies the task's change to the checkout at `target`, all or nothing.
    pub fn apply_work(
        &mut self,
        task: &TaskRecord,
        target: &Path,
        three_way: bool,
    ) -> Result<(), TaskError> {
        let patch = self.work_patch(task)?;
        git::apply(target, &patch, three_way)?;
        self.mark_delivered(task)
    }

    /// Brings the task's branch, with its commits, into the repository at
    /// `into` under the same name. From a local task's repository directly;
    /// from elsewhere as a bundle over the executor's connection, kept in a
    /// private temporary file.
    pub fn fetch_work(&mut self, task: &TaskRecord, into: &Path) -> Result<String, TaskError> {
        let (worktree, result) = self.work_result(task)?;
        let executor = self.executor(&task.executor)?;
        if executor.config().settings.is_local() {
            git::fetch(into, worktree.repo.as_ref(), &worktree.branch)?;
        } else {
            let out = executor.run_script(
                worktree::BUNDLE_SCRIPT,
                &[&worktree.repo, &worktree.branch, &result.base],
            )?;
            if out.code != Some(0) {
                return Err(TaskError::Executor(crate::ExecutorError::failed(
                    executor.name(),
                    format!(
                        "cannot bundle branch {}: {}",
                        worktree.branch,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ),
                )));
            }
            let bundle = git::temp_file(&out.stdout, ".bundle")?;
            git::fetch(into, bundle.path().as_os_str(), &worktree.branch)?;
        }
        let branch = worktree.branch.clone();
        self.mark_delivered(task)?;
        Ok(branch)
    }

    /// Records that the task's result has been taken home (`cleanup` then
    /// removes it without asking).
    fn mark_delivered(&mut self, task: &TaskRecord) -> Result<(), TaskError> {
        let Some(mut worktree) = task.worktree.clone() else {
            return Ok(());
        };
        worktree.delivered_at = Some(crate::time::now_rfc3339());
        self.store.set_worktree(&task.id, &worktree)?;
        Ok(())
    }

    /// Removes the task's worktree and, unless `keep_branch`, its branch, on
    /// the executing host. Never another branch: only `openclaw/…` names.
    pub(super) fn remove_worktree(
        &mut self,
        task: &TaskRecord,
        keep_branch: bool,
    ) -> Result<(), TaskError> {
        let Some(worktree) = &task.worktree else {
            return Ok(());
        };
        let executor = self.executor(&task.executor)?;
        let task_dir = executor
            .host_task_dir(&task.id)
            .filter(|_| worktree.on_host)
            .unwrap_or_else(|| executor.task_dir(&task.id));
        let dir = format!("{task_dir}/{WORKTREE_DIR}");
        let keep = keep_branch || !worktree.branch.starts_with(BRANCH_PREFIX);
        let out = executor.run_script(
            worktree::CLEANUP_SCRIPT,
            &[
                &worktree.repo,
                &dir,
                &worktree.branch,
                if keep { "keep" } else { "" },
            ],
        )?;
        if out.code != Some(0) {
            return Err(TaskError::Executor(crate::ExecutorError::failed(
                executor.name(),
                format!(
                    "cannot remove the worktree of task {}: {}",
                    task.id,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            )));
        }
        Ok(())
    }
}

/// Whether `task` holds work nobody has fetched or applied yet.
pub fn undelivered(task: &TaskRecord) -> Option<&WorkResult> {
    let worktree = task.worktree.as_ref()?;
    let result = worktree.result.as_ref()?;
    (worktree.delivered_at.is_none() && result.base != result.head).then_some(result)
}
