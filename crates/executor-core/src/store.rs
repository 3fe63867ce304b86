//! The local store: task directories under the data dir plus an SQLite index.
//!
//! The index is a cache of the truth in each task directory; it makes `list`,
//! `status` and prefix lookups fast at any number of tasks. Several CLI processes
//! may use it at once: WAL mode, a busy timeout, and conditional updates keep
//! them from corrupting or double-counting anything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::agent::AgentStats;
use crate::paths::Paths;
use crate::task::{META_SCHEMA_VERSION, TaskId, TaskIdPrefix, TaskMeta, TaskStatus, TaskType};

/// Characters of a prompt or command kept in the index for listings.
pub const SUMMARY_CHARS: usize = 120;

/// Schema migrations, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tasks (
    id               TEXT PRIMARY KEY NOT NULL,
    executor         TEXT NOT NULL,
    executor_type    TEXT NOT NULL,
    task_type        TEXT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT,
    pid              INTEGER,
    runner_pid       INTEGER,
    runner_start     TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    ended_at         TEXT,
    exit_code        INTEGER,
    workspace        TEXT NOT NULL,
    summary          TEXT NOT NULL,
    max_turns        INTEGER,
    session_id       TEXT,
    webhook_state    TEXT,
    webhook_attempts INTEGER NOT NULL DEFAULT 0,
    webhook_next_at  INTEGER,
    webhook_error    TEXT
) WITHOUT ROWID;
CREATE INDEX tasks_by_status ON tasks(status, id);
CREATE INDEX tasks_by_executor ON tasks(executor, id);
CREATE INDEX tasks_webhooks_due ON tasks(webhook_next_at) WHERE webhook_state = 'pending';
"#,
    r#"
ALTER TABLE tasks ADD COLUMN agent TEXT;
ALTER TABLE tasks ADD COLUMN parent_id TEXT;
CREATE INDEX tasks_by_parent ON tasks(parent_id) WHERE parent_id IS NOT NULL;
"#,
    r#"
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_queue ON tasks(priority DESC, id) WHERE status = 'queued';
CREATE INDEX tasks_slots ON tasks(executor, status);
ALTER TABLE tasks ADD COLUMN claimed_at TEXT;
"#,
    r#"
ALTER TABLE tasks ADD COLUMN view_json TEXT;
ALTER TABLE tasks ADD COLUMN cost_usd REAL;
"#,
    // The table listing's columns in id order: a full `list` scans this narrow
    // index (and seeks a row only for a live task's agent stats) instead of the
    // rows, which the stored JSON rendering makes ~900 bytes wide.
    r#"
CREATE INDEX tasks_listing
    ON tasks(id, executor, task_type, status, exit_code, summary, cost_usd, started_at);
"#,
];

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Dir(#[from] crate::fsutil::DirError),
    #[error("cannot open task index {path}")]
    OpenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open task index {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "task index {path} has schema version {found}, newer than this openclaw-agent ({supported}); upgrade openclaw-agent"
    )]
    TooNew {
        path: PathBuf,
        found: usize,
        supported: usize,
    },
    #[error("task index query failed")]
    Query(#[from] rusqlite::Error),
    #[error("no task matches id `{0}`")]
    NotFound(String),
    #[error("task id `{prefix}` is ambiguous: it matches {}", .candidates.join(", "))]
    Ambiguous {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the index file itself is damaged (not a database, or
    /// malformed): `reindex` moves it aside and rebuilds it.
    pub fn is_damaged_index(&self) -> bool {
        let source = match self {
            Self::Open { source, .. } | Self::Query(source) => source,
            _ => return false,
        };
        matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
        )
    }
}

/// One task as the index knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub id: TaskId,
    pub executor: String,
    pub executor_type: String,
    pub task_type: TaskType,
    pub status: TaskStatus,
    pub reason: Option<String>,
    pub pid: Option<u32>,
    pub runner_pid: Option<u32>,
    /// Identity of the runner process beyond its pid (boot id and start time), against pid reuse.
    pub runner_start: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub exit_code: Option<i32>,
    pub workspace: String,
    /// The first characters of the prompt or command.
    pub summary: String,
    pub max_turns: Option<u32>,
    pub session_id: Option<String>,
    pub webhook_state: Option<String>,
    pub webhook_attempts: u32,
    pub webhook_error: Option<String>,
    /// What a Claude Code agent has done, parsed from its stream.
    pub agent: Option<AgentStats>,
    /// The task this one follows up (`start --resume`).
    pub parent_id: Option<TaskId>,
    /// Higher runs first when tasks wait for a slot.
    pub priority: i32,
    /// When the task got its slot (its launch began).
    pub claimed_at: Option<String>,
}

/// A task borrowed from the index or from a [`TaskRecord`]: what listings show,
/// without allocating per row.
#[derive(Debug, Clone)]
pub struct TaskRef<'a> {
    pub id: std::borrow::Cow<'a, str>,
    pub executor: &'a str,
    pub executor_type: &'a str,
    pub task_type: TaskType,
    pub status: TaskStatus,
    pub reason: Option<&'a str>,
    pub pid: Option<u32>,
    pub runner_pid: Option<u32>,
    pub created_at: &'a str,
    pub started_at: Option<&'a str>,
    pub ended_at: Option<&'a str>,
    pub exit_code: Option<i32>,
    pub workspace: &'a str,
    pub summary: &'a str,
    pub max_turns: Option<u32>,
    pub session_id: Option<&'a str>,
    pub parent_id: Option<std::borrow::Cow<'a, str>>,
    pub priority: i32,
    pub webhook_state: Option<&'a str>,
    pub webhook_attempts: u32,
    pub webhook_error: Option<&'a str>,
    pub agent: Option<std::borrow::Cow<'a, AgentStats>>,
}

impl TaskRef<'_> {
    /// Milliseconds since the epoch when the task was created, from its UUIDv7 id.
    pub fn created_ms(&self) -> Option<i64> {
        created_ms(&self.id)
    }
}

impl TaskRecord {
    /// This record as a borrowed view.
    pub fn view(&self) -> TaskRef<'_> {
        TaskRef {
            id: std::borrow::Cow::Owned(self.id.to_string()),
            executor: &self.executor,
            executor_type: &self.executor_type,
            task_type: self.task_type,
            status: self.status,
            reason: self.reason.as_deref(),
            pid: self.pid,
            runner_pid: self.runner_pid,
            created_at: &self.created_at,
            started_at: self.started_at.as_deref(),
            ended_at: self.ended_at.as_deref(),
            exit_code: self.exit_code,
            workspace: &self.workspace,
            summary: &self.summary,
            max_turns: self.max_turns,
            session_id: self.session_id.as_deref(),
            parent_id: self
                .parent_id
                .map(|p| std::borrow::Cow::Owned(p.to_string())),
            priority: self.priority,
            webhook_state: self.webhook_state.as_deref(),
            webhook_attempts: self.webhook_attempts,
            webhook_error: self.webhook_error.as_deref(),
            agent: self.agent.as_ref().map(std::borrow::Cow::Borrowed),
        }
    }

    /// The `.meta.json` document, with the full prompt or command.
    pub fn to_meta(&self, payload_text: Option<String>) -> TaskMeta {
        let (prompt, command) = match self.task_type {
            TaskType::ClaudeCode => (payload_text, None),
            TaskType::ShellCommand => (None, payload_text),
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
            exit_code: self.exit_code,
        }
    }

    /// The record a task's `.meta.json` describes, for rebuilding a lost index.
    /// What the meta does not keep starts empty: the runner's start identity
    /// (liveness then rests on the pid alone), agent stats (read again from a
    /// live task's log), and webhook state (an ended task is not announced
    /// again; its completion record was written when it ended).
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
            priority: 0,
            claimed_at: None,
        }
    }
}

/// Shortens a prompt or command to one line for the index.
pub fn summarize(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(SUMMARY_CHARS)
        .collect();
    one_line.trim().to_owned()
}

/// Which tasks a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<TaskStatus>,
    pub executor: Option<String>,
}

/// The fields a status change writes.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub status: TaskStatus,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub ended_at: Option<String>,
    pub reason: Option<String>,
}

pub struct Store {
    conn: Connection,
    paths: Paths,
    /// Device and inode of the index file this connection opened.
    index_file: (u64, u64),
    /// The index was empty when opened (new, deleted or truncated to nothing)
    /// while `tasks/` held task dirs: they are missing from it until `reindex`.
    empty_with_tasks: bool,
}

/// The index file at the store's path, compared with the one the store opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexFile {
    /// Still the file this store opened.
    Same,
    /// Another file is there now (moved aside and rebuilt by `reindex`, say):
    /// this store's connection reads and writes a file no one else sees.
    Replaced,
    /// No file is there now.
    Missing,
}

const COLUMNS: &str = "id, executor, executor_type, task_type, status, reason, pid, runner_pid, \
    runner_start, created_at, started_at, ended_at, exit_code, workspace, summary, max_turns, \
    session_id, webhook_state, webhook_attempts, webhook_error, agent, parent_id, priority, claimed_at";

/// Tasks holding a slot of their executor.
const LIVE: &str = "status IN ('pending', 'running')";
/// Tasks that have not ended (live or waiting for a slot).
const UNFINISHED: &str = "status IN ('queued', 'pending', 'running')";

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<TaskRecord> {
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
    let task_type: String = row.get(3)?;
    let status: String = row.get(4)?;
    Ok(TaskRecord {
        id: id.parse().map_err(|_| text_enum(0, id.clone()))?,
        executor: row.get(1)?,
        executor_type: row.get(2)?,
        task_type: TaskType::parse(&task_type).ok_or_else(|| text_enum(3, task_type.clone()))?,
        status: TaskStatus::parse(&status).ok_or_else(|| text_enum(4, status.clone()))?,
        reason: row.get(5)?,
        pid: row.get(6)?,
        runner_pid: row.get(7)?,
        runner_start: row.get(8)?,
        created_at: row.get(9)?,
        started_at: row.get(10)?,
        ended_at: row.get(11)?,
        exit_code: row.get(12)?,
        workspace: row.get(13)?,
        summary: row.get(14)?,
        max_turns: row.get(15)?,
        session_id: row.get(16)?,
        webhook_state: row.get(17)?,
        webhook_attempts: row.get(18)?,
        webhook_error: row.get(19)?,
        // Stats that fail to parse are only a cache: they are rebuilt from the log.
        agent: agent.and_then(|a| serde_json::from_str(&a).ok()),
        parent_id: parent.and_then(|p| p.parse().ok()),
        priority: row.get(22)?,
        claimed_at: row.get(23)?,
    })
}

/// Borrows a row's text without copying it.
fn text<'a>(row: &'a Row<'_>, index: usize) -> rusqlite::Result<&'a str> {
    Ok(row.get_ref(index)?.as_str()?)
}

fn opt_text<'a>(row: &'a Row<'_>, index: usize) -> rusqlite::Result<Option<&'a str>> {
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

/// The creation time a UUIDv7 carries in its first 48 bits.
pub fn created_ms(id: &str) -> Option<i64> {
    let hex = id.get(..13)?;
    let (high, low) = (hex.get(..8)?, hex.get(9..13)?);
    let high = i64::from_str_radix(high, 16).ok()?;
    let low = i64::from_str_radix(low, 16).ok()?;
    Some((high << 16) | low)
}

/// The columns of the `tasks_listing` index, so that a listing never reads the
/// wide rows.
const TABLE_COLUMNS: &str =
    "id, executor, task_type, status, exit_code, summary, cost_usd, started_at";

fn table_row_from<'a>(
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
        agent,
    })
}

/// The WHERE clause and arguments of a listing.
fn filter_sql(filter: &ListFilter) -> (String, Vec<String>) {
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
    (sql, args)
}

/// WAL frames after which a commit checkpoints them into the database.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 64;
/// A WAL larger than this at close (a bulk write) is checkpointed and emptied,
/// so later processes do not each read it back.
const WAL_MAX_KEPT_BYTES: u64 = 2 * 1024 * 1024;

/// A CLI process lives for milliseconds. Checkpointing when its connection
/// closes, deleting the WAL and creating it again in the next process costs
/// four fsyncs per write; kept, the WAL is checkpointed by the commit that
/// crosses `WAL_AUTOCHECKPOINT_PAGES`, and the next process reads back at most
/// that much (more pages make every open slower, fewer make checkpoints, with
/// their fsyncs, frequent: docs/benchmark-findings.md).
fn keep_wal_on_close(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
}

/// Creates the index file `0600` before SQLite does (SQLite would create it
/// `0644` less the umask, and gives its WAL and shared-memory files the index's
/// own mode), narrows an older, wider index and its companions to `0600`, and
/// returns the index's device and inode.
fn private_index_file(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let file = crate::fsutil::open_private_file(path)?;
    let meta = file.metadata()?;
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        if let Ok(m) = std::fs::symlink_metadata(&companion)
            && m.is_file()
            && m.mode() & 0o077 != 0
        {
            std::fs::set_permissions(&companion, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok((meta.dev(), meta.ino()))
}

impl Drop for Store {
    fn drop(&mut self) {
        let mut wal = self.paths.index_path().into_os_string();
        wal.push("-wal");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_MAX_KEPT_BYTES) {
            // Best effort and brief: a busy store is checkpointed by a later process.
            let _ = self.conn.busy_timeout(Duration::from_millis(50));
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
}

impl Store {
    /// Opens (creating if needed) the store under `paths.data_dir`.
    ///
    /// Refuses a data, tasks or completions directory that someone else could
    /// write into (see [`crate::fsutil::check_private_dir`]); creates missing
    /// ones `0700` and the index `0600` (its WAL and shared-memory files take the
    /// index's mode from SQLite).
    pub fn open(paths: &Paths) -> Result<Self, StoreError> {
        crate::fsutil::ensure_private_dir(&paths.data_dir)?;
        crate::fsutil::ensure_private_dir(&paths.tasks_dir())?;
        if std::fs::symlink_metadata(&paths.completions_dir).is_ok() {
            crate::fsutil::check_private_dir(&paths.completions_dir)?;
        }
        let path = paths.index_path();
        let index_file = private_index_file(&path).map_err(|source| StoreError::OpenFile {
            path: path.clone(),
            source,
        })?;
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(open_err)?;
        // NORMAL is durable enough under WAL: a power cut may lose the last commit, never corrupt.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        keep_wal_on_close(&conn).map_err(open_err)?;
        let found = migrate(&mut conn, &path)?;
        Ok(Self {
            conn,
            paths: paths.clone(),
            index_file,
            empty_with_tasks: found == 0 && holds_task_dir(&paths.tasks_dir()),
        })
    }

    /// Whether the index file at the store's path is still the one this store
    /// opened: one `stat`, for a long-lived process to notice a replaced index.
    pub fn index_file(&self) -> IndexFile {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(self.paths.index_path()) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.index_file => IndexFile::Same,
            Ok(_) => IndexFile::Replaced,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => IndexFile::Missing,
            // Cannot tell: keep what works.
            Err(_) => IndexFile::Same,
        }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    /// Whether this open found the index empty while task dirs exist.
    pub fn empty_with_tasks(&self) -> bool {
        self.empty_with_tasks
    }

    /// Whether SQLite's quick integrity check passes.
    pub fn quick_check(&self) -> Result<bool, StoreError> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))?;
        Ok(verdict == "ok")
    }

    pub fn task_dir(&self, id: &TaskId) -> PathBuf {
        self.paths.task_dir(id)
    }

    /// Inserts `task` as `pending` when its executor has a free slot (and no
    /// task queued before it), else as `queued`; atomically, so concurrent
    /// dispatches never overfill an executor. Returns the status given.
    pub fn insert_claiming(
        &mut self,
        task: &TaskRecord,
        limit: Option<u32>,
    ) -> Result<TaskStatus, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let status =
            if !has_queued(&tx, &task.executor)? && has_free_slot(&tx, &task.executor, limit)? {
                TaskStatus::Pending
            } else {
                TaskStatus::Queued
            };
        let mut task = task.clone();
        task.status = status;
        if status == TaskStatus::Pending {
            task.claimed_at = Some(crate::time::now_rfc3339());
        }
        insert_record(&tx, &task)?;
        tx.commit()?;
        Ok(status)
    }

    /// Moves the first queued task (highest priority, then oldest) whose
    /// executor has a free slot to `pending` and returns it. `limit_of` gives an
    /// executor's capacity, or `None` for an executor no longer configured.
    /// `hold` is called before the claim commits and returns what must be held
    /// while the task launches (its dispatch lock); `None` skips a task that
    /// another process is handling.
    pub fn claim_next_queued<L>(
        &mut self,
        limit_of: impl Fn(&str) -> Option<Option<u32>>,
        mut hold: impl FnMut(&TaskRecord) -> Option<L>,
    ) -> Result<Option<(TaskRecord, L)>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let queued = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE status = 'queued' \
                 ORDER BY priority DESC, id LIMIT 1000"
            ))?
            .query_map([], record_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut full: Vec<String> = Vec::new();
        for task in queued {
            if full.contains(&task.executor) {
                continue;
            }
            let Some(limit) = limit_of(&task.executor) else {
                continue;
            };
            if !has_free_slot(&tx, &task.executor, limit)? {
                full.push(task.executor.clone());
                continue;
            }
            let Some(held) = hold(&task) else {
                continue;
            };
            let now = crate::time::now_rfc3339();
            tx.execute(
                "UPDATE tasks SET status = 'pending', claimed_at = ?2 \
                 WHERE id = ?1 AND status = 'queued'",
                params![task.id.to_string(), now],
            )?;
            tx.commit()?;
            let mut claimed = task;
            claimed.status = TaskStatus::Pending;
            claimed.claimed_at = Some(now);
            return Ok(Some((claimed, held)));
        }
        Ok(None)
    }

    /// Puts a task whose launch never got its runner started back in the queue.
    pub fn requeue(&self, id: &TaskId) -> Result<bool, StoreError> {
        let changed = self.conn.execute(
            "UPDATE tasks SET status = 'queued' \
             WHERE id = ?1 AND status = 'pending' AND runner_pid IS NULL",
            [id.to_string()],
        )?;
        Ok(changed > 0)
    }

    pub fn has_queued(&self) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM tasks WHERE status = 'queued' LIMIT 1")?
            .exists([])?)
    }

    pub fn insert(&self, task: &TaskRecord) -> Result<(), StoreError> {
        insert_record(&self.conn, task)
    }

    /// Inserts many records in one transaction (imports, benchmark fixtures).
    pub fn insert_batch(&mut self, tasks: &[TaskRecord]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for task in tasks {
            insert_record(&tx, task)?;
        }
        tx.commit()?;
        Ok(())
    }

    pub fn get(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"))?
            .query_row([id.to_string()], record_from_row)
            .optional()?)
    }

    /// Finds the one task whose id starts with `prefix`.
    pub fn resolve(&self, prefix: &TaskIdPrefix) -> Result<TaskRecord, StoreError> {
        let prefix = prefix.as_str();
        // A range scan on the primary key; LIKE would not use the index.
        let upper = format!("{prefix}\u{10FFFF}");
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 6"
        ))?;
        let mut matches = stmt
            .query_map(params![prefix, upper], record_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        match matches.len() {
            0 => Err(StoreError::NotFound(prefix.to_owned())),
            1 => Ok(matches.remove(0)),
            _ => {
                let mut candidates: Vec<String> =
                    matches.iter().take(5).map(|t| t.id.to_string()).collect();
                if matches.len() > 5 {
                    candidates.push("...".into());
                }
                Err(StoreError::Ambiguous {
                    prefix: prefix.to_owned(),
                    candidates,
                })
            }
        }
    }

    /// Tasks that are not yet in a terminal state.
    pub fn live_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE {LIVE} ORDER BY id"
        ))?;
        let tasks = stmt
            .query_map([], record_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tasks)
    }

    /// Calls `visit` for each task matching `filter`, oldest first, without
    /// holding them all in memory.
    pub fn for_each_table_row(
        &self,
        filter: &ListFilter,
        mut visit: impl FnMut(&TableRow<'_>) -> std::io::Result<()>,
    ) -> Result<Result<(), std::io::Error>, StoreError> {
        let (clause, args) = filter_sql(filter);
        // Live agent tasks are few; their stats come first, by id.
        let mut live_agents: HashMap<String, AgentStats> = self
            .conn
            .prepare_cached(&format!(
                "SELECT id, agent FROM tasks WHERE {LIVE} AND agent IS NOT NULL"
            ))?
            .query_map([], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })?
            .filter_map(|row| {
                let (id, agent) = row.ok()?;
                Some((id, serde_json::from_str(&agent).ok()?))
            })
            .collect();
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {TABLE_COLUMNS} FROM tasks {clause} ORDER BY id"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
        while let Some(row) = rows.next()? {
            if let Err(err) = visit(&table_row_from(row, &mut live_agents)?) {
                return Ok(Err(err));
            }
        }
        Ok(Ok(()))
    }

    /// Calls `visit` with each matching task's JSON (see [`crate::view`]), oldest
    /// first. Ended tasks stream their stored rendering; the few others are
    /// rendered now.
    pub fn for_each_json(
        &self,
        filter: &ListFilter,
        stall_timeout: Duration,
        mut visit: impl FnMut(&str) -> std::io::Result<()>,
    ) -> Result<Result<(), std::io::Error>, StoreError> {
        let (clause, args) = filter_sql(filter);
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, view_json FROM tasks {clause} ORDER BY id"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
        while let Some(row) = rows.next()? {
            let visited = match opt_text(row, 1)? {
                Some(json) => visit(json),
                None => {
                    let id = text(row, 0)?;
                    let Some(record) = self
                        .conn
                        .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"))?
                        .query_row([id], record_from_row)
                        .optional()?
                    else {
                        continue;
                    };
                    visit(&crate::view::task_json(&record.view(), stall_timeout))
                }
            };
            if let Err(err) = visited {
                return Ok(Err(err));
            }
        }
        Ok(Ok(()))
    }

    /// Counts tasks per (executor, status).
    pub fn counts(&self) -> Result<Vec<(String, TaskStatus, u64)>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT executor, status, COUNT(*) FROM tasks GROUP BY executor, status",
        )?;
        let rows = stmt
            .query_map([], |row| {
                let status: String = row.get(1)?;
                Ok((row.get(0)?, status, row.get(2)?))
            })?
            .collect::<Result<Vec<(String, String, u64)>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(executor, status, n)| Some((executor, TaskStatus::parse(&status)?, n)))
            .collect())
    }

    /// Records that the runner started.
    ///
    /// `then` is called with the updated record in the same transaction (see
    /// [`Store::with_record_locked`]): one write does both.
    pub fn set_launched<T>(
        &mut self,
        id: &TaskId,
        runner_pid: u32,
        runner_start: Option<&str>,
        started_at: &str,
        then: impl FnOnce(&TaskRecord) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.prepare_cached(&format!(
            "UPDATE tasks SET runner_pid = ?2, runner_start = ?3, started_at = ?4, \
             status = 'running' WHERE id = ?1 AND {LIVE}"
        ))?
        .execute(params![
            id.to_string(),
            runner_pid,
            runner_start,
            started_at
        ])?;
        let result = with_record(&tx, id, then)?;
        tx.commit()?;
        Ok(result)
    }

    /// Updates a live task that is still live; returns whether anything changed.
    pub fn update_live(&self, id: &TaskId, update: &StatusUpdate) -> Result<bool, StoreError> {
        debug_assert!(!update.status.is_terminal());
        let changed = self.conn.execute(
            &format!(
                "UPDATE tasks SET status = ?2, pid = COALESCE(?3, pid), \
                 started_at = CASE WHEN status = 'pending' AND ?2 = 'running' \
                 THEN ?4 ELSE started_at END \
                 WHERE id = ?1 AND {LIVE} AND (status != ?2 OR pid IS NOT ?3)"
            ),
            params![
                id.to_string(),
                update.status.as_str(),
                update.pid,
                crate::time::now_rfc3339()
            ],
        )?;
        Ok(changed > 0)
    }

    /// Moves a live task to a terminal state exactly once across all processes.
    ///
    /// `on_finish` runs inside the write transaction, after this process has won the
    /// transition and before it commits: the completion record it writes is thus
    /// written by exactly one process (a crash before commit lets another redo it).
    /// Returns the finished record, or `None` when the task was no longer live.
    pub fn finish(
        &mut self,
        id: &TaskId,
        update: &StatusUpdate,
        webhook: bool,
        on_finish: impl FnOnce(&TaskRecord) -> Result<(), StoreError>,
    ) -> Result<Option<TaskRecord>, StoreError> {
        debug_assert!(update.status.is_terminal());
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let current = tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE id = ?1 AND {UNFINISHED}"
            ))?
            .query_row([id.to_string()], record_from_row)
            .optional()?;
        let Some(mut record) = current else {
            return Ok(None);
        };
        record.status = update.status;
        record.pid = update.pid.or(record.pid);
        record.exit_code = update.exit_code;
        record.ended_at = update.ended_at.clone();
        record.reason = update.reason.clone();
        record.webhook_state = webhook.then(|| "pending".to_owned());
        on_finish(&record)?;
        tx.execute(
            "UPDATE tasks SET status = ?2, pid = ?3, exit_code = ?4, ended_at = ?5, reason = ?6, \
             webhook_state = ?7, webhook_next_at = ?8, view_json = ?9 WHERE id = ?1",
            params![
                id.to_string(),
                record.status.as_str(),
                record.pid,
                record.exit_code,
                record.ended_at,
                record.reason,
                record.webhook_state,
                webhook.then_some(0i64),
                ended_view(&record),
            ],
        )?;
        tx.commit()?;
        Ok(Some(record))
    }

    /// Calls `f` with the current record of `id` while holding the write lock, so
    /// that whatever `f` writes elsewhere (e.g. `.meta.json`) reflects the latest
    /// state: writers are serialised and each sees every earlier change.
    pub fn with_record_locked<T>(
        &mut self,
        id: &TaskId,
        f: impl FnOnce(&TaskRecord) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let result = with_record(&tx, id, f)?;
        tx.commit()?;
        Ok(result)
    }

    /// Stores the agent stats of a task.
    pub fn set_agent(&self, id: &TaskId, agent: &AgentStats) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE tasks SET agent = ?2, cost_usd = ?3 WHERE id = ?1",
            params![id.to_string(), agent_json(agent), agent.total_cost_usd],
        )?;
        Ok(())
    }

    /// Tasks that follow up `id`, oldest first.
    pub fn children(&self, id: &TaskId) -> Result<Vec<TaskRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE parent_id = ?1 ORDER BY id"
        ))?;
        let tasks = stmt
            .query_map([id.to_string()], record_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tasks)
    }

    pub fn delete(&self, id: &TaskId) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM tasks WHERE id = ?1", [id.to_string()])?;
        Ok(())
    }

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

    /// Records the outcome of a delivery attempt.
    pub fn webhook_result(&self, id: &TaskId, outcome: WebhookOutcome) -> Result<(), StoreError> {
        let (state, next_at, error) = match outcome {
            WebhookOutcome::Delivered => ("delivered", None, None),
            WebhookOutcome::Retry { at_ms, error } => ("pending", Some(at_ms), Some(error)),
            WebhookOutcome::GaveUp { error } => ("failed", None, Some(error)),
        };
        self.conn.execute(
            "UPDATE tasks SET webhook_state = ?2, webhook_next_at = ?3, webhook_error = ?4 \
             WHERE id = ?1",
            params![id.to_string(), state, next_at, error],
        )?;
        // The stored rendering shows the webhook state too.
        if let Some(record) = self.get(id)?
            && record.status.is_terminal()
        {
            self.conn.execute(
                "UPDATE tasks SET view_json = ?2 WHERE id = ?1",
                params![id.to_string(), ended_view(&record)],
            )?;
        }
        Ok(())
    }
}

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

/// Calls `f` with the record of `id` as this connection sees it (`None` when
/// there is none).
fn with_record<T>(
    conn: &Connection,
    id: &TaskId,
    f: impl FnOnce(&TaskRecord) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let record = conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"))?
        .query_row([id.to_string()], record_from_row)
        .optional()?;
    record.as_ref().map(f).transpose()
}

/// Whether a task waits in `executor`'s queue (a new one must not overtake it).
fn has_queued(conn: &Connection, executor: &str) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT EXISTS (SELECT 1 FROM tasks WHERE executor = ?1 AND status = 'queued')",
    )?;
    Ok(stmt.query_row([executor], |row| row.get(0))?)
}

/// Whether `executor` runs fewer than `limit` tasks. Counts at most `limit`
/// rows: tasks that ended unnoticed stay live in the index until the next
/// reconciliation, and a dispatch must not pay for all of them.
fn has_free_slot(
    conn: &Connection,
    executor: &str,
    limit: Option<u32>,
) -> Result<bool, StoreError> {
    let Some(limit) = limit else {
        return Ok(true);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT COUNT(*) FROM (SELECT 1 FROM tasks \
         WHERE executor = ?1 AND status IN ('pending', 'running') LIMIT ?2)",
    )?;
    let live: u32 = stmt.query_row(params![executor, limit], |row| row.get(0))?;
    Ok(live < limit)
}

fn insert_record(conn: &Connection, task: &TaskRecord) -> Result<(), StoreError> {
    insert_columns(conn, task)?;
    if task.status.is_terminal() {
        conn.execute(
            "UPDATE tasks SET view_json = ?2, cost_usd = ?3 WHERE id = ?1",
            params![
                task.id.to_string(),
                ended_view(task),
                task.agent.as_ref().and_then(|a| a.total_cost_usd)
            ],
        )?;
    }
    Ok(())
}

fn insert_columns(conn: &Connection, task: &TaskRecord) -> Result<(), StoreError> {
    conn.execute(
        &format!(
            "INSERT INTO tasks ({COLUMNS}) VALUES \
             (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
        ),
        params![
            task.id.to_string(),
            task.executor,
            task.executor_type,
            task.task_type.as_str(),
            task.status.as_str(),
            task.reason,
            task.pid,
            task.runner_pid,
            task.runner_start,
            task.created_at,
            task.started_at,
            task.ended_at,
            task.exit_code,
            task.workspace,
            task.summary,
            task.max_turns,
            task.session_id,
            task.webhook_state,
            task.webhook_attempts,
            task.webhook_error,
            task.agent.as_ref().map(agent_json),
            task.parent_id.map(|p| p.to_string()),
            task.priority,
            task.claimed_at,
        ],
    )?;
    Ok(())
}

/// The JSON rendering of an ended task, which no longer depends on the clock.
fn ended_view(record: &TaskRecord) -> String {
    crate::view::task_json(&record.view(), Duration::ZERO)
}

fn agent_json(agent: &AgentStats) -> String {
    serde_json::to_string(agent).unwrap_or_default()
}

/// Whether `tasks_dir` holds a dir named by a task id.
fn holds_task_dir(tasks_dir: &Path) -> bool {
    std::fs::read_dir(tasks_dir).is_ok_and(|entries| {
        entries.filter_map(Result::ok).any(|entry| {
            entry
                .file_name()
                .to_str()
                .is_some_and(|name| name.parse::<TaskId>().is_ok())
        })
    })
}

/// Brings the schema up to date; returns the version found.
fn migrate(conn: &mut Connection, path: &Path) -> Result<usize, StoreError> {
    let version: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version == MIGRATIONS.len() {
        return Ok(version);
    }
    if version > MIGRATIONS.len() {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: MIGRATIONS.len(),
        });
    }
    // WAL is a property of the database file, so setting it once (at creation) is
    // enough. Switching needs the file to itself and may answer BUSY without
    // consulting the busy handler when many processes create the store at once.
    retry_busy(|| {
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
    })?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    // Re-read under the lock: another process may have migrated meanwhile.
    let version: usize = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for migration in MIGRATIONS.iter().skip(version) {
        tx.execute_batch(migration)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len())?;
    tx.commit()?;
    Ok(version)
}

/// Retries an operation that SQLite refused with BUSY/LOCKED, for up to 10 s.
fn retry_busy<T>(mut op: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match op() {
            Err(rusqlite::Error::SqliteFailure(err, _))
                if matches!(
                    err.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: TaskId) -> TaskRecord {
        TaskRecord {
            id,
            executor: "local".into(),
            executor_type: "local".into(),
            task_type: TaskType::ShellCommand,
            status: TaskStatus::Pending,
            reason: None,
            pid: None,
            runner_pid: None,
            runner_start: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            started_at: None,
            ended_at: None,
            exit_code: None,
            workspace: "/".into(),
            summary: "true".into(),
            max_turns: None,
            session_id: None,
            webhook_state: None,
            webhook_attempts: 0,
            webhook_error: None,
            agent: None,
            parent_id: None,
            priority: 0,
            claimed_at: None,
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("data"), dir.path().join("completions"));
        let store = Store::open(&paths).unwrap();
        (dir, store)
    }

    #[test]
    fn a_replaced_or_missing_index_is_noticed() {
        let (dir, store) = store();
        assert_eq!(store.index_file(), IndexFile::Same);
        let index = store.paths().index_path();
        std::fs::rename(&index, dir.path().join("aside")).unwrap();
        assert_eq!(store.index_file(), IndexFile::Missing);
        let rebuilt = Store::open(store.paths()).unwrap();
        assert_eq!(store.index_file(), IndexFile::Replaced);
        assert_eq!(rebuilt.index_file(), IndexFile::Same);
    }

    #[test]
    fn prefix_resolution() {
        let (_dir, store) = store();
        let a: TaskId = "01900000-0000-7000-8000-000000000001".parse().unwrap();
        let b: TaskId = "01900000-0000-7000-8000-000000000002".parse().unwrap();
        store.insert(&record(a)).unwrap();
        store.insert(&record(b)).unwrap();
        let prefix = |s: &str| TaskIdPrefix::parse(s).unwrap();
        assert!(matches!(
            store.resolve(&prefix("0190")),
            Err(StoreError::Ambiguous { .. })
        ));
        assert_eq!(
            store
                .resolve(&prefix("01900000-0000-7000-8000-000000000002"))
                .unwrap()
                .id,
            b
        );
        assert!(matches!(
            store.resolve(&prefix("ffff")),
            Err(StoreError::NotFound(_))
        ));
    }

    #[test]
    fn finish_happens_once() {
        let (_dir, mut store) = store();
        let id = TaskId::new();
        store.insert(&record(id)).unwrap();
        let update = StatusUpdate {
            status: TaskStatus::Completed,
            pid: Some(5),
            exit_code: Some(0),
            ended_at: Some("t".into()),
            reason: None,
        };
        let mut calls = 0;
        assert!(
            store
                .finish(&id, &update, true, |_| {
                    calls += 1;
                    Ok(())
                })
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .finish(&id, &update, true, |_| {
                    calls += 1;
                    Ok(())
                })
                .unwrap()
                .is_none()
        );
        assert_eq!(calls, 1);
        assert!(store.has_pending_webhooks().unwrap());
    }

    #[test]
    fn a_claim_skips_a_task_it_cannot_hold() {
        let (_dir, mut store) = store();
        let (a, b) = (TaskId::new(), TaskId::new());
        for id in [a, b] {
            let mut task = record(id);
            task.status = TaskStatus::Queued;
            store.insert(&task).unwrap();
        }
        let claimed = store
            .claim_next_queued(|_| Some(None), |task| (task.id != a).then_some(()))
            .unwrap()
            .map(|(task, ())| task.id);
        assert_eq!(claimed, Some(b));
        assert_eq!(store.get(&a).unwrap().unwrap().status, TaskStatus::Queued);
        assert_eq!(store.get(&b).unwrap().unwrap().status, TaskStatus::Pending);
    }

    #[test]
    fn reopening_keeps_schema() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("data"), dir.path().join("c"));
        let id = TaskId::new();
        Store::open(&paths).unwrap().insert(&record(id)).unwrap();
        let store = Store::open(&paths).unwrap();
        assert_eq!(store.get(&id).unwrap().unwrap().summary, "true");
    }
}
