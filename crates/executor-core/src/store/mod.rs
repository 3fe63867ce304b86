//! The task index: an SQLite cache of the truth in each task directory, which
//! makes `list`, `status` and prefix lookups fast at any number of tasks.
//!
//! SQL only: it takes and returns [`TaskRecord`]s, renders nothing (an ended
//! task's JSON rendering comes in from the caller as text) and never runs
//! caller code under its write lock. A change that must be ordered with files
//! written elsewhere (`.meta.json`, completion records) goes through a
//! [`WriteTx`]: begin, read, write the files, update, commit, in the caller's
//! own code. Several CLI processes may use the index at once: WAL mode, a busy
//! timeout, and conditional updates keep them from corrupting or
//! double-counting anything.

mod migrations;
mod queue;
mod rows;
mod tasks;
mod webhooks;
mod write;

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::Connection;

use crate::paths::Paths;

pub use queue::Capacities;
pub use rows::TableRow;
pub use tasks::Listed;
pub use webhooks::{WebhookClaim, WebhookOutcome};
pub use write::WriteTx;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create data directory {path}")]
    CreateDir {
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
pub struct Store {
    conn: Connection,
    paths: Paths,
}

impl Drop for Store {
    fn drop(&mut self) {
        let mut wal = self.paths.index_path().into_os_string();
        wal.push("-wal");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > migrations::WAL_MAX_KEPT_BYTES) {
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
    pub fn open(paths: &Paths) -> Result<Self, StoreError> {
        let tasks_dir = paths.tasks_dir();
        crate::fsutil::create_private_dir_all(&tasks_dir).map_err(|source| {
            StoreError::CreateDir {
                path: tasks_dir.clone(),
                source,
            }
        })?;
        let path = paths.index_path();
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
        migrations::keep_wal_on_close(&conn).map_err(open_err)?;
        migrations::migrate(&mut conn, &path)?;
        Ok(Self {
            conn,
            paths: paths.clone(),
        })
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ExecutorType, StatusUpdate, TaskId, TaskIdPrefix, TaskRecord, TaskStatus, TaskType,
        WebhookState,
    };

    fn record(id: TaskId) -> TaskRecord {
        TaskRecord {
            id,
            executor: "local".into(),
            executor_type: ExecutorType::Local,
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
    fn prefix_resolution() {
        let (_dir, store) = store();
        let a: TaskId = "01900000-0000-7000-8000-000000000001".parse().unwrap();
        let b: TaskId = "01900000-0000-7000-8000-000000000002".parse().unwrap();
        store.insert(&record(a), None).unwrap();
        store.insert(&record(b), None).unwrap();
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
        store.insert(&record(id), None).unwrap();
        let update = StatusUpdate {
            status: TaskStatus::Completed,
            pid: Some(5),
            exit_code: Some(0),
            ended_at: Some("t".into()),
            reason: None,
        };
        let mut finish = || {
            let tx = store.begin_write().unwrap();
            let Some(mut ended) = tx.unfinished(&id).unwrap() else {
                return false;
            };
            ended.apply(&update);
            ended.webhook_state = Some(WebhookState::Pending);
            tx.set_terminal(&ended, "{}").unwrap();
            tx.commit().unwrap();
            true
        };
        assert!(finish());
        assert!(!finish());
        assert!(store.has_pending_webhooks().unwrap());
        assert_eq!(
            store.get(&id).unwrap().unwrap().status,
            TaskStatus::Completed
        );
    }

    #[test]
    fn an_uncommitted_write_changes_nothing() {
        let (_dir, mut store) = store();
        let id = TaskId::new();
        store.insert(&record(id), None).unwrap();
        {
            let tx = store.begin_write().unwrap();
            let mut ended = tx.unfinished(&id).unwrap().unwrap();
            ended.status = TaskStatus::Failed;
            tx.set_terminal(&ended, "{}").unwrap();
            // Dropped: as if the process died before committing.
        }
        assert_eq!(store.get(&id).unwrap().unwrap().status, TaskStatus::Pending);
    }

    #[test]
    fn typed_fields_are_stored_as_text() {
        let (_dir, store) = store();
        let id = TaskId::new();
        let mut task = record(id);
        task.executor_type = ExecutorType::Slurm;
        task.status = TaskStatus::Failed;
        task.webhook_state = Some(WebhookState::Delivered);
        task.ended_at = Some("2026-01-01T00:00:01.5Z".into());
        store.insert(&task, Some("{}")).unwrap();
        let (kind, state, ended): (String, String, String) = store
            .conn
            .query_row(
                "SELECT executor_type, webhook_state, ended_at FROM tasks WHERE id = ?1",
                [id.to_string()],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .unwrap();
        assert_eq!((kind.as_str(), state.as_str()), ("slurm", "delivered"));
        assert_eq!(ended, "2026-01-01T00:00:01.5Z");
        assert_eq!(store.get(&id).unwrap().unwrap(), task);
    }

    #[test]
    fn reopening_keeps_schema() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("data"), dir.path().join("c"));
        let id = TaskId::new();
        Store::open(&paths)
            .unwrap()
            .insert(&record(id), None)
            .unwrap();
        let store = Store::open(&paths).unwrap();
        assert_eq!(store.get(&id).unwrap().unwrap().summary, "true");
    }
}
