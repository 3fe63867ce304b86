//! Which tasks a bulk operation (`kill`, `cleanup`, `wait`, `logs`) acts on.

use std::time::Duration;

use super::{TaskRecord, TaskStatus};

/// Tasks chosen by what they are rather than by id. The criteria given all
/// have to match; none given (with `--all`) matches every task.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub status: Option<TaskStatus>,
    /// Tasks of any of these executors (`--executor`, or the executors that
    /// carry `--label`); `None`: any executor.
    pub executors: Option<Vec<String>>,
    /// Tasks of this fan-out group.
    pub group: Option<String>,
    /// Tasks that ended (or, still live, were created) at least this long ago.
    pub older_than: Option<Duration>,
    /// Without an explicit `status`: only tasks that have not ended (`kill`),
    /// or only tasks that have (`cleanup`); `None`: both.
    pub ended: Option<bool>,
}

impl Selection {
    /// Whether `task` matches the criteria the index query does not check.
    pub fn matches_age(&self, task: &TaskRecord) -> bool {
        let Some(limit) = self.older_than else {
            return true;
        };
        let since = task.ended_at.as_ref().unwrap_or(&task.created_at);
        since
            .seconds_since()
            .is_some_and(|age| u64::try_from(age).is_ok_and(|age| age >= limit.as_secs()))
    }
}
