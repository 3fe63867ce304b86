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

mod error;
mod migrations;
mod open;
mod pages;
mod queue;
mod rows;
mod select;
mod tasks;
mod webhooks;
mod write;

pub use error::StoreError;
pub use open::{IndexFile, Store};
pub use pages::{CostTotal, Paged};
pub use queue::Capacities;
pub use rows::TableRow;
pub use select::LiveRunner;
pub use tasks::Listed;
pub use webhooks::{WebhookClaim, WebhookOutcome};
pub use write::WriteTx;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        ExecutorType, StatusUpdate, TaskId, TaskIdPrefix, TaskRecord, TaskStatus, TaskType,
        WebhookState,
    };
    use crate::paths::Paths;

    fn record(id: TaskId) -> TaskRecord {
        TaskRecord {
            id,
            executor: "local".into(),
            executor_type: ExecutorType::LOCAL,
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
            model: None,
            max_budget_usd: None,
            worktree: None,
            group_id: None,
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
        // The handle, a suffix or any part, with or without hyphens.
        assert_eq!(store.resolve(&prefix("000000000002")).unwrap().id, b);
        assert_eq!(store.resolve(&prefix("0002")).unwrap().id, b);
        for both in ["80000000", "8000-0000000000"] {
            assert!(matches!(
                store.resolve(&prefix(both)),
                Err(StoreError::Ambiguous { .. })
            ));
        }
        assert_eq!(store.resolve(&prefix("8000000000000002")).unwrap().id, b);
        let c: TaskId = "01900000-0000-7000-8000-00000000abcd".parse().unwrap();
        store.insert(&record(c)).unwrap();
        assert_eq!(store.resolve(&prefix("abcd")).unwrap().id, c);
        match store.resolve(&prefix("-8000-")) {
            Err(StoreError::Ambiguous { candidates, .. }) => assert_eq!(candidates.len(), 3),
            other => panic!("{other:?}"),
        }
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
            result: None,
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
        store.insert(&record(id)).unwrap();
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
        let (_dir, mut store) = store();
        let id = TaskId::new();
        let mut task = record(id);
        task.executor_type = ExecutorType::from("slurm".to_owned());
        task.status = TaskStatus::Failed;
        task.webhook_state = Some(WebhookState::Delivered);
        task.ended_at = Some("2026-01-01T00:00:01.5Z".into());
        store
            .insert_batch(&[(task.clone(), Some("{}".into()))])
            .unwrap();
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
    fn a_claim_skips_a_task_it_cannot_hold() {
        let (_dir, mut store) = store();
        let (a, b) = (TaskId::new(), TaskId::new());
        for id in [a, b] {
            let mut task = record(id);
            task.status = TaskStatus::Queued;
            store.insert(&task).unwrap();
        }
        let capacities: Capacities = [("local".to_owned(), None)].into_iter().collect();
        let tx = store.begin_write().unwrap();
        // The caller could not take `a`'s dispatch lock: it passes it over.
        let next = tx.next_claimable(&capacities, &[a]).unwrap().unwrap();
        let claimed = tx.claim(next).unwrap().id;
        tx.commit().unwrap();
        assert_eq!(claimed, b);
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
