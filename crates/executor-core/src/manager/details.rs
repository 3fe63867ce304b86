//! The detailed view of one task (`status --json`, the web API's task): the
//! listing's fields plus the full prompt or command, the task dir, what the
//! backend knows, and the follow-up chain.

use super::{TaskError, TaskManager};
use crate::model::TaskRecord;
use crate::view::{TaskDetails, TaskView};

impl TaskManager {
    /// One line of JSON: the detailed view of `task` at `now`.
    pub fn detailed_json(
        &mut self,
        task: &TaskRecord,
        now: jiff::Timestamp,
    ) -> Result<String, TaskError> {
        let ids = |tasks: &[TaskRecord]| -> Vec<String> {
            tasks.iter().map(|t| t.id.to_string()).collect()
        };
        let (ancestors, followups) = self.chain(task)?;
        let executor = match self.executor(&task.executor) {
            Ok(executor) => executor.details(task),
            Err(_) => None,
        };
        let details = TaskDetails {
            payload_text: self.payload_text(task),
            task_dir: self.task_dir(&task.id).to_string_lossy().into_owned(),
            executor,
            chain: (ids(&ancestors), ids(&followups)),
        };
        let stall_timeout = self.config.defaults.stall_timeout;
        Ok(TaskView::at(task, stall_timeout, now)
            .with_details(task, details)
            .to_json())
    }
}
