//! Control of one task: refresh, kill, cleanup, wait.

use std::time::{Duration, Instant};

use super::{KillOutcome, ReconcileReport, TaskError, TaskManager};
use crate::model::{StatusUpdate, TaskId, TaskRecord, TaskStatus, Timestamp};
use crate::store::StoreError;
use crate::taskdir::Probe;

impl TaskManager {
    /// Reconciles one task and returns its current record.
    pub fn refresh(&mut self, id: &TaskId) -> Result<(TaskRecord, ReconcileReport), TaskError> {
        let report = self.reconcile(Some(id))?;
        let record = self
            .store
            .get(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        Ok((record, report))
    }

    /// Ends a task that never started (queued, or abandoned mid-dispatch with
    /// no runner) as killed, under its dispatch lock so nobody launches it
    /// meanwhile. `None` when the task may be starting or running.
    fn kill_unstarted(&mut self, id: &TaskId) -> Result<Option<TaskRecord>, TaskError> {
        let Some(task) = self.store.get(id)? else {
            return Ok(None);
        };
        let _lock = match task.status {
            TaskStatus::Queued => match self.dirs.try_lock(id, false) {
                Ok(Probe::Held) => return Ok(None),
                Ok(Probe::Taken(lock)) => Some(lock),
                Ok(Probe::Absent) | Err(_) => None,
            },
            TaskStatus::Pending if task.runner_pid.is_none() => {
                let Some(lock) = self.abandoned_dispatch(&task) else {
                    return Ok(None);
                };
                let Ok(observed) = self.executor(&task.executor)?.observe(&[&task]) else {
                    return Ok(None);
                };
                if observed
                    .first()
                    .is_none_or(|o| o.runner_started || o.runner_alive || o.exit.is_some())
                {
                    return Ok(None);
                }
                lock
            }
            _ => return Ok(None),
        };
        // Another process may have claimed and started it between the read
        // above and taking its lock: only a task still as it was ends here.
        let now = self.store.get(id)?;
        if now
            .as_ref()
            .is_none_or(|now| now.status != task.status || now.runner_pid.is_some())
        {
            return Ok(None);
        }
        let reason = match task.status {
            TaskStatus::Queued => "killed while queued",
            _ => "killed before it started",
        };
        let update = StatusUpdate {
            status: TaskStatus::Killed,
            pid: None,
            exit_code: None,
            ended_at: Some(Timestamp::now()),
            reason: Some(reason.into()),
            result: None,
        };
        self.finish(id, &update)
    }

    /// Ends a live task's process tree and records it as killed. A task that
    /// has ended but left processes running (a lost task's payload, background
    /// jobs kept by `keep_background`) has them ended; its record stays.
    pub fn kill(&mut self, id: &TaskId, grace: Duration) -> Result<KillOutcome, TaskError> {
        if let Some(killed) = self.kill_unstarted(id)? {
            let record = self.store.get(id)?.unwrap_or_else(|| killed.clone());
            let report = ReconcileReport {
                finished: vec![killed],
                unreachable: Vec::new(),
            };
            return Ok(KillOutcome {
                record,
                report,
                ended_leftovers: false,
            });
        }
        let (record, _) = self.refresh(id)?;
        if record.status.is_terminal() {
            let live = match self.executor(&record.executor) {
                Ok(executor) => executor.has_live_processes(&record)?,
                // An executor no longer configured cannot be asked; nothing to end then.
                Err(TaskError::UnknownExecutor { .. }) => false,
                Err(err) => return Err(err),
            };
            if !live {
                return Err(TaskError::AlreadyFinished {
                    id: *id,
                    status: record.status,
                });
            }
            self.executor(&record.executor)?
                .kill(&record, grace, "killed by request")?;
            return Ok(KillOutcome {
                record,
                report: ReconcileReport::default(),
                ended_leftovers: true,
            });
        }
        if record.status == TaskStatus::Queued {
            // Nothing runs yet: it ends here, and never starts.
            let update = StatusUpdate {
                status: TaskStatus::Killed,
                pid: None,
                exit_code: None,
                ended_at: Some(Timestamp::now()),
                reason: Some("killed while queued".into()),
                result: None,
            };
            let finished = self.finish(id, &update)?;
            let record = self.store.get(id)?.unwrap_or(record);
            let report = ReconcileReport {
                finished: finished.into_iter().collect(),
                unreachable: Vec::new(),
            };
            return Ok(KillOutcome {
                record,
                report,
                ended_leftovers: false,
            });
        }
        self.executor(&record.executor)?
            .kill(&record, grace, "killed by request")?;
        // The runner records the exit as soon as the payload is gone; give it a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut report = ReconcileReport::default();
        loop {
            let (record, step) = self.refresh(id)?;
            report.finished.extend(step.finished);
            report.unreachable.extend(step.unreachable);
            if record.status.is_terminal() || Instant::now() >= deadline {
                return Ok(KillOutcome {
                    record,
                    report,
                    ended_leftovers: false,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Removes a task's directories (executing side and mirror) and its index entry.
    /// A worktree task's worktree goes too, and its branch unless
    /// `keep_branch`; work nobody fetched or applied stops it unless `force`.
    pub fn cleanup(
        &mut self,
        id: &TaskId,
        force: bool,
        keep_branch: bool,
        grace: Duration,
    ) -> Result<ReconcileReport, TaskError> {
        let (mut record, mut report) = self.refresh(id)?;
        if !force
            && !keep_branch
            && let Some(result) = super::worktree::undelivered(&record)
        {
            return Err(TaskError::Undelivered {
                id: *id,
                branch: result.branch.clone(),
                files: result.files_changed,
                insertions: result.insertions,
                deletions: result.deletions,
            });
        }
        // Never a directory from under processes still running in it.
        let live = !record.status.is_terminal()
            || self
                .executor(&record.executor)?
                .has_live_processes(&record)?;
        if live {
            if !force {
                return Err(if record.status.is_terminal() {
                    TaskError::ProcessesLeft {
                        id: *id,
                        status: record.status,
                    }
                } else {
                    TaskError::StillLive {
                        id: *id,
                        status: record.status,
                    }
                });
            }
            let killed = self.kill(id, grace)?;
            record = killed.record;
            report.finished.extend(killed.report.finished);
        }
        self.remove_worktree(&record, keep_branch)?;
        self.executor(&record.executor)?.remove(&record)?;
        self.dirs.remove(id)?;
        self.store.delete(id)?;
        Ok(report)
    }

    /// Blocks until the task ends, reconciling as it goes.
    pub fn wait(
        &mut self,
        id: &TaskId,
        timeout: Option<Duration>,
    ) -> Result<(TaskRecord, ReconcileReport), TaskError> {
        let started = Instant::now();
        let mut report = ReconcileReport::default();
        let mut pause = Duration::from_millis(10);
        loop {
            let (record, step) = self.refresh(id)?;
            report.finished.extend(step.finished);
            // Whether the last look reached the task's host.
            report.unreachable = step.unreachable;
            if record.status.is_terminal() {
                return Ok((record, report));
            }
            if let Some(limit) = timeout
                && started.elapsed() >= limit
            {
                // Out of time because the host cannot be asked, not because
                // the task is still running: say so.
                if let Some(err) = report.unreachable.pop() {
                    return Err(TaskError::Executor(err));
                }
                return Err(TaskError::Timeout {
                    id: *id,
                    seconds: limit.as_secs_f64(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }
}
