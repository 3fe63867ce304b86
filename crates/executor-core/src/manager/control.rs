//! Control of one task: refresh, kill, cleanup, wait (the last three as a
//! batch of one, see `bulk`).

use std::time::Duration;

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
    pub(super) fn kill_unstarted(&mut self, id: &TaskId) -> Result<Option<TaskRecord>, TaskError> {
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
        let bulk = self.kill_many(std::slice::from_ref(id), grace)?;
        let mut killed = only(bulk.results, id)?;
        killed.report = bulk.report;
        Ok(killed)
    }

    /// Removes a task's directories (executing side and mirror) and its index
    /// entry; a live task (or one that left processes running) only with
    /// `force`, which kills it first.
    pub fn cleanup(
        &mut self,
        id: &TaskId,
        force: bool,
        keep_branch: bool,
        grace: Duration,
    ) -> Result<ReconcileReport, TaskError> {
        let bulk = self.cleanup_many(std::slice::from_ref(id), force, keep_branch, grace)?;
        only(bulk.results, id)?;
        Ok(bulk.report)
    }

    /// Blocks until the task ends, reconciling as it goes.
    pub fn wait(
        &mut self,
        id: &TaskId,
        timeout: Option<Duration>,
    ) -> Result<(TaskRecord, ReconcileReport), TaskError> {
        let (mut records, report) = self.wait_many(std::slice::from_ref(id), false, timeout)?;
        let record = records
            .pop()
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        Ok((record, report))
    }
}

/// The one result of a batch of one.
fn only<T>(results: Vec<(TaskId, Result<T, TaskError>)>, id: &TaskId) -> Result<T, TaskError> {
    results.into_iter().next().map_or_else(
        || Err(StoreError::NotFound(id.to_string()).into()),
        |(_, r)| r,
    )
}
