//! Kill, cleanup and wait on many tasks at once: one look at their state, one
//! batch per executor (one round trip per host), the executors in parallel.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use super::{KillOutcome, ReconcileReport, TaskError, TaskManager};
use crate::executor::{Executor, ExecutorError};
use crate::model::{
    ExecutorType, Selection, StatusUpdate, TaskId, TaskRecord, TaskStatus, Timestamp,
};
use crate::store::StoreError;

/// What a bulk operation did to each task, in the order asked, and the ends it
/// saw on the way (for completion records and webhooks).
#[derive(Debug)]
pub struct Bulk<T> {
    pub results: Vec<(TaskId, Result<T, TaskError>)>,
    pub report: ReconcileReport,
}

/// How long a killed task's runner gets to record its end before the kill
/// reports the task as it stands.
const KILL_SETTLE: Duration = Duration::from_secs(5);

impl TaskManager {
    /// The tasks matching `selection`, oldest first.
    pub fn select(&self, selection: &Selection) -> Result<Vec<TaskRecord>, TaskError> {
        Ok(self.store.select(selection)?)
    }

    /// Kills every task of `ids` (see [`kill`](TaskManager::kill)): one kill
    /// batch per executor, the executors in parallel, the grace periods together.
    pub fn kill_many(
        &mut self,
        ids: &[TaskId],
        grace: Duration,
    ) -> Result<Bulk<KillOutcome>, TaskError> {
        let mut done: HashMap<TaskId, Result<KillOutcome, TaskError>> = HashMap::new();
        let mut report = ReconcileReport::default();
        let mut rest = Vec::new();
        for id in ids {
            match self.kill_unstarted(id) {
                Ok(Some(killed)) => {
                    let record = self.store.get(id)?.unwrap_or_else(|| killed.clone());
                    report.finished.push(killed);
                    done.insert(*id, Ok(outcome(record, false)));
                }
                Ok(None) => rest.push(*id),
                Err(err) => {
                    done.insert(*id, Err(err));
                }
            }
        }
        if !rest.is_empty() {
            merge(&mut report, self.reconcile_ids(&rest)?);
        }
        let mut ended = Vec::new();
        let mut live = Vec::new();
        for id in rest {
            match self.store.get(&id)? {
                None => {
                    done.insert(id, Err(StoreError::NotFound(id.to_string()).into()));
                }
                Some(record) if record.status.is_terminal() => ended.push(record),
                Some(record) if record.status == TaskStatus::Queued => {
                    // Nothing runs yet: it ends here, and never starts.
                    let update = StatusUpdate {
                        status: TaskStatus::Killed,
                        pid: None,
                        exit_code: None,
                        ended_at: Some(Timestamp::now()),
                        reason: Some("killed while queued".into()),
                        result: None,
                    };
                    let finished = self.finish(&id, &update)?;
                    report.finished.extend(finished);
                    let record = self.store.get(&id)?.unwrap_or(record);
                    done.insert(id, Ok(outcome(record, false)));
                }
                Some(record) => live.push(record),
            }
        }

        // An ended task is killed again only for what it left running.
        let mut leftovers = Vec::new();
        for (tasks, checked) in self.on_each_executor(&ended, |e, tasks| e.live_many(tasks)) {
            match checked {
                Ok(flags) => {
                    for (task, live) in tasks.into_iter().zip(flags) {
                        if live {
                            leftovers.push(task.clone());
                        } else {
                            done.insert(task.id, Err(already_finished(task)));
                        }
                    }
                }
                // An executor no longer configured cannot be asked; nothing to end then.
                Err(TaskError::UnknownExecutor { .. }) => {
                    for task in tasks {
                        done.insert(task.id, Err(already_finished(task)));
                    }
                }
                Err(err) => fail_all(&mut done, &tasks, &err),
            }
        }

        let targets: Vec<TaskRecord> = leftovers.iter().chain(&live).cloned().collect();
        let mut killed = Vec::new();
        let kills = self.on_each_executor(&targets, |e, tasks| {
            e.kill_many(tasks, grace, "killed by request")
        });
        for (tasks, result) in kills {
            match result {
                Ok(()) => killed.extend(tasks.into_iter().cloned()),
                Err(err) => fail_all(&mut done, &tasks, &err),
            }
        }
        let mut waiting = Vec::new();
        for record in killed {
            if record.status.is_terminal() {
                done.insert(record.id, Ok(outcome(record, true)));
            } else {
                waiting.push(record.id);
            }
        }
        // The runners record their exits as soon as the payloads are gone.
        let deadline = Instant::now() + KILL_SETTLE;
        let mut pause = Duration::from_millis(20);
        while !waiting.is_empty() {
            merge(&mut report, self.reconcile_ids(&waiting)?);
            let mut still = Vec::new();
            for id in waiting {
                match self.store.get(&id)? {
                    Some(record) if record.status.is_terminal() || Instant::now() >= deadline => {
                        done.insert(id, Ok(outcome(record, false)));
                    }
                    Some(_) => still.push(id),
                    None => {
                        done.insert(id, Err(StoreError::NotFound(id.to_string()).into()));
                    }
                }
            }
            waiting = still;
            if !waiting.is_empty() {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(250));
            }
        }
        Ok(Bulk {
            results: in_order(ids, done),
            report,
        })
    }

    /// Removes every task of `ids` (see [`cleanup`](TaskManager::cleanup)):
    /// one liveness check and one removal per executor, one index transaction.
    pub fn cleanup_many(
        &mut self,
        ids: &[TaskId],
        force: bool,
        keep_branch: bool,
        grace: Duration,
    ) -> Result<Bulk<()>, TaskError> {
        self.cleanup_many_with(ids, force, keep_branch, grace, || {})
    }

    /// [`cleanup_many`](TaskManager::cleanup_many), calling `removed` as each
    /// task's local dirs go (for a progress bar).
    pub fn cleanup_many_with(
        &mut self,
        ids: &[TaskId],
        force: bool,
        keep_branch: bool,
        grace: Duration,
        mut removed_one: impl FnMut(),
    ) -> Result<Bulk<()>, TaskError> {
        let mut done: HashMap<TaskId, Result<(), TaskError>> = HashMap::new();
        let mut report = self.reconcile_ids(ids)?;
        let mut ended = Vec::new();
        let mut to_kill = Vec::new();
        for id in ids {
            let record = self.store.get(id)?;
            // Work nobody fetched or applied is only thrown away on request
            // (a kept branch keeps it).
            let refused = match &record {
                Some(record) if !force && !keep_branch => undelivered(record),
                _ => None,
            };
            if let Some(err) = refused {
                done.insert(*id, Err(err));
                continue;
            }
            match record {
                None => {
                    done.insert(*id, Err(StoreError::NotFound(id.to_string()).into()));
                }
                Some(record) if record.status.is_terminal() => ended.push(record),
                Some(record) if force => to_kill.push(record.id),
                Some(record) => {
                    done.insert(
                        *id,
                        Err(TaskError::StillLive {
                            id: *id,
                            status: record.status,
                        }),
                    );
                }
            }
        }
        // Never a directory from under processes still running in it.
        let mut removable = Vec::new();
        for (tasks, checked) in self.on_each_executor(&ended, |e, tasks| e.live_many(tasks)) {
            match checked {
                Ok(flags) => {
                    for (task, live) in tasks.into_iter().zip(flags) {
                        if !live {
                            removable.push(task.clone());
                        } else if force {
                            to_kill.push(task.id);
                        } else {
                            let err = TaskError::ProcessesLeft {
                                id: task.id,
                                status: task.status,
                            };
                            done.insert(task.id, Err(err));
                        }
                    }
                }
                Err(err) => fail_all(&mut done, &tasks, &err),
            }
        }
        if !to_kill.is_empty() {
            let killed = self.kill_many(&to_kill, grace)?;
            merge(&mut report, killed.report);
            for (id, result) in killed.results {
                match result {
                    Ok(outcome) => removable.push(outcome.record),
                    Err(err) => {
                        done.insert(id, Err(err));
                    }
                }
            }
        }
        // A worktree (and its branch) goes before the task dir that holds it;
        // one that cannot be removed keeps its task.
        let mut unwound = Vec::with_capacity(removable.len());
        for task in removable {
            match self.remove_worktree(&task, keep_branch) {
                Ok(()) => unwound.push(task),
                Err(err) => {
                    done.insert(task.id, Err(err));
                }
            }
        }
        let removable = unwound;
        let mut removed = Vec::new();
        for (tasks, result) in self.on_each_executor(&removable, |e, tasks| e.remove_many(tasks)) {
            match result {
                Ok(()) => removed.extend(tasks.into_iter().map(|t| t.id)),
                Err(err) => fail_all(&mut done, &tasks, &err),
            }
        }
        let mut gone = Vec::new();
        for id in removed {
            removed_one();
            match self.dirs.remove(&id) {
                Ok(()) => gone.push(id),
                Err(err) => {
                    done.insert(id, Err(err.into()));
                }
            }
        }
        self.store.delete_many(&gone)?;
        for id in gone {
            done.insert(id, Ok(()));
        }
        Ok(Bulk {
            results: in_order(ids, done),
            report,
        })
    }

    /// Blocks until every task of `ids` has ended, or with `any` the first of
    /// them, reconciling as it goes; returns their records in the order asked.
    pub fn wait_many(
        &mut self,
        ids: &[TaskId],
        any: bool,
        timeout: Option<Duration>,
    ) -> Result<(Vec<TaskRecord>, ReconcileReport), TaskError> {
        self.wait_many_with(ids, any, timeout, |_, pause| std::thread::sleep(pause))
    }

    /// [`wait_many`](TaskManager::wait_many), calling `between(records,
    /// pause)` between two looks instead of sleeping `pause`: a caller that
    /// can tell when a task ends (a local runner's exit) returns as soon as one
    /// does, and may wait longer otherwise.
    pub fn wait_many_with(
        &mut self,
        ids: &[TaskId],
        any: bool,
        timeout: Option<Duration>,
        mut between: impl FnMut(&[TaskRecord], Duration),
    ) -> Result<(Vec<TaskRecord>, ReconcileReport), TaskError> {
        let started = Instant::now();
        let mut report = ReconcileReport::default();
        let mut pause = Duration::from_millis(10);
        let mut open: Vec<TaskId> = ids.to_vec();
        loop {
            let step = self.reconcile_ids(&open)?;
            report.finished.extend(step.finished);
            // Whether the last look reached the tasks' hosts.
            report.unreachable = step.unreachable;
            let mut records = Vec::with_capacity(ids.len());
            for id in ids {
                let record = self
                    .store
                    .get(id)?
                    .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
                records.push(record);
            }
            open = records
                .iter()
                .filter(|r| !r.status.is_terminal())
                .map(|r| r.id)
                .collect();
            if open.is_empty() || (any && open.len() < ids.len()) {
                return Ok((records, report));
            }
            if let Some(limit) = timeout
                && started.elapsed() >= limit
            {
                // Out of time because a host cannot be asked, not because the
                // task is still running: say so.
                if let Some(err) = report.unreachable.pop() {
                    return Err(TaskError::Executor(err));
                }
                return Err(TaskError::Timeout {
                    id: open[0],
                    seconds: limit.as_secs_f64(),
                });
            }
            // A local task's end is a file read away: looked for often, so
            // `wait` returns within tens of milliseconds of it.
            let all_local = records
                .iter()
                .all(|r| r.status.is_terminal() || r.executor_type == ExecutorType::LOCAL);
            let most = Duration::from_millis(if all_local { 40 } else { 250 });
            let left = timeout.map_or(Duration::MAX, |t| t.saturating_sub(started.elapsed()));
            between(&records, pause.min(most).min(left));
            pause = (pause * 2).min(most);
        }
    }

    /// Runs `op` once per executor on its tasks of `tasks` (in their order),
    /// the executors in parallel threads: one round trip per host, all hosts
    /// at once. Returns each executor's tasks with its answer.
    pub(super) fn on_each_executor<'t, T: Send>(
        &mut self,
        tasks: &'t [TaskRecord],
        op: impl Fn(&dyn Executor, &[&'t TaskRecord]) -> Result<T, ExecutorError> + Sync,
    ) -> Vec<(Vec<&'t TaskRecord>, Result<T, TaskError>)> {
        let mut groups: BTreeMap<&str, Vec<&TaskRecord>> = BTreeMap::new();
        for task in tasks {
            groups.entry(task.executor.as_str()).or_default().push(task);
        }
        let mut answers = Vec::new();
        let mut ready = Vec::new();
        for (name, group) in groups {
            match self.executor(name) {
                Ok(_) => ready.push((name, group)),
                Err(err) => answers.push((group, Err(err))),
            }
        }
        let executors = &self.executors;
        let op = &op;
        // One executor needs no thread of its own.
        if let [(name, _)] = ready.as_slice() {
            let name = *name;
            let Some((_, group)) = ready.pop() else {
                return answers;
            };
            let answer = op(executors[name].as_ref(), &group);
            answers.push((group, answer.map_err(TaskError::from)));
            return answers;
        }
        std::thread::scope(|scope| {
            let running: Vec<_> = ready
                .into_iter()
                .map(|(name, group)| {
                    scope.spawn(move || {
                        let answer = op(executors[name].as_ref(), &group);
                        (group, answer.map_err(TaskError::from))
                    })
                })
                .collect();
            for thread in running {
                match thread.join() {
                    Ok(answer) => answers.push(answer),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
        answers
    }
}

fn outcome(record: TaskRecord, ended_leftovers: bool) -> KillOutcome {
    KillOutcome {
        record,
        report: ReconcileReport::default(),
        ended_leftovers,
    }
}

/// The refusal to remove `task`'s work that nobody fetched or applied, if any.
fn undelivered(task: &TaskRecord) -> Option<TaskError> {
    let result = super::worktree::undelivered(task)?;
    Some(TaskError::Undelivered {
        id: task.id,
        branch: result.branch.clone(),
        files: result.files_changed,
        insertions: result.insertions,
        deletions: result.deletions,
    })
}

fn already_finished(task: &TaskRecord) -> TaskError {
    TaskError::AlreadyFinished {
        id: task.id,
        status: task.status,
    }
}

fn merge(report: &mut ReconcileReport, step: ReconcileReport) {
    report.finished.extend(step.finished);
    report.unreachable.extend(step.unreachable);
}

/// Records `err`, which befell a whole executor's batch, for each of its tasks.
fn fail_all<T>(
    done: &mut HashMap<TaskId, Result<T, TaskError>>,
    tasks: &[&TaskRecord],
    err: &TaskError,
) {
    for task in tasks {
        let copy = match err {
            TaskError::Executor(err) => TaskError::Executor(err.duplicate()),
            TaskError::UnknownExecutor { name, known } => TaskError::UnknownExecutor {
                name: name.clone(),
                known: known.clone(),
            },
            other => TaskError::Executor(ExecutorError::failed(
                &task.executor,
                crate::error_chain(other),
            )),
        };
        done.insert(task.id, Err(copy));
    }
}

fn in_order<T>(
    ids: &[TaskId],
    mut done: HashMap<TaskId, Result<T, TaskError>>,
) -> Vec<(TaskId, Result<T, TaskError>)> {
    ids.iter()
        .filter_map(|id| Some((*id, done.remove(id)?)))
        .collect()
}
