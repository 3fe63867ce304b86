//! The one JSON shape of a task (documented in `docs/task-files.md`). It
//! serves `status --json` (with the detail fields), `list --json(l)`,
//! `dashboard --stream`, `kill --json`, and the `task` part of completion
//! records and webhook bodies. Ended tasks never change shape again, so the
//! index keeps their rendering (`view_json`) and listings stream it.
//!
//! Stands on the model alone.

use std::time::Duration;

use serde::Serialize;
use serde::ser::SerializeMap;

use crate::model::{AgentStats, TaskRecord, WorkResult};

#[derive(Debug, Serialize)]
pub struct TaskView<'a> {
    pub task_id: String,
    pub executor: &'a str,
    pub executor_type: &'a str,
    pub task_type: &'static str,
    pub status: &'static str,
    pub reason: Option<&'a str>,
    pub pid: Option<u32>,
    pub runner_pid: Option<u32>,
    pub created_at: &'a str,
    pub started_at: Option<&'a str>,
    pub ended_at: Option<&'a str>,
    pub exit_code: Option<i32>,
    pub workspace: &'a str,
    pub summary: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_task_id: Option<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// The agent CLI (`claude`, `codex`, `gemini`, `opencode`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_cli: Option<&'static str>,
    /// The model asked for (`--model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_budget_usd: Option<f64>,
    /// A worktree task's branch (`openclaw/<short id>`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<&'a str>,
    /// A worktree task's result: `null` until the runner has recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diffstat: Option<Option<DiffstatView<'a>>>,
    /// The fan-out group (`start --fanout`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<&'a str>,
    /// Agent tasks: whether it has been silent for longer than `stall_timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stalled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookView<'a>>,
    // Details, shown by `status --json` only (see [`TaskView::with_details`]).
    /// The full prompt of an agent task (`null` when its file is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<Option<String>>,
    /// The full command of a shell task (`null` when its file is gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_dir: Option<String>,
    /// What the backend knows beyond the status, under its type's name.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub executor_details: Option<ExecutorDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain: Option<ChainView>,
}

fn is_zero(value: &i32) -> bool {
    *value == 0
}

/// Agent activity, from the Claude Code stream.
#[derive(Debug, Serialize)]
pub struct AgentView<'a> {
    pub session_id: Option<&'a str>,
    pub model: Option<&'a str>,
    pub turns: u64,
    pub tool_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub total_cost_usd: Option<f64>,
    /// The cost was priced from the token counts (the CLI reports none).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cost_estimated: bool,
    /// The last tool called and a one-line summary of its argument.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tool: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tool_input: Option<&'a str>,
    pub result_subtype: Option<&'a str>,
    pub is_error: Option<bool>,
    pub result: Option<&'a str>,
    pub last_activity: Option<&'a str>,
}

impl<'a> AgentView<'a> {
    fn of(stats: &'a AgentStats) -> Self {
        Self {
            session_id: stats.session_id.as_deref(),
            model: stats.model.as_deref(),
            turns: stats.turns,
            tool_calls: stats.tool_calls,
            input_tokens: stats.input_tokens,
            output_tokens: stats.output_tokens,
            cache_creation_input_tokens: stats.cache_creation_input_tokens,
            cache_read_input_tokens: stats.cache_read_input_tokens,
            total_cost_usd: stats.total_cost_usd,
            cost_estimated: stats.cost_estimated,
            last_tool: stats.last_tool.as_deref(),
            last_tool_input: stats.last_tool_input.as_deref(),
            result_subtype: stats.result_subtype.as_deref(),
            is_error: stats.is_error,
            result: stats.result.as_deref(),
            last_activity: stats.last_activity.as_deref(),
        }
    }
}

/// What a worktree task's branch holds beyond its base.
#[derive(Debug, Serialize)]
pub struct DiffstatView<'a> {
    pub base: &'a str,
    pub head: &'a str,
    pub files_changed: u64,
    pub insertions: u64,
    pub deletions: u64,
}

impl<'a> DiffstatView<'a> {
    fn of(result: &'a WorkResult) -> Self {
        Self {
            base: &result.base,
            head: &result.head,
            files_changed: result.files_changed,
            insertions: result.insertions,
            deletions: result.deletions,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct WebhookView<'a> {
    pub state: &'static str,
    pub attempts: u32,
    pub error: Option<&'a str>,
}

/// An executor's own facts about a task, shown as one object keyed by the
/// executor's type (`"slurm": {"job_id": ...}`).
#[derive(Debug)]
pub struct ExecutorDetails {
    pub key: String,
    pub fields: serde_json::Map<String, serde_json::Value>,
}

impl Serialize for ExecutorDetails {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(&self.key, &self.fields)?;
        map.end()
    }
}

/// The follow-up chain of an agent task: ids before it (oldest first) and after it.
#[derive(Debug, Serialize)]
pub struct ChainView {
    pub ancestors: Vec<String>,
    pub followups: Vec<String>,
}

/// What `status --json` adds to the view.
#[derive(Debug, Default)]
pub struct TaskDetails {
    /// The full prompt or command (`None` when its file is gone).
    pub payload_text: Option<String>,
    pub task_dir: String,
    pub executor: Option<serde_json::Map<String, serde_json::Value>>,
    /// Ancestor and follow-up ids (shown for agent tasks).
    pub chain: (Vec<String>, Vec<String>),
}

fn empty_stats() -> &'static AgentStats {
    static EMPTY: std::sync::OnceLock<AgentStats> = std::sync::OnceLock::new();
    EMPTY.get_or_init(AgentStats::default)
}

impl<'a> TaskView<'a> {
    /// The view of `task` now, judging stalls by `stall_timeout`.
    pub fn of(task: &'a TaskRecord, stall_timeout: Duration) -> Self {
        Self::at(task, stall_timeout, jiff::Timestamp::now())
    }

    /// The view of `task` at `now`.
    pub fn at(task: &'a TaskRecord, stall_timeout: Duration, now: jiff::Timestamp) -> Self {
        let agent = task
            .task_type
            .agent()
            .map(|_| task.agent.as_ref().unwrap_or(empty_stats()));
        Self {
            task_id: task.id.to_string(),
            executor: &task.executor,
            executor_type: task.executor_type.as_str(),
            task_type: task.task_type.as_str(),
            status: task.status.as_str(),
            reason: task.reason.as_deref(),
            pid: task.pid,
            runner_pid: task.runner_pid,
            created_at: task.created_at.as_str(),
            started_at: task.started_at.as_ref().map(|t| t.as_str()),
            ended_at: task.ended_at.as_ref().map(|t| t.as_str()),
            exit_code: task.exit_code,
            workspace: &task.workspace,
            summary: &task.summary,
            max_turns: task.max_turns,
            session_id: task.session_id.as_deref(),
            parent_task_id: task.parent_id.map(|p| p.to_string()),
            priority: task.priority,
            // Claude Code tasks always were agent tasks: their view stays as it was.
            agent_cli: task
                .task_type
                .agent()
                .filter(|a| *a != crate::model::AgentKind::Claude)
                .map(|a| a.as_str()),
            model: task.model.as_deref(),
            max_budget_usd: task.max_budget_usd,
            branch: task.worktree.as_ref().map(|w| w.branch.as_str()),
            diffstat: task
                .worktree
                .as_ref()
                .map(|w| w.result.as_ref().map(DiffstatView::of)),
            group: task.group_id.as_deref(),
            stalled: agent.map(|_| task.stalled_for(stall_timeout, now).is_some()),
            agent: agent.map(AgentView::of),
            webhook: task.webhook_state.map(|state| WebhookView {
                state: state.as_str(),
                attempts: task.webhook_attempts,
                error: task.webhook_error.as_deref(),
            }),
            prompt: None,
            command: None,
            task_dir: None,
            executor_details: None,
            chain: None,
        }
    }

    /// The view of an ended task, which no longer depends on the clock: the
    /// rendering the index keeps.
    pub fn ended(task: &'a TaskRecord) -> Self {
        Self::at(task, Duration::ZERO, jiff::Timestamp::UNIX_EPOCH)
    }

    /// Adds what `status --json` shows beyond a listing.
    pub fn with_details(mut self, task: &TaskRecord, details: TaskDetails) -> Self {
        match task.task_type.agent() {
            Some(_) => self.prompt = Some(details.payload_text),
            None => self.command = Some(details.payload_text),
        }
        self.task_dir = Some(details.task_dir);
        self.executor_details = details.executor.map(|fields| ExecutorDetails {
            key: task.executor_type.as_str().to_owned(),
            fields,
        });
        if task.task_type.agent().is_some() {
            let (ancestors, followups) = details.chain;
            self.chain = Some(ChainView {
                ancestors,
                followups,
            });
        }
        self
    }

    /// One line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What `start`/`run --json` print about a task just dispatched.
#[derive(Debug, Serialize)]
pub struct DispatchedView<'a> {
    pub task_id: String,
    pub executor: &'a str,
    pub executor_type: &'a str,
    pub task_type: &'static str,
    pub status: &'static str,
    pub workspace: &'a str,
    pub session_id: Option<&'a str>,
    pub parent_task_id: Option<String>,
    pub task_dir: String,
}

impl<'a> DispatchedView<'a> {
    pub fn of(task: &'a TaskRecord, task_dir: String) -> Self {
        Self {
            task_id: task.id.to_string(),
            executor: &task.executor,
            executor_type: task.executor_type.as_str(),
            task_type: task.task_type.as_str(),
            status: task.status.as_str(),
            workspace: &task.workspace,
            session_id: task.session_id.as_deref(),
            parent_task_id: task.parent_id.map(|p| p.to_string()),
            task_dir,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AgentKind, AgentSession, ExecutorType, Payload, TaskId, TaskSpec};

    fn agent_task() -> TaskRecord {
        let spec = TaskSpec {
            executor: "gpu".into(),
            priority: 0,
            workspace: "/w".into(),
            payload: Payload::Agent {
                agent: AgentKind::Claude,
                prompt: "hi".into(),
                max_turns: 3,
                program: "claude".into(),
                session: AgentSession::New(uuid::Uuid::nil()),
                model: None,
                max_budget_usd: None,
            },
            parent: None,
            worktree: None,
            group: None,
        };
        TaskRecord::new(TaskId::new(), &spec, ExecutorType::from("slurm".to_owned()))
    }

    /// `status --json` used to patch a `serde_json::Value`: the typed details
    /// must come out as the same bytes, in the same order.
    #[test]
    fn details_serialize_as_the_patched_value_did() {
        let task = agent_task();
        let now = jiff::Timestamp::now();
        let mut fields = serde_json::Map::new();
        fields.insert("job_id".into(), "42".into());
        let mut value =
            serde_json::to_value(TaskView::at(&task, Duration::from_secs(60), now)).unwrap();
        value["prompt"] = serde_json::Value::from(None::<String>);
        value["task_dir"] = serde_json::Value::from("/d");
        value["slurm"] = serde_json::Value::Object(fields.clone());
        value["chain"] = serde_json::json!({"ancestors": ["a"], "followups": []});
        let details = TaskDetails {
            payload_text: None,
            task_dir: "/d".into(),
            executor: Some(fields),
            chain: (vec!["a".into()], Vec::new()),
        };
        let view = TaskView::at(&task, Duration::from_secs(60), now).with_details(&task, details);
        assert_eq!(view.to_json(), value.to_string());
    }

    #[test]
    fn listings_carry_no_details() {
        let task = agent_task();
        let json = TaskView::of(&task, Duration::from_secs(60)).to_json();
        for key in ["prompt", "command", "task_dir", "slurm", "chain"] {
            assert!(!json.contains(&format!("\"{key}\":")), "{key} in {json}");
        }
    }
}
