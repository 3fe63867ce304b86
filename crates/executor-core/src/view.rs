//! The JSON shape of a task: `status --json`, `list --json(l)`, `dashboard
//! --stream` (documented in `docs/task-files.md`). Ended tasks never change
//! shape again, so the index keeps their rendering (`view_json`) and listings
//! stream it instead of rebuilding it per row.

use std::time::Duration;

use serde::Serialize;

use crate::agent::AgentStats;
use crate::manager::stalled_for;
use crate::store::TaskRef;
use crate::task::TaskType;

/// The JSON shape of a task in `status --json`, `list --json(l)` and `dashboard --stream`.
#[derive(Debug, Serialize)]
pub struct TaskView<'a> {
    pub task_id: &'a str,
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
    pub parent_task_id: Option<&'a str>,
    #[serde(skip_serializing_if = "is_zero")]
    pub priority: i32,
    /// Agent tasks: whether it has been silent for longer than `stall_timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stalled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookView<'a>>,
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
            result_subtype: stats.result_subtype.as_deref(),
            is_error: stats.is_error,
            result: stats.result.as_deref(),
            last_activity: stats.last_activity.as_deref(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct WebhookView<'a> {
    pub state: &'a str,
    pub attempts: u32,
    pub error: Option<&'a str>,
}

fn empty_stats() -> &'static AgentStats {
    static EMPTY: std::sync::OnceLock<AgentStats> = std::sync::OnceLock::new();
    EMPTY.get_or_init(AgentStats::default)
}

/// Agent stats of a task (empty for an agent that has said nothing yet).
pub fn agent_stats<'r>(task: &'r TaskRef<'_>) -> Option<&'r AgentStats> {
    match task.task_type {
        TaskType::ClaudeCode => Some(task.agent.as_deref().unwrap_or(empty_stats())),
        TaskType::ShellCommand => None,
    }
}

/// How long the task has been silent, if it counts as stalled.
pub fn stall(task: &TaskRef<'_>, stall_timeout: Duration) -> Option<Duration> {
    let stats = agent_stats(task)?;
    stalled_for(
        task.task_type,
        task.status,
        task.started_at,
        stats,
        stall_timeout,
    )
}

impl<'a> TaskView<'a> {
    pub fn of(task: &'a TaskRef<'_>, stall_timeout: Duration) -> Self {
        let agent = agent_stats(task);
        Self {
            task_id: &task.id,
            executor: task.executor,
            executor_type: task.executor_type,
            task_type: task.task_type.as_str(),
            status: task.status.as_str(),
            reason: task.reason,
            pid: task.pid,
            runner_pid: task.runner_pid,
            created_at: task.created_at,
            started_at: task.started_at,
            ended_at: task.ended_at,
            exit_code: task.exit_code,
            workspace: task.workspace,
            summary: task.summary,
            max_turns: task.max_turns,
            session_id: task.session_id,
            parent_task_id: task.parent_id.as_deref(),
            priority: task.priority,
            stalled: agent.map(|stats| {
                stalled_for(
                    task.task_type,
                    task.status,
                    task.started_at,
                    stats,
                    stall_timeout,
                )
                .is_some()
            }),
            agent: agent.map(AgentView::of),
            webhook: task.webhook_state.map(|state| WebhookView {
                state,
                attempts: task.webhook_attempts,
                error: task.webhook_error,
            }),
        }
    }
}

/// The task as one line of JSON.
pub fn task_json(task: &TaskRef<'_>, stall_timeout: Duration) -> String {
    serde_json::to_string(&TaskView::of(task, stall_timeout)).unwrap_or_default()
}
