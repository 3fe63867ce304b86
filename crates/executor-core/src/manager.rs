//! Task operations that every command shares: dispatch, reconcile, kill, cleanup.
//!
//! The manager joins the store (the cache) with the executors (the truth). It
//! holds no backend logic; backends come in through [`Executor`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::agent::{AgentKind, AgentSession, AgentStats};
use crate::completion;
use crate::config::{Config, EnvEntry, ExecutorConfig};
use crate::dispatch_lock::{self, DispatchLock, Probe};
use crate::executor::{AgentLaunch, Executor, ExecutorError, LOG_READ_CHUNK, LaunchSpec};
use crate::fsutil;
use crate::paths::Paths;
use crate::runner::{self, RunnerObservation};
use crate::store::{StatusUpdate, Store, StoreError, TaskRecord, summarize};
use crate::task::{Payload, TaskId, TaskIdPrefix, TaskIdPrefixError, TaskSpec, TaskStatus};
use crate::time;

/// A task recorded as pending without a runner, whose dispatcher is gone, is
/// left alone this long when its executor cannot see a runner that started but
/// has not recorded itself yet (a remote one), or when it has no dispatch lock
/// (dispatched by an older version): the runner may still come up.
const DISPATCH_WINDOW_SECS: i64 = 30;

/// Grace period when a stalled agent is killed (`kill_on_stall`).
const STALL_KILL_GRACE: Duration = Duration::from_secs(5);

/// Grace period for what a lost task left running (its runner is gone).
const LEFTOVER_KILL_GRACE: Duration = Duration::from_secs(2);

/// Builds the executor for one configured entry (the binary wires in the backends).
pub type ExecutorFactory =
    Box<dyn Fn(&ExecutorConfig, &Paths) -> Result<Box<dyn Executor>, ExecutorError>>;

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    InvalidId(#[from] TaskIdPrefixError),
    #[error("unknown executor `{name}`; known executors: {}", .known.join(", "))]
    UnknownExecutor { name: String, known: Vec<String> },
    #[error(transparent)]
    Executor(#[from] ExecutorError),
    #[error("task {id} already ended ({status})")]
    AlreadyFinished { id: TaskId, status: TaskStatus },
    #[error("executor `{executor}`: {message}")]
    Refused { executor: String, message: String },
    #[error("task {id} is a {task_type} task; only Claude Code tasks can be resumed")]
    NotResumable { id: TaskId, task_type: &'static str },
    #[error("no executor carries the labels {}; labels in use: {}", .labels.join(", "), if .known.is_empty() { "none".to_owned() } else { .known.join(", ") })]
    NoExecutorForLabels {
        labels: Vec<String>,
        known: Vec<String>,
    },
    #[error("task {id} is still {status}; kill it first or pass --force")]
    StillLive { id: TaskId, status: TaskStatus },
    #[error(
        "task {id} has ended ({status}) but processes of it still run; kill it first or pass --force"
    )]
    ProcessesLeft { id: TaskId, status: TaskStatus },
    #[error("timed out after {seconds}s waiting for task {id}")]
    Timeout { id: TaskId, seconds: f64 },
    #[error("cannot write task file {path}")]
    Mirror {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What `kill` did.
#[derive(Debug)]
pub struct KillOutcome {
    pub record: TaskRecord,
    pub report: ReconcileReport,
    /// The task had already ended; processes it left running were ended.
    pub ended_leftovers: bool,
}

/// What a reconciliation changed.
#[derive(Debug, Default)]
pub struct ReconcileReport {
    /// Tasks this process moved to a terminal state (and wrote completion records for).
    pub finished: Vec<TaskRecord>,
    /// Executors that could not be read this time (transient: retried next time).
    pub unreachable: Vec<ExecutorError>,
}

pub struct TaskManager {
    store: Store,
    config: Config,
    factory: ExecutorFactory,
    executors: HashMap<String, Box<dyn Executor>>,
}

impl TaskManager {
    pub fn new(store: Store, config: Config, factory: ExecutorFactory) -> Self {
        Self {
            store,
            config,
            factory,
            executors: HashMap::new(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Opens the index afresh (after [`Store::index_file`] saw it replaced).
    pub fn reopen_store(&mut self) -> Result<(), StoreError> {
        self.store = Store::open(self.store.paths())?;
        Ok(())
    }

    /// Adds the tasks whose directories the index lacks (see [`crate::reindex`]).
    pub fn reindex(&mut self) -> Result<crate::reindex::ReindexReport, TaskError> {
        Ok(crate::reindex::reindex(&mut self.store)?)
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    fn paths(&self) -> &Paths {
        self.store.paths()
    }

    /// The executor named `name`, built on first use.
    pub fn executor(&mut self, name: &str) -> Result<&dyn Executor, TaskError> {
        if !self.executors.contains_key(name) {
            let Some(config) = self.config.executor(name) else {
                return Err(TaskError::UnknownExecutor {
                    name: name.to_owned(),
                    known: self
                        .config
                        .executor_names()
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                });
            };
            let executor = (self.factory)(config, self.store.paths())?;
            self.executors.insert(name.to_owned(), executor);
        }
        Ok(self.executors[name].as_ref())
    }

    pub fn resolve(&self, id: &str) -> Result<TaskRecord, TaskError> {
        Ok(self.store.resolve(&TaskIdPrefix::parse(id)?)?)
    }

    /// Picks the executor for a task that names labels instead of an executor:
    /// among those carrying every label, one with a free slot and the least load
    /// (ties: config order); when all are full, the least loaded one, to queue on.
    pub fn route(&self, labels: &[String]) -> Result<String, TaskError> {
        let candidates: Vec<&ExecutorConfig> = self
            .config
            .executors
            .iter()
            .filter(|e| labels.iter().all(|l| e.labels.contains(l)))
            .collect();
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
    pub fn dispatch(&mut self, mut spec: TaskSpec) -> Result<TaskRecord, TaskError> {
        let executor = self.executor(&spec.executor)?;
        spec.workspace = executor.resolve_workspace(&spec.workspace)?;
        let executor_type = executor.config().executor_type().as_str().to_owned();
        if let Some(rule) = spec.payload.agent().and_then(|a| a.cli().root_rule())
            && executor.runs_as_root() == Some(true)
            && !rule.permitted(&payload_env(executor.config()))
        {
            return Err(TaskError::Refused {
                executor: spec.executor.clone(),
                message: rule.refusal.into(),
            });
        }
        let id = TaskId::new();
        let target_dir = executor.task_dir(&id);
        let files = runner::task_files(&spec.payload, &target_dir, &spec.workspace);
        let limit = self
            .config
            .executor(&spec.executor)
            .and_then(|e| self.config.capacity(e));

        let (max_turns, session_id) = match &spec.payload {
            Payload::Agent {
                max_turns, session, ..
            } => (Some(*max_turns), Some(session.id())),
            Payload::ShellCommand { .. } => (None, None),
        };
        let mut record = TaskRecord {
            id,
            executor: spec.executor.clone(),
            executor_type,
            task_type: spec.payload.task_type(),
            status: TaskStatus::Queued,
            reason: None,
            pid: None,
            runner_pid: None,
            runner_start: None,
            created_at: time::now_rfc3339(),
            started_at: None,
            ended_at: None,
            exit_code: None,
            workspace: spec.workspace.clone(),
            summary: summarize(spec.payload.text()),
            max_turns,
            session_id,
            webhook_state: None,
            webhook_attempts: 0,
            webhook_error: None,
            agent: None,
            parent_id: spec.parent,
            priority: spec.priority,
            claimed_at: None,
        };

        // The mirror holds every file, so a queued task can start later from it;
        // for the local executor the mirror *is* the task dir.
        //
        // Order of writes (docs/ARCHITECTURE.md, "Dispatch"): dir, dispatch
        // lock, payload files, then the row. Until the row exists the dir is
        // an orphan that `cleanup --orphans` removes; once it exists every file
        // a launch needs is there, and `.meta.json` is rebuilt from the row.
        let mirror = self.store.task_dir(&id);
        let mirror_err = |path: PathBuf| move |source| TaskError::Mirror { path, source };
        fsutil::create_private_dir(&mirror).map_err(mirror_err(mirror.clone()))?;
        let recorded = (|| {
            let lock = DispatchLock::create(&mirror)
                .map_err(mirror_err(mirror.join(dispatch_lock::LOCK_FILE)))?;
            for file in &files {
                let path = mirror.join(file.name);
                fsutil::write_private(&path, &file.contents).map_err(mirror_err(path.clone()))?;
            }
            Ok::<_, TaskError>((lock, self.store.insert_claiming(&record, limit)?))
        })();
        let (lock, status) = match recorded {
            Ok(recorded) => recorded,
            Err(err) => {
                // No row names the dir: nothing else would ever remove it.
                let _ = std::fs::remove_dir_all(&mirror);
                return Err(err);
            }
        };
        record.status = status;
        if record.status == TaskStatus::Queued {
            drop(lock);
            self.write_meta(&id)?;
            return Ok(record);
        }
        // Starting at once: the files are at hand, and the meta is written once
        // the runner is up.
        let mut files = files;
        files.push(runner::TaskFile {
            name: runner::META_FILE,
            contents: meta_bytes(&record, Some(spec.payload.text().to_owned())),
        });
        let launched = self.launch_with(record, files);
        drop(lock);
        launched
    }

    /// Starts a task that holds a slot (`pending`), from the files in its mirror.
    /// A task whose files are missing cannot start: it ends `failed` with the
    /// reason, and the failed record is returned.
    fn launch(&mut self, record: TaskRecord) -> Result<TaskRecord, TaskError> {
        let mirror = self.store.task_dir(&record.id);
        let payload_file = match record.task_type {
            crate::TaskType::ClaudeCode => runner::PROMPT_FILE,
            crate::TaskType::ShellCommand => runner::COMMAND_FILE,
        };
        let mut files = Vec::new();
        for name in [payload_file, runner::PAYLOAD_FILE, runner::RUNNER_FILE] {
            let path = mirror.join(name);
            match std::fs::read(&path) {
                Ok(contents) => files.push(runner::TaskFile { name, contents }),
                Err(err) => {
                    let update = StatusUpdate {
                        status: TaskStatus::Failed,
                        pid: None,
                        exit_code: None,
                        ended_at: Some(time::now_rfc3339()),
                        reason: Some(format!(
                            "task files missing: cannot read {}: {err}",
                            path.display()
                        )),
                    };
                    self.finish(&record.id, &update)?;
                    return Ok(self.store.get(&record.id)?.unwrap_or(record));
                }
            }
        }
        // The executing side gets the meta as dispatched, rebuilt from the row:
        // a dispatch interrupted before writing it must still start. The
        // runner's records (task.pid, exit.json) carry the lifecycle from there.
        files.push(runner::TaskFile {
            name: runner::META_FILE,
            contents: meta_bytes(&record, payload_text(&mirror, &record)),
        });
        self.launch_with(record, files)
    }

    fn launch_with(
        &mut self,
        mut record: TaskRecord,
        files: Vec<runner::TaskFile>,
    ) -> Result<TaskRecord, TaskError> {
        let id = record.id;
        let agent = record.task_type.agent().and_then(|kind| {
            let executor = self.config.executor(&record.executor)?;
            Some(AgentLaunch::new(&self.config, executor, kind))
        });
        let executor = self.executor(&record.executor)?;
        let env = payload_env(executor.config());
        let spec = LaunchSpec {
            id,
            files: &files,
            env: &env,
            workspace: &record.workspace,
            task_type: record.task_type,
            agent: agent.as_ref(),
        };
        match executor.launch(&spec) {
            Ok(launched) => {
                let started_at = time::now_rfc3339();
                let mirror = self.store.task_dir(&id);
                self.store.set_launched(
                    &id,
                    launched.runner_pid,
                    launched.runner_start.as_deref(),
                    &started_at,
                    |record| write_meta_file(&mirror, record),
                )?;
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
                    ended_at: Some(time::now_rfc3339()),
                    reason: Some(format!("launch failed: {}", error_chain(&err))),
                };
                self.finish(&id, &update)?;
                Err(err.into())
            }
        }
    }

    /// Starts queued tasks while their executors have free slots. Tasks whose
    /// launch failed are recorded as failed and added to `report`.
    pub fn dispatch_queued(&mut self, report: &mut ReconcileReport) -> Result<usize, TaskError> {
        let mut started = 0;
        loop {
            let config = &self.config;
            let paths = self.store.paths().clone();
            let claimed = self.store.claim_next_queued(
                |name| config.executor(name).map(|e| config.capacity(e)),
                // Held from before the claim commits, so no reconciler takes
                // the launch under way for an abandoned one.
                |task| match DispatchLock::try_take(&paths.task_dir(&task.id), true) {
                    Ok(Probe::Held) => None,
                    Ok(Probe::Taken(lock)) => Some(Some(lock)),
                    // No dir: the launch finds its files missing and fails the task.
                    Ok(Probe::Absent) | Err(_) => Some(None),
                },
            )?;
            let Some((task, _lock)) = claimed else {
                return Ok(started);
            };
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
    }

    /// Reads the truth of live tasks (all, or just `only`) and updates the store.
    pub fn reconcile(&mut self, only: Option<&TaskId>) -> Result<ReconcileReport, TaskError> {
        let one = match only {
            Some(id) => self.store.get(id)?,
            None => None,
        };
        let live = match one {
            Some(task) if matches!(task.status, TaskStatus::Pending | TaskStatus::Running) => {
                vec![task]
            }
            // A queued task waits for others to end: they are what must be looked at.
            Some(task) if task.status == TaskStatus::Queued => self.store.live_tasks()?,
            Some(_) => Vec::new(),
            None if only.is_some() => Vec::new(),
            None => self.store.live_tasks()?,
        };
        let mut report = ReconcileReport::default();
        let mut by_executor: HashMap<String, Vec<TaskRecord>> = HashMap::new();
        // Dispatch locks of abandoned launches, held until they are requeued.
        let mut locks = Vec::new();
        for task in live {
            if task.runner_pid.is_none() {
                match self.abandoned_dispatch(&task) {
                    Some(lock) => locks.extend(lock),
                    None => continue,
                }
            }
            by_executor
                .entry(task.executor.clone())
                .or_default()
                .push(task);
        }
        for (name, tasks) in by_executor {
            let observations = match self.executor(&name) {
                Ok(executor) => executor.observe(&tasks.iter().collect::<Vec<_>>()),
                // An executor removed from the config can no longer be asked; keep its tasks as they are.
                Err(TaskError::UnknownExecutor { .. }) => continue,
                Err(err) => return Err(err),
            };
            let observations = match observations {
                Ok(observations) => observations,
                Err(err) => {
                    report.unreachable.push(err);
                    continue;
                }
            };
            for (task, observation) in tasks.iter().zip(observations) {
                // A launch interrupted before its runner started (the dispatching
                // process died): the task goes back to the queue, to start once.
                if task.runner_pid.is_none()
                    && !observation.runner_started
                    && !observation.runner_alive
                    && observation.exit.is_none()
                    && self.store.requeue(&task.id)?
                {
                    continue;
                }
                match self.apply(task, &observation) {
                    Ok(Some(done)) => report.finished.push(done),
                    Ok(None) => {}
                    // A host that cannot be reached for one task's step (a stall
                    // kill, say) is retried next time, like a failed observe;
                    // the other tasks are served meanwhile.
                    Err(TaskError::Executor(err)) if err.is_transient() => {
                        report.unreachable.push(err);
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        drop(locks);
        // Slots may have freed: start what waits for them.
        if self.store.has_queued()? {
            self.dispatch_queued(&mut report)?;
        }
        Ok(report)
    }

    /// For a task `pending` without a recorded runner: `None` while its
    /// dispatch may still be under way; else the task's dispatch lock (when it
    /// has one), held so that nobody launches it while it is looked at.
    fn abandoned_dispatch(&mut self, task: &TaskRecord) -> Option<Option<DispatchLock>> {
        let mirror = self.store.task_dir(&task.id);
        let claimed = task.claimed_at.as_deref().unwrap_or(&task.created_at);
        let window_passed = time::seconds_since(claimed).unwrap_or(0) >= DISPATCH_WINDOW_SECS;
        // With its dispatcher gone, a runner it started just before dying is
        // seen by executors that see runners before they record themselves.
        let sees_runners = self
            .executor(&task.executor)
            .is_ok_and(|e| e.sees_unrecorded_runners());
        match DispatchLock::try_take(&mirror, false) {
            Ok(Probe::Held) => None,
            Ok(Probe::Taken(lock)) => (sees_runners || window_passed).then_some(Some(lock)),
            Ok(Probe::Absent) if !mirror.exists() => {
                (sees_runners || window_passed).then_some(None)
            }
            Ok(Probe::Absent) | Err(_) => window_passed.then_some(None),
        }
    }

    /// Ends a task that never started (queued, or abandoned mid-dispatch with
    /// no runner) as killed, under its dispatch lock so nobody launches it
    /// meanwhile. `None` when the task may be starting or running.
    fn kill_unstarted(&mut self, id: &TaskId) -> Result<Option<TaskRecord>, TaskError> {
        let Some(task) = self.store.get(id)? else {
            return Ok(None);
        };
        let _lock = match task.status {
            TaskStatus::Queued => match DispatchLock::try_take(&self.store.task_dir(id), false) {
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
            ended_at: Some(time::now_rfc3339()),
            reason: Some(reason.into()),
        };
        self.finish(id, &update)
    }

    fn apply(
        &mut self,
        task: &TaskRecord,
        observation: &RunnerObservation,
    ) -> Result<Option<TaskRecord>, TaskError> {
        let mut state = observation.state();
        if let Some(agent) = task.task_type.agent() {
            let stats = match self.update_agent(task, agent, observation) {
                Ok(stats) => stats,
                // Stats are a view of the log; a link drop only delays them.
                Err(TaskError::Executor(err)) if err.is_transient() => {
                    task.agent.clone().unwrap_or_default()
                }
                Err(err) => return Err(err),
            };
            // claude's own verdict (e.g. error_max_turns) says more than its exit code.
            if matches!(state.status, TaskStatus::Completed | TaskStatus::Failed)
                && let Some(reason) = stats.failure_reason()
            {
                state.status = TaskStatus::Failed;
                state.reason = Some(reason);
            }
            if state.status == TaskStatus::Running
                && self.config.defaults.kill_on_stall
                && let Some(quiet) = self.stalled_for(task, &stats)
            {
                let reason = format!("stalled: no output for {}s", quiet.as_secs());
                self.executor(&task.executor)?
                    .kill(task, STALL_KILL_GRACE, &reason)?;
                return Ok(None);
            }
        }
        let update = StatusUpdate {
            status: state.status,
            pid: state.pid,
            exit_code: state.exit_code,
            ended_at: state.ended_at,
            reason: state.reason,
        };
        if update.status.is_terminal() {
            let finished = self.finish(&task.id, &update)?;
            if update.status == TaskStatus::Lost && finished.is_some() {
                self.end_leftovers(task);
            }
            return Ok(finished);
        }
        // A launched runner that has not yet written task.pid is still running,
        // unless it waits in a scheduler's queue.
        if update.status == TaskStatus::Pending
            && task.status == TaskStatus::Running
            && !observation.queued
        {
            return Ok(None);
        }
        // Most refreshes find live tasks as they were: no write at all then.
        let unchanged =
            update.status == task.status && update.pid.is_none_or(|p| task.pid == Some(p));
        if !unchanged && self.store.update_live(&task.id, &update)? {
            self.write_meta(&task.id)?;
        }
        Ok(None)
    }

    /// Counts the agent's new log lines into its stats, stored in the index.
    fn update_agent(
        &mut self,
        task: &TaskRecord,
        agent: AgentKind,
        observation: &RunnerObservation,
    ) -> Result<AgentStats, TaskError> {
        let agent = agent.cli();
        let mut stats = task.agent.clone().unwrap_or_default();
        let before = stats.clone();
        if let Some(delta) = &observation.log_delta {
            stats.feed(agent, delta);
        }
        if observation
            .log_size
            .is_some_and(|size| size > stats.parsed_offset)
        {
            let executor = self.executor(&task.executor)?;
            loop {
                let chunk = executor.read_log(task, stats.parsed_offset)?;
                let consumed = stats.parsed_offset;
                stats.feed(agent, &chunk.bytes);
                if stats.parsed_offset == consumed {
                    if chunk.bytes.len() < LOG_READ_CHUNK {
                        break;
                    }
                    // A single line longer than a chunk cannot be a record worth counting.
                    stats.parsed_offset += chunk.bytes.len() as u64;
                }
            }
        }
        if let Some(modified) = &observation.log_modified {
            stats.last_activity = Some(modified.clone());
        }
        if stats != before {
            self.store.set_agent(&task.id, &stats)?;
        }
        Ok(stats)
    }

    fn stalled_for(&self, task: &TaskRecord, stats: &AgentStats) -> Option<Duration> {
        stalled_for(
            task.task_type,
            task.status,
            task.started_at.as_deref(),
            stats,
            self.config.defaults.stall_timeout,
        )
    }

    /// A follow-up of an agent task: the same session, executor and workspace.
    pub fn resume_spec(
        &self,
        parent: &TaskRecord,
        prompt: String,
        max_turns: Option<u32>,
    ) -> Result<TaskSpec, TaskError> {
        let session = parent.task_type.agent().and_then(|agent| {
            let reported = parent.agent.as_ref().and_then(|s| s.session_id.as_deref());
            let session = agent
                .cli()
                .resume_session(parent.session_id.as_deref(), reported)?;
            Some((agent, session))
        });
        if !parent.status.is_terminal() {
            // Two agent processes must not write the same session.
            return Err(TaskError::StillLive {
                id: parent.id,
                status: parent.status,
            });
        }
        let Some((agent, session_id)) = session else {
            return Err(TaskError::NotResumable {
                id: parent.id,
                task_type: parent.task_type.as_str(),
            });
        };
        let executor =
            self.config
                .executor(&parent.executor)
                .ok_or_else(|| TaskError::UnknownExecutor {
                    name: parent.executor.clone(),
                    known: self
                        .config
                        .executor_names()
                        .into_iter()
                        .map(str::to_owned)
                        .collect(),
                })?;
        Ok(TaskSpec {
            priority: parent.priority,
            executor: parent.executor.clone(),
            workspace: parent.workspace.clone(),
            payload: Payload::Agent {
                agent,
                prompt,
                max_turns: max_turns
                    .or(parent.max_turns)
                    .unwrap_or(self.config.defaults.max_turns),
                program: AgentLaunch::new(&self.config, executor, agent).program,
                session: AgentSession::Resume(session_id),
            },
            parent: Some(parent.id),
        })
    }

    /// The tasks before `task` in its follow-up chain (oldest first) and those after it.
    pub fn chain(
        &self,
        task: &TaskRecord,
    ) -> Result<(Vec<TaskRecord>, Vec<TaskRecord>), TaskError> {
        let mut ancestors = Vec::new();
        let mut parent = task.parent_id;
        while let Some(id) = parent {
            let Some(record) = self.store.get(&id)? else {
                break;
            };
            parent = record.parent_id;
            ancestors.insert(0, record);
            if ancestors.len() > 1000 {
                break;
            }
        }
        let mut descendants = Vec::new();
        let mut frontier = vec![task.id];
        while let Some(id) = frontier.pop() {
            for child in self.store.children(&id)? {
                frontier.push(child.id);
                descendants.push(child);
            }
            if descendants.len() > 1000 {
                break;
            }
        }
        Ok((ancestors, descendants))
    }

    /// Moves a task to a terminal state once, writing its completion record and meta.
    fn finish(
        &mut self,
        id: &TaskId,
        update: &StatusUpdate,
    ) -> Result<Option<TaskRecord>, TaskError> {
        let webhook = self.config.defaults.webhook_url.is_some();
        let completions_dir = self.paths().completions_dir.clone();
        let mirror = self.store.task_dir(id);
        let finished = self.store.finish(id, update, webhook, |record| {
            completion::write_record(&completions_dir, record).map_err(|source| {
                StoreError::Write {
                    path: completions_dir.join(format!("{id}.json")),
                    source,
                }
            })?;
            write_meta_file(&mirror, record).map(|_| ())
        })?;
        Ok(finished)
    }

    /// Rewrites `.meta.json` in the local mirror from the index (read under the
    /// write lock, so a slower process never writes an older state over a newer
    /// one). Returns the bytes written.
    fn write_meta(&mut self, id: &TaskId) -> Result<Vec<u8>, TaskError> {
        let mirror = self.store.task_dir(id);
        Ok(self
            .store
            .with_record_locked(id, |record| write_meta_file(&mirror, record))?
            .unwrap_or_default())
    }

    /// The full prompt or command, from the mirror.
    pub fn payload_text(&self, record: &TaskRecord) -> Option<String> {
        payload_text(&self.store.task_dir(&record.id), record)
    }

    /// Reconciles one task and returns its current record.
    pub fn refresh(&mut self, id: &TaskId) -> Result<(TaskRecord, ReconcileReport), TaskError> {
        let report = self.reconcile(Some(id))?;
        let record = self
            .store
            .get(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        Ok((record, report))
    }

    /// A lost task's payload may run on without its runner: once the task is
    /// recorded as lost, whatever of it still runs is ended. Best effort: a
    /// host that cannot be reached now leaves them to `kill` and `cleanup`,
    /// which look again.
    fn end_leftovers(&mut self, task: &TaskRecord) {
        let Ok(executor) = self.executor(&task.executor) else {
            return;
        };
        if executor.has_live_processes(task).unwrap_or(false) {
            let _ = executor.kill(
                task,
                LEFTOVER_KILL_GRACE,
                "the task runner was gone; its remaining processes were ended",
            );
        }
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
                ended_at: Some(time::now_rfc3339()),
                reason: Some("killed while queued".into()),
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
    pub fn cleanup(
        &mut self,
        id: &TaskId,
        force: bool,
        grace: Duration,
    ) -> Result<ReconcileReport, TaskError> {
        let (mut record, mut report) = self.refresh(id)?;
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
        self.executor(&record.executor)?.remove(&record)?;
        let mirror = self.store.task_dir(id);
        match std::fs::remove_dir_all(&mirror) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(TaskError::Mirror {
                    path: mirror,
                    source,
                });
            }
        }
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

    /// Delivers due webhooks; with `wait`, also waits for retries that are not
    /// due yet, until none is pending or `max_runtime` passes. Returns how many
    /// were delivered.
    pub fn deliver_webhooks(
        &mut self,
        max_runtime: Duration,
        wait: bool,
    ) -> Result<usize, TaskError> {
        use crate::store::{WebhookClaim, WebhookOutcome};
        let Some(url) = self.config.defaults.webhook_url.clone() else {
            return Ok(0);
        };
        let lease_ms = (completion::WEBHOOK_TIMEOUT.as_millis() as i64) * 2;
        let started = Instant::now();
        let mut delivered = 0;
        while started.elapsed() < max_runtime {
            let now = time::now_ms();
            match self.store.claim_webhook(now, lease_ms)? {
                WebhookClaim::Idle => break,
                WebhookClaim::NotDue { .. } if !wait => break,
                WebhookClaim::NotDue { due_ms } => {
                    let wait = Duration::from_millis((due_ms - now).clamp(1, 60_000) as u64);
                    std::thread::sleep(wait);
                }
                WebhookClaim::Due(task) => {
                    let secret = self.config.defaults.webhook_secret.as_deref();
                    let outcome = match completion::post_webhook(&url, secret, &task) {
                        Ok(()) => {
                            delivered += 1;
                            WebhookOutcome::Delivered
                        }
                        Err(err) if task.webhook_attempts >= completion::WEBHOOK_MAX_ATTEMPTS => {
                            WebhookOutcome::GaveUp {
                                error: error_chain(&err),
                            }
                        }
                        Err(err) => WebhookOutcome::Retry {
                            at_ms: time::now_ms()
                                + completion::webhook_backoff(task.webhook_attempts).as_millis()
                                    as i64,
                            error: error_chain(&err),
                        },
                    };
                    self.store.webhook_result(&task.id, outcome)?;
                }
            }
        }
        Ok(delivered)
    }
}

/// The full prompt or command of `record`, from its mirror dir.
fn payload_text(mirror: &std::path::Path, record: &TaskRecord) -> Option<String> {
    let name = match record.task_type {
        crate::TaskType::ClaudeCode => runner::PROMPT_FILE,
        crate::TaskType::ShellCommand => runner::COMMAND_FILE,
    };
    let bytes = std::fs::read(mirror.join(name)).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The `.meta.json` document of `record`.
fn meta_bytes(record: &TaskRecord, payload_text: Option<String>) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&record.to_meta(payload_text)).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// Writes `.meta.json` for `record` into its mirror dir; returns the bytes.
fn write_meta_file(mirror: &std::path::Path, record: &TaskRecord) -> Result<Vec<u8>, StoreError> {
    let bytes = meta_bytes(record, payload_text(mirror, record));
    match fsutil::check_task_dir(mirror) {
        Ok(()) => {}
        // The mirror may have been cleaned up by another process meanwhile.
        Err(fsutil::DirError::Stat { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            return Ok(bytes);
        }
        Err(err) => return Err(err.into()),
    }
    let path = mirror.join(runner::META_FILE);
    match fsutil::write_atomic(&path, &bytes) {
        Ok(()) => Ok(bytes),
        // The mirror may have been cleaned up by another process meanwhile.
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(bytes),
        Err(source) => Err(StoreError::Write { path, source }),
    }
}

/// How long a live agent task has been silent, if at least `timeout`.
pub fn stalled_for(
    task_type: crate::TaskType,
    status: TaskStatus,
    started_at: Option<&str>,
    stats: &AgentStats,
    timeout: Duration,
) -> Option<Duration> {
    // Only a running agent can stall: time in a scheduler's queue is no silence.
    if task_type.agent().is_none() || status != TaskStatus::Running {
        return None;
    }
    let since = stats.last_activity.as_deref().or(started_at)?;
    let quiet = Duration::from_secs(time::seconds_since(since)?.max(0) as u64);
    (quiet >= timeout).then_some(quiet)
}

/// The environment an executor adds to its payloads.
fn payload_env(executor: &ExecutorConfig) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = executor
        .env
        .iter()
        .filter_map(|entry| match entry {
            EnvEntry::Forward(name) => std::env::var(name).ok().map(|v| (name.clone(), v)),
            EnvEntry::Fixed(name, value) => Some((name.clone(), value.clone())),
        })
        .collect();
    if executor.allow_root {
        env.extend(crate::agent::root_permits());
    }
    env
}

/// An error and its sources on one line: "a: b: c".
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
