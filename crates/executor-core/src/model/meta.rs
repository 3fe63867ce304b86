//! The `.meta.json` document of a task (documented in `docs/task-files.md`):
//! what a task directory says about its task, enough to rebuild the index.

use serde::{Deserialize, Serialize};

use super::id::TaskId;
use super::kinds::{ExecutorType, TaskStatus, TaskType};
use super::record::TaskRecord;
use super::timestamp::Timestamp;
use super::worktree::Worktree;

/// Version of the `.meta.json` schema; bump it when a field changes meaning.
pub const META_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMeta {
    pub schema_version: u32,
    pub task_id: TaskId,
    pub executor: String,
    pub executor_type: ExecutorType,
    pub task_type: TaskType,
    pub status: TaskStatus,
    /// Why a task failed or was lost, when the exit code alone does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Process id of the payload, which is also its process group and session id.
    pub pid: Option<u32>,
    /// Process id of the task runner that supervises the payload.
    pub runner_pid: Option<u32>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub workspace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_task_id: Option<TaskId>,
    /// The model asked for (`--model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The task's budget in USD (`--max-budget-usd`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_budget_usd: Option<f64>,
    pub exit_code: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worktree: Option<Worktree>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

impl TaskMeta {
    /// The prompt or command the document carries.
    pub fn payload_text(&self) -> Option<&str> {
        match self.task_type {
            TaskType::ShellCommand => self.command.as_deref(),
            _ => self.prompt.as_deref(),
        }
    }

    /// The document as written to disk: pretty JSON and a newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }
}

impl TaskRecord {
    /// The `.meta.json` document, with the full prompt or command.
    pub fn to_meta(&self, payload_text: Option<String>) -> TaskMeta {
        let (prompt, command) = match self.task_type {
            TaskType::ShellCommand => (None, payload_text),
            _ => (payload_text, None),
        };
        TaskMeta {
            schema_version: META_SCHEMA_VERSION,
            task_id: self.id,
            executor: self.executor.clone(),
            executor_type: self.executor_type.clone(),
            task_type: self.task_type,
            status: self.status,
            reason: self.reason.clone(),
            pid: self.pid,
            runner_pid: self.runner_pid,
            created_at: self.created_at.clone(),
            started_at: self.started_at.clone(),
            ended_at: self.ended_at.clone(),
            workspace: self.workspace.clone(),
            prompt,
            command,
            max_turns: self.max_turns,
            session_id: self.session_id.clone(),
            parent_task_id: self.parent_id,
            model: self.model.clone(),
            max_budget_usd: self.max_budget_usd,
            exit_code: self.exit_code,
            worktree: self.worktree.clone(),
            group_id: self.group_id.clone(),
        }
    }

    /// The record a task's `.meta.json` describes, for rebuilding a lost index.
    /// What the meta does not keep starts empty: the runner's start identity
    /// (liveness then rests on the pid alone), agent stats (read again from a
    /// live task's log), and webhook state (an ended task is not announced
    /// again; its completion record was written when it ended).
    /// `summary` is the index's shortening of the meta's text ([`summarize`]).
    pub fn from_meta(meta: TaskMeta, summary: &str) -> Self {
        Self {
            id: meta.task_id,
            executor: meta.executor,
            executor_type: meta.executor_type,
            task_type: meta.task_type,
            status: meta.status,
            reason: meta.reason,
            pid: meta.pid,
            runner_pid: meta.runner_pid,
            runner_start: None,
            created_at: meta.created_at,
            started_at: meta.started_at,
            ended_at: meta.ended_at,
            exit_code: meta.exit_code,
            workspace: meta.workspace,
            summary: summary.to_owned(),
            max_turns: meta.max_turns,
            session_id: meta.session_id,
            webhook_state: None,
            webhook_attempts: 0,
            webhook_error: None,
            agent: None,
            parent_id: meta.parent_task_id,
            model: meta.model,
            max_budget_usd: meta.max_budget_usd,
            priority: 0,
            claimed_at: None,
            worktree: meta.worktree,
            group_id: meta.group_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::summarize;

    /// A `.meta.json` as the version before typed record fields wrote it.
    const OLD_META: &str = r#"{
  "schema_version": 1,
  "task_id": "01900000-0000-7000-8000-000000000001",
  "executor": "gpu",
  "executor_type": "slurm",
  "task_type": "shell_command",
  "status": "failed",
  "reason": "exit code 3",
  "pid": 12,
  "runner_pid": 0,
  "created_at": "2026-01-01T00:00:00.123Z",
  "started_at": "2026-01-01T00:00:00.456Z",
  "ended_at": "2026-11-27T09:00:00Z",
  "workspace": "/w",
  "command": "exit 3",
  "exit_code": 3
}
"#;

    #[test]
    fn an_old_meta_reads_and_writes_back_byte_for_byte() {
        let meta: TaskMeta = serde_json::from_str(OLD_META).unwrap();
        assert_eq!(meta.executor_type.as_str(), "slurm");
        let record = TaskRecord::from_meta(meta.clone(), &summarize("exit 3"));
        assert_eq!(record.summary, "exit 3");
        let again = record.to_meta(Some("exit 3".into()));
        assert_eq!(again, meta);
        assert_eq!(String::from_utf8(again.to_bytes()).unwrap(), OLD_META);
    }
}
