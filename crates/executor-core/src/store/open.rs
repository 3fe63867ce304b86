//! The index connection: opening (and creating or migrating) it, and closing it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::Connection;

use super::error::StoreError;
use super::migrations;
use crate::paths::Paths;

pub struct Store {
    pub(super) conn: Connection,
    paths: Paths,
    /// Device and inode of the index file this connection opened.
    index_file: (u64, u64),
    /// The index held no schema when opened: new, deleted or truncated to nothing.
    opened_empty: bool,
}

/// The index file at the store's path, compared with the one the store opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexFile {
    /// Still the file this store opened.
    Same,
    /// Another file is there now (moved aside and rebuilt by `reindex`, say):
    /// this store's connection reads and writes a file no one else sees.
    Replaced,
    /// No file is there now.
    Missing,
}

/// Creates the index file `0600` before SQLite does (SQLite would create it
/// `0644` less the umask, and gives its WAL and shared-memory files the index's
/// own mode), narrows an older, wider index and its companions to `0600`, and
/// returns the index's device and inode.
fn private_index_file(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let file = crate::fsutil::open_private_file(path)?;
    let meta = file.metadata()?;
    for suffix in ["-wal", "-shm"] {
        let mut companion = path.as_os_str().to_owned();
        companion.push(suffix);
        if let Ok(m) = std::fs::symlink_metadata(&companion)
            && m.is_file()
            && m.mode() & 0o077 != 0
        {
            std::fs::set_permissions(&companion, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok((meta.dev(), meta.ino()))
}

impl Drop for Store {
    fn drop(&mut self) {
        let mut wal = self.paths.index_path().into_os_string();
        wal.push("-wal");
        if std::fs::metadata(&wal).is_ok_and(|m| m.len() > migrations::WAL_MAX_KEPT_BYTES) {
            // Best effort and brief: a busy store is checkpointed by a later process.
            let _ = self.conn.busy_timeout(Duration::from_millis(50));
            let _ = self
                .conn
                .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
    }
}
/// How long a command waits for another one's write to the index.
const LOCK_WAIT: Duration = Duration::from_secs(30);
/// The first wait of [`wait_for_lock`]; each next one doubles, up to `LOCK_POLL_MAX`.
const LOCK_POLL_MIN: Duration = Duration::from_micros(50);
const LOCK_POLL_MAX: Duration = Duration::from_millis(10);

/// SQLite's busy handler, called with how often it was called for this lock
/// so far: waits a little longer each time, for [`LOCK_WAIT`] in all.
/// SQLite's own (`busy_timeout`) first sleeps a whole millisecond, where the
/// index's writes hold the lock for a tenth of that: a dispatch that met the
/// supervisor recording a task's end waited ten times as long as it had to.
fn wait_for_lock(calls: i32) -> bool {
    thread_local! {
        static SINCE: std::cell::Cell<Option<std::time::Instant>> = const { std::cell::Cell::new(None) };
    }
    let now = std::time::Instant::now();
    let since = SINCE.with(|since| {
        if calls == 0 || since.get().is_none() {
            since.set(Some(now));
        }
        since.get().unwrap_or(now)
    });
    if now.duration_since(since) >= LOCK_WAIT {
        return false;
    }
    let doubled = LOCK_POLL_MIN.saturating_mul(1 << calls.clamp(0, 16));
    std::thread::sleep(doubled.min(LOCK_POLL_MAX));
    true
}

impl Store {
    /// Opens (creating if needed) the store under `paths.data_dir`.
    ///
    /// Refuses a data, tasks or completions directory that someone else could
    /// write into (see [`crate::fsutil::check_private_dir`]); creates missing
    /// ones `0700` and the index `0600` (its WAL and shared-memory files take the
    /// index's mode from SQLite).
    pub fn open(paths: &Paths) -> Result<Self, StoreError> {
        crate::fsutil::ensure_private_dir(&paths.data_dir)?;
        crate::fsutil::ensure_private_dir(&paths.tasks_dir())?;
        if std::fs::symlink_metadata(&paths.completions_dir).is_ok() {
            crate::fsutil::check_private_dir(&paths.completions_dir)?;
        }
        let path = paths.index_path();
        let index_file = private_index_file(&path).map_err(|source| StoreError::OpenFile {
            path: path.clone(),
            source,
        })?;
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_handler(Some(wait_for_lock)).map_err(open_err)?;
        // NORMAL is durable enough under WAL: a power cut may lose the last commit, never corrupt.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        migrations::keep_wal_on_close(&conn).map_err(open_err)?;
        let found = migrations::migrate(&mut conn, &path)?;
        Ok(Self {
            conn,
            paths: paths.clone(),
            index_file,
            opened_empty: found == 0,
        })
    }

    /// Opens the index for a rebuild. An index that is not a database, is
    /// malformed or fails SQLite's quick check is first moved aside (with its
    /// WAL and shared-memory files) to `index.sqlite.damaged-<ms>`, kept for
    /// inspection, and a new one is created. Returns the store and that copy.
    pub fn open_for_rebuild(paths: &Paths) -> Result<(Self, Option<PathBuf>), StoreError> {
        match Self::open(paths) {
            Ok(store) => match store.quick_check() {
                Ok(true) => return Ok((store, None)),
                Ok(false) => {}
                Err(err) if err.is_damaged_index() => {}
                Err(err) => return Err(err),
            },
            Err(err) if err.is_damaged_index() => {}
            Err(err) => return Err(err),
        }
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
        Ok((Self::open(paths)?, Some(aside)))
    }

    /// Whether the index held no schema when this store opened it (so every
    /// task dir there may be missing from it until `reindex`).
    pub fn opened_empty(&self) -> bool {
        self.opened_empty
    }

    /// Whether SQLite's quick integrity check passes.
    pub fn quick_check(&self) -> Result<bool, StoreError> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA quick_check(1)", [], |row| row.get(0))?;
        Ok(verdict == "ok")
    }

    /// A mark that moves whenever the index was written, by this process or
    /// any other: a long-lived process rereads what it derives from the index
    /// only when it moved. `None` when it cannot be read (reread then).
    pub fn change_mark(&self) -> Option<(i64, u64)> {
        let others: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .ok()?;
        Some((others, self.conn.total_changes()))
    }

    /// Leaves checkpoints to [`checkpoint`](Self::checkpoint): a commit of
    /// this connection no longer copies the WAL back with its `fsync`s. For
    /// a long-lived process whose writes someone waits on (the supervisor's
    /// handed dispatches), which checkpoints between them instead.
    pub fn defer_checkpoints(&self) -> Result<(), StoreError> {
        Ok(self.conn.pragma_update(None, "wal_autocheckpoint", 0)?)
    }

    /// Copies what the WAL holds back to the index, without waiting for
    /// anyone; costs nothing when there is nothing to copy. Best effort: a
    /// later checkpoint does what this one could not.
    pub fn checkpoint(&self) {
        let _ = self
            .conn
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
    }

    /// Whether the index file at the store's path is still the one this store
    /// opened: one `stat`, for a long-lived process to notice a replaced index.
    pub fn index_file(&self) -> IndexFile {
        use std::os::unix::fs::MetadataExt;
        match std::fs::metadata(self.paths.index_path()) {
            Ok(meta) if (meta.dev(), meta.ino()) == self.index_file => IndexFile::Same,
            Ok(_) => IndexFile::Replaced,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => IndexFile::Missing,
            // Cannot tell: keep what works.
            Err(_) => IndexFile::Same,
        }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }
}
