//! Write transactions for changes that must be ordered with files written
//! outside the index. The caller holds the write lock from `begin_write` to
//! `commit`: every writer is serialised and sees every earlier change, so a
//! file written meanwhile from the record read here is never older than one
//! written by another process. Dropping a `WriteTx` without committing rolls
//! it back.

use rusqlite::{OptionalExtension, Transaction, params};

use super::error::StoreError;
use super::open::Store;
use super::rows::{COLUMNS, LIVE, UNFINISHED, record_from_row};
use super::webhooks::WebhookOutcome;
use crate::model::{TaskId, TaskRecord, Timestamp, WebhookState};

pub struct WriteTx<'s> {
    pub(super) tx: Transaction<'s>,
}

impl Store {
    /// Takes the index's write lock.
    pub fn begin_write(&mut self) -> Result<WriteTx<'_>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        Ok(WriteTx { tx })
    }
}

impl WriteTx<'_> {
    /// The record of `id` as of now.
    pub fn record(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"))?
            .query_row([id.to_string()], record_from_row)
            .optional()?)
    }

    /// The record of `id` if the task has not ended.
    pub fn unfinished(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        Ok(self
            .tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE id = ?1 AND {UNFINISHED}"
            ))?
            .query_row([id.to_string()], record_from_row)
            .optional()?)
    }

    /// Records that the runner of a live task started.
    pub fn set_launched(
        &self,
        id: &TaskId,
        runner_pid: u32,
        runner_start: Option<&str>,
        started_at: &Timestamp,
    ) -> Result<(), StoreError> {
        self.tx
            .prepare_cached(&format!(
                "UPDATE tasks SET runner_pid = ?2, runner_start = ?3, started_at = ?4, \
                 status = 'running' WHERE id = ?1 AND {LIVE}"
            ))?
            .execute(params![
                id.to_string(),
                runner_pid,
                runner_start,
                started_at.as_str()
            ])?;
        Ok(())
    }

    /// Writes the terminal state of `ended` (read with [`WriteTx::unfinished`]
    /// in this transaction, so only one process gets here per task) and its
    /// rendering; a pending webhook is due at once.
    pub fn set_terminal(&self, ended: &TaskRecord, view_json: &str) -> Result<(), StoreError> {
        debug_assert!(ended.status.is_terminal());
        let webhook_due = (ended.webhook_state == Some(WebhookState::Pending)).then_some(0i64);
        self.tx.execute(
            "UPDATE tasks SET status = ?2, pid = ?3, exit_code = ?4, ended_at = ?5, reason = ?6, \
             webhook_state = ?7, webhook_next_at = ?8, view_json = ?9, worktree = ?10, diffstat = ?11 \
             WHERE id = ?1",
            params![
                ended.id.to_string(),
                ended.status.as_str(),
                ended.pid,
                ended.exit_code,
                ended.ended_at.as_ref().map(Timestamp::as_str),
                ended.reason,
                ended.webhook_state.map(WebhookState::as_str),
                webhook_due,
                view_json,
                ended.worktree.as_ref().map(super::rows::worktree_json),
                super::rows::diffstat_text(ended),
            ],
        )?;
        Ok(())
    }

    /// Records the outcome of a webhook delivery attempt.
    pub fn set_webhook_outcome(
        &self,
        id: &TaskId,
        outcome: &WebhookOutcome,
    ) -> Result<(), StoreError> {
        let (state, next_at, error) = match outcome {
            WebhookOutcome::Delivered => (WebhookState::Delivered, None, None),
            WebhookOutcome::Retry { at_ms, error } => {
                (WebhookState::Pending, Some(*at_ms), Some(error))
            }
            WebhookOutcome::GaveUp { error } => (WebhookState::Failed, None, Some(error)),
        };
        self.tx.execute(
            "UPDATE tasks SET webhook_state = ?2, webhook_next_at = ?3, webhook_error = ?4 \
             WHERE id = ?1",
            params![id.to_string(), state.as_str(), next_at, error],
        )?;
        Ok(())
    }

    /// Replaces the stored rendering of an ended task.
    pub fn set_view_json(&self, id: &TaskId, view_json: &str) -> Result<(), StoreError> {
        self.tx.execute(
            "UPDATE tasks SET view_json = ?2 WHERE id = ?1",
            params![id.to_string(), view_json],
        )?;
        Ok(())
    }

    pub fn commit(self) -> Result<(), StoreError> {
        self.tx.commit()?;
        Ok(())
    }
}
