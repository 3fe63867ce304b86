//! The dispatch lock of a task: an advisory lock on a file in its local task
//! dir, held by the process that launches the task from before its index row
//! says `pending` until its runner is recorded. The kernel drops the lock when
//! that process dies, however it dies, so a task that is `pending` without a
//! runner and whose lock is free was abandoned mid-dispatch: it can be
//! recovered at once instead of after a time window, and a slow launch (a
//! remote host taking its time) is never mistaken for an abandoned one.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The lock file, in the task's local dir. Never sent to the executing side.
pub const LOCK_FILE: &str = ".dispatch.lock";

/// A held dispatch lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DispatchLock {
    _file: File,
}

/// What trying the lock of a task found.
#[derive(Debug)]
pub enum Probe {
    /// Another process holds it: the task's dispatch is under way.
    Held,
    /// Nobody held it; now this process does.
    Taken(DispatchLock),
    /// There is no lock file: the dir is gone, or an older version dispatched the task.
    Absent,
}

fn open(task_dir: &Path, create: bool) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(create)
        .mode(0o600)
        .open(task_dir.join(LOCK_FILE))
}

impl DispatchLock {
    /// Creates the lock file in `task_dir` (which must exist) and takes the
    /// lock, for a task no other process knows yet.
    pub fn create(task_dir: &Path) -> io::Result<Self> {
        let file = open(task_dir, true)?;
        file.lock()?;
        Ok(Self { _file: file })
    }

    /// Takes the lock of a known task if nobody holds it (with `create`, making
    /// the lock file of a task an older version dispatched). Never waits: the
    /// holder may be waiting for the index, which the caller may hold.
    pub fn try_take(task_dir: &Path, create: bool) -> io::Result<Probe> {
        let file = match open(task_dir, create) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Probe::Absent),
            Err(err) => return Err(err),
        };
        match file.try_lock() {
            Ok(()) => Ok(Probe::Taken(Self { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(Probe::Held),
            Err(TryLockError::Error(err)) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_is_seen_and_freed_on_drop() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(matches!(
            DispatchLock::try_take(dir.path(), false).expect("probe"),
            Probe::Absent
        ));
        let held = DispatchLock::create(dir.path()).expect("create");
        assert!(matches!(
            DispatchLock::try_take(dir.path(), false).expect("probe"),
            Probe::Held
        ));
        drop(held);
        assert!(matches!(
            DispatchLock::try_take(dir.path(), false).expect("probe"),
            Probe::Taken(_)
        ));
    }
}
