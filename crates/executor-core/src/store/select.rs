//! The tasks a bulk operation acts on, read in one query.

use super::error::StoreError;
use super::open::Store;
use super::rows::{COLUMNS, record_from_row};
use crate::model::{Selection, TaskId, TaskRecord, TaskType};

/// A live task's recorded runner.
#[derive(Debug, Clone)]
pub struct LiveRunner {
    pub id: TaskId,
    pub pid: u32,
    /// The runner's identity (`boot_id:start_ticks`), when recorded.
    pub start: Option<String>,
    /// A shell-command task: nothing but its end is learnt by looking at it.
    pub shell: bool,
}

impl Store {
    /// The tasks matching `selection`, oldest first.
    pub fn select(&self, selection: &Selection) -> Result<Vec<TaskRecord>, StoreError> {
        let mut sql = format!("SELECT {COLUMNS} FROM tasks WHERE 1");
        let mut args: Vec<String> = Vec::new();
        let mut bind = |sql: &mut String, value: &str| {
            args.push(value.to_owned());
            sql.push_str(&format!("?{}", args.len()));
        };
        if let Some(status) = selection.status {
            sql.push_str(" AND status = ");
            bind(&mut sql, status.as_str());
        } else if let Some(ended) = selection.ended {
            let live = "status IN ('queued', 'pending', 'running')";
            sql.push_str(&if ended {
                format!(" AND NOT {live}")
            } else {
                format!(" AND {live}")
            });
        }
        if let Some(executors) = &selection.executors {
            if executors.is_empty() {
                return Ok(Vec::new());
            }
            sql.push_str(" AND executor IN (");
            for (i, name) in executors.iter().enumerate() {
                if i > 0 {
                    sql.push_str(", ");
                }
                bind(&mut sql, name);
            }
            sql.push(')');
        }
        if let Some(group) = &selection.group {
            sql.push_str(" AND group_id = ");
            bind(&mut sql, group);
        }
        sql.push_str(" ORDER BY id");
        let mut stmt = self.conn.prepare(&sql)?;
        let tasks = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), record_from_row)?
            .filter(|task| task.as_ref().map_or(true, |t| selection.matches_age(t)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tasks)
    }

    /// The recorded runners of the live tasks of executors of type
    /// `executor_type`: what a supervisor waits on between rounds.
    pub fn live_runners(&self, executor_type: &str) -> Result<Vec<LiveRunner>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, runner_pid, runner_start, task_type FROM tasks \
             WHERE status IN ('pending', 'running') AND executor_type = ?1 \
             AND runner_pid IS NOT NULL",
        )?;
        let rows = stmt
            .query_map([executor_type], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, u32>(1)?,
                    row.get::<_, Option<String>>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, pid, start, task_type)| {
                Some(LiveRunner {
                    id: id.parse().ok()?,
                    pid,
                    start,
                    shell: task_type == TaskType::ShellCommand.as_str(),
                })
            })
            .collect())
    }

    /// Deletes the index entries of `ids` in one transaction.
    pub fn delete_many(&mut self, ids: &[TaskId]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached("DELETE FROM tasks WHERE id = ?1")?;
            for id in ids {
                stmt.execute([id.to_string()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}
