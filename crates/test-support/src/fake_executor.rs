//! A scriptable in-memory [`Executor`] for tests of the task logic: no process,
//! no file outside the test's temp dir, every call recorded.
//!
//! One [`FakeHost`] (shared behind [`Fake`]) plays every executor the factory
//! builds: it holds a process table (pid → start identity, to model pid reuse),
//! the task dirs as the runner would leave them, and the calls the manager made.
//! A test drives the "truth" (a payload exits, a runner dies, a host drops off)
//! through [`Fake`] and asserts on what the manager recorded.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use executor_core::executor::LOG_READ_CHUNK;
use executor_core::runner::ExitRecord;
use executor_core::{
    AgentCheck, AgentLaunch, Executor, ExecutorCheck, ExecutorConfig, ExecutorError,
    ExecutorFactory, LaunchSpec, Launched, LogChunk, Paths, RunnerObservation, TaskFile, TaskId,
    TaskRecord, TaskType,
};

/// Workspace the fake resolves an empty workspace to (the user's home there).
pub const FAKE_HOME: &str = "/home/fake";

/// Exit code the fake's payload ends with when killed (SIGTERM).
pub const KILLED_EXIT_CODE: i32 = 143;

/// How a scripted call fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// [`ExecutorError::Unreachable`]: the host dropped off, retry later.
    Unreachable(String),
    /// [`ExecutorError::Failed`]: needs the user (bad key, missing binary).
    Fatal(String),
}

impl Failure {
    fn error(&self, executor: &str) -> ExecutorError {
        match self {
            Self::Unreachable(message) => ExecutorError::Unreachable {
                executor: executor.to_owned(),
                message: message.clone(),
            },
            Self::Fatal(message) => ExecutorError::failed(executor, message.clone()),
        }
    }
}

/// One `launch` call as the executor received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchCall {
    pub executor: String,
    pub id: TaskId,
    pub files: Vec<TaskFile>,
    pub env: Vec<(String, String)>,
    pub workspace: String,
    pub task_type: TaskType,
    pub agent: Option<AgentLaunch>,
    /// Whether the launch succeeded (a scripted failure is recorded too).
    pub ok: bool,
}

impl LaunchCall {
    /// The contents of file `name`, as text.
    pub fn file(&self, name: &str) -> Option<String> {
        self.files
            .iter()
            .find(|f| f.name == name)
            .map(|f| String::from_utf8_lossy(&f.contents).into_owned())
    }

    pub fn file_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.files.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names
    }
}

/// One `kill` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KillCall {
    pub executor: String,
    pub id: TaskId,
    pub grace: Duration,
    pub reason: String,
}

/// A task dir on the fake host, as the runner keeps it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FakeTask {
    pub executor: String,
    /// The runner's pid (what `runner.pid` says); `None` until it started.
    pub runner_pid: Option<u32>,
    /// `task.pid`: the payload's pid once the runner started it.
    pub payload_pid: Option<u32>,
    pub exit: Option<ExitRecord>,
    /// `kill.requested`.
    pub kill_reason: Option<String>,
    pub log: Vec<u8>,
    /// The log's mtime (RFC 3339).
    pub log_modified: Option<String>,
    /// Waiting in an external scheduler's queue.
    pub queued: bool,
    pub end_reason: Option<String>,
}

/// The shared state behind every fake executor.
#[derive(Debug, Default)]
pub struct FakeHost {
    /// Live processes: pid → start identity.
    pub processes: HashMap<u32, String>,
    pub tasks: HashMap<TaskId, FakeTask>,
    pub launches: Vec<LaunchCall>,
    pub kills: Vec<KillCall>,
    pub removes: Vec<TaskId>,
    /// Tasks passed to `observe`, per executor, one entry per call.
    pub observed: Vec<(String, Vec<TaskId>)>,
    /// Scripted failures per executor name.
    pub launch_failure: HashMap<String, Failure>,
    pub observe_failure: HashMap<String, Failure>,
    pub kill_failure: HashMap<String, Failure>,
    /// Executors whose payloads run as root.
    pub root: HashSet<String>,
    /// Whether a kill ends the payload at once (default); otherwise it only
    /// leaves the marker, like a payload that ignores SIGTERM during the grace.
    pub kill_keeps_running: bool,
    next_pid: u32,
    next_start: u64,
}

impl FakeHost {
    /// Starts a process and returns its pid and start identity.
    pub fn spawn(&mut self) -> (u32, String) {
        self.next_pid = self.next_pid.max(1000) + 1;
        self.next_start += 1;
        let identity = format!("fakeboot:{}", self.next_start);
        self.processes.insert(self.next_pid, identity.clone());
        (self.next_pid, identity)
    }

    /// Whether `pid` is alive and, when `start` is known, the same process.
    pub fn is_same_live_process(&self, pid: u32, start: Option<&str>) -> bool {
        self.processes
            .get(&pid)
            .is_some_and(|identity| start.is_none_or(|s| s == identity))
    }

    fn observe_one(&self, record: &TaskRecord) -> RunnerObservation {
        let Some(task) = self.tasks.get(&record.id) else {
            return RunnerObservation::default();
        };
        // Liveness first, records second, as real backends must.
        let runner_alive = match record.runner_pid {
            Some(pid) => self.is_same_live_process(pid, record.runner_start.as_deref()),
            None => task
                .runner_pid
                .is_some_and(|pid| self.is_same_live_process(pid, None)),
        };
        RunnerObservation {
            runner_alive,
            payload_pid: task.payload_pid,
            exit: task.exit.clone(),
            kill_reason: task.kill_reason.clone(),
            log_delta: None,
            agent_usage: None,
            runner_started: task.runner_pid.is_some(),
            log_size: (!task.log.is_empty() || task.log_modified.is_some())
                .then_some(task.log.len() as u64),
            log_modified: task.log_modified.clone(),
            queued: task.queued,
            end_reason: task.end_reason.clone(),
            lost_reason: None,
            result: None,
        }
    }
}

/// A handle on the shared fake host; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Fake {
    host: Arc<Mutex<FakeHost>>,
}

impl Fake {
    pub fn new() -> Self {
        Self::default()
    }

    /// The host state, for scripting or inspection beyond the helpers below.
    pub fn host(&self) -> MutexGuard<'_, FakeHost> {
        // A test that panicked while holding the lock has failed already.
        self.host
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A factory that builds a [`FakeExecutor`] on this host for every configured entry.
    pub fn factory(&self) -> ExecutorFactory {
        let host = self.host.clone();
        Box::new(move |config: &ExecutorConfig, _paths: &Paths| {
            Ok(Box::new(FakeExecutor {
                config: config.clone(),
                host: host.clone(),
            }) as Box<dyn Executor>)
        })
    }

    /// Changes the task dir of `id` (created empty if the runner never started).
    pub fn update(&self, id: &TaskId, change: impl FnOnce(&mut FakeTask)) {
        change(self.host().tasks.entry(*id).or_default());
    }

    pub fn task(&self, id: &TaskId) -> Option<FakeTask> {
        self.host().tasks.get(id).cloned()
    }

    /// The payload exits with `code`: the runner writes `exit.json` and ends.
    pub fn exit(&self, id: &TaskId, code: i32) {
        let mut host = self.host();
        let Some(task) = host.tasks.get_mut(id) else {
            panic!("fake: task {id} was never launched");
        };
        task.exit = Some(ExitRecord {
            exit_code: code,
            ended_at: Some(executor_core::time::now_rfc3339()),
        });
        if let Some(pid) = task.runner_pid {
            host.processes.remove(&pid);
        }
    }

    /// The runner dies without writing an exit record (SIGKILL, OOM, reboot).
    pub fn vanish(&self, id: &TaskId) {
        let mut host = self.host();
        if let Some(pid) = host.tasks.get(id).and_then(|t| t.runner_pid) {
            host.processes.remove(&pid);
        }
    }

    /// The runner dies and an unrelated process gets its pid.
    pub fn reuse_pid(&self, id: &TaskId) {
        let mut host = self.host();
        let Some(pid) = host.tasks.get(id).and_then(|t| t.runner_pid) else {
            panic!("fake: task {id} has no runner");
        };
        host.next_start += 1;
        let identity = format!("fakeboot:{}", host.next_start);
        host.processes.insert(pid, identity);
    }

    /// A runner that started (wrote `runner.pid`) for a task whose launcher
    /// died before recording it.
    pub fn start_orphan_runner(&self, id: &TaskId, executor: &str) -> u32 {
        let mut host = self.host();
        let (pid, _) = host.spawn();
        host.tasks.insert(
            *id,
            FakeTask {
                executor: executor.to_owned(),
                runner_pid: Some(pid),
                payload_pid: Some(pid + 1),
                ..FakeTask::default()
            },
        );
        pid
    }

    /// Appends `bytes` to the task log, modified at `modified` (RFC 3339).
    pub fn append_log(&self, id: &TaskId, bytes: &[u8], modified: &str) {
        self.update(id, |task| {
            task.log.extend_from_slice(bytes);
            task.log_modified = Some(modified.to_owned());
        });
    }

    pub fn fail_launch(&self, executor: &str, failure: Option<Failure>) {
        set_failure(&mut self.host().launch_failure, executor, failure);
    }

    pub fn fail_observe(&self, executor: &str, failure: Option<Failure>) {
        set_failure(&mut self.host().observe_failure, executor, failure);
    }

    pub fn fail_kill(&self, executor: &str, failure: Option<Failure>) {
        set_failure(&mut self.host().kill_failure, executor, failure);
    }

    pub fn set_root(&self, executor: &str, root: bool) {
        let mut host = self.host();
        if root {
            host.root.insert(executor.to_owned());
        } else {
            host.root.remove(executor);
        }
    }

    pub fn launches(&self) -> Vec<LaunchCall> {
        self.host().launches.clone()
    }

    /// Ids of the tasks launched successfully, in order.
    pub fn launched_ids(&self) -> Vec<TaskId> {
        self.host()
            .launches
            .iter()
            .filter(|l| l.ok)
            .map(|l| l.id)
            .collect()
    }

    pub fn kills(&self) -> Vec<KillCall> {
        self.host().kills.clone()
    }

    pub fn removes(&self) -> Vec<TaskId> {
        self.host().removes.clone()
    }

    /// Every task `observe` was asked about, in order.
    pub fn observed_ids(&self) -> Vec<TaskId> {
        self.host()
            .observed
            .iter()
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect()
    }

    /// How many `observe` calls reached `executor`.
    pub fn observe_calls(&self, executor: &str) -> usize {
        self.host()
            .observed
            .iter()
            .filter(|(name, _)| name == executor)
            .count()
    }
}

fn set_failure(map: &mut HashMap<String, Failure>, executor: &str, failure: Option<Failure>) {
    match failure {
        Some(failure) => map.insert(executor.to_owned(), failure),
        None => map.remove(executor),
    };
}

/// One configured executor on the fake host.
pub struct FakeExecutor {
    config: ExecutorConfig,
    host: Arc<Mutex<FakeHost>>,
}

impl FakeExecutor {
    fn host(&self) -> MutexGuard<'_, FakeHost> {
        self.host
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn with_task<T>(
        &self,
        id: &TaskId,
        read: impl FnOnce(&FakeTask) -> T,
    ) -> Result<T, ExecutorError> {
        let host = self.host();
        let task = host.tasks.get(id).ok_or_else(|| {
            ExecutorError::failed(&self.config.name, format!("no task dir for {id}"))
        })?;
        Ok(read(task))
    }
}

impl Executor for FakeExecutor {
    fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    fn resolve_workspace(&self, workspace: &str) -> Result<String, ExecutorError> {
        if workspace.is_empty() {
            return Ok(FAKE_HOME.to_owned());
        }
        if !workspace.starts_with('/') {
            return Err(ExecutorError::failed(
                &self.config.name,
                format!("workspace `{workspace}` is not an absolute path"),
            ));
        }
        Ok(workspace.to_owned())
    }

    fn task_dir(&self, id: &TaskId) -> String {
        format!("/fake/{}/tasks/{id}", self.config.name)
    }

    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Launched, ExecutorError> {
        let id = &spec.id;
        let mut host = self.host();
        let failure = host.launch_failure.get(&self.config.name).cloned();
        host.launches.push(LaunchCall {
            executor: self.config.name.clone(),
            id: *id,
            files: spec.files.to_vec(),
            env: spec.env.to_vec(),
            workspace: spec.workspace.to_owned(),
            task_type: spec.task_type,
            agent: spec.agent.cloned(),
            ok: failure.is_none(),
        });
        if let Some(failure) = failure {
            return Err(failure.error(&self.config.name));
        }
        let (runner_pid, start) = host.spawn();
        host.tasks.insert(
            *id,
            FakeTask {
                executor: self.config.name.clone(),
                runner_pid: Some(runner_pid),
                payload_pid: Some(runner_pid + 1),
                ..FakeTask::default()
            },
        );
        Ok(Launched {
            runner_pid,
            runner_start: Some(start),
        })
    }

    fn runs_as_root(&self) -> Option<bool> {
        Some(self.host().root.contains(&self.config.name))
    }

    fn observe(&self, tasks: &[&TaskRecord]) -> Result<Vec<RunnerObservation>, ExecutorError> {
        let mut host = self.host();
        host.observed.push((
            self.config.name.clone(),
            tasks.iter().map(|t| t.id).collect(),
        ));
        if let Some(failure) = host.observe_failure.get(&self.config.name) {
            return Err(failure.error(&self.config.name));
        }
        Ok(tasks.iter().map(|task| host.observe_one(task)).collect())
    }

    fn kill(&self, task: &TaskRecord, grace: Duration, reason: &str) -> Result<(), ExecutorError> {
        let mut host = self.host();
        host.kills.push(KillCall {
            executor: self.config.name.clone(),
            id: task.id,
            grace,
            reason: reason.to_owned(),
        });
        if let Some(failure) = host.kill_failure.get(&self.config.name) {
            return Err(failure.error(&self.config.name));
        }
        let keep_running = host.kill_keeps_running;
        let Some(dir) = host.tasks.get_mut(&task.id) else {
            return Err(ExecutorError::failed(
                &self.config.name,
                format!("no task dir for {}", task.id),
            ));
        };
        dir.kill_reason = Some(reason.to_owned());
        if keep_running || dir.exit.is_some() {
            return Ok(());
        }
        dir.exit = Some(ExitRecord {
            exit_code: KILLED_EXIT_CODE,
            ended_at: Some(executor_core::time::now_rfc3339()),
        });
        if let Some(pid) = dir.runner_pid {
            host.processes.remove(&pid);
        }
        Ok(())
    }

    fn tail_log(&self, task: &TaskRecord, lines: usize) -> Result<LogChunk, ExecutorError> {
        self.with_task(&task.id, |t| {
            let all: Vec<&[u8]> = t.log.split_inclusive(|b| *b == b'\n').collect();
            LogChunk {
                bytes: all[all.len().saturating_sub(lines)..].concat(),
                next_offset: t.log.len() as u64,
            }
        })
    }

    fn read_log(&self, task: &TaskRecord, offset: u64) -> Result<LogChunk, ExecutorError> {
        self.with_task(&task.id, |t| {
            let from = (offset as usize).min(t.log.len());
            let to = (from + LOG_READ_CHUNK).min(t.log.len());
            LogChunk {
                bytes: t.log[from..to].to_vec(),
                next_offset: to as u64,
            }
        })
    }

    fn check(&self, agents: &[AgentLaunch]) -> Result<ExecutorCheck, ExecutorError> {
        Ok(ExecutorCheck {
            summary: format!("fake executor `{}`", self.config.name),
            agents: agents
                .iter()
                .map(|launch| AgentCheck {
                    launch: launch.clone(),
                    version: None,
                    probed: false,
                })
                .collect(),
        })
    }

    fn remove(&self, task: &TaskRecord) -> Result<(), ExecutorError> {
        let mut host = self.host();
        host.removes.push(task.id);
        host.tasks.remove(&task.id);
        Ok(())
    }
}
