//! The queue: starting tasks that wait for a slot, once slots free up.

use super::{ReconcileReport, TaskError, TaskManager};
use crate::store::Capacities;

impl TaskManager {
    /// Starts queued tasks while their executors have free slots. Tasks whose
    /// launch failed are recorded as failed and added to `report`.
    pub fn dispatch_queued(&mut self, report: &mut ReconcileReport) -> Result<usize, TaskError> {
        let capacities = self.capacities();
        let mut started = 0;
        while let Some(task) = self.store.claim_next_queued(&capacities)? {
            let id = task.id;
            match self.launch(task) {
                Ok(_) => started += 1,
                Err(TaskError::Executor(err)) => {
                    if let Some(failed) = self.store.get(&id)? {
                        report.finished.push(failed);
                    }
                    report.unreachable.push(err);
                }
                Err(err) => return Err(err),
            }
        }
        Ok(started)
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
