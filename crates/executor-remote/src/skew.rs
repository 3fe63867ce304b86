//! Moves the mtimes read on a host onto this machine's clock.
//!
//! A task's files get their mtimes from the clock of the host or file system
//! they are on, which this machine's need not match: an SSH host's clock may
//! be off, and a Slurm job's files are written on a compute node, on a file
//! system shared with the login node (the file server's or the node's clock).
//! The observe scripts report that side's "now" with the mtimes (SSH: the
//! host's `date +%s`; Slurm: the mtime of a file created in the task root),
//! and the difference to this machine's clock is added to every mtime, so
//! durations, ages and stall detection compare like with like.

/// Skew below this (in seconds) is the round trip and whole-second mtimes, not
/// a clock that is off: no correction then.
const TOLERANCE_SECS: i64 = 2;

/// How far this machine's clock is ahead of the file system's, whose "now" was
/// `fs_now` (seconds since the epoch); 0 within [`TOLERANCE_SECS`].
pub fn offset(fs_now: i64) -> i64 {
    let here = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let skew = here.saturating_sub(fs_now);
    if skew.abs() < TOLERANCE_SECS { 0 } else { skew }
}

/// The mtime of a `size mtime path` stat line, if it has one.
pub fn mtime(line: &str) -> Option<i64> {
    line.split(' ').nth(1)?.parse().ok()
}

/// Moves the mtime of a `size mtime path` stat line by `offset` seconds.
pub fn shift(line: &str, offset: i64) -> String {
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(size), Some(mtime), Some(path)) if offset != 0 => match mtime.parse::<i64>() {
            Ok(mtime) => format!("{size} {} {path}", mtime.saturating_add(offset)),
            Err(_) => line.to_owned(),
        },
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtimes_move_onto_this_clock() {
        assert_eq!(
            shift("12 1000 /r/a/task.log", 3600),
            "12 4600 /r/a/task.log"
        );
        assert_eq!(shift("12 1000 /r/a/task.log", 0), "12 1000 /r/a/task.log");
        assert_eq!(shift("garbage", 5), "garbage");
        assert_eq!(
            mtime("0 1700000000 /r/.openclaw-clock.7"),
            Some(1_700_000_000)
        );
        assert_eq!(mtime("garbage"), None);
        let now = jiff::Timestamp::now().as_second();
        assert_eq!(offset(now), 0);
        assert!((3600..=3601).contains(&offset(now - 3600)));
        assert_eq!(offset(i64::MIN), i64::MAX);
    }
}
