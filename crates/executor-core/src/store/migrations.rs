//! Opening the index file: its schema migrations and connection settings.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;

use super::error::StoreError;

/// Schema migrations, applied in order; `PRAGMA user_version` counts those applied.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tasks (
    id               TEXT PRIMARY KEY NOT NULL,
    executor         TEXT NOT NULL,
    executor_type    TEXT NOT NULL,
    task_type        TEXT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT,
    pid              INTEGER,
    runner_pid       INTEGER,
    runner_start     TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    ended_at         TEXT,
    exit_code        INTEGER,
    workspace        TEXT NOT NULL,
    summary          TEXT NOT NULL,
    max_turns        INTEGER,
    session_id       TEXT,
    webhook_state    TEXT,
    webhook_attempts INTEGER NOT NULL DEFAULT 0,
    webhook_next_at  INTEGER,
    webhook_error    TEXT
) WITHOUT ROWID;
CREATE INDEX tasks_by_status ON tasks(status, id);
CREATE INDEX tasks_by_executor ON tasks(executor, id);
CREATE INDEX tasks_webhooks_due ON tasks(webhook_next_at) WHERE webhook_state = 'pending';
"#,
    r#"
ALTER TABLE tasks ADD COLUMN agent TEXT;
ALTER TABLE tasks ADD COLUMN parent_id TEXT;
CREATE INDEX tasks_by_parent ON tasks(parent_id) WHERE parent_id IS NOT NULL;
"#,
    r#"
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_queue ON tasks(priority DESC, id) WHERE status = 'queued';
CREATE INDEX tasks_slots ON tasks(executor, status);
ALTER TABLE tasks ADD COLUMN claimed_at TEXT;
"#,
    r#"
ALTER TABLE tasks ADD COLUMN view_json TEXT;
ALTER TABLE tasks ADD COLUMN cost_usd REAL;
"#,
    // The table listing's columns in id order: a full `list` scans this narrow
    // index (and seeks a row only for a live task's agent stats) instead of the
    // rows, which the stored JSON rendering makes ~900 bytes wide.
    r#"
CREATE INDEX tasks_listing
    ON tasks(id, executor, task_type, status, exit_code, summary, cost_usd, started_at);
"#,
    // Agent tasks stored before `cost_usd` existed (versions 2-3) keep their
    // cost only in the stats JSON: copy it where the listing reads it.
    // `json_valid` first: one damaged stats value must not stop the upgrade.
    r#"
UPDATE tasks SET cost_usd = json_extract(agent, '$.total_cost_usd')
    WHERE cost_usd IS NULL AND agent IS NOT NULL AND json_valid(agent)
      AND json_type(agent, '$.total_cost_usd') IN ('real', 'integer');
"#,
    // Short handles (the id's last 12 characters, `-t f90a72af332c`): looked
    // up by range in this narrow index, whose entries also carry the id, so a
    // search for any other part of an id scans it instead of the wide rows.
    r#"
CREATE INDEX tasks_by_handle ON tasks(substr(id, 25));
"#,
];
/// WAL frames after which a commit checkpoints them into the database.
const WAL_AUTOCHECKPOINT_PAGES: u32 = 64;
/// A WAL larger than this at close (a bulk write) is checkpointed and emptied,
/// so later processes do not each read it back.
pub(super) const WAL_MAX_KEPT_BYTES: u64 = 2 * 1024 * 1024;

/// A CLI process lives for milliseconds. Checkpointing when its connection
/// closes, deleting the WAL and creating it again in the next process costs
/// four fsyncs per write; kept, the WAL is checkpointed by the commit that
/// crosses `WAL_AUTOCHECKPOINT_PAGES`, and the next process reads back at most
/// that much (more pages make every open slower, fewer make checkpoints, with
/// their fsyncs, frequent: docs/benchmark-findings.md).
pub(super) fn keep_wal_on_close(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
}
/// Brings the schema up to date; returns the version found.
pub(super) fn migrate(conn: &mut Connection, path: &Path) -> Result<usize, StoreError> {
    let version: usize = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version == MIGRATIONS.len() {
        return Ok(version);
    }
    if version > MIGRATIONS.len() {
        return Err(StoreError::TooNew {
            path: path.to_owned(),
            found: version,
            supported: MIGRATIONS.len(),
        });
    }
    // WAL is a property of the database file, so setting it once (at creation) is
    // enough. Switching needs the file to itself and may answer BUSY without
    // consulting the busy handler when many processes create the store at once.
    retry_busy(|| {
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
    })?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)?;
    // Re-read under the lock: another process may have migrated meanwhile.
    let version: usize = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    for migration in MIGRATIONS.iter().skip(version) {
        tx.execute_batch(migration)?;
    }
    tx.pragma_update(None, "user_version", MIGRATIONS.len())?;
    tx.commit()?;
    Ok(version)
}

/// Retries an operation that SQLite refused with BUSY/LOCKED, for up to 10 s.
fn retry_busy<T>(mut op: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        match op() {
            Err(rusqlite::Error::SqliteFailure(err, _))
                if matches!(
                    err.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}
