//! The end of a task: its move to a terminal state, exactly once across all
//! processes, with its completion record and final `.meta.json`.

use super::{TaskError, TaskManager};
use crate::model::{StatusUpdate, TaskId, TaskRecord, WebhookState};
use crate::view::TaskView;

/// Ends recorded per index transaction by [`TaskManager::finish_many`]: the
/// write lock is held for a few tens of milliseconds at most.
const FINISH_CHUNK: usize = 64;

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

    /// [`finish`](TaskManager::finish) for many tasks, a few dozen per index
    /// transaction: the ends one reconciliation round saw (a bulk kill's
    /// thousand) cost a handful of commits, not one each. Same order of
    /// writes per task: a crash before a commit leaves its tasks unfinished,
    /// to be ended again with the same files.
    pub(super) fn finish_many(
        &mut self,
        ends: &[(TaskId, StatusUpdate)],
    ) -> Result<Vec<TaskRecord>, TaskError> {
        let webhook = self.config.defaults.webhook_url.is_some();
        let mut finished = Vec::new();
        for chunk in ends.chunks(FINISH_CHUNK) {
            let tx = self.store.begin_write()?;
            for (id, update) in chunk {
                debug_assert!(update.status.is_terminal());
                let Some(mut record) = tx.unfinished(id)? else {
                    continue;
                };
                record.apply(update);
                record.webhook_state = webhook.then_some(WebhookState::Pending);
                self.dirs.write_completion(&record)?;
                self.dirs.write_meta(&record)?;
                tx.set_terminal(&record, &TaskView::ended(&record).to_json())?;
                finished.push(record);
            }
            tx.commit()?;
        }
        Ok(finished)
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
