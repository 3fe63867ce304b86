//! The queue: starting tasks that wait for a slot, once slots free up.

use super::{ReconcileReport, TaskError, TaskManager};
use crate::model::TaskRecord;
use crate::store::Capacities;
use crate::taskdir::{DispatchLock, Probe};

impl TaskManager {
    /// Starts queued tasks while their executors have free slots. Tasks whose
    /// launch failed are recorded as failed and added to `report`.
    pub fn dispatch_queued(&mut self, report: &mut ReconcileReport) -> Result<usize, TaskError> {
        let capacities = self.capacities();
        let mut started = 0;
        while let Some((task, _lock)) = self.claim_next(&capacities)? {
            let id = task.id;
            match self.launch(task) {
                Ok(task) if task.status.is_terminal() => report.finished.push(task),
                Ok(_) => started += 1,
                Err(TaskError::Executor(err)) => {
                    // Not so when the launch is in doubt: the task stays pending.
                    if let Some(failed) = self.store.get(&id)?.filter(|t| t.status.is_terminal()) {
                        report.finished.push(failed);
                    }
                    report.unreachable.push(err);
                }
                Err(err) => return Err(err),
            }
        }
        Ok(started)
    }

    /// Gives the next queued task that may start its slot, with its dispatch
    /// lock: taken before the claim commits, so that no reconciler takes the
    /// launch under way for an abandoned one. A task whose lock another
    /// process holds is passed over.
    fn claim_next(
        &mut self,
        capacities: &Capacities,
    ) -> Result<Option<(TaskRecord, Option<DispatchLock>)>, TaskError> {
        let tx = self.store.begin_write()?;
        let mut skip = Vec::new();
        while let Some(task) = tx.next_claimable(capacities, &skip)? {
            let lock = match self.dirs.try_lock(&task.id, true) {
                Ok(Probe::Held) => {
                    skip.push(task.id);
                    continue;
                }
                Ok(Probe::Taken(lock)) => Some(lock),
                // No dir: the launch finds its files missing and fails the task.
                Ok(Probe::Absent) | Err(_) => None,
            };
            let claimed = tx.claim(task)?;
            tx.commit()?;
            return Ok(Some((claimed, lock)));
        }
        Ok(None)
    }

    /// Capacity of every configured executor, for slot claims.
    fn capacities(&self) -> Capacities {
        self.config
            .executors
            .iter()
            .map(|e| (e.name.clone(), self.config.capacity(e)))
            .collect()
    }
}
