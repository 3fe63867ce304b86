//! Completion records: their shape, and their delivery to the webhook over HTTP.
//! Writing the record file is the task directory owner's job (`taskdir`).

use std::time::Duration;

use serde::Serialize;

use crate::model::{TaskRecord, Timestamp};
use crate::view::TaskView;

/// The JSON written to `~/.openclaw-agent/completions/<id>.json` and POSTed to
/// the webhook. The top-level fields are the record's own; `task` is the
/// task's view as it ended (without its webhook state: that is the delivery
/// of this very record), so the file and every delivery carry the same bytes.
#[derive(Debug, Serialize)]
pub struct CompletionRecord<'a> {
    pub task_id: String,
    /// `success` for a task that completed, `failure` for every other end.
    pub status: &'static str,
    pub exit_code: Option<i32>,
    pub completed_at: String,
    pub executor: &'a str,
    pub task_status: &'static str,
    pub task_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    pub task: TaskView<'a>,
}

impl<'a> CompletionRecord<'a> {
    pub fn of(task: &'a TaskRecord) -> Self {
        let mut view = TaskView::ended(task);
        view.webhook = None;
        Self {
            task_id: task.id.to_string(),
            status: if task.status.is_success() {
                "success"
            } else {
                "failure"
            },
            exit_code: task.exit_code,
            completed_at: task
                .ended_at
                .clone()
                .unwrap_or_else(Timestamp::now)
                .into_string(),
            executor: &task.executor,
            task_status: task.status.as_str(),
            task_type: task.task_type.as_str(),
            reason: task.reason.as_deref(),
            task: view,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

/// How long one webhook request may take.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts before a webhook is given up (recorded as `failed`).
pub const WEBHOOK_MAX_ATTEMPTS: u32 = 6;

/// Delay before retry number `attempt` (1-based): 1 s, 2 s, 4 s, ... capped at 60 s.
pub fn webhook_backoff(attempt: u32) -> Duration {
    Duration::from_secs(1u64 << attempt.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook answered HTTP {0}")]
    Status(u16),
    #[error("webhook request failed")]
    Transport(#[from] ureq::Error),
}

/// Header carrying `sha256=<hex HMAC-SHA256 of the body>` when a secret is set.
pub const SIGNATURE_HEADER: &str = "x-openclaw-signature";

/// `sha256=<hex>`: the HMAC-SHA256 of `body` keyed with `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = <hmac::Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs the completion record of `task`, signed when `secret` is set; a 2xx
/// answer is success.
pub fn post_webhook(
    url: &str,
    secret: Option<&str>,
    task: &TaskRecord,
) -> Result<(), WebhookError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(WEBHOOK_TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let body = CompletionRecord::of(task).to_json();
    let mut request = agent.post(url);
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, signature(secret, &body));
    }
    let response = request
        .header("content-type", "application/json")
        .header(
            "user-agent",
            concat!("openclaw-agent/", env!("CARGO_PKG_VERSION")),
        )
        .header("x-openclaw-event", "task.completed")
        // Lets a receiver drop a duplicate if a delivery is retried after a lost answer.
        .header("x-openclaw-delivery", task.id.to_string())
        .send(&body[..])?;
    let status = response.status().as_u16();
    if (200..300).contains(&status) {
        Ok(())
    } else {
        Err(WebhookError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_matches_a_known_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            super::signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}

#[cfg(test)]
mod record_tests {
    use super::CompletionRecord;
    use crate::model::{
        ExecutorType, Payload, TaskId, TaskRecord, TaskSpec, TaskStatus, WebhookState,
    };

    #[test]
    fn the_record_keeps_its_fields_and_carries_the_task_as_it_ended() {
        let spec = TaskSpec {
            executor: "local".into(),
            priority: 0,
            workspace: "/w".into(),
            payload: Payload::ShellCommand {
                command: "exit 5".into(),
            },
            parent: None,
            worktree: None,
            group: None,
        };
        let mut task = TaskRecord::new(TaskId::new(), &spec, ExecutorType::LOCAL);
        task.status = TaskStatus::Failed;
        task.exit_code = Some(5);
        task.ended_at = Some("2026-01-01T00:00:00.000Z".into());
        task.webhook_state = Some(WebhookState::Pending);
        let written = CompletionRecord::of(&task).to_json();
        let value: serde_json::Value = serde_json::from_slice(&written).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "task_id",
                "status",
                "exit_code",
                "completed_at",
                "executor",
                "task_status",
                "task_type",
                "task"
            ]
        );
        assert_eq!(value["status"], "failure");
        assert_eq!(value["task"]["exit_code"], 5);
        assert_eq!(value["task"]["task_id"], task.id.to_string());
        // Each delivery attempt changes the webhook state, never the body.
        task.webhook_state = Some(WebhookState::Failed);
        task.webhook_attempts = 3;
        assert_eq!(CompletionRecord::of(&task).to_json(), written);
    }
}
