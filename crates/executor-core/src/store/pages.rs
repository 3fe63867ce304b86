//! Reads for the web view: one page of a listing (newest first, keyset
//! paginated), cost totals, and the rows a change watcher compares between
//! two looks.

use rusqlite::params_from_iter;

use super::error::StoreError;
use super::open::Store;
use super::rows::{COLUMNS, filter_sql, opt_text, record_from_row, text};
use crate::model::{ListFilter, TaskId, TaskRecord};

/// One task of a page: an ended task's stored rendering, or the record of a
/// task still changing (the caller renders it).
pub enum Paged {
    Rendered(String),
    Live(Box<TaskRecord>),
}

/// The summed cost of the tasks of one executor on one day (UTC, by creation).
#[derive(Debug, Clone, PartialEq)]
pub struct CostTotal {
    pub executor: String,
    pub day: String,
    pub cost_usd: f64,
    pub tasks: u64,
}

impl Store {
    /// Up to `limit` tasks matching `filter`, newest first, older than
    /// `before` when given (the last id of the previous page).
    pub fn page(
        &self,
        filter: &ListFilter,
        before: Option<&TaskId>,
        limit: usize,
    ) -> Result<Vec<Paged>, StoreError> {
        let (mut clause, mut args) = filter_sql(filter);
        if let Some(before) = before {
            args.push(before.to_string());
            clause.push_str(&format!(" AND id < ?{}", args.len()));
        }
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, view_json FROM tasks {clause} ORDER BY id DESC LIMIT {limit}"
        ))?;
        let mut rows = stmt.query(params_from_iter(args.iter()))?;
        let mut live = Vec::new();
        let mut page = Vec::new();
        while let Some(row) = rows.next()? {
            match opt_text(row, 1)? {
                Some(json) => page.push(Some(Paged::Rendered(json.to_owned()))),
                None => {
                    live.push((page.len(), text(row, 0)?.to_owned()));
                    page.push(None);
                }
            }
        }
        for (slot, id) in live {
            let mut stmt = self
                .conn
                .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"))?;
            let mut found = stmt.query_map([id], record_from_row)?;
            if let Some(record) = found.next() {
                page[slot] = Some(Paged::Live(Box::new(record?)));
            }
        }
        Ok(page.into_iter().flatten().collect())
    }

    /// How many tasks match `filter`.
    pub fn count(&self, filter: &ListFilter) -> Result<u64, StoreError> {
        let (clause, args) = filter_sql(filter);
        Ok(self.conn.query_row(
            &format!("SELECT COUNT(*) FROM tasks {clause}"),
            params_from_iter(args.iter()),
            |row| row.get(0),
        )?)
    }

    /// Cost per executor and day, oldest day first; tasks without a cost count 0.
    pub fn cost_totals(&self) -> Result<Vec<CostTotal>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT executor, substr(created_at, 1, 10) AS day, \
             COALESCE(SUM(cost_usd), 0), COUNT(*) FROM tasks \
             GROUP BY executor, day ORDER BY day, executor",
        )?;
        let rows = stmt
            .query_map([], |row| {
                Ok(CostTotal {
                    executor: row.get(0)?,
                    day: row.get(1)?,
                    cost_usd: row.get(2)?,
                    tasks: row.get(3)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The tasks a change watcher looks at: every task not yet ended, and
    /// every task newer than `newer_than` (created since the last look).
    pub fn watched(&self, newer_than: Option<&TaskId>) -> Result<Vec<TaskRecord>, StoreError> {
        let newer = newer_than.map(ToString::to_string).unwrap_or_default();
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE status IN ('queued', 'pending', 'running') \
             UNION SELECT {COLUMNS} FROM tasks WHERE id > ?1 ORDER BY id"
        ))?;
        let rows = stmt
            .query_map([newer], record_from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The newest task id, if any.
    pub fn newest_id(&self) -> Result<Option<TaskId>, StoreError> {
        let id: Option<String> = self
            .conn
            .query_row("SELECT MAX(id) FROM tasks", [], |row| row.get(0))?;
        Ok(id.and_then(|id| id.parse().ok()))
    }
}
