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
use crate::executor::{AgentLaunch, Executor, ExecutorError, LOG_READ_CHUNK, LaunchSpec};
use crate::fsutil;
use crate::paths::Paths;
use crate::runner::{self, RunnerObservation};
use crate::store::{StatusUpdate, Store, StoreError, TaskRecord, summarize};
use crate::task::{Payload, TaskId, TaskIdPrefix, TaskIdPrefixError, TaskSpec, TaskStatus};
use crate::time;

/// A task recorded as pending but without a runner is left alone this long: its
/// dispatch may still be under way in another process.
const DISPATCH_WINDOW_SECS: i64 = 30;

/// Grace period when a stalled agent is killed (`kill_on_stall`).
const STALL_KILL_GRACE: Duration = Duration::from_secs(5);

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
    #[error("timed out after {seconds}s waiting for task {id}")]
    Timeout { id: TaskId, seconds: f64 },
    #[error("cannot write task file {path}")]
    Mirror {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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
        let mirror = self.store.task_dir(&id);
        let mirror_err = |path: PathBuf| move |source| TaskError::Mirror { path, source };
        fsutil::create_private_dir(&mirror).map_err(mirror_err(mirror.clone()))?;
        for file in &files {
            let path = mirror.join(file.name);
            fsutil::write_private(&path, &file.contents).map_err(mirror_err(path.clone()))?;
        }
        record.status = self.store.insert_claiming(&record, limit)?;
        if record.status == TaskStatus::Queued {
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
        self.launch_with(record, files)
    }

    /// Starts a task that holds a slot (`pending`), from the files in its mirror.
    fn launch(&mut self, record: TaskRecord) -> Result<TaskRecord, TaskError> {
        let mirror = self.store.task_dir(&record.id);
        let payload_file = match record.task_type {
            crate::TaskType::ClaudeCode => runner::PROMPT_FILE,
            crate::TaskType::ShellCommand => runner::COMMAND_FILE,
        };
        // The executing side gets the meta as dispatched; its runner's records
        // (task.pid, exit.json) carry the lifecycle from there.
        let mut files = Vec::new();
        for name in [
            payload_file,
            runner::PAYLOAD_FILE,
            runner::RUNNER_FILE,
            runner::META_FILE,
        ] {
            let path = mirror.join(name);
            let contents =
                std::fs::read(&path).map_err(|source| TaskError::Mirror { path, source })?;
            files.push(runner::TaskFile { name, contents });
        }
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
            let claimed = self
                .store
                .claim_next_queued(|name| config.executor(name).map(|e| config.capacity(e)))?;
            let Some(task) = claimed else {
                return Ok(started);
            };
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
        for task in live {
            let claimed = task.claimed_at.as_deref().unwrap_or(&task.created_at);
            if task.runner_pid.is_none()
                && time::seconds_since(claimed).unwrap_or(0) < DISPATCH_WINDOW_SECS
            {
                continue;
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
                if let Some(done) = self.apply(task, &observation)? {
                    report.finished.push(done);
                }
            }
        }
        // Slots may have freed: start what waits for them.
        if self.store.has_queued()? {
            self.dispatch_queued(&mut report)?;
        }
        Ok(report)
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
            return self.finish(&task.id, &update);
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
        let session = parent
            .session_id
            .as_deref()
            .and_then(|s| uuid::Uuid::parse_str(s).ok());
        if !parent.status.is_terminal() {
            // Two claude processes must not write the same session.
            return Err(TaskError::StillLive {
                id: parent.id,
                status: parent.status,
            });
        }
        let (Some(agent), Some(session_id)) = (parent.task_type.agent(), session) else {
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
                session: AgentSession::Resume(session_id.to_string()),
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
                ended_at: Some(time::now_rfc3339()),
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
