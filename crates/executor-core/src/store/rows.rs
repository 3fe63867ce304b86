//! How a task is laid out in the index: its columns, and the mapping between
//! rows and records.

use std::collections::HashMap;

use rusqlite::{Connection, Row, params};

use super::error::StoreError;
use crate::model::{
    AgentStats, ExecutorType, ListFilter, TaskId, TaskRecord, TaskStatus, TaskType, Timestamp,
    WebhookState, created_ms,
};

pub(super) const COLUMNS: &str = "id, executor, executor_type, task_type, status, reason, pid, runner_pid, \
    runner_start, created_at, started_at, ended_at, exit_code, workspace, summary, max_turns, \
    session_id, webhook_state, webhook_attempts, webhook_error, agent, parent_id, priority, claimed_at, \
    model, max_budget_usd, worktree, group_id";

/// Tasks holding a slot of their executor.
pub(super) const LIVE: &str = "status IN ('pending', 'running')";
/// Tasks that have not ended (live or waiting for a slot).
pub(super) const UNFINISHED: &str = "status IN ('queued', 'pending', 'running')";

pub(super) fn record_from_row(row: &Row<'_>) -> rusqlite::Result<TaskRecord> {
    let text_enum = |index: usize, value: String| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unexpected value `{value}`").into(),
        )
    };
    let id: String = row.get(0)?;
    let agent: Option<String> = row.get(20)?;
    let parent: Option<String> = row.get(21)?;
    let executor_type: String = row.get(2)?;
    let task_type: String = row.get(3)?;
    let status: String = row.get(4)?;
    let webhook_state: Option<String> = row.get(17)?;
    let timestamp = |index: usize| -> rusqlite::Result<Option<Timestamp>> {
        Ok(row.get::<_, Option<String>>(index)?.map(Timestamp::from))
    };
    Ok(TaskRecord {
        id: id.parse().map_err(|_| text_enum(0, id.clone()))?,
        executor: row.get(1)?,
        executor_type: ExecutorType::from(executor_type),
        task_type: TaskType::parse(&task_type).ok_or_else(|| text_enum(3, task_type.clone()))?,
        status: TaskStatus::parse(&status).ok_or_else(|| text_enum(4, status.clone()))?,
        reason: row.get(5)?,
        pid: row.get(6)?,
        runner_pid: row.get(7)?,
        runner_start: row.get(8)?,
        created_at: Timestamp::from(row.get::<_, String>(9)?),
        started_at: timestamp(10)?,
        ended_at: timestamp(11)?,
        exit_code: row.get(12)?,
        workspace: row.get(13)?,
        summary: row.get(14)?,
        max_turns: row.get(15)?,
        session_id: row.get(16)?,
        webhook_state: match webhook_state {
            Some(state) => {
                Some(WebhookState::parse(&state).ok_or_else(|| text_enum(17, state.clone()))?)
            }
            None => None,
        },
        webhook_attempts: row.get(18)?,
        webhook_error: row.get(19)?,
        // Stats that fail to parse are only a cache: they are rebuilt from the log.
        agent: agent.and_then(|a| serde_json::from_str(&a).ok()),
        parent_id: parent.and_then(|p| p.parse().ok()),
        priority: row.get(22)?,
        claimed_at: timestamp(23)?,
        model: row.get(24)?,
        max_budget_usd: row.get(25)?,
        worktree: row
            .get::<_, Option<String>>(26)?
            .and_then(|w| serde_json::from_str(&w).ok()),
        group_id: row.get(27)?,
    })
}

/// Borrows a row's text without copying it.
pub(super) fn text<'a>(row: &'a Row<'_>, index: usize) -> rusqlite::Result<&'a str> {
    Ok(row.get_ref(index)?.as_str()?)
}

pub(super) fn opt_text<'a>(row: &'a Row<'_>, index: usize) -> rusqlite::Result<Option<&'a str>> {
    Ok(row.get_ref(index)?.as_str_or_null()?)
}

/// What a table listing shows of a task, borrowed from the index row. Text is
/// left as bytes: a listing writes it out as is, so checking it is UTF-8 (a
/// tenth of a 100,000-row listing) buys nothing.
#[derive(Debug)]
pub struct TableRow<'a> {
    pub id: &'a [u8],
    pub executor: &'a [u8],
    pub task_type: TaskType,
    pub status: TaskStatus,
    pub exit_code: Option<i32>,
    pub summary: &'a [u8],
    pub cost_usd: Option<f64>,
    pub started_at: Option<&'a str>,
    /// `+ins -del` of a worktree task's result.
    pub diffstat: Option<&'a str>,
    /// Agent stats of live agent tasks (for stall detection); `None` otherwise.
    pub agent: Option<AgentStats>,
}

impl TableRow<'_> {
    /// Milliseconds since the epoch when the task was created, from its UUIDv7 id.
    pub fn created_ms(&self) -> Option<i64> {
        created_ms(std::str::from_utf8(self.id.get(..13)?).ok()?)
    }

    pub fn task_id(&self) -> Option<TaskId> {
        std::str::from_utf8(self.id).ok()?.parse().ok()
    }
}

fn bytes<'a>(row: &'a Row<'_>, index: usize) -> rusqlite::Result<&'a [u8]> {
    Ok(row.get_ref(index)?.as_bytes()?)
}

/// The columns of the `tasks_listing` index, so that a listing never reads the
/// wide rows.
pub(super) const TABLE_COLUMNS: &str =
    "id, executor, task_type, status, exit_code, summary, cost_usd, started_at, diffstat";

pub(super) fn table_row_from<'a>(
    row: &'a Row<'_>,
    live_agents: &mut HashMap<String, AgentStats>,
) -> rusqlite::Result<TableRow<'a>> {
    let bad = |index: usize, value: &str| {
        rusqlite::Error::FromSqlConversionFailure(
            index,
            rusqlite::types::Type::Text,
            format!("unexpected value `{value}`").into(),
        )
    };
    let task_type = text(row, 2)?;
    let status = text(row, 3)?;
    let id = bytes(row, 0)?;
    let agent = if live_agents.is_empty() {
        None
    } else {
        std::str::from_utf8(id)
            .ok()
            .and_then(|id| live_agents.remove(id))
    };
    Ok(TableRow {
        id,
        executor: bytes(row, 1)?,
        task_type: TaskType::parse(task_type).ok_or_else(|| bad(2, task_type))?,
        status: TaskStatus::parse(status).ok_or_else(|| bad(3, status))?,
        exit_code: row.get(4)?,
        summary: bytes(row, 5)?,
        cost_usd: row.get(6)?,
        started_at: opt_text(row, 7)?,
        diffstat: opt_text(row, 8)?,
        agent,
    })
}

/// The WHERE clause and arguments of a listing.
pub(super) fn filter_sql(filter: &ListFilter) -> (String, Vec<String>) {
    let mut sql = String::from("WHERE 1");
    let mut args: Vec<String> = Vec::new();
    if let Some(status) = filter.status {
        args.push(status.as_str().to_owned());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    if let Some(executor) = &filter.executor {
        args.push(executor.clone());
        sql.push_str(&format!(" AND executor = ?{}", args.len()));
    }
    if let Some(group) = &filter.group {
        args.push(group.clone());
        sql.push_str(&format!(" AND group_id = ?{}", args.len()));
    }
    (sql, args)
}

/// Inserts `task`; an ended task comes with its rendering (`view_json`).
pub(super) fn insert_record(
    conn: &Connection,
    task: &TaskRecord,
    view_json: Option<&str>,
) -> Result<(), StoreError> {
    insert_columns(conn, task)?;
    if task.status.is_terminal() {
        conn.execute(
            "UPDATE tasks SET view_json = ?2, cost_usd = ?3, diffstat = ?4 WHERE id = ?1",
            params![
                task.id.to_string(),
                view_json,
                task.agent.as_ref().and_then(|a| a.total_cost_usd),
                diffstat_text(task),
            ],
        )?;
    }
    Ok(())
}

fn insert_columns(conn: &Connection, task: &TaskRecord) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT INTO tasks ({COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28)"
        ),
        params![
            task.id.to_string(),
            task.executor,
            task.executor_type.as_str(),
            task.task_type.as_str(),
            task.status.as_str(),
            task.reason,
            task.pid,
            task.runner_pid,
            task.runner_start,
            task.created_at.as_str(),
            task.started_at.as_ref().map(Timestamp::as_str),
            task.ended_at.as_ref().map(Timestamp::as_str),
            task.exit_code,
            task.workspace,
            task.summary,
            task.max_turns,
            task.session_id,
            task.webhook_state.map(WebhookState::as_str),
            task.webhook_attempts,
            task.webhook_error,
            task.agent.as_ref().map(agent_json),
            task.parent_id.map(|p| p.to_string()),
            task.priority,
            task.claimed_at.as_ref().map(Timestamp::as_str),
            task.model,
            task.max_budget_usd,
            task.worktree.as_ref().map(worktree_json),
            task.group_id,
        ],
    )?;
    Ok(())
}

/// The listing's `+ins -del` of a worktree task that has a result.
pub(super) fn diffstat_text(task: &TaskRecord) -> Option<String> {
    let result = task.worktree.as_ref()?.result.as_ref()?;
    Some(format!("+{} -{}", result.insertions, result.deletions))
}

pub(super) fn worktree_json(worktree: &crate::model::Worktree) -> String {
    serde_json::to_string(worktree).unwrap_or_default()
}

pub(super) fn agent_json(agent: &AgentStats) -> String {
    serde_json::to_string(agent).unwrap_or_default()
}
