//! The index connection: opening (and creating or migrating) it, and closing it.

use std::time::Duration;

use rusqlite::Connection;

use super::error::StoreError;
use super::migrations;
use crate::paths::Paths;

pub struct Store {
    pub(super) conn: Connection,
    paths: Paths,
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
impl Store {
    /// Opens (creating if needed) the store under `paths.data_dir`.
    pub fn open(paths: &Paths) -> Result<Self, StoreError> {
        let tasks_dir = paths.tasks_dir();
        crate::fsutil::create_private_dir_all(&tasks_dir).map_err(|source| {
            StoreError::CreateDir {
                path: tasks_dir.clone(),
                source,
            }
        })?;
        let path = paths.index_path();
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(open_err)?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(open_err)?;
        // NORMAL is durable enough under WAL: a power cut may lose the last commit, never corrupt.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        migrations::keep_wal_on_close(&conn).map_err(open_err)?;
        migrations::migrate(&mut conn, &path)?;
        Ok(Self {
            conn,
            paths: paths.clone(),
        })
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }
}
