//! Orphan task dirs: dirs under `tasks/` that no index row names, that hold no
//! `.meta.json` and that no process uses. A dispatch killed before its row was
//! written (or one that failed on a full disk or a locked index) leaves them;
//! no task can ever start from one. A dir *with* a `.meta.json` but no row is a
//! task the index lost: `reindex` adds it back instead.

use std::path::PathBuf;

use super::{TaskError, TaskManager};
use crate::procstat;
use crate::store::Store;
use crate::taskdir::{Probe, TaskDirs};

/// One orphan dir, and whether removing it failed.
#[derive(Debug)]
pub struct Orphan {
    pub dir: PathBuf,
    pub removal: std::io::Result<()>,
}

impl TaskManager {
    /// Finds the orphan task dirs and removes them, oldest first.
    pub fn remove_orphans(&self) -> Result<Vec<Orphan>, TaskError> {
        remove_all(&self.store, &self.dirs)
    }
}

/// Finds the orphan task dirs of `dirs` that `store` does not name and
/// removes them, oldest first.
pub fn remove_all(store: &Store, dirs: &TaskDirs) -> Result<Vec<Orphan>, TaskError> {
    let mut candidates = Vec::new();
    for found in dirs.scan()? {
        if dirs.lacks_meta(&found.id) && store.get(&found.id)?.is_none() {
            candidates.push(found);
        }
    }
    candidates.sort_by_key(|found| found.id.to_string());
    let table = procstat::process_table();
    let mut orphans = Vec::new();
    for found in candidates {
        // A dispatch holds the lock from just after creating the dir until
        // its row exists; with the lock taken, a row found missing stays missing.
        let _lock = match dirs.try_lock(&found.id, false) {
            Ok(Probe::Held) => continue,
            Ok(Probe::Taken(lock)) => Some(lock),
            Ok(Probe::Absent) if dirs.is_young(&found.id) => continue,
            Ok(Probe::Absent) | Err(_) => None,
        };
        if store.get(&found.id)?.is_some() || dirs.in_use(&found.id, &table) {
            continue;
        }
        let removal = dirs.remove_dir(&found.id);
        orphans.push(Orphan {
            dir: found.path,
            removal,
        });
    }
    Ok(orphans)
}
