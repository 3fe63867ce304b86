//! The interface every backend implements. It stays small: a backend only differs
//! in how it puts files into a task dir, starts the runner detached, reads the
//! runner's records back (batched), signals the payload, and removes the dir.

use std::time::Duration;

use crate::config::{Config, ExecutorConfig};
use crate::model::{AgentKind, TaskId, TaskRecord, TaskType};
use crate::runner::{RunnerObservation, TaskFile};

/// Largest slice of log a backend returns from one `read_log`.
pub const LOG_READ_CHUNK: usize = 1 << 20;

/// The tail of a task log on this machine (empty when there is no log yet).
pub fn tail_local_log(task_dir: &std::path::Path, lines: usize) -> std::io::Result<LogChunk> {
    match crate::fsutil::tail_lines(&task_dir.join(crate::runner::LOG_FILE), lines) {
        Ok((bytes, next_offset)) => Ok(LogChunk { bytes, next_offset }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(LogChunk::default()),
        Err(err) => Err(err),
    }
}

/// Bytes of a task log on this machine from `offset` (empty when there is no log yet).
pub fn read_local_log(task_dir: &std::path::Path, offset: u64) -> std::io::Result<LogChunk> {
    let path = task_dir.join(crate::runner::LOG_FILE);
    let bytes = match crate::fsutil::read_from(&path, offset, LOG_READ_CHUNK) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        other => other?,
    };
    Ok(LogChunk {
        next_offset: offset + bytes.len() as u64,
        bytes,
    })
}

/// Everything a backend needs to start one task: it never has to read facts
/// back out of the files.
#[derive(Debug, Clone, Copy)]
pub struct LaunchSpec<'a> {
    pub id: TaskId,
    /// The files of the task dir (the runner, the payload script, the prompt or
    /// command, the meta). Backends whose task dir is the store's mirror find
    /// them in place already.
    pub files: &'a [TaskFile],
    /// Added to the payload's environment. It may hold secrets: it must never
    /// be written to disk or put in argv.
    pub env: &'a [(String, String)],
    /// The workspace the payload enters, as `resolve_workspace` returned it
    /// (empty: the home directory of the user the task runs as).
    pub workspace: &'a str,
    pub task_type: TaskType,
    /// The agent CLI the payload runs, for agent tasks.
    pub agent: Option<&'a AgentLaunch>,
    /// The task's own worktree, for backends that mount it (containers).
    pub worktree: Option<&'a crate::model::Worktree>,
    /// The process a dispatch was handed over from, when it is not this one.
    pub caller: Option<&'a Caller>,
}

/// What a local runner inherits from the process that asked for it, when a
/// supervisor dispatches on a command's behalf: the command's environment
/// and umask, not the supervisor's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Caller {
    pub env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    /// As `umask` prints it (`0022`).
    pub umask: String,
}

impl Caller {
    /// The value of `name` in the caller's environment, if it is UTF-8.
    pub fn var(&self, name: &str) -> Option<String> {
        self.env
            .iter()
            .find(|(key, _)| key == name)
            .and_then(|(_, value)| value.to_str().map(str::to_owned))
    }
}

/// The agent CLI of an agent task, as the executing side must find it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentLaunch {
    pub kind: AgentKind,
    /// Its binary on the executing side.
    pub program: String,
}

impl AgentLaunch {
    /// The agents `executor` must have: those it lists (`agents:`), else the
    /// one it runs by default.
    pub fn required(config: &Config, executor: &ExecutorConfig) -> Vec<Self> {
        let kinds = match &executor.agents {
            Some(agents) => agents.clone(),
            None => vec![config.agent_of(executor)],
        };
        kinds
            .into_iter()
            .map(|kind| Self::new(config, executor, kind))
            .collect()
    }

    /// `kind` as `executor` runs it, under `config`'s defaults.
    pub fn new(config: &Config, executor: &ExecutorConfig, kind: AgentKind) -> Self {
        let program = config.agent_path(executor, kind).to_owned();
        Self { kind, program }
    }
}

/// What `executors --check` found of one executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorCheck {
    /// One line: reachable, engine up, ...
    pub summary: String,
    pub agents: Vec<AgentCheck>,
}

impl ExecutorCheck {
    /// The agents probed and not found.
    pub fn missing(&self) -> Vec<&'static str> {
        self.agents
            .iter()
            .filter(|a| a.probed && a.version.is_none())
            .map(|a| a.launch.kind.as_str())
            .collect()
    }

    /// The `check` object of `executors --check --json` (and the HTTP API).
    pub fn to_json(&self) -> serde_json::Value {
        let agents: serde_json::Map<String, serde_json::Value> = self
            .agents
            .iter()
            .map(|a| {
                (
                    a.launch.kind.as_str().to_owned(),
                    serde_json::json!({
                        "path": a.launch.program,
                        "version": a.version,
                        "probed": a.probed,
                    }),
                )
            })
            .collect();
        serde_json::json!({
            "ok": true,
            "detail": self.summary,
            "agents": agents,
            "missing": self.missing(),
        })
    }
}

/// One agent CLI as `executors --check` found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentCheck {
    pub launch: AgentLaunch,
    /// The first line of `--version`; `None` when the CLI was not found.
    pub version: Option<String>,
    /// Whether the backend could look at all (a container's CLIs are in an
    /// image no probe starts).
    pub probed: bool,
}

/// What a backend reports once the runner is running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launched {
    pub runner_pid: u32,
    /// Identity of the runner process beyond its pid, to detect pid reuse later.
    pub runner_start: Option<String>,
}

/// How a script run on the executing host ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptOutput {
    /// `None` when a signal ended it.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// A slice of a task's log.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogChunk {
    pub bytes: Vec<u8>,
    /// Offset just past `bytes`; pass it to the next read.
    pub next_offset: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    #[error("executor `{executor}`: {message}")]
    Failed { executor: String, message: String },
    #[error("executor `{executor}`: {action}")]
    Io {
        executor: String,
        action: String,
        #[source]
        source: std::io::Error,
    },
    /// The host could not be reached right now; the same call may work later.
    #[error("executor `{executor}`: {message}")]
    Unreachable { executor: String, message: String },
    /// The link broke after the request may have reached the host: whether it
    /// was carried out is unknown until the host answers again.
    #[error("executor `{executor}`: {message}")]
    InDoubt { executor: String, message: String },
    #[error("executor `{executor}`: {kind} executors are not implemented yet")]
    Unsupported { executor: String, kind: String },
    /// A worktree task cannot start there (no git, no repository, ...).
    #[error("executor `{executor}`: {problem}")]
    Worktree {
        executor: String,
        problem: crate::worktree::WorktreeError,
    },
    #[error("executor `{executor}`: {what} {kind} executors yet")]
    NotSupported {
        executor: String,
        what: &'static str,
        kind: String,
    },
}

impl ExecutorError {
    pub fn io(executor: &str, action: impl Into<String>, source: std::io::Error) -> Self {
        Self::Io {
            executor: executor.to_owned(),
            action: action.into(),
            source,
        }
    }

    /// Whether retrying later may succeed (a dropped link), as opposed to a
    /// failure that needs the user (bad key, missing binary).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unreachable { .. } | Self::InDoubt { .. })
    }

    /// The same error again, for each task of a batch it befell.
    pub fn duplicate(&self) -> Self {
        match self {
            Self::Failed { executor, message } => Self::Failed {
                executor: executor.clone(),
                message: message.clone(),
            },
            Self::Io {
                executor,
                action,
                source,
            } => Self::Io {
                executor: executor.clone(),
                action: action.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            Self::Unreachable { executor, message } => Self::Unreachable {
                executor: executor.clone(),
                message: message.clone(),
            },
            Self::InDoubt { executor, message } => Self::InDoubt {
                executor: executor.clone(),
                message: message.clone(),
            },
            Self::Unsupported { executor, kind } => Self::Unsupported {
                executor: executor.clone(),
                kind: kind.clone(),
            },
            Self::Worktree { executor, problem } => Self::Worktree {
                executor: executor.clone(),
                problem: problem.clone(),
            },
            Self::NotSupported {
                executor,
                what,
                kind,
            } => Self::NotSupported {
                executor: executor.clone(),
                what,
                kind: kind.clone(),
            },
        }
    }

    pub fn failed(executor: &str, message: impl Into<String>) -> Self {
        Self::Failed {
            executor: executor.to_owned(),
            message: message.into(),
        }
    }
}

pub trait Executor: Send + Sync {
    fn config(&self) -> &ExecutorConfig;

    fn name(&self) -> &str {
        &self.config().name
    }

    /// Checks that a task could start in `workspace` before anything is recorded,
    /// and returns it in the form the runner will use (e.g. an absolute path).
    fn resolve_workspace(&self, workspace: &str) -> Result<String, ExecutorError>;

    /// The task directory of `id` on the executing side.
    fn task_dir(&self, id: &TaskId) -> String;

    /// Creates the task dir with the spec's files and starts the runner detached
    /// from this process, with the spec's env added to the payload's environment.
    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Launched, ExecutorError>;

    /// [`launch`](Executor::launch) for many tasks of this executor, in order,
    /// in as few round trips as the backend allows (one per host); each task
    /// succeeds or fails on its own. The default launches one after the other.
    fn launch_many(&self, specs: &[LaunchSpec<'_>]) -> Vec<Result<Launched, ExecutorError>> {
        specs.iter().map(|spec| self.launch(spec)).collect()
    }

    /// Lets the runners launched so far start their work, once the index has
    /// recorded them. Backends may hold a launched runner back until then
    /// (local: before its exec, so that it takes no CPU from the rest of a
    /// batch); one whose dispatcher dies first runs all the same.
    fn open_launched(&self) {}

    /// Whether `observe` reports a runner as alive from the moment it starts,
    /// before it has recorded itself (`runner.pid`). Then a task whose
    /// dispatcher died before recording the runner can be requeued at once
    /// when none is seen; otherwise only after a time window.
    fn sees_unrecorded_runners(&self) -> bool {
        false
    }

    /// Whether payloads run as root there, when the backend knows before launching.
    fn runs_as_root(&self) -> Option<bool> {
        None
    }

    /// Reads the runner records of `tasks`, in order, in as few round trips as the
    /// backend allows (one per host).
    fn observe(&self, tasks: &[&TaskRecord]) -> Result<Vec<RunnerObservation>, ExecutorError>;

    /// Records `reason` as the kill marker, then ends the payload's whole process
    /// tree: SIGTERM, `grace`, then SIGKILL.
    fn kill(&self, task: &TaskRecord, grace: Duration, reason: &str) -> Result<(), ExecutorError>;

    /// [`kill`](Executor::kill) for many tasks of this executor at once, their
    /// grace periods running together, in as few round trips as the backend
    /// allows (one per host). The default kills them one after the other.
    fn kill_many(
        &self,
        tasks: &[&TaskRecord],
        grace: Duration,
        reason: &str,
    ) -> Result<(), ExecutorError> {
        tasks
            .iter()
            .try_for_each(|task| self.kill(task, grace, reason))
    }

    /// [`has_live_processes`](Executor::has_live_processes) for many tasks, in
    /// order, in as few round trips as the backend allows.
    fn live_many(&self, tasks: &[&TaskRecord]) -> Result<Vec<bool>, ExecutorError> {
        tasks
            .iter()
            .map(|task| self.has_live_processes(task))
            .collect()
    }

    /// [`remove`](Executor::remove) for many tasks, in as few round trips as
    /// the backend allows.
    fn remove_many(&self, tasks: &[&TaskRecord]) -> Result<(), ExecutorError> {
        tasks.iter().try_for_each(|task| self.remove(task))
    }

    /// Whether any process of the task still runs, whatever its recorded
    /// state: its runner, or members of its payload's process group (checked
    /// against pid reuse where the backend can). Backends whose engine ends
    /// everything of a task with it (containers, Slurm jobs) keep the default.
    fn has_live_processes(&self, task: &TaskRecord) -> Result<bool, ExecutorError> {
        let _ = task;
        Ok(false)
    }

    /// The last `lines` lines of the task's log, and the offset where they end.
    fn tail_log(&self, task: &TaskRecord, lines: usize) -> Result<LogChunk, ExecutorError>;

    /// Log bytes from `offset` on (for following).
    fn read_log(&self, task: &TaskRecord, offset: u64) -> Result<LogChunk, ExecutorError>;

    /// [`read_log`](Executor::read_log) of many tasks, each from its offset, in
    /// order, in as few round trips as the backend allows (one per host).
    fn read_logs(&self, reads: &[(&TaskRecord, u64)]) -> Result<Vec<LogChunk>, ExecutorError> {
        reads
            .iter()
            .map(|(task, offset)| self.read_log(task, *offset))
            .collect()
    }

    /// An agent's transcript of `task`: the file at `path` (as the agent's
    /// `AgentCli::transcript_path` gives it) below the home
    /// directory of the user the task ran as.
    fn read_transcript(&self, task: &TaskRecord, path: &str) -> Result<Vec<u8>, ExecutorError> {
        let _ = (task, path);
        Err(ExecutorError::failed(
            &self.config().name,
            "this executor cannot read agent transcripts",
        ))
    }

    /// Probes the executor for `executors --check`: reachable, engine up, and
    /// the version of each of `agents` on the executing side.
    fn check(&self, agents: &[AgentLaunch]) -> Result<ExecutorCheck, ExecutorError>;

    /// Removes the task dir on the executing side.
    fn remove(&self, task: &TaskRecord) -> Result<(), ExecutorError>;

    /// Runs `script` (POSIX sh, its arguments `args`) on the executing host as
    /// the user tasks run as, and returns how it ended. Git worktree tasks are
    /// checked, bundled and removed through it.
    fn run_script(&self, script: &str, args: &[&str]) -> Result<ScriptOutput, ExecutorError> {
        let _ = (script, args);
        Err(ExecutorError::NotSupported {
            executor: self.config().name.clone(),
            what: "git worktrees are not supported on",
            kind: self.config().executor_type().as_str().to_owned(),
        })
    }

    /// Runs `script` where `task`'s agent ran and saw the files it wrote: on
    /// the executing host (`run_script`), or inside the task's container.
    /// The agent session stores that only the CLI's own script can read are
    /// read through it.
    fn run_script_for_task(
        &self,
        task: &TaskRecord,
        script: &str,
    ) -> Result<ScriptOutput, ExecutorError> {
        let _ = task;
        self.run_script(script, &[])
    }

    /// For executors whose payload cannot reach the user's repository with
    /// git (a container): the worktree is then made, and the work committed,
    /// on this machine, in the task dir as this machine sees it. Returns the
    /// workspace as this machine sees it; `None` when the runner does it.
    fn host_side_worktree(&self, workspace: &str) -> Option<Result<String, ExecutorError>> {
        let _ = workspace;
        None
    }

    /// The task dir as this machine sees it, for executors with
    /// [`Executor::host_side_worktree`].
    fn host_task_dir(&self, id: &TaskId) -> Option<String> {
        let _ = id;
        None
    }

    /// Where tasks of this executor run, for messages (`this machine`, `host h`).
    fn place(&self) -> String {
        format!("the host of executor `{}`", self.config().name)
    }

    /// A file of the task's dir on the executing side (`result.patch`).
    fn read_task_file(&self, task: &TaskRecord, name: &str) -> Result<Vec<u8>, ExecutorError> {
        let dir = self.task_dir(&task.id);
        let out = self.run_script("cat -- \"$1/$2\"", &[&dir, name])?;
        if out.code != Some(0) {
            return Err(ExecutorError::failed(
                &self.config().name,
                format!(
                    "cannot read {name} of task {}: {}",
                    task.id,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            ));
        }
        Ok(out.stdout)
    }

    /// What the backend knows of a task beyond its status (a Slurm job's id
    /// and state), from what it recorded when it last looked: no round trip.
    /// `status` shows it under the executor type's name.
    fn details(&self, task: &TaskRecord) -> Option<serde_json::Map<String, serde_json::Value>> {
        let _ = task;
        None
    }
}
