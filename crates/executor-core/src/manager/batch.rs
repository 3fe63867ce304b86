//! `run --batch`: many tasks recorded in one index transaction and launched
//! with one batch per executor (one round trip per host), the executors in
//! parallel. The order of writes is a single dispatch's (dirs, locks, files,
//! rows, launches, launch records), each step for the whole batch.

use std::collections::BTreeMap;

use super::dispatch::{payload_env, record_launched};
use super::{TaskError, TaskManager, error_chain};
use crate::executor::{AgentLaunch, ExecutorError, LaunchSpec, Launched};
use crate::model::{StatusUpdate, TaskId, TaskRecord, TaskSpec, TaskStatus, Timestamp};
use crate::runner::{self, TaskFile};
use crate::taskdir::{DispatchLock, TaskDirs};

/// One task of a batch on its way.
struct Entry {
    record: TaskRecord,
    files: Vec<TaskFile>,
    text: String,
    lock: Option<DispatchLock>,
}

impl TaskManager {
    /// Records and starts `specs`, each checked by [`prepare`](TaskManager::prepare)
    /// first. Returns each task's record (queued or running) or its launch
    /// error, in order; an error of the whole batch (the index, the task
    /// dirs) records none of it.
    pub fn dispatch_batch(
        &mut self,
        specs: Vec<TaskSpec>,
    ) -> Result<Vec<Result<TaskRecord, TaskError>>, TaskError> {
        let mut entries: Vec<Entry> = Vec::with_capacity(specs.len());
        let mut rows = Vec::with_capacity(specs.len());
        if specs.iter().any(|spec| spec.worktree.is_some()) {
            // The worktree probe and branch are a single dispatch's.
            return Err(TaskError::InvalidRequest(
                "a batch makes no worktrees: dispatch worktree tasks on their own".to_owned(),
            ));
        }
        for spec in &specs {
            let executor = self.executor(&spec.executor)?;
            let executor_type = executor.config().executor_type();
            let id = TaskId::new();
            let files = runner::task_files(&spec.payload, &executor.task_dir(&id), &spec.workspace);
            let limit = self
                .config
                .executor(&spec.executor)
                .and_then(|e| self.config.capacity(e));
            let record = TaskRecord::new(id, spec, executor_type);
            match self.dirs.create(&id, &files) {
                Ok(lock) => entries.push(Entry {
                    record: record.clone(),
                    files,
                    text: spec.payload.text().to_owned(),
                    lock: Some(lock),
                }),
                Err(err) => {
                    self.remove_unrecorded(entries);
                    return Err(err.into());
                }
            }
            rows.push((record, limit));
        }
        let statuses = match self.store.insert_claiming_many(&rows) {
            Ok(statuses) => statuses,
            Err(err) => {
                self.remove_unrecorded(entries);
                return Err(err.into());
            }
        };
        drop(rows);

        let mut results: Vec<Option<Result<TaskRecord, TaskError>>> =
            entries.iter().map(|_| None).collect();
        let mut starting = Vec::new();
        for (index, (entry, status)) in entries.iter_mut().zip(statuses).enumerate() {
            entry.record.status = status;
            if status == TaskStatus::Queued {
                entry.lock = None;
                results[index] = Some(
                    self.write_meta(&entry.record.id)
                        .map(|()| entry.record.clone()),
                );
            } else {
                entry
                    .files
                    .push(TaskDirs::meta_file(&entry.record, Some(entry.text.clone())));
                starting.push(index);
            }
        }

        let launched = self.launch_batch(&entries, &starting);
        let started_at = Timestamp::now();
        let mut failed = Vec::new();
        let recorded = (|| -> Result<(), TaskError> {
            let tx = self.store.begin_write()?;
            for (index, result) in launched {
                let entry = &mut entries[index];
                match result {
                    Ok(launched) => {
                        record_launched(&tx, &self.dirs, &entry.record.id, &launched, &started_at)?;
                        entry.record.status = TaskStatus::Running;
                        entry.record.runner_pid = Some(launched.runner_pid);
                        entry.record.runner_start = launched.runner_start;
                        entry.record.started_at = Some(started_at.clone());
                        results[index] = Some(Ok(entry.record.clone()));
                    }
                    Err(err) => failed.push((index, err)),
                }
            }
            Ok(tx.commit()?)
        })();
        // Recorded or not, the runners go on (see `launch_with`).
        for executor in self.executors.values() {
            executor.open_launched();
        }
        recorded?;
        for (index, err) in failed {
            // As for one dispatch: a launch that may have got through stays
            // claimed for the next look to sort out; any other ends failed.
            if !matches!(err, ExecutorError::InDoubt { .. }) {
                let update = StatusUpdate {
                    status: TaskStatus::Failed,
                    pid: None,
                    exit_code: None,
                    ended_at: Some(Timestamp::now()),
                    reason: Some(format!("launch failed: {}", error_chain(&err))),
                    result: None,
                };
                self.finish(&entries[index].record.id, &update)?;
            }
            results[index] = Some(Err(err.into()));
        }
        drop(entries);
        Ok(results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ExecutorError::failed("", "not launched").into())))
            .collect())
    }

    /// Launches the `starting` entries: one `launch_many` per executor, the
    /// executors in parallel threads.
    fn launch_batch(
        &mut self,
        entries: &[Entry],
        starting: &[usize],
    ) -> Vec<(usize, Result<Launched, ExecutorError>)> {
        let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for &index in starting {
            groups
                .entry(entries[index].record.executor.as_str())
                .or_default()
                .push(index);
        }
        let mut answers = Vec::new();
        let mut ready = Vec::new();
        for (name, indexes) in groups {
            if let Err(err) = self.executor(name) {
                let message = error_chain(&err);
                answers.extend(
                    indexes
                        .into_iter()
                        .map(|i| (i, Err(ExecutorError::failed(name, message.clone())))),
                );
                continue;
            }
            let Some(config) = self.config.executor(name) else {
                continue;
            };
            let env = payload_env(config, None);
            let agents: Vec<Option<AgentLaunch>> = indexes
                .iter()
                .map(|&i| {
                    let kind = entries[i].record.task_type.agent()?;
                    Some(AgentLaunch::new(&self.config, config, kind))
                })
                .collect();
            ready.push((name, indexes, env, agents));
        }
        let executors = &self.executors;
        type Ready<'a> = (
            &'a str,
            Vec<usize>,
            Vec<(String, String)>,
            Vec<Option<AgentLaunch>>,
        );
        let launch = |(name, indexes, env, agents): &Ready<'_>| {
            let specs: Vec<LaunchSpec<'_>> = indexes
                .iter()
                .zip(agents)
                .map(|(&i, agent)| LaunchSpec {
                    id: entries[i].record.id,
                    files: &entries[i].files,
                    env,
                    workspace: &entries[i].record.workspace,
                    task_type: entries[i].record.task_type,
                    agent: agent.as_ref(),
                    worktree: entries[i].record.worktree.as_ref(),
                    caller: None,
                })
                .collect();
            let results = executors[*name].launch_many(&specs);
            indexes.iter().copied().zip(results).collect::<Vec<_>>()
        };
        if let [only] = ready.as_slice() {
            // One executor: no thread (and every system call of the batch on
            // the thread that the crash tests trace).
            answers.extend(launch(only));
            return answers;
        }
        std::thread::scope(|scope| {
            let running: Vec<_> = ready
                .iter()
                .map(|ready| scope.spawn(move || launch(ready)))
                .collect();
            for thread in running {
                match thread.join() {
                    Ok(launched) => answers.extend(launched),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
        });
        answers
    }

    /// Removes the dirs of a batch that was never recorded: no row names them.
    fn remove_unrecorded(&self, entries: Vec<Entry>) {
        for entry in entries {
            drop(entry.lock);
            let _ = self.dirs.remove(&entry.record.id);
        }
    }
}
