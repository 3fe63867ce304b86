//! Rebuilding the task index from the task directories, for when the index was
//! lost or damaged. Every task's directory keeps a `.meta.json` that carries
//! what the index needs; the runner's own records (`exit.json`, `task.pid`)
//! then bring live tasks up to date at the next reconciliation.

use std::path::{Path, PathBuf};

use crate::runner;
use crate::store::{Store, StoreError, TaskRecord, summarize};
use crate::task::{TaskId, TaskMeta, TaskType};

/// What a rebuild found.
#[derive(Debug, Default)]
pub struct ReindexReport {
    /// Tasks that were missing from the index and are in it now, oldest first.
    pub added: Vec<TaskId>,
    /// Task directories the index already knew.
    pub already_indexed: usize,
    /// Task directories that could not be read back, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Adds every task whose directory the index lacks. Never changes a task the
/// index already has, so it is safe to run at any time.
pub fn reindex(store: &mut Store) -> Result<ReindexReport, StoreError> {
    let tasks_dir = store.paths().tasks_dir();
    let read_err = |source| StoreError::Read {
        path: tasks_dir.clone(),
        source,
    };
    let mut report = ReindexReport::default();
    let mut records = Vec::new();
    for entry in std::fs::read_dir(&tasks_dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        // Anything not named by a task id (a temp file) is no task.
        let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<TaskId>().ok())
        else {
            continue;
        };
        if store.get(&id)?.is_some() {
            report.already_indexed += 1;
            continue;
        }
        match record_from_dir(&entry.path(), id) {
            Ok(record) => records.push(record),
            Err(reason) => report.skipped.push((entry.path(), reason)),
        }
    }
    records.sort_by_key(|r| r.id.to_string());
    store.insert_batch(&records)?;
    report.added = records.iter().map(|r| r.id).collect();
    Ok(report)
}

fn record_from_dir(dir: &Path, id: TaskId) -> Result<TaskRecord, String> {
    let bytes = std::fs::read(dir.join(runner::META_FILE))
        .map_err(|e| format!("cannot read {}: {e}", runner::META_FILE))?;
    let meta: TaskMeta = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} does not parse: {e}", runner::META_FILE))?;
    if meta.task_id != id {
        return Err(format!(
            "{} names task {}, not its directory's",
            runner::META_FILE,
            meta.task_id
        ));
    }
    let text = match meta.task_type {
        TaskType::ClaudeCode => meta.prompt.clone(),
        TaskType::ShellCommand => meta.command.clone(),
    };
    Ok(TaskRecord::from_meta(
        meta,
        &summarize(&text.unwrap_or_default()),
    ))
}
