//! The runner's records (`runner.pid`, `task.pid`, `exit.json`, the kill
//! marker) and how what a backend saw of them turns into a task status.

use serde::{Deserialize, Serialize};

use super::files::{
    AGENT_USAGE_FILE, EXIT_FILE, KILL_MARKER, LOG_FILE, PID_FILE, RESULT_FILE, RUNNER_PID_FILE,
};
use crate::model::TaskStatus;

/// The runner's record of how the payload ended (`exit.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    pub exit_code: i32,
    /// When the payload ended: the record's mtime (the runner of protocol 1
    /// wrote it into the record). `None` until a reader has learnt it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
}

impl ExitRecord {
    /// `None` until the record is whole: the runner writes it in place, and no
    /// strict prefix of a JSON object parses.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

/// Parses `task.pid` or `runner.pid` (the payload's pid is also its process
/// group). The runner writes them in place: only a whole line counts.
pub fn parse_pid_file(bytes: &[u8]) -> Option<u32> {
    let line = bytes.strip_suffix(b"\n")?;
    std::str::from_utf8(line).ok()?.trim().parse().ok()
}

/// The reason written into the kill marker (an empty marker predates reasons).
pub fn parse_kill_marker(bytes: &[u8]) -> String {
    let reason = String::from_utf8_lossy(bytes).trim().to_owned();
    if reason.is_empty() {
        "killed by request".to_owned()
    } else {
        reason
    }
}

/// What an executor saw of one task's runner.
///
/// Executors must check `runner_alive` *before* reading the exit record: a runner
/// that writes its record and exits between the two reads is then seen as running
/// (and finished on the next look), never as lost.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunnerObservation {
    pub runner_alive: bool,
    pub payload_pid: Option<u32>,
    pub exit: Option<ExitRecord>,
    /// Why the task was killed, when `kill` (or stall handling) asked for it.
    pub kill_reason: Option<String>,
    /// Log bytes from the agent stats' parsed offset, when the backend sent them
    /// along (saves a round trip per task).
    pub log_delta: Option<Vec<u8>>,
    /// The agent's running totals, as its usage watcher last copied them
    /// (`agent-usage.json`; CLIs whose stream reports usage only at the end).
    pub agent_usage: Option<Vec<u8>>,
    /// Whether the runner ever started (it writes `runner.pid` first thing).
    pub runner_started: bool,
    /// Size of `task.log`, and when it last changed (RFC 3339).
    pub log_size: Option<u64>,
    pub log_modified: Option<String>,
    /// The runner waits for an external scheduler (a Slurm job in its queue):
    /// the task is `pending`, also after its launch.
    pub queued: bool,
    /// Why the task ended when the backend knows more than the exit code (a
    /// scheduler's time limit, a failed node): the end is `failed` with this
    /// reason, unless the task was killed.
    pub end_reason: Option<String>,
    /// Why the task is lost when its runner is gone without an exit record and
    /// the backend can say more (a remote host that lost the task directory).
    pub lost_reason: Option<String>,
    /// A worktree task's `result.json`, once the runner has written it
    /// (before `exit.json`: a reader that sees the exit sees the result).
    pub result: Option<crate::model::WorkResult>,
}

impl RunnerObservation {
    /// Reads the runner's records from a task dir on this machine. `runner_alive`
    /// must have been determined before (see the type's documentation).
    pub fn read_task_dir(dir: &std::path::Path, runner_alive: bool) -> Self {
        Self::read_task_dir_knowing(dir, runner_alive, false, None)
    }

    /// [`read_task_dir`](Self::read_task_dir) without reading again what the
    /// index knows: that the runner started (`runner_recorded`) and the
    /// payload's pid. A refresh of a thousand local tasks pays two file
    /// system calls less per task.
    pub fn read_task_dir_knowing(
        dir: &std::path::Path,
        runner_alive: bool,
        runner_recorded: bool,
        payload_pid: Option<u32>,
    ) -> Self {
        let log = std::fs::metadata(dir.join(LOG_FILE)).ok();
        Self {
            runner_alive,
            runner_started: runner_recorded || dir.join(RUNNER_PID_FILE).exists(),
            payload_pid: payload_pid.or_else(|| {
                std::fs::read(dir.join(PID_FILE))
                    .ok()
                    .and_then(|b| parse_pid_file(&b))
            }),
            exit: read_exit_record(&dir.join(EXIT_FILE)),
            kill_reason: std::fs::read(dir.join(KILL_MARKER))
                .ok()
                .map(|b| parse_kill_marker(&b)),
            log_delta: None,
            agent_usage: None,
            log_size: log.as_ref().map(|m| m.len()),
            log_modified: log.as_ref().and_then(modified_rfc3339),
            queued: false,
            end_reason: None,
            lost_reason: None,
            // After the exit record: the runner writes the result first.
            result: std::fs::read(dir.join(RESULT_FILE))
                .ok()
                .and_then(|b| crate::model::WorkResult::parse(&b)),
        }
    }

    /// Reads the agent's running totals (`agent-usage.json`) from a task dir
    /// on this machine; for agent tasks only, so that a shell task's refresh
    /// pays no file system call for them.
    pub fn read_agent_usage(&mut self, dir: &std::path::Path) {
        self.agent_usage = std::fs::read(dir.join(AGENT_USAGE_FILE)).ok();
    }

    /// A task whose recorded runner was just seen alive: it has not ended
    /// (an exit it is writing right now is seen at the next look, or wakes
    /// whoever waits on the runner), so its records need no look; only what
    /// a live task can change is read: the payload's pid while unknown and,
    /// with `log`, the log's size and age (an agent's stats). A refresh of a
    /// thousand local shell tasks is one `/proc` read each.
    pub fn read_live(dir: &std::path::Path, payload_pid: Option<u32>, log: bool) -> Self {
        let log = log
            .then(|| std::fs::metadata(dir.join(LOG_FILE)).ok())
            .flatten();
        Self {
            runner_alive: true,
            runner_started: true,
            payload_pid: payload_pid.or_else(|| {
                std::fs::read(dir.join(PID_FILE))
                    .ok()
                    .and_then(|b| parse_pid_file(&b))
            }),
            log_size: log.as_ref().map(|m| m.len()),
            log_modified: log.as_ref().and_then(modified_rfc3339),
            ..Self::default()
        }
    }

    /// Takes in what a remote observe script's `stat -c '%s %Y %n'` printed
    /// about one of this task's files: the log's size and age, the exit
    /// record's time (its mtime is when the payload ended).
    pub fn apply_stat(&mut self, stat: &FileStat<'_>) {
        match stat.file {
            LOG_FILE => {
                self.log_size = stat.size;
                self.log_modified = stat.modified.clone();
            }
            EXIT_FILE => {
                if let Some(exit) = self.exit.as_mut().filter(|e| e.ended_at.is_none()) {
                    exit.ended_at = stat.modified.clone();
                }
            }
            _ => {}
        }
    }
}

/// One line of `stat -c '%s %Y %n' <task dir>/<file>…`, as the remote observe
/// scripts print them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStat<'a> {
    pub dir: &'a str,
    pub file: &'a str,
    pub size: Option<u64>,
    /// The mtime, RFC 3339.
    pub modified: Option<String>,
}

impl<'a> FileStat<'a> {
    pub fn parse(line: &'a str) -> Option<Self> {
        let mut parts = line.splitn(3, ' ');
        let size = parts.next()?.parse().ok();
        let modified = parts
            .next()?
            .parse::<i64>()
            .ok()
            .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
            .map(|t| format!("{t:.3}"));
        let (dir, file) = parts.next()?.rsplit_once('/')?;
        Some(Self {
            dir,
            file,
            size,
            modified,
        })
    }
}

/// Reads `exit.json` on this machine, its end time from the file's mtime
/// when the record does not carry one.
fn read_exit_record(path: &std::path::Path) -> Option<ExitRecord> {
    let mut file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut bytes).ok()?;
    let mut exit = ExitRecord::parse(&bytes)?;
    if exit.ended_at.is_none() {
        exit.ended_at = file.metadata().ok().as_ref().and_then(modified_rfc3339);
    }
    Some(exit)
}

fn modified_rfc3339(meta: &std::fs::Metadata) -> Option<String> {
    let modified = jiff::Timestamp::try_from(meta.modified().ok()?).ok()?;
    Some(format!("{modified:.3}"))
}

/// The status an observation implies, with the fields that go with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedState {
    pub status: TaskStatus,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub ended_at: Option<String>,
    pub reason: Option<String>,
}

impl RunnerObservation {
    pub fn state(&self) -> ObservedState {
        let mut state = ObservedState {
            status: TaskStatus::Running,
            pid: self.payload_pid,
            exit_code: None,
            ended_at: None,
            reason: None,
        };
        match &self.exit {
            Some(exit) => {
                state.exit_code = Some(exit.exit_code);
                // Unknown when no reader could stat the record: noticed now.
                state.ended_at = Some(
                    exit.ended_at
                        .clone()
                        .unwrap_or_else(crate::time::now_rfc3339),
                );
                state.status = if let Some(reason) = &self.kill_reason {
                    state.reason = Some(reason.clone());
                    TaskStatus::Killed
                } else if let Some(reason) = &self.end_reason {
                    state.reason = Some(reason.clone());
                    TaskStatus::Failed
                } else if exit.exit_code == 0 {
                    TaskStatus::Completed
                } else {
                    state.reason = Some(exit_reason(exit.exit_code));
                    TaskStatus::Failed
                };
            }
            None if self.runner_alive => {
                if self.payload_pid.is_none() {
                    state.status = TaskStatus::Pending;
                }
            }
            None if self.kill_reason.is_some() => {
                state.status = TaskStatus::Killed;
                state.ended_at = Some(crate::time::now_rfc3339());
                state.reason = self.kill_reason.clone();
            }
            None if self.end_reason.is_some() => {
                state.status = TaskStatus::Failed;
                state.ended_at = Some(crate::time::now_rfc3339());
                state.reason = self.end_reason.clone();
            }
            None => {
                state.status = TaskStatus::Lost;
                // When it was noticed: the moment it ended is unknowable.
                state.ended_at = Some(crate::time::now_rfc3339());
                state.reason =
                    Some(self.lost_reason.clone().unwrap_or_else(|| {
                        "the task runner is gone without an exit record".into()
                    }));
            }
        }
        state
    }
}

fn exit_reason(code: i32) -> String {
    match code {
        126 => "exit code 126 (not executable, the workspace could not be entered, or claude \
                refused to run as root; see the log)"
            .into(),
        127 => "exit code 127 (command not found)".into(),
        129..=192 => format!("exit code {code} (signal {})", code - 128),
        _ => format!("exit code {code}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_count_only_when_whole() {
        // The runner writes its records in place; a reader may find them empty.
        assert_eq!(parse_pid_file(b"4242\n"), Some(4242));
        assert_eq!(parse_pid_file(b""), None);
        assert_eq!(parse_pid_file(b"4242"), None);
        for exit in [
            &br#"{"exit_code":3}"#[..],
            br#"{"exit_code":3,"ended_at":"2026-11-27T09:00:00Z"}"#,
        ] {
            assert_eq!(ExitRecord::parse(exit).map(|r| r.exit_code), Some(3));
            for cut in 0..exit.len() {
                assert_eq!(ExitRecord::parse(&exit[..cut]), None, "{cut}");
            }
        }
        // Protocol 1 records carry their end time.
        let old = br#"{"exit_code":0,"ended_at":"2026-11-27T09:00:00Z"}"#;
        assert_eq!(
            ExitRecord::parse(old).unwrap().ended_at.as_deref(),
            Some("2026-11-27T09:00:00Z")
        );
    }

    #[test]
    fn remote_stat_lines_fill_in_log_and_end_times() {
        let mut observation = RunnerObservation {
            exit: ExitRecord::parse(br#"{"exit_code":0}"#),
            ..Default::default()
        };
        let log = FileStat::parse("42 1795000000 0190-ab/task.log").unwrap();
        assert_eq!(
            (log.dir, log.file, log.size),
            ("0190-ab", LOG_FILE, Some(42))
        );
        observation.apply_stat(&log);
        let exit = FileStat::parse("16 1795000060 /t/0190-ab/exit.json").unwrap();
        assert_eq!(exit.dir, "/t/0190-ab");
        observation.apply_stat(&exit);
        assert_eq!(observation.log_size, Some(42));
        assert_eq!(
            observation.log_modified.as_deref(),
            Some("2026-11-18T11:06:40.000Z")
        );
        assert_eq!(
            observation.state().ended_at.as_deref(),
            Some("2026-11-18T11:07:40.000Z")
        );
        assert_eq!(FileStat::parse("garbage"), None);
    }

    #[test]
    fn observations_map_to_statuses() {
        let exit = |code| {
            Some(ExitRecord {
                exit_code: code,
                ended_at: Some("t".into()),
            })
        };
        let observe = |runner_alive, payload_pid, exit, killed: bool| {
            RunnerObservation {
                runner_alive,
                payload_pid,
                exit,
                kill_reason: killed.then(|| "killed".to_owned()),
                ..Default::default()
            }
            .state()
            .status
        };
        assert_eq!(observe(true, None, None, false), TaskStatus::Pending);
        assert_eq!(observe(true, Some(3), None, false), TaskStatus::Running);
        assert_eq!(
            observe(false, Some(3), exit(0), false),
            TaskStatus::Completed
        );
        assert_eq!(observe(false, Some(3), exit(2), false), TaskStatus::Failed);
        assert_eq!(observe(false, Some(3), exit(143), true), TaskStatus::Killed);
        assert_eq!(observe(false, Some(3), None, false), TaskStatus::Lost);
    }
}
