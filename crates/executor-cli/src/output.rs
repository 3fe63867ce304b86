//! How tasks are shown: JSON objects and tables.

use std::io::Write;

use executor_core::{TaskRecord, TaskStatus, TaskType, time};
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
    pub webhook: Option<WebhookView<'a>>,
}

#[derive(Debug, Serialize)]
pub struct WebhookView<'a> {
    pub state: &'a str,
    pub attempts: u32,
    pub error: Option<&'a str>,
}

impl<'a> TaskView<'a> {
    pub fn of(task: &'a TaskRecord) -> Self {
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
            webhook: task.webhook_state.as_deref().map(|state| WebhookView {
                state,
                attempts: task.webhook_attempts,
                error: task.webhook_error.as_deref(),
            }),
        }
    }
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
        "   {:<36}  {:<12}  {:<9}  {:>5}  {:>4}  TASK",
        "ID", "EXECUTOR", "STATUS", "AGE", "EXIT"
    )
}

/// Writes one task as a table row.
pub fn table_row(out: &mut impl Write, task: &TaskRecord) -> std::io::Result<()> {
    let age = time::seconds_since(&task.created_at)
        .map(time::human_age)
        .unwrap_or_default();
    let exit = task.exit_code.map(|c| c.to_string()).unwrap_or_default();
    writeln!(
        out,
        "{} {:<36}  {:<12}  {:<9}  {:>5}  {:>4}  {}",
        icon(task.task_type),
        task.id.to_string(),
        truncate(&task.executor, 12),
        task.status.as_str(),
        age,
        exit,
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
pub fn status_line(counts: &[(TaskStatus, u64)]) -> String {
    counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}
