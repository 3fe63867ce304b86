//! The SSH executor: tasks run on a remote host under the core task runner,
//! detached from the SSH session, in `task_root/<task-id>/` on the host.
//!
//! See `transport` for why the system `ssh` client is used.

pub mod config;
pub mod scripts;
pub mod transport;

#[cfg(test)]
mod parser_props;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use executor_core::backend::Backend;
use executor_core::executor::{Executor, ExecutorError, LaunchSpec, Launched, LogChunk};
use executor_core::runner::{ExitRecord, FileStat, RunnerObservation};
use executor_core::{ExecutorConfig, Paths, TaskId, TaskRecord, TaskType};

use crate::config::SshSettings;
use crate::transport::Transport;

/// First window read from the end of a log for `tail_log`; doubled until it
/// holds enough lines.
const TAIL_WINDOW: u64 = 256 * 1024;

/// The SSH backend, `type: ssh`.
pub struct Ssh;

impl Backend for Ssh {
    type Section = config::SshSection;

    fn executor(
        config: &ExecutorConfig,
        settings: &SshSettings,
        _paths: &Paths,
        claude_default: &str,
    ) -> Result<Box<dyn Executor>, ExecutorError> {
        let mut executor = SshExecutor::new(config.clone(), settings.clone());
        executor.claude_default = claude_default.to_owned();
        Ok(Box::new(executor))
    }
}

pub struct SshExecutor {
    config: ExecutorConfig,
    /// The claude binary when the executor names none (`defaults.claude_path`).
    claude_default: String,
    task_root: String,
    transport: Transport,
}

impl SshExecutor {
    pub fn new(config: ExecutorConfig, settings: SshSettings) -> Self {
        Self {
            claude_default: "claude".to_owned(),
            task_root: settings.task_root.clone(),
            transport: Transport::new(&config.name, settings),
            config,
        }
    }

    fn dir(&self, id: &TaskId) -> String {
        format!("{}/{id}", self.task_root)
    }

    /// Runs a script and turns a non-zero exit into the script's own one-line error.
    fn run(&self, script: &str, idempotent: bool) -> Result<Vec<u8>, ExecutorError> {
        let output = self.transport.run(script, idempotent)?;
        if output.status == 0 {
            return Ok(output.stdout);
        }
        let message = output
            .stderr
            .lines()
            .rev()
            .find_map(|l| l.trim().strip_prefix(scripts::ERROR_PREFIX))
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "remote command on {} failed with status {}: {}",
                    self.transport.target(),
                    output.status,
                    output.stderr.lines().last().unwrap_or("no message").trim()
                )
            });
        Err(ExecutorError::failed(&self.config.name, message))
    }
}

impl Executor for SshExecutor {
    fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    fn resolve_workspace(&self, workspace: &str) -> Result<String, ExecutorError> {
        // Empty: the remote user's home. Anything else must name a path on the host.
        if workspace.is_empty() || workspace.starts_with('/') {
            return Ok(workspace.trim_end_matches('/').to_owned());
        }
        Err(ExecutorError::failed(
            &self.config.name,
            format!("workspace `{workspace}` must be an absolute path on the host"),
        ))
    }

    fn task_dir(&self, id: &TaskId) -> String {
        self.dir(id)
    }

    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Launched, ExecutorError> {
        let script = scripts::launch(
            &self.task_root,
            &self.dir(&spec.id),
            spec.workspace,
            spec.files,
            spec.env,
            spec.agent.map(|agent| agent.program.as_str()),
            self.config.keep_background,
        );
        let stdout = self.run(&script, true)?;
        let stdout = String::from_utf8_lossy(&stdout);
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix(scripts::LAUNCHED))
            .ok_or_else(|| {
                ExecutorError::failed(
                    &self.config.name,
                    "the host did not report the runner's pid",
                )
            })?;
        let mut fields = line.split_whitespace();
        let runner_pid = fields.next().and_then(|p| p.parse().ok()).ok_or_else(|| {
            ExecutorError::failed(&self.config.name, "the host reported no runner pid")
        })?;
        let runner_start = fields.next().filter(|s| s.len() > 2).map(str::to_owned);
        Ok(Launched {
            runner_pid,
            runner_start,
        })
    }

    fn observe(&self, tasks: &[&TaskRecord]) -> Result<Vec<RunnerObservation>, ExecutorError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = tasks.iter().map(|t| t.id.to_string()).collect();
        let probes: Vec<scripts::Probe> = tasks
            .iter()
            .zip(&ids)
            .map(|(task, id)| scripts::Probe {
                id: id.clone(),
                runner_pid: task.runner_pid,
                payload_pid: task.pid,
                // Agent logs come back in the same round trip, for the stats.
                log_offset: (task.task_type == TaskType::ClaudeCode)
                    .then(|| task.agent.as_ref().map_or(0, |a| a.parsed_offset)),
            })
            .collect();
        let stdout = self.run(&scripts::observe(&self.task_root, &probes), true)?;
        let text = String::from_utf8_lossy(&stdout);
        let mut observations: Vec<RunnerObservation> = tasks
            .iter()
            .map(|task| RunnerObservation {
                // A runner recorded at launch has started.
                runner_started: task.runner_pid.is_some(),
                ..RunnerObservation::default()
            })
            .collect();
        read_observe(&text, &ids, &mut observations, &self.transport.target());
        Ok(observations)
    }

    fn kill(&self, task: &TaskRecord, grace: Duration, reason: &str) -> Result<(), ExecutorError> {
        let script = scripts::kill(
            &self.dir(&task.id),
            task.runner_pid,
            task.runner_start.as_deref(),
            grace.as_secs().max(1),
            reason,
        );
        self.run(&script, true).map(|_| ())
    }

    fn has_live_processes(&self, task: &TaskRecord) -> Result<bool, ExecutorError> {
        let script = scripts::live(
            &self.dir(&task.id),
            task.runner_pid,
            task.runner_start.as_deref(),
        );
        let stdout = self.run(&script, true)?;
        Ok(String::from_utf8_lossy(&stdout)
            .lines()
            .any(|l| l.trim() == "live"))
    }

    fn tail_log(&self, task: &TaskRecord, lines: usize) -> Result<LogChunk, ExecutorError> {
        let mut window = TAIL_WINDOW;
        loop {
            let stdout = self.run(&scripts::log_window(&self.dir(&task.id), window), true)?;
            let split = stdout
                .iter()
                .position(|b| *b == b'\n')
                .unwrap_or(stdout.len());
            let size: u64 = String::from_utf8_lossy(&stdout[..split])
                .trim()
                .parse()
                .unwrap_or(0);
            let bytes = stdout.get(split + 1..).unwrap_or_default();
            let whole_file = size <= window;
            if let Some(tail) = last_lines(bytes, lines, whole_file) {
                return Ok(LogChunk {
                    bytes: tail.to_vec(),
                    next_offset: size,
                });
            }
            window = grow_window(window);
        }
    }

    fn read_log(&self, task: &TaskRecord, offset: u64) -> Result<LogChunk, ExecutorError> {
        let bytes = self.run(&scripts::read_log(&self.dir(&task.id), offset), true)?;
        Ok(LogChunk {
            next_offset: offset + bytes.len() as u64,
            bytes,
        })
    }

    fn check(&self) -> Result<String, ExecutorError> {
        let claude = self
            .config
            .claude_path
            .as_deref()
            .unwrap_or(&self.claude_default);
        let stdout = self.run(&scripts::check(claude), true)?;
        let text = String::from_utf8_lossy(&stdout);
        Ok(format!(
            "{} reachable; {}",
            self.transport.target(),
            text.lines().last().unwrap_or("claude: no answer").trim()
        ))
    }

    fn read_transcript(&self, task: &TaskRecord, path: &str) -> Result<Vec<u8>, ExecutorError> {
        let _ = task;
        self.run(&scripts::transcript(path), true)
    }

    fn remove(&self, task: &TaskRecord) -> Result<(), ExecutorError> {
        self.run(&scripts::remove(&self.dir(&task.id)), true)
            .map(|_| ())
    }
}

/// Reads the observe script's report into `observations` (one per id, in the
/// order of `ids`); `target` names the host in reasons. The host's output is
/// outside input: a line that does not parse is skipped, and the record it
/// would have carried counts as absent until the next look.
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
                    "started" => observation.runner_started = true,
                    "pid" => observation.payload_pid = value.trim().parse().ok(),
                    "exit" => observation.exit = ExitRecord::parse(value.as_bytes()),
                    "kill" => {
                        observation.kill_reason =
                            Some(executor_core::runner::parse_kill_marker(value.as_bytes()))
                    }
                    "delta" => observation.log_delta = BASE64.decode(value.trim()).ok(),
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
                    _ => {}
                }
            }
        }
    }
}

/// The next, larger window of `tail_log`. Saturating: the size comes from the
/// host, and at `u64::MAX` the window covers any file, which ends the loop.
fn grow_window(window: u64) -> u64 {
    window.saturating_mul(4)
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

/// The last `lines` lines of `window`; `None` when the window may have cut them
/// short (it does not start at the beginning of the file and holds too few lines).
fn last_lines(window: &[u8], lines: usize, whole_file: bool) -> Option<&[u8]> {
    if lines == 0 {
        return Some(&[]);
    }
    let body = window.strip_suffix(b"\n").unwrap_or(window);
    let mut seen = 0;
    for (index, byte) in body.iter().enumerate().rev() {
        if *byte == b'\n' {
            seen += 1;
            if seen == lines {
                return Some(&window[index + 1..]);
            }
        }
    }
    whole_file.then_some(window)
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

    #[test]
    fn last_lines_needs_a_full_window() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2, false), Some(&b"b\nc\n"[..]));
        assert_eq!(last_lines(b"b\nc\n", 5, false), None);
        assert_eq!(last_lines(b"b\nc\n", 5, true), Some(&b"b\nc\n"[..]));
    }
}
