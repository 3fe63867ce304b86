//! Reading and writing task rows outside the slot and webhook protocols.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, params};

use super::error::StoreError;
use super::open::Store;
use super::rows::{
    COLUMNS, LIVE, TABLE_COLUMNS, TableRow, agent_json, filter_sql, insert_record, opt_text,
    record_from_row, table_row_from, text,
};
use crate::model::{
    AgentStats, ListFilter, StatusUpdate, TaskId, TaskIdPrefix, TaskRecord, TaskStatus, Timestamp,
};

/// One task of a JSON listing: an ended task's stored rendering, or the
/// record of a task still changing (the caller renders it).
pub enum Listed<'a> {
    Rendered(&'a str),
    Live(Box<TaskRecord>),
}

impl Store {
    /// Inserts `task` (listings render it when they show it).
    pub fn insert(&self, task: &TaskRecord) -> Result<(), StoreError> {
        insert_record(&self.conn, task, None)
    }

    /// Inserts many records, each with its rendering when ended, in one
    /// transaction (reindex, benchmark fixtures).
    pub fn insert_batch(
        &mut self,
        tasks: &[(TaskRecord, Option<String>)],
    ) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for (task, view_json) in tasks {
            insert_record(&tx, task, view_json.as_deref())?;
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

    /// Finds the one task `prefix` names: the one whose id starts with it,
    /// or, when none does, the one whose id holds it anywhere (the short
    /// handle, a suffix, any part; hyphens optional).
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
        if matches.is_empty() {
            matches = self.resolve_part(prefix)?;
        }
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

    /// The tasks (up to 6) whose handle starts with `part`, or else whose id
    /// holds it anywhere (hyphens optional when `part` has none).
    fn resolve_part(&self, part: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let upper = format!("{part}\u{10FFFF}");
        let mut stmt = self.conn.prepare_cached(
            "SELECT id FROM tasks INDEXED BY tasks_by_handle \
             WHERE substr(id, 25) >= ?1 AND substr(id, 25) < ?2 ORDER BY id LIMIT 6",
        )?;
        let mut ids = stmt
            .query_map(params![part, upper], |row| row.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        if ids.is_empty() {
            // No index orders ids by their middle: a scan, but of the narrow
            // handle index (it carries the id), paid only when nothing else matched.
            let mut stmt = self.conn.prepare_cached(
                "SELECT id FROM tasks INDEXED BY tasks_by_handle \
                 WHERE instr(id, ?1) > 0 \
                 OR (instr(?1, '-') = 0 AND instr(replace(id, '-', ''), ?1) > 0) \
                 ORDER BY id LIMIT 6",
            )?;
            ids = stmt
                .query_map(params![part], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
        }
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            let mut stmt = self
                .conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"))?;
            records.extend(stmt.query_row([id], record_from_row).optional()?);
        }
        Ok(records)
    }

    /// Tasks holding a slot (pending or running), oldest first.
    pub fn live_tasks(&self) -> Result<Vec<TaskRecord>, StoreError> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE {LIVE} ORDER BY id"
        ))?;
        let tasks = stmt
            .query_map([], record_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tasks)
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

    /// Stores the agent stats of a task.
    pub fn set_agent(&self, id: &TaskId, agent: &AgentStats) -> Result<(), StoreError> {
        self.conn.execute(
            "UPDATE tasks SET agent = ?2, cost_usd = ?3 WHERE id = ?1",
            params![id.to_string(), agent_json(agent), agent.total_cost_usd],
        )?;
        Ok(())
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
                Timestamp::now().as_str()
            ],
        )?;
        Ok(changed > 0)
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

    /// Calls `visit` with each task matching `filter`, oldest first: the stored
    /// rendering of an ended task, the record of any other.
    pub fn for_each_listed(
        &self,
        filter: &ListFilter,
        mut visit: impl FnMut(Listed<'_>) -> std::io::Result<()>,
    ) -> Result<Result<(), std::io::Error>, StoreError> {
        let (clause, args) = filter_sql(filter);
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, view_json FROM tasks {clause} ORDER BY id"
        ))?;
        let mut rows = stmt.query(rusqlite::params_from_iter(args.iter()))?;
        while let Some(row) = rows.next()? {
            let visited = match opt_text(row, 1)? {
                Some(json) => visit(Listed::Rendered(json)),
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
                    visit(Listed::Live(Box::new(record)))
                }
            };
            if let Err(err) = visited {
                return Ok(Err(err));
            }
        }
        Ok(Ok(()))
    }
}
