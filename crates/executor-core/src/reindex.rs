//! Rebuilding the task index from the task directories, for when the index was
//! lost or damaged. Every task's directory keeps a `.meta.json` that carries
//! what the index needs; the runner's own records (`exit.json`, `task.pid`)
//! then bring live tasks up to date at the next reconciliation.

use std::path::{Path, PathBuf};

use crate::paths::Paths;
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
    /// Orphan dirs (no row, no `.meta.json`, no live process) removed.
    pub removed: Vec<PathBuf>,
}

/// Opens the index for a rebuild. An index that is not a database, is
/// malformed or fails SQLite's quick check is first moved aside (with its WAL
/// and shared-memory files) to `index.sqlite.damaged-<ms>`, kept for
/// inspection, and a new one is created. Returns the store and that copy.
pub fn open_for_rebuild(paths: &Paths) -> Result<(Store, Option<PathBuf>), StoreError> {
    let damaged = match Store::open(paths) {
        Ok(store) => match store.quick_check() {
            Ok(true) => return Ok((store, None)),
            Ok(false) => true,
            Err(err) if err.is_damaged_index() => true,
            Err(err) => return Err(err),
        },
        Err(err) if err.is_damaged_index() => true,
        Err(err) => return Err(err),
    };
    debug_assert!(damaged);
    let index = paths.index_path();
    let mut aside = index.clone().into_os_string();
    aside.push(format!(".damaged-{}", crate::time::now_ms()));
    let aside = PathBuf::from(aside);
    // The main file last: its WAL must not be left beside a new index.
    for suffix in ["-wal", "-shm", ""] {
        let mut from = index.clone().into_os_string();
        from.push(suffix);
        let mut to = aside.clone().into_os_string();
        to.push(suffix);
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Write {
                    path: PathBuf::from(to),
                    source,
                });
            }
        }
    }
    Ok((Store::open(paths)?, Some(aside)))
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
    for orphan in crate::orphans::remove_all(store)? {
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
