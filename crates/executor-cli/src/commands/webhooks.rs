//! `deliver-webhooks` (hidden): the background process that POSTs completion
//! records, retrying with backoff. One runs at a time per data directory.

use std::os::fd::AsRawFd;
use std::time::Duration;

use crate::app::App;
use crate::exit::{CliError, code};

/// Upper bound on one deliverer's life; the next command that notices a pending
/// webhook starts another.
const MAX_RUNTIME: Duration = Duration::from_secs(600);

pub fn deliver(app: &App) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let lock_path = app.paths.data_dir.join("webhooks.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|err| {
            CliError::new(
                code::STORE,
                format!("cannot open {}: {err}", lock_path.display()),
            )
        })?;
    // Twice at most: the second pass picks up a webhook queued while we held the lock.
    for _ in 0..2 {
        // SAFETY: flock on a descriptor we own has no memory-safety preconditions.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            // Another deliverer is at work; it will see our pending webhooks too.
            return Ok(code::OK);
        }
        manager.deliver_webhooks(MAX_RUNTIME, true)?;
        // SAFETY: as above.
        unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_UN) };
        if !manager.store().has_pending_webhooks()? {
            break;
        }
    }
    Ok(code::OK)
}
