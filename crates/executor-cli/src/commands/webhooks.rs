//! `deliver-webhooks` (hidden): the background process that POSTs completion
//! records, retrying with backoff. One runs at a time per data directory.

use std::time::Duration;

use crate::app::App;
use crate::exit::{CliError, code};

/// Upper bound on one deliverer's life; the next command that notices a pending
/// webhook starts another.
const MAX_RUNTIME: Duration = Duration::from_secs(600);

pub fn deliver(app: &App) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let lock = app.lock_file("webhooks.lock")?;
    // Twice at most: the second pass picks up a webhook queued while we held the lock.
    for _ in 0..2 {
        if lock.try_lock().is_err() {
            // Another deliverer is at work; it will see our pending webhooks too.
            return Ok(code::OK);
        }
        manager.deliver_webhooks(MAX_RUNTIME, true)?;
        let _ = lock.unlock();
        if !manager.store().has_pending_webhooks()? {
            break;
        }
    }
    Ok(code::OK)
}
