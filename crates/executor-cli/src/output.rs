//! How tasks are shown: JSON objects and tables.

use std::io::Write;
use std::time::Duration;

use executor_core::agent::AgentStats;
use executor_core::manager::stalled_for;
use executor_core::{TaskRecord, TaskType, time};
use serde::Serialize;

/// The JSON shape of a task in `status --json`, `list --json(l)` and `dashboard --stream`.
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
    /// Agent tasks: whether it has been silent for longer than `stall_timeout`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stalled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookView<'a>>,
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

/// Agent stats of a task, empty for an agent that has not said anything yet.
pub fn agent_stats(task: &TaskRecord) -> Option<std::borrow::Cow<'_, AgentStats>> {
    match (&task.agent, task.task_type) {
        (Some(stats), _) => Some(std::borrow::Cow::Borrowed(stats)),
        (None, TaskType::ClaudeCode) => Some(std::borrow::Cow::Owned(AgentStats::default())),
        (None, TaskType::ShellCommand) => None,
    }
}

/// How long the task has been silent, if it counts as stalled.
pub fn stall(task: &TaskRecord, stall_timeout: Duration) -> Option<Duration> {
    stalled_for(task, &*agent_stats(task)?, stall_timeout)
}

impl<'a> TaskView<'a> {
    pub fn of(task: &'a TaskRecord, stall_timeout: Duration) -> Self {
        let is_agent = task.task_type == TaskType::ClaudeCode;
        Self {
            task_id: task.id.to_string(),
            executor: &task.executor,
            executor_type: &task.executor_type,
            task_type: task.task_type.as_str(),
            status: task.status.as_str(),
            reason: task.reason.as_deref(),
            pid: task.pid,
            runner_pid: task.runner_pid,
            created_at: &task.created_at,
            started_at: task.started_at.as_deref(),
            ended_at: task.ended_at.as_deref(),
            exit_code: task.exit_code,
            workspace: &task.workspace,
            summary: &task.summary,
            max_turns: task.max_turns,
            session_id: task.session_id.as_deref(),
            parent_task_id: task.parent_id.map(|p| p.to_string()),
            stalled: is_agent.then(|| stall(task, stall_timeout).is_some()),
            agent: is_agent.then(|| {
                task.agent
                    .as_ref()
                    .map(AgentView::of)
                    .unwrap_or_else(|| AgentView::of(empty_stats()))
            }),
            webhook: task.webhook_state.as_deref().map(|state| WebhookView {
                state,
                attempts: task.webhook_attempts,
                error: task.webhook_error.as_deref(),
            }),
        }
    }
}

fn empty_stats() -> &'static AgentStats {
    static EMPTY: std::sync::OnceLock<AgentStats> = std::sync::OnceLock::new();
    EMPTY.get_or_init(AgentStats::default)
}

pub fn icon(task_type: TaskType) -> &'static str {
    match task_type {
        TaskType::ClaudeCode => "🤖",
        TaskType::ShellCommand => "⚙️",
    }
}

/// Writes the table header for task rows.
pub fn table_header(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "   {:<36}  {:<12}  {:<9}  {:>5}  {:>4}  {:>8}  TASK",
        "ID", "EXECUTOR", "STATUS", "AGE", "EXIT", "COST"
    )
}

/// Writes one task as a table row.
pub fn table_row(
    out: &mut impl Write,
    task: &TaskRecord,
    stall_timeout: Duration,
) -> std::io::Result<()> {
    let age = time::seconds_since(&task.created_at)
        .map(time::human_age)
        .unwrap_or_default();
    let exit = task.exit_code.map(|c| c.to_string()).unwrap_or_default();
    let cost = task
        .agent
        .as_ref()
        .and_then(|a| a.total_cost_usd)
        .map(|c| format!("${c:.4}"))
        .unwrap_or_default();
    let status = if stall(task, stall_timeout).is_some() {
        "stalled"
    } else {
        task.status.as_str()
    };
    writeln!(
        out,
        "{} {:<36}  {:<12}  {:<9}  {:>5}  {:>4}  {:>8}  {}",
        icon(task.task_type),
        task.id.to_string(),
        truncate(&task.executor, 12),
        status,
        age,
        exit,
        cost,
        truncate(&task.summary, 60)
    )
}

pub fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    short.push('…');
    short
}

/// Counts of tasks per status, for summaries.
pub fn status_line(counts: &[(executor_core::TaskStatus, u64)]) -> String {
    counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}
