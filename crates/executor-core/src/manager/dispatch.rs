//! Dispatch: choosing an executor by labels, recording a task, and starting it
//! (at once, or later from the queue).

use std::collections::HashMap;

use super::{TaskError, TaskManager, error_chain};
use crate::config::{EnvEntry, ExecutorConfig};
use crate::executor::ExecutorError;
use crate::executor::{AgentLaunch, Caller, Executor, LaunchSpec, Launched};
use crate::model::{
    AgentKind, StatusUpdate, TaskId, TaskRecord, TaskSpec, TaskStatus, Timestamp, Worktree,
    WorktreeRequest,
};
use crate::runner::{self, TaskFile};
use crate::store::WriteTx;
use crate::taskdir::{TaskDirError, TaskDirs};
use crate::worktree;

impl TaskManager {
    /// Picks the executor for a task that names labels instead of an executor:
    /// among those carrying every label, one with a free slot and the least load
    /// (ties: config order); when all are full, the least loaded one, to queue on.
    pub fn route(&self, labels: &[String], agent: Option<AgentKind>) -> Result<String, TaskError> {
        self.route_with(labels, agent, &HashMap::new())
    }

    /// [`route`](TaskManager::route), counting `planned` tasks per executor
    /// (a batch's tasks routed before this one) as live there too.
    pub fn route_with(
        &self,
        labels: &[String],
        agent: Option<AgentKind>,
        planned: &HashMap<String, u64>,
    ) -> Result<String, TaskError> {
        let mut candidates: Vec<&ExecutorConfig> = self
            .config
            .executors
            .iter()
            .filter(|e| labels.iter().all(|l| e.labels.contains(l)))
            .collect();
        if let Some(agent) = agent
            && !candidates.is_empty()
        {
            candidates.retain(|e| self.config.has_agent(e, agent));
            if candidates.is_empty() {
                return Err(TaskError::NoExecutorForAgent {
                    agent,
                    labels: labels.to_vec(),
                });
            }
        }
        if candidates.is_empty() {
            return Err(TaskError::NoExecutorForLabels {
                labels: labels.to_vec(),
                known: self
                    .config
                    .labels()
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            });
        }
        let mut load: HashMap<String, (u64, u64)> = HashMap::new();
        for (executor, status, n) in self.store.counts()? {
            let entry = load.entry(executor).or_default();
            match status {
                TaskStatus::Pending | TaskStatus::Running => entry.0 += n,
                TaskStatus::Queued => entry.1 += n,
                _ => {}
            }
        }
        for (executor, n) in planned {
            load.entry(executor.clone()).or_default().0 += n;
        }
        let load_of = |e: &ExecutorConfig| load.get(&e.name).copied().unwrap_or_default();
        let free = |e: &ExecutorConfig| {
            let (live, queued) = load_of(e);
            queued == 0 && self.config.capacity(e).is_none_or(|l| live < u64::from(l))
        };
        // min_by_key keeps the first of equals: config order breaks ties.
        let chosen = candidates
            .iter()
            .filter(|e| free(e))
            .min_by_key(|e| load_of(e).0)
            .or_else(|| {
                candidates
                    .iter()
                    .min_by_key(|e| load_of(e).0 + load_of(e).1)
            })
            .map(|e| e.name.clone());
        Ok(chosen.unwrap_or_default())
    }

    /// Records a task and starts it, or queues it when its executor is full.
    /// On a launch error the task is recorded as failed (with a completion
    /// record) and the error is returned.
    pub fn dispatch(&mut self, spec: TaskSpec) -> Result<TaskRecord, TaskError> {
        self.dispatch_as(TaskId::new(), spec)
    }

    /// [`dispatch`](Self::dispatch) under an id the caller chose: a command
    /// that handed its dispatch to a supervisor names the task before it is
    /// recorded, so a hand-off that breaks off is neither lost nor run twice
    /// (a second dispatch of one id fails at its dir).
    pub fn dispatch_as(&mut self, id: TaskId, spec: TaskSpec) -> Result<TaskRecord, TaskError> {
        self.dispatch_telling(id, spec, |_| {})
    }

    /// [`dispatch_as`](Self::dispatch_as), calling `recorded` as soon as the
    /// task's row is committed, before its runner is started: from then on
    /// the task is neither lost nor run twice whatever happens to this
    /// process (a runner that never started is started by the next look),
    /// so a supervisor answers the command that handed it the dispatch then.
    pub fn dispatch_telling(
        &mut self,
        id: TaskId,
        spec: TaskSpec,
        recorded: impl FnOnce(&TaskRecord),
    ) -> Result<TaskRecord, TaskError> {
        let spec = self.prepare(spec)?;
        let executor_type = self.executor(&spec.executor)?.config().executor_type();
        let executor = self.executor(&spec.executor)?;
        let target_dir = executor.task_dir(&id);
        // Checked on the executing host before anything is recorded.
        let (worktree, bundle) = match &spec.worktree {
            Some(request) => {
                let (worktree, bundle) =
                    prepare_worktree(executor, &spec.workspace, request, &id, &target_dir)?;
                (Some(worktree), bundle)
            }
            None => (None, None),
        };
        let payload_workspace = match &worktree {
            // Mounted over the repository's place (containers): the payload
            // starts in the workspace as given.
            Some(w) if w.on_host => spec.workspace.clone(),
            Some(w) => worktree::payload_workspace(&target_dir, w),
            None => spec.workspace.clone(),
        };
        let mut files = runner::task_files(&spec.payload, &target_dir, &payload_workspace);
        if let Some(w) = &worktree {
            files.push(worktree::runner_file(&id, w));
        }
        if let Some(bundle) = bundle {
            files.push(TaskFile {
                name: runner::BUNDLE_FILE,
                contents: bundle,
            });
        }
        let limit = self
            .config
            .executor(&spec.executor)
            .and_then(|e| self.config.capacity(e));
        let mut record = TaskRecord::new(id, &spec, executor_type);
        record.worktree = worktree;

        // The local dir holds every file, so a queued task can start later from
        // it; for the local executor it *is* the task dir. Order of writes
        // (docs/ARCHITECTURE.md, "Dispatch"): dir, dispatch lock, payload
        // files, then the row. Until the row exists the dir is an orphan that
        // `cleanup --orphans` removes; once it exists every file a launch needs
        // is there, and `.meta.json` is rebuilt from the row.
        let lock = self.dirs.create(&id, &files)?;
        record.status = match self.store.insert_claiming(&record, limit) {
            Ok(status) => status,
            Err(err) => {
                // No row names the dir: nothing else would ever remove it.
                drop(lock);
                let _ = self.dirs.remove(&id);
                return Err(err.into());
            }
        };
        if record.status == TaskStatus::Queued {
            drop(lock);
            let meta = self.write_meta(&id);
            recorded(&record);
            meta?;
            return Ok(record);
        }
        recorded(&record);
        // Starting at once: the files are at hand, and the meta is written once
        // the runner is up.
        files.push(TaskDirs::meta_file(
            &record,
            Some(spec.payload.text().to_owned()),
        ));
        let launched = self.launch_with(record, files);
        drop(lock);
        launched
    }

    /// Checks that `spec` can be dispatched, before anything is recorded: its
    /// executor exists, its workspace resolves (returned in the runner's form)
    /// and an agent may run there.
    pub fn prepare(&mut self, mut spec: TaskSpec) -> Result<TaskSpec, TaskError> {
        let root_rule = spec.payload.agent().and_then(|a| a.cli().root_rule());
        let caller = root_rule.and_then(|_| self.caller.clone());
        let executor = self.executor(&spec.executor)?;
        spec.workspace = executor.resolve_workspace(&spec.workspace)?;
        if let Some(rule) = root_rule
            && executor.runs_as_root() == Some(true)
            && !rule.permitted(&payload_env(executor.config(), caller.as_ref()))
        {
            return Err(TaskError::Refused {
                executor: spec.executor.clone(),
                message: rule.refusal.into(),
            });
        }
        Ok(spec)
    }

    /// Starts a task that holds a slot (`pending`), from the files in its dir.
    /// A task whose files are missing cannot start: it ends `failed` with the
    /// reason, and the failed record is returned.
    pub(super) fn launch(&mut self, record: TaskRecord) -> Result<TaskRecord, TaskError> {
        let mut files = match self.dirs.launch_files(&record) {
            Ok(files) => files,
            Err(TaskDirError::Io { path, source, .. }) => {
                let update = StatusUpdate {
                    status: TaskStatus::Failed,
                    pid: None,
                    exit_code: None,
                    ended_at: Some(Timestamp::now()),
                    reason: Some(format!(
                        "task files missing: cannot read {}: {source}",
                        path.display()
                    )),
                    result: None,
                };
                self.finish(&record.id, &update)?;
                return Ok(self.store.get(&record.id)?.unwrap_or(record));
            }
            Err(err) => return Err(err.into()),
        };
        // The executing side gets the meta as dispatched, rebuilt from the row:
        // a dispatch interrupted before writing it must still start. The
        // runner's records (task.pid, exit.json) carry the lifecycle from there.
        files.push(TaskDirs::meta_file(
            &record,
            self.dirs.payload_text(&record),
        ));
        self.launch_with(record, files)
    }

    pub(super) fn launch_with(
        &mut self,
        mut record: TaskRecord,
        files: Vec<TaskFile>,
    ) -> Result<TaskRecord, TaskError> {
        let id = record.id;
        let agent = record.task_type.agent().and_then(|kind| {
            let executor = self.config.executor(&record.executor)?;
            Some(AgentLaunch::new(&self.config, executor, kind))
        });
        let caller = self.caller.clone();
        let executor = self.executor(&record.executor)?;
        let env = payload_env(executor.config(), caller.as_ref());
        let spec = LaunchSpec {
            id,
            files: &files,
            env: &env,
            workspace: &record.workspace,
            task_type: record.task_type,
            agent: agent.as_ref(),
            worktree: record.worktree.as_ref(),
            caller: caller.as_ref(),
        };
        match executor.launch(&spec) {
            Ok(launched) => {
                let started_at = Timestamp::now();
                // One write does both: the index learns of the runner, and the
                // meta is rewritten from the record under the same lock.
                let recorded = (|| -> Result<(), TaskError> {
                    let tx = self.store.begin_write()?;
                    record_launched(&tx, &self.dirs, &id, &launched, &started_at)?;
                    Ok(tx.commit()?)
                })();
                // Recorded or not, the runner goes on (a long-lived caller
                // would otherwise keep it parked): unrecorded, it is found by
                // the next look, as one whose dispatcher died.
                if let Ok(executor) = self.executor(&record.executor) {
                    executor.open_launched();
                }
                recorded?;
                record.status = TaskStatus::Running;
                record.runner_pid = Some(launched.runner_pid);
                record.runner_start = launched.runner_start;
                record.started_at = Some(started_at);
                Ok(record)
            }
            // The host may have started the runner before the link broke: the
            // task stays claimed with no runner pid, and the first look after
            // the dispatch window finds its runner or puts it back in the queue
            // (a repeated launch starts no second runner).
            Err(err @ ExecutorError::InDoubt { .. }) => Err(err.into()),
            Err(err) => {
                let update = StatusUpdate {
                    status: TaskStatus::Failed,
                    pid: None,
                    exit_code: None,
                    ended_at: Some(Timestamp::now()),
                    reason: Some(format!("launch failed: {}", error_chain(&err))),
                    result: None,
                };
                self.finish(&id, &update)?;
                Err(err.into())
            }
        }
    }
}

/// Checks on the executing host that a worktree task can start in
/// `workspace`, and names its branch and base commit.
fn prepare_worktree(
    executor: &dyn Executor,
    workspace: &str,
    request: &WorktreeRequest,
    id: &TaskId,
    task_dir: &str,
) -> Result<(Worktree, Option<Vec<u8>>), TaskError> {
    let branch = Worktree::branch_for(id);
    let base = request.base.as_deref().unwrap_or("HEAD");
    let problem = |problem| ExecutorError::Worktree {
        executor: executor.name().to_owned(),
        problem,
    };
    if let Some(local) = &request.sync_from
        && executor.host_side_worktree(workspace).is_none()
    {
        // The repository is here; the host only needs git.
        let shipped = worktree::git::ship(local, base).map_err(problem)?;
        let out = executor.run_script(worktree::GIT_PRESENT_SCRIPT, &[])?;
        worktree::parse_probe(
            out.code,
            b"\0\0\0",
            &out.stderr,
            "",
            "",
            "",
            &executor.place(),
        )
        .map_err(problem)?;
        let worktree = Worktree {
            branch,
            base: shipped.base,
            repo: format!("{task_dir}/{}", worktree::SYNCED_REPO),
            subdir: shipped.subdir,
            synced: true,
            on_host: false,
            mount: None,
            result: None,
            delivered_at: None,
        };
        return Ok((worktree, Some(shipped.bundle)));
    }
    // Git runs here (containers) and so does `--sync`'s repository: the
    // worktree is made from it directly and mounted at the task's workspace,
    // wherever the executor's volumes are.
    let synced_here = request
        .sync_from
        .as_ref()
        .filter(|_| executor.host_side_worktree(workspace).is_some());
    if synced_here.is_some() && workspace.is_empty() {
        return Err(ExecutorError::failed(
            executor.name(),
            "--sync needs a workspace to mount the worktree at: give -w",
        )
        .into());
    }
    let host_workspace = match (synced_here, executor.host_side_worktree(workspace)) {
        (Some(local), _) => Some(local.to_string_lossy().into_owned()),
        (None, Some(mapped)) => Some(mapped?),
        (None, None) => None,
    };
    let probed = host_workspace.as_deref().unwrap_or(workspace);
    let out = executor.run_script(worktree::PROBE_SCRIPT, &[probed, base, &branch])?;
    let site = worktree::parse_probe(
        out.code,
        &out.stdout,
        &out.stderr,
        workspace,
        base,
        &branch,
        &executor.place(),
    )
    .map_err(problem)?;
    let worktree = Worktree {
        branch,
        base: site.base,
        repo: site.repo,
        // Mounted at the workspace: the payload starts at the top level.
        subdir: if synced_here.is_some() {
            String::new()
        } else {
            site.subdir
        },
        synced: false,
        on_host: host_workspace.is_some(),
        mount: synced_here.map(|_| workspace.to_owned()),
        result: None,
        delivered_at: None,
    };
    Ok((worktree, None))
}

/// The environment an executor adds to its payloads; forwarded variables
/// come from `caller`'s environment when the dispatch was handed over.
pub(super) fn payload_env(
    executor: &ExecutorConfig,
    caller: Option<&Caller>,
) -> Vec<(String, String)> {
    let forwarded = |name: &str| match caller {
        Some(caller) => caller.var(name),
        None => std::env::var(name).ok(),
    };
    let mut env: Vec<(String, String)> = executor
        .env
        .iter()
        .filter_map(|entry| match entry {
            EnvEntry::Forward(name) => forwarded(name).map(|v| (name.clone(), v)),
            EnvEntry::Fixed(name, value) => Some((name.clone(), value.clone())),
        })
        .collect();
    if executor.allow_root {
        env.extend(crate::agent::root_permits());
    }
    env
}

/// Records in `tx` that task `id`'s runner runs, and rewrites its meta from
/// the record under the same lock: the index and the task dir agree on it.
pub(super) fn record_launched(
    tx: &WriteTx<'_>,
    dirs: &TaskDirs,
    id: &TaskId,
    launched: &Launched,
    started_at: &Timestamp,
) -> Result<(), TaskError> {
    tx.set_launched(
        id,
        launched.runner_pid,
        launched.runner_start.as_deref(),
        started_at,
    )?;
    if let Some(current) = tx.record(id)? {
        dirs.write_meta(&current)?;
    }
    Ok(())
}
