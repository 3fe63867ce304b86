//! Rebuilding the task index from the task directories, for when the index was
//! lost or damaged. Every task's directory keeps a `.meta.json` that carries
//! what the index needs; the runner's own records (`exit.json`, `task.pid`)
//! then bring live tasks up to date at the next reconciliation.

use std::path::PathBuf;

use super::{TaskError, TaskManager};
use crate::model::{TaskId, TaskRecord, summarize};
use crate::store::Store;
use crate::taskdir::TaskDirs;
use crate::view::TaskView;

/// What a rebuild found.
#[derive(Debug, Default)]
pub struct ReindexReport {
    /// Tasks that were missing from the index and are in it now, oldest first.
    pub added: Vec<TaskId>,
    /// Task directories the index already knew.
    pub already_indexed: usize,
    /// Task directories that could not be read back, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Orphan dirs (no row, no `.meta.json`, no live process) removed.
    pub removed: Vec<PathBuf>,
}

impl TaskManager {
    /// Adds every task whose directory the index lacks (see [`reindex`]).
    pub fn reindex(&mut self) -> Result<ReindexReport, TaskError> {
        reindex(&mut self.store, &self.dirs)
    }
}

/// Adds every task whose directory the index lacks, and removes orphan dirs.
/// Never changes a task the index already has, so it is safe to run at any
/// time.
pub fn reindex(store: &mut Store, dirs: &TaskDirs) -> Result<ReindexReport, TaskError> {
    let mut report = ReindexReport::default();
    let mut records = Vec::new();
    for found in dirs.scan()? {
        if store.get(&found.id)?.is_some() {
            report.already_indexed += 1;
            continue;
        }
        match dirs.read_meta(&found.id) {
            Ok(meta) => {
                let summary = summarize(meta.payload_text().unwrap_or_default());
                records.push(TaskRecord::from_meta(meta, &summary));
            }
            Err(reason) => report.skipped.push((found.path, reason)),
        }
    }
    records.sort_by_key(|r| r.id.to_string());
    report.added = records.iter().map(|r| r.id).collect();
    let rows: Vec<(TaskRecord, Option<String>)> = records
        .into_iter()
        .map(|record| {
            let view = record
                .status
                .is_terminal()
                .then(|| TaskView::ended(&record).to_json());
            (record, view)
        })
        .collect();
    store.insert_batch(&rows)?;
    for orphan in super::orphans::remove_all(store, dirs)? {
        report.skipped.retain(|(path, _)| *path != orphan.dir);
        match orphan.removal {
            Ok(()) => report.removed.push(orphan.dir),
            Err(err) => report
                .skipped
                .push((orphan.dir, format!("orphan dir, cannot remove it: {err}"))),
        }
    }
    Ok(report)
}
