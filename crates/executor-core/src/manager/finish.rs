//! The end of a task: its move to a terminal state, exactly once across all
//! processes, with its completion record and final `.meta.json`.

use super::{TaskError, TaskManager};
use crate::model::{StatusUpdate, TaskId, TaskRecord, WebhookState};
use crate::view::TaskView;

impl TaskManager {
    /// Moves a task that has not ended to the terminal state of `update`.
    ///
    /// Under the index's write lock: read the task (only a task still
    /// unfinished goes on, so one process wins), write its completion record
    /// and meta, then record the end and commit. A crash before the commit
    /// leaves the task unfinished for another process to end again, rewriting
    /// the same files; after it, nobody ends it twice.
    /// Returns the finished record, or `None` when the task had already ended.
    pub(super) fn finish(
        &mut self,
        id: &TaskId,
        update: &StatusUpdate,
    ) -> Result<Option<TaskRecord>, TaskError> {
        debug_assert!(update.status.is_terminal());
        let webhook = self.config.defaults.webhook_url.is_some();
        let tx = self.store.begin_write()?;
        let Some(mut record) = tx.unfinished(id)? else {
            return Ok(None);
        };
        record.apply(update);
        record.webhook_state = webhook.then_some(WebhookState::Pending);
        self.dirs.write_completion(&record)?;
        self.dirs.write_meta(&record)?;
        tx.set_terminal(&record, &TaskView::ended(&record).to_json())?;
        tx.commit()?;
        Ok(Some(record))
    }

    /// Rewrites `.meta.json` from the index, read under the write lock so that
    /// a slower process never writes an older state over a newer one.
    pub(super) fn write_meta(&mut self, id: &TaskId) -> Result<(), TaskError> {
        let tx = self.store.begin_write()?;
        if let Some(record) = tx.record(id)? {
            self.dirs.write_meta(&record)?;
        }
        tx.commit()?;
        Ok(())
    }
}
