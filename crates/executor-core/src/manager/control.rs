//! Control of one task: refresh, kill, cleanup, wait.

use std::time::{Duration, Instant};

use super::{ReconcileReport, TaskError, TaskManager};
use crate::model::{StatusUpdate, TaskId, TaskRecord, TaskStatus, Timestamp};
use crate::store::StoreError;

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

    /// Ends a live task's process tree and records it as killed.
    pub fn kill(
        &mut self,
        id: &TaskId,
        grace: Duration,
    ) -> Result<(TaskRecord, ReconcileReport), TaskError> {
        let (record, _) = self.refresh(id)?;
        if record.status.is_terminal() {
            return Err(TaskError::AlreadyFinished {
                id: *id,
                status: record.status,
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
            };
            let finished = self.finish(id, &update)?;
            let record = self.store.get(id)?.unwrap_or(record);
            let report = ReconcileReport {
                finished: finished.into_iter().collect(),
                unreachable: Vec::new(),
            };
            return Ok((record, report));
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
                return Ok((record, report));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Removes a task's directories (executing side and mirror) and its index entry.
    pub fn cleanup(
        &mut self,
        id: &TaskId,
        force: bool,
        grace: Duration,
    ) -> Result<ReconcileReport, TaskError> {
        let (mut record, mut report) = self.refresh(id)?;
        if !record.status.is_terminal() {
            if !force {
                return Err(TaskError::StillLive {
                    id: *id,
                    status: record.status,
                });
            }
            let (killed, kill_report) = self.kill(id, grace)?;
            record = killed;
            report.finished.extend(kill_report.finished);
        }
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
            if record.status.is_terminal() {
                return Ok((record, report));
            }
            if let Some(limit) = timeout
                && started.elapsed() >= limit
            {
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
