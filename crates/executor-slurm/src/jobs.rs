//! Slurm's view of a job (from `squeue` or `sacct`) and how it combines with
//! the runner's records into what a task's observation says.

use executor_core::runner::{ExitRecord, RunnerObservation};

/// One job as `squeue` (or `sacct`) reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRow {
    pub job_id: String,
    /// The state's long name: `PENDING`, `RUNNING`, `TIMEOUT`, …
    pub state: String,
    /// The job's exit code (128 + N when a signal N ended it), once it ended.
    pub exit_code: Option<i32>,
    /// The job's time limit as Slurm shows it (`1:00`, `UNLIMITED`), when known.
    pub time_limit: Option<String>,
    pub name: String,
    /// Why the job waits (`Resources`, `Priority`) or ended (`TimeLimit`, …).
    pub reason: String,
}

impl JobRow {
    /// A line of `squeue --Format` with [`crate::scripts::SQUEUE_FORMAT`]:
    /// `id|STATE|wait status|time limit|name|reason|`.
    pub fn from_squeue(line: &str) -> Option<Self> {
        let mut fields = line.splitn(6, '|');
        let job_id = fields.next()?.trim().to_owned();
        let state = fields.next()?.trim().to_owned();
        // The raw wait status: exit code in the high byte, signal in the low bits.
        let status: Option<i32> = fields.next()?.trim().parse().ok();
        let time_limit = Some(fields.next()?.trim().to_owned()).filter(|t| !t.is_empty());
        let name = fields.next()?.trim().to_owned();
        let reason = fields
            .next()
            .unwrap_or("")
            .trim()
            .trim_end_matches('|')
            .to_owned();
        if job_id.is_empty() || state.is_empty() {
            return None;
        }
        Some(Self {
            job_id,
            state,
            exit_code: status.map(|s| {
                if s & 0x7f != 0 {
                    128 + (s & 0x7f)
                } else {
                    (s >> 8) & 0xff
                }
            }),
            time_limit,
            name,
            reason,
        })
    }

    /// A line of `sacct --parsable2 --format=JobID,State,ExitCode`:
    /// `id|STATE [by uid]|code:signal`.
    pub fn from_sacct(line: &str) -> Option<Self> {
        let mut fields = line.split('|');
        let job_id = fields.next()?.trim().to_owned();
        let state = fields.next()?.split_whitespace().next()?.to_owned();
        let (code, signal) = fields.next()?.trim().split_once(':')?;
        let code: i32 = code.parse().ok()?;
        let signal: i32 = signal.parse().unwrap_or(0);
        if job_id.is_empty() || job_id.contains('.') {
            return None;
        }
        Some(Self {
            job_id,
            state,
            // Saturating: the signal number is Slurm's text.
            exit_code: Some(if signal != 0 {
                128i32.saturating_add(signal)
            } else {
                code
            }),
            time_limit: None,
            name: String::new(),
            reason: String::new(),
        })
    }

    pub fn phase(&self) -> Phase {
        phase(&self.state)
    }
}

/// Where a job is in its life, as far as the task is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting in the queue: the runner has not started.
    Queued,
    /// Allocated: the runner runs (or is about to, or is finishing).
    Active,
    /// Over, with Slurm's verdict.
    Ended,
}

/// Maps a state's long name. Unknown states count as active: the task stays
/// live until Slurm says it ended.
pub fn phase(state: &str) -> Phase {
    match state {
        "PENDING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESV_DEL_HOLD"
        | "SPECIAL_EXIT" => Phase::Queued,
        "COMPLETED" | "CANCELLED" | "FAILED" | "TIMEOUT" | "NODE_FAIL" | "PREEMPTED"
        | "BOOT_FAIL" | "DEADLINE" | "OUT_OF_MEMORY" | "REVOKED" | "LAUNCH_FAILED"
        | "RECONFIG_FAIL" => Phase::Ended,
        _ => Phase::Active,
    }
}

/// Combines the runner's records (`records`, read after `job`) with Slurm's
/// view of the task's job (`None`: Slurm does not know it, or no longer).
///
/// - queued or active: the runner is alive. While the job is active its exit
///   record is not taken yet: the job's end brings Slurm's verdict with it
///   (a time limit, a node failure), a moment after the runner recorded.
/// - ended: the records decide, with Slurm's verdict where it says more:
///   a cancellation nobody here asked for, a time limit, a failed node, memory,
///   preemption (`failed` with the cause as the reason; a cancellation is
///   `killed`). A runner that died before recording gets the job's (non-zero)
///   exit code as its exit record.
/// - unknown: the records alone decide (an exit record, else lost).
pub fn observation(mut records: RunnerObservation, job: Option<&JobRow>) -> RunnerObservation {
    let Some(job) = job else {
        records.runner_alive = false;
        return records;
    };
    match job.phase() {
        Phase::Queued => {
            records.runner_alive = true;
            records.queued = true;
            records.exit = None;
            records.payload_pid = None;
        }
        Phase::Active => {
            records.runner_alive = true;
            records.exit = None;
        }
        Phase::Ended => {
            records.runner_alive = false;
            if records.kill_reason.is_none() {
                // A cancellation nobody here asked for ends `killed`; the
                // other verdicts end `failed`, with the cause as the reason.
                match job.state.as_str() {
                    "CANCELLED" => records.kill_reason = cause(job),
                    // Slurm's verdict first; else what the records tell (a
                    // full disk kept the runner from recording).
                    _ => records.end_reason = cause(job).or(records.end_reason.take()),
                }
            }
            if records.exit.is_none()
                && records.kill_reason.is_none()
                && records.end_reason.is_none()
                && let Some(code) = job.exit_code.filter(|code| *code != 0)
            {
                // The runner did not record (it could not start, or was killed
                // outright): the job's exit code is the best truth there is.
                records.exit = Some(ExitRecord {
                    exit_code: code,
                    ended_at: Some(executor_core::time::now_rfc3339()),
                });
            }
        }
    }
    records
}

/// Why Slurm ended a job, when that is more than its exit code tells.
pub fn cause(job: &JobRow) -> Option<String> {
    let id = &job.job_id;
    Some(match job.state.as_str() {
        "COMPLETED" | "FAILED" => return None,
        "CANCELLED" => format!("cancelled in Slurm: job {id} was cancelled (scancel)"),
        "TIMEOUT" => match &job.time_limit {
            Some(limit) => format!("timeout: Slurm job {id} reached its time limit ({limit})"),
            None => format!("timeout: Slurm job {id} reached its time limit"),
        },
        "NODE_FAIL" => format!("node failure: the node running Slurm job {id} failed"),
        "OUT_OF_MEMORY" => format!("out of memory: Slurm job {id} exceeded its memory limit"),
        "PREEMPTED" => format!("preempted: Slurm job {id} was preempted"),
        "BOOT_FAIL" => format!("node boot failure: Slurm could not boot a node for job {id}"),
        "DEADLINE" => format!("deadline: Slurm job {id} reached its deadline"),
        other => format!(
            "{}: Slurm job {id} ended in state {other}",
            other.to_ascii_lowercase().replace('_', " ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use executor_core::TaskStatus;

    fn row(state: &str, exit_code: Option<i32>) -> JobRow {
        JobRow {
            job_id: "42".into(),
            state: state.into(),
            exit_code,
            time_limit: Some("1:00".into()),
            name: "openclaw-x".into(),
            reason: "None".into(),
        }
    }

    fn exited(code: i32) -> Option<ExitRecord> {
        Some(ExitRecord {
            exit_code: code,
            ended_at: Some("t".into()),
        })
    }

    #[test]
    fn squeue_and_sacct_rows_parse() {
        let r = JobRow::from_squeue("7|FAILED|768|1:00|openclaw-a|NonZeroExitCode|").unwrap();
        assert_eq!(r.job_id, "7");
        assert_eq!(r.exit_code, Some(3));
        assert_eq!(r.name, "openclaw-a");
        assert_eq!(r.time_limit.as_deref(), Some("1:00"));
        assert_eq!(r.reason, "NonZeroExitCode");
        let r = JobRow::from_squeue("8|CANCELLED|15|UNLIMITED|openclaw-b|None|").unwrap();
        assert_eq!(r.exit_code, Some(143));
        let r = JobRow::from_squeue("9|PENDING|0|1:00|n|Resources|").unwrap();
        assert_eq!(r.phase(), Phase::Queued);
        assert_eq!(r.reason, "Resources");
        assert!(JobRow::from_squeue("").is_none());
        let r = JobRow::from_sacct("10|CANCELLED by 0|0:15").unwrap();
        assert_eq!((r.state.as_str(), r.exit_code), ("CANCELLED", Some(143)));
        assert!(JobRow::from_sacct("10.batch|COMPLETED|0:0").is_none());
    }

    #[test]
    fn states_map_to_task_statuses() {
        let records = |exit, kill: Option<&str>| RunnerObservation {
            runner_started: true,
            payload_pid: Some(5),
            exit,
            kill_reason: kill.map(str::to_owned),
            ..Default::default()
        };
        let status = |obs: RunnerObservation| obs.state().status;
        // Waiting in the queue: nothing ran yet.
        let queued = observation(RunnerObservation::default(), Some(&row("PENDING", None)));
        assert!(queued.runner_alive && queued.queued);
        assert_eq!(status(queued), TaskStatus::Pending);
        // Running; an exit record waits for the job's end.
        let running = observation(records(exited(0), None), Some(&row("COMPLETING", None)));
        assert_eq!(status(running), TaskStatus::Running);
        let done = observation(records(exited(0), None), Some(&row("COMPLETED", Some(0))));
        assert_eq!(status(done), TaskStatus::Completed);
        let failed = observation(records(exited(3), None), Some(&row("FAILED", Some(3))));
        assert_eq!(status(failed), TaskStatus::Failed);
        // The runner could not record: the job's code stands in.
        let failed = observation(
            RunnerObservation::default(),
            Some(&row("FAILED", Some(120))),
        );
        assert_eq!(failed.exit.as_ref().unwrap().exit_code, 120);
        assert_eq!(status(failed), TaskStatus::Failed);
        // Our kill.
        let killed = observation(
            records(exited(143), Some("killed by request")),
            Some(&row("FAILED", Some(143))),
        );
        assert_eq!(killed.state().reason.as_deref(), Some("killed by request"));
        // Slurm's verdicts.
        let timeout = observation(records(exited(143), None), Some(&row("TIMEOUT", Some(143))));
        let state = timeout.state();
        assert_eq!(state.status, TaskStatus::Failed);
        assert_eq!(
            state.reason.as_deref(),
            Some("timeout: Slurm job 42 reached its time limit (1:00)")
        );
        let cancelled = observation(records(None, None), Some(&row("CANCELLED", Some(143))));
        assert_eq!(status(cancelled), TaskStatus::Killed);
        let node = observation(records(None, None), Some(&row("NODE_FAIL", None))).state();
        assert_eq!(node.status, TaskStatus::Failed);
        assert!(node.reason.unwrap().starts_with("node failure"));
        // No exit record and no room for one: the full disk is the reason,
        // once the job has ended (and only then).
        let full = || RunnerObservation {
            end_reason: Some("no space left on device".into()),
            ..records(None, None)
        };
        let ended = observation(full(), Some(&row("COMPLETED", Some(0)))).state();
        assert_eq!(ended.status, TaskStatus::Failed);
        assert_eq!(ended.reason.as_deref(), Some("no space left on device"));
        let ended = observation(full(), Some(&row("FAILED", Some(1)))).state();
        assert_eq!(ended.reason.as_deref(), Some("no space left on device"));
        assert_eq!(
            status(observation(full(), Some(&row("RUNNING", None)))),
            TaskStatus::Running
        );
        // Slurm forgot the job: the records alone.
        let forgotten = observation(records(exited(0), None), None);
        assert_eq!(status(forgotten), TaskStatus::Completed);
        assert_eq!(
            status(observation(records(None, None), None)),
            TaskStatus::Lost
        );
    }
}
