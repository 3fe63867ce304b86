//! Slots and the queue: a task takes one of its executor's `max_concurrent`
//! slots when it is recorded or later, atomically, so that concurrent
//! dispatches never overfill an executor.

use std::collections::HashMap;

use rusqlite::{Connection, params};

use super::error::StoreError;
use super::open::Store;
use super::rows::{COLUMNS, insert_record, record_from_row};
use super::write::WriteTx;
use crate::model::{TaskId, TaskRecord, TaskStatus, Timestamp};

/// Capacity per configured executor (`None`: unlimited). An executor missing
/// from the map is no longer configured: its queued tasks wait.
pub type Capacities = HashMap<String, Option<u32>>;

impl Store {
    /// Inserts `task` as `pending` when its executor has a free slot (and no
    /// task queued before it), else as `queued`. Returns the status given.
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
            task.claimed_at = Some(Timestamp::now());
        }
        insert_record(&tx, &task, None)?;
        tx.commit()?;
        Ok(status)
    }

    /// [`insert_claiming`](Store::insert_claiming) for many tasks (each with
    /// its executor's limit), in order, in one transaction: a batch is recorded
    /// whole or not at all.
    pub fn insert_claiming_many(
        &mut self,
        tasks: &[(TaskRecord, Option<u32>)],
    ) -> Result<Vec<TaskStatus>, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut statuses = Vec::with_capacity(tasks.len());
        // Once an executor has queued a task of the batch, the rest queue behind it.
        let mut full: HashMap<&str, bool> = HashMap::new();
        for (task, limit) in tasks {
            let queue = match full.get(task.executor.as_str()) {
                Some(true) => true,
                _ => {
                    has_queued(&tx, &task.executor)? || !has_free_slot(&tx, &task.executor, *limit)?
                }
            };
            full.insert(&task.executor, queue);
            let mut task = task.clone();
            task.status = if queue {
                TaskStatus::Queued
            } else {
                task.claimed_at = Some(Timestamp::now());
                TaskStatus::Pending
            };
            insert_record(&tx, &task, None)?;
            statuses.push(task.status);
        }
        tx.commit()?;
        Ok(statuses)
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
}

impl WriteTx<'_> {
    /// The first queued task (highest priority, then oldest), not in `skip`,
    /// whose executor has a free slot. The caller takes what it must hold
    /// while the task launches (its dispatch lock), then [`WriteTx::claim`]s
    /// it, or skips it when another process is handling it.
    pub fn next_claimable(
        &self,
        capacities: &Capacities,
        skip: &[TaskId],
    ) -> Result<Option<TaskRecord>, StoreError> {
        let queued = self
            .tx
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM tasks WHERE status = 'queued' \
                 ORDER BY priority DESC, id LIMIT 1000"
            ))?
            .query_map([], record_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        let mut full: Vec<String> = Vec::new();
        for task in queued {
            if full.contains(&task.executor) || skip.contains(&task.id) {
                continue;
            }
            let Some(limit) = capacities.get(&task.executor) else {
                continue;
            };
            if !has_free_slot(&self.tx, &task.executor, *limit)? {
                full.push(task.executor.clone());
                continue;
            }
            return Ok(Some(task));
        }
        Ok(None)
    }

    /// Moves a queued task found by [`WriteTx::next_claimable`] to `pending`.
    pub fn claim(&self, task: TaskRecord) -> Result<TaskRecord, StoreError> {
        let now = Timestamp::now();
        self.tx.execute(
            "UPDATE tasks SET status = 'pending', claimed_at = ?2 \
             WHERE id = ?1 AND status = 'queued'",
            params![task.id.to_string(), now.as_str()],
        )?;
        let mut claimed = task;
        claimed.status = TaskStatus::Pending;
        claimed.claimed_at = Some(now);
        Ok(claimed)
    }
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
