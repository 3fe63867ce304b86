//! Orphan task dirs: dirs under `tasks/` that no index row names, that hold no
//! `.meta.json` and that no process uses. A dispatch killed before its row was
//! written (or one that failed on a full disk or a locked index) leaves them;
//! no task can ever start from one. A dir *with* a `.meta.json` but no row is a
//! task the index lost: `reindex` adds it back instead.

use std::path::PathBuf;

use super::{TaskError, TaskManager};
use crate::procstat;
use crate::taskdir::Probe;

/// One orphan dir, and whether removing it failed.
#[derive(Debug)]
pub struct Orphan {
    pub dir: PathBuf,
    pub removal: std::io::Result<()>,
}

impl TaskManager {
    /// Finds the orphan task dirs and removes them, oldest first.
    pub fn remove_orphans(&self) -> Result<Vec<Orphan>, TaskError> {
        let mut candidates = Vec::new();
        for found in self.dirs.scan()? {
            if self.dirs.lacks_meta(&found.id) && self.store.get(&found.id)?.is_none() {
                candidates.push(found);
            }
        }
        candidates.sort_by_key(|found| found.id.to_string());
        let table = procstat::process_table();
        let mut orphans = Vec::new();
        for found in candidates {
            // A dispatch holds the lock from just after creating the dir until
            // its row exists; with the lock taken, a row found missing stays missing.
            let _lock = match self.dirs.try_lock(&found.id, false) {
                Ok(Probe::Held) => continue,
                Ok(Probe::Taken(lock)) => Some(lock),
                Ok(Probe::Absent) if self.dirs.is_young(&found.id) => continue,
                Ok(Probe::Absent) | Err(_) => None,
            };
            if self.store.get(&found.id)?.is_some() || self.dirs.in_use(&found.id, &table) {
                continue;
            }
            let removal = self.dirs.remove_dir(&found.id);
            orphans.push(Orphan {
                dir: found.path,
                removal,
            });
        }
        Ok(orphans)
    }
}
