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
/// `observations` (one per id, in the order of `ids`).
pub fn read_observe(text: &str, ids: &[String], observations: &mut [RunnerObservation]) {
    let mut current: Option<usize> = None;
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "@@" => current = ids.iter().position(|id| id == value),
            "L" => {
                // "L size mtime <id>/<file>" (relative to the task root), after all probes.
                if let Some(stat) = FileStat::parse(value)
                    && let Some(index) = ids.iter().position(|id| stat.dir == id)
                {
                    observations[index].apply_stat(&stat);
                }
            }
            _ => {
                let Some(index) = current else { continue };
                let observation = &mut observations[index];
                if key == "alive" {
                    observation.runner_alive = true;
                } else {
                    read_record(observation, key, value);
                }
            }
        }
    }
}
