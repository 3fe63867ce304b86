//! Reading what the observe scripts print. It comes from a host: a line that
//! does not parse is skipped, and the record it would have carried counts as
//! absent until the next look.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use executor_core::runner::{self, ExitRecord, FileStat, RunnerObservation};

use crate::skew;

/// One record line of a task (`started`, `pid <n>`, `exit <json>`,
/// `kill <reason>`, `delta <base64>`, `usage <line>`), as every observe script prints them.
/// Returns whether the key was one of them.
pub fn read_record(observation: &mut RunnerObservation, key: &str, value: &str) -> bool {
    match key {
        "started" => observation.runner_started = true,
        "pid" => observation.payload_pid = value.trim().parse().ok(),
        "exit" => observation.exit = ExitRecord::parse(value.as_bytes()),
        "kill" => observation.kill_reason = Some(runner::parse_kill_marker(value.as_bytes())),
        "delta" => observation.log_delta = BASE64.decode(value.trim()).ok(),
        "usage" => observation.agent_usage = Some(value.as_bytes().to_vec()),
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
    let mut offset = 0;
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "@@" => current = ids.iter().position(|id| id == value),
            // The host's clock, just before its mtimes were read.
            "N" => offset = value.trim().parse().map_or(0, skew::offset),
            "L" => {
                // "L size mtime <id>/<file>" (relative to the task root), after all probes.
                let value = skew::shift(value, offset);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's "now" moves its mtimes onto this clock; a "now" that is not
    /// a number moves nothing.
    #[test]
    fn host_mtimes_move_onto_this_clock() {
        let ids = vec!["a".to_owned()];
        let read = |now: &str| {
            let mut observations = vec![RunnerObservation::default()];
            let report = format!("@@ a\nexit {{\"exit_code\":0}}\nN {now}\nL 3 1000 a/exit.json\n");
            read_observe(&report, &ids, &mut observations, "host");
            observations.remove(0)
        };
        let here = jiff::Timestamp::now().as_second();
        let shifted = read(&(here - 3600).to_string());
        let unshifted = read("not a number");
        let ended = |o: &RunnerObservation| {
            o.exit
                .as_ref()
                .and_then(|e| e.ended_at.clone())
                .expect("an end time")
        };
        assert_eq!(ended(&unshifted), "1970-01-01T00:16:40.000Z");
        assert!(
            ended(&shifted).starts_with("1970-01-01T01:16:4"),
            "{}",
            ended(&shifted)
        );
    }
}
