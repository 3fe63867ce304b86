//! Reading what the observe scripts print. It comes from a host: a line that
//! does not parse is skipped, and the record it would have carried counts as
//! absent until the next look.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use executor_core::runner::{self, ExitRecord, FileStat, RunnerObservation};

/// One record line of a task (`started`, `pid <n>`, `exit <json>`,
/// `kill <reason>`, `delta <base64>`), as every observe script prints them.
/// Returns whether the key was one of them.
pub fn read_record(observation: &mut RunnerObservation, key: &str, value: &str) -> bool {
    match key {
        "started" => observation.runner_started = true,
        "pid" => observation.payload_pid = value.trim().parse().ok(),
        "exit" => observation.exit = ExitRecord::parse(value.as_bytes()),
        "kill" => observation.kill_reason = Some(runner::parse_kill_marker(value.as_bytes())),
        "delta" => observation.log_delta = BASE64.decode(value.trim()).ok(),
        _ => return false,
    }
    true
}

/// Reads the report of [`scripts::observe`](crate::scripts::observe) into
/// `observations` (one per id, in the order of `ids`); `target` names the host
/// in reasons.
pub fn read_observe(
    text: &str,
    ids: &[String],
    observations: &mut [RunnerObservation],
    target: &str,
) {
    for observation in observations.iter_mut() {
        // Overridden below when the whole task directory is gone.
        observation.lost_reason = Some(format!(
            "the task runner is gone from {target} without an exit record"
        ));
    }
    let mut current: Option<usize> = None;
    let mut skew = 0;
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "@@" => current = ids.iter().position(|id| id == value),
            // The host's clock, just before its mtimes were read.
            "N" => skew = clock_skew(value),
            "L" => {
                // "L size mtime <id>/<file>" (relative to the task root), after all probes.
                let value = shift_mtime(value, skew);
                if let Some(stat) = FileStat::parse(&value)
                    && let Some(index) = ids.iter().position(|id| stat.dir == id)
                {
                    observations[index].apply_stat(&stat);
                }
            }
            _ => {
                let Some(index) = current else { continue };
                let observation = &mut observations[index];
                match key {
                    "alive" => observation.runner_alive = true,
                    "full" => {
                        observation.end_reason = Some(format!(
                            "no space left on device: the task root on {target} is full, so \
                             the task's output or its exit record could not be written"
                        ))
                    }
                    "gone" => {
                        observation.lost_reason = Some(format!(
                            "the task directory is gone from {target} (the host rebooted or its \
                             task root was wiped)"
                        ))
                    }
                    _ => {
                        read_record(observation, key, value);
                    }
                }
            }
        }
    }
}

/// Skew below this (in seconds) is the round trip and the host's whole-second
/// clock, not a clock that is off: no correction then.
const SKEW_TOLERANCE_SECS: i64 = 2;

/// How far this machine's clock is ahead of the host's (`host_now`: its
/// `date +%s`), in seconds; 0 within [`SKEW_TOLERANCE_SECS`].
fn clock_skew(host_now: &str) -> i64 {
    let Ok(host) = host_now.trim().parse::<i64>() else {
        return 0;
    };
    let here = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    let skew = here.saturating_sub(host);
    if skew.abs() < SKEW_TOLERANCE_SECS {
        0
    } else {
        skew
    }
}

/// Moves the mtime of a "size mtime path" stat line onto this machine's clock,
/// so ages, end times and stall detection compare like with like.
fn shift_mtime(line: &str, skew: i64) -> String {
    let mut parts = line.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(size), Some(mtime), Some(path)) if skew != 0 => match mtime.parse::<i64>() {
            Ok(mtime) => format!("{size} {} {path}", mtime.saturating_add(skew)),
            Err(_) => line.to_owned(),
        },
        _ => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_mtimes_move_onto_this_clock() {
        assert_eq!(
            shift_mtime("12 1000 a/task.log", 3600),
            "12 4600 a/task.log"
        );
        assert_eq!(shift_mtime("12 1000 a/task.log", 0), "12 1000 a/task.log");
        assert_eq!(shift_mtime("garbage", 5), "garbage");
        assert_eq!(clock_skew("not a number"), 0);
    }
}
