//! Webhook delivery: POSTing completion records, with retries and backoff.

use std::time::{Duration, Instant};

use super::{TaskError, TaskManager, error_chain};
use crate::completion;
use crate::model::TaskId;
use crate::store::{WebhookClaim, WebhookOutcome};
use crate::time;
use crate::view::TaskView;

impl TaskManager {
    /// Delivers due webhooks; with `wait`, also waits for retries that are not
    /// due yet, until none is pending or `max_runtime` passes. Returns how many
    /// were delivered.
    pub fn deliver_webhooks(
        &mut self,
        max_runtime: Duration,
        wait: bool,
    ) -> Result<usize, TaskError> {
        let Some(url) = self.config.defaults.webhook_url.clone() else {
            return Ok(0);
        };
        let lease_ms = (completion::WEBHOOK_TIMEOUT.as_millis() as i64) * 2;
        let started = Instant::now();
        let mut delivered = 0;
        while started.elapsed() < max_runtime {
            let now = time::now_ms();
            match self.store.claim_webhook(now, lease_ms)? {
                WebhookClaim::Idle => break,
                WebhookClaim::NotDue { .. } if !wait => break,
                WebhookClaim::NotDue { due_ms } => {
                    let wait = Duration::from_millis((due_ms - now).clamp(1, 60_000) as u64);
                    std::thread::sleep(wait);
                }
                WebhookClaim::Due(task) => {
                    let secret = self.config.defaults.webhook_secret.as_deref();
                    let outcome = match completion::post_webhook(&url, secret, &task) {
                        Ok(()) => {
                            delivered += 1;
                            WebhookOutcome::Delivered
                        }
                        Err(err) if task.webhook_attempts >= completion::WEBHOOK_MAX_ATTEMPTS => {
                            WebhookOutcome::GaveUp {
                                error: error_chain(&err),
                            }
                        }
                        Err(err) => WebhookOutcome::Retry {
                            at_ms: time::now_ms()
                                + completion::webhook_backoff(task.webhook_attempts).as_millis()
                                    as i64,
                            error: error_chain(&err),
                        },
                    };
                    self.record_webhook_outcome(&task.id, &outcome)?;
                }
            }
        }
        Ok(delivered)
    }

    /// Stores a delivery's outcome and, for an ended task, its rendering,
    /// which shows the webhook state.
    fn record_webhook_outcome(
        &mut self,
        id: &TaskId,
        outcome: &WebhookOutcome,
    ) -> Result<(), TaskError> {
        let tx = self.store.begin_write()?;
        tx.set_webhook_outcome(id, outcome)?;
        if let Some(record) = tx.record(id)?
            && record.status.is_terminal()
        {
            tx.set_view_json(id, &TaskView::ended(&record).to_json())?;
        }
        tx.commit()?;
        Ok(())
    }
}
