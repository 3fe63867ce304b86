//! The webhook queue: ended tasks waiting for their completion record to be
//! delivered, leased to one deliverer at a time.

use rusqlite::{OptionalExtension, params};

use super::error::StoreError;
use super::open::Store;
use super::rows::{COLUMNS, record_from_row};
use crate::model::TaskRecord;

pub enum WebhookClaim {
    Idle,
    NotDue { due_ms: i64 },
    Due(Box<TaskRecord>),
}

pub enum WebhookOutcome {
    Delivered,
    Retry { at_ms: i64, error: String },
    GaveUp { error: String },
}

impl Store {
    /// Whether any webhook is waiting to be delivered.
    pub fn has_pending_webhooks(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM tasks WHERE webhook_state = 'pending' LIMIT 1")?
            .exists([])?)
    }

    /// Takes the next due webhook for delivery, leasing it for `lease_ms` so no
    /// other deliverer sends it meanwhile. Returns it with the time of the next
    /// pending delivery when none is due yet.
    pub fn claim_webhook(
        &mut self,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<WebhookClaim, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let next: Option<(String, i64)> = tx
            .query_row(
                "SELECT id, webhook_next_at FROM tasks WHERE webhook_state = 'pending' \
                 ORDER BY webhook_next_at LIMIT 1",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()?;
        let Some((id, due)) = next else {
            return Ok(WebhookClaim::Idle);
        };
        if due > now_ms {
            return Ok(WebhookClaim::NotDue { due_ms: due });
        }
        tx.execute(
            "UPDATE tasks SET webhook_next_at = ?2, webhook_attempts = webhook_attempts + 1 \
             WHERE id = ?1",
            params![id, now_ms + lease_ms],
        )?;
        let record = tx
            .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"))?
            .query_row([&id], record_from_row)?;
        tx.commit()?;
        Ok(WebhookClaim::Due(Box::new(record)))
    }
}
