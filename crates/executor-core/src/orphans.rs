//! Orphan task dirs: dirs under `tasks/` that no index row names, that hold no
//! `.meta.json` and that no process uses. A dispatch killed before its row was
//! written (or one that failed on a full disk or a locked index) leaves them;
//! no task can ever start from one. A dir *with* a `.meta.json` but no row is a
//! task the index lost: `reindex` adds it back instead.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::dispatch_lock::{DispatchLock, Probe};
use crate::procstat;
use crate::runner;
use crate::store::{Store, StoreError};
use crate::task::TaskId;

/// A dir without a dispatch lock file this young may be a dispatch that has
/// just created it (the lock file comes next).
const YOUNG: Duration = Duration::from_secs(30);

/// One orphan dir, and whether removing it failed.
#[derive(Debug)]
pub struct Orphan {
    pub dir: PathBuf,
    pub removal: std::io::Result<()>,
}

/// Finds the orphan task dirs and removes them, oldest first.
pub fn remove_all(store: &Store) -> Result<Vec<Orphan>, StoreError> {
    let tasks_dir = store.paths().tasks_dir();
    let read_err = |source| StoreError::Read {
        path: tasks_dir.clone(),
        source,
    };
    let mut candidates = Vec::new();
    for entry in std::fs::read_dir(&tasks_dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let Some(id) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<TaskId>().ok())
        else {
            continue;
        };
        let dir = entry.path();
        if dir.is_dir() && !dir.join(runner::META_FILE).exists() && store.get(&id)?.is_none() {
            candidates.push((id.to_string(), id, dir));
        }
    }
    candidates.sort_by(|a, b| a.0.cmp(&b.0));
    let table = process_table();
    let mut orphans = Vec::new();
    for (_, id, dir) in candidates {
        // A dispatch holds the lock from just after creating the dir until its
        // row exists; with the lock taken, a row found missing stays missing.
        let _lock = match DispatchLock::try_take(&dir, false) {
            Ok(Probe::Held) => continue,
            Ok(Probe::Taken(lock)) => Some(lock),
            Ok(Probe::Absent) if young(&dir) => continue,
            Ok(Probe::Absent) | Err(_) => None,
        };
        if store.get(&id)?.is_some() || in_use(&dir, &table) {
            continue;
        }
        let removal = match std::fs::remove_dir_all(&dir) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        };
        orphans.push(Orphan { dir, removal });
    }
    Ok(orphans)
}

fn young(dir: &Path) -> bool {
    std::fs::metadata(dir)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < YOUNG))
}

struct Process {
    info: procstat::ProcessInfo,
    cmdline: Vec<u8>,
}

fn process_table() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let info = procstat::parse(&stat).filter(|i| !i.zombie)?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            Some(Process { info, cmdline })
        })
        .collect()
}

/// Whether a live process is the dir's runner or in its payload's group, or
/// was started with a path inside the dir. A reused pid keeps a dir: better
/// left than removed under a running task.
fn in_use(dir: &Path, table: &[Process]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let pid_in = |name: &str| {
        std::fs::read(dir.join(name))
            .ok()
            .and_then(|b| runner::parse_pid_file(&b))
    };
    let runner = pid_in(runner::RUNNER_PID_FILE);
    let group = pid_in(runner::PID_FILE);
    let prefix = dir.as_os_str().as_bytes();
    table.iter().any(|p| {
        Some(p.info.pid) == runner
            || Some(p.info.pgrp) == group
            || Some(p.info.pid) == group
            || p.cmdline
                .split(|b| *b == 0)
                .any(|arg| arg.starts_with(prefix) && arg.get(prefix.len()) == Some(&b'/'))
    })
}
