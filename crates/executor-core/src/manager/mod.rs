//! Task operations, one file per operation: dispatch (routing, launch),
//! queue (slot claims), reconcile (observations, agent stats, stalls), finish
//! (the exactly-once end), control (refresh, kill, cleanup, wait), chain
//! (resume), webhooks (delivery), reindex and orphans (dirs no task owns).
//!
//! The manager joins the index (the cache, [`Store`]), the task directories
//! ([`TaskDirs`]) and the executors (the truth). It holds no backend logic;
//! backends come in through [`Executor`], built by the binary's factory.

mod batch;
mod bulk;
mod chain;
mod control;
mod details;
mod dispatch;
mod finish;
pub mod orphans;
mod queue;
mod reconcile;
pub mod reindex;
mod request;
mod webhooks;
mod worktree;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub use bulk::Bulk;

use crate::config::{Config, ExecutorConfig};
use crate::executor::{Executor, ExecutorError};
use crate::model::{
    AgentKind, ListFilter, TaskId, TaskIdPrefix, TaskIdPrefixError, TaskRecord, TaskStatus,
};
use crate::paths::Paths;
use crate::store::{Listed, Paged, Store, StoreError};
use crate::taskdir::{TaskDirError, TaskDirs};
use crate::view::TaskView;

pub use request::{DispatchRequest, IsolationChoice, Placement};

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
    #[error("task {id} is a {task_type} task; only agent tasks can be resumed")]
    NotResumable { id: TaskId, task_type: &'static str },
    #[error("no executor carries the labels {}; labels in use: {}", .labels.join(", "), if .known.is_empty() { "none".to_owned() } else { .known.join(", ") })]
    NoExecutorForLabels {
        labels: Vec<String>,
        known: Vec<String>,
    },
    #[error("no executor{} has the agent `{agent}` (see `agents:` in the config)", if .labels.is_empty() { String::new() } else { format!(" with the labels {}", .labels.join(", ")) })]
    NoExecutorForAgent {
        agent: AgentKind,
        labels: Vec<String>,
    },
    #[error("task {id} is still {status}; kill it first or pass --force")]
    StillLive { id: TaskId, status: TaskStatus },
    #[error(
        "task {id} has ended ({status}) but processes of it still run; kill it first or pass --force"
    )]
    ProcessesLeft { id: TaskId, status: TaskStatus },
    #[error("timed out after {seconds}s waiting for task {id}")]
    Timeout { id: TaskId, seconds: f64 },
    #[error(transparent)]
    Mirror(#[from] TaskDirError),
    #[error("task {id} has no worktree (start it with --worktree)")]
    NoWorktree { id: TaskId },
    #[error("task {id} has no recorded result yet ({status})")]
    NoWorkResult { id: TaskId, status: TaskStatus },
    #[error(
        "task {id} has work nobody fetched or applied: branch {branch}, {files} file(s), +{insertions} -{deletions}; fetch or apply it, or pass --force (or --keep-branch)"
    )]
    Undelivered {
        id: TaskId,
        branch: String,
        files: u64,
        insertions: u64,
        deletions: u64,
    },
    #[error(transparent)]
    Git(#[from] crate::worktree::git::GitError),
    /// A dispatch request that cannot be run as given.
    #[error("{0}")]
    InvalidRequest(String),
}

impl TaskError {
    /// `name` is not in `config`: the error lists the executors that are.
    pub fn unknown_executor(config: &Config, name: &str) -> Self {
        Self::UnknownExecutor {
            name: name.to_owned(),
            known: config
                .executor_names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
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
    dirs: TaskDirs,
    config: Config,
    factory: ExecutorFactory,
    executors: HashMap<String, Box<dyn Executor>>,
    /// The live tasks as last read for a round, with the index's change mark
    /// then (see [`Store::change_mark`]).
    live_cache: Option<((i64, u64), Vec<TaskRecord>)>,
    /// Whose environment and umask the local runners started now inherit
    /// (`None`: this process's).
    caller: Option<crate::executor::Caller>,
}

impl TaskManager {
    pub fn new(store: Store, config: Config, factory: ExecutorFactory) -> Self {
        Self {
            dirs: TaskDirs::new(store.paths().clone()),
            store,
            config,
            factory,
            executors: HashMap::new(),
            live_cache: None,
            caller: None,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runners started from now on inherit `caller`'s environment and umask
    /// (`None`: this process's), as if `caller` had dispatched them.
    pub fn set_caller(&mut self, caller: Option<crate::executor::Caller>) {
        self.caller = caller;
    }

    /// Clears what a dispatch of `id` that died before recording its row left:
    /// its dir, once nobody holds its dispatch lock. `Ok(false)` when a live
    /// dispatch still holds it.
    pub fn clear_unrecorded(&self, id: &TaskId) -> Result<bool, TaskError> {
        use crate::taskdir::Probe;
        let io = |source| TaskDirError::Io {
            action: "lock",
            path: self.dirs.dir(id),
            source,
        };
        match self.dirs.try_lock(id, true).map_err(io)? {
            Probe::Held => Ok(false),
            Probe::Absent => Ok(true),
            Probe::Taken(lock) => {
                let removed = self.dirs.remove(id);
                drop(lock);
                removed?;
                Ok(true)
            }
        }
    }

    /// Opens the index afresh (after [`Store::index_file`] saw it replaced).
    pub fn reopen_store(&mut self) -> Result<(), StoreError> {
        self.store = Store::open(self.store.paths())?;
        // A new connection counts its changes afresh: its marks say nothing
        // of the old one's.
        self.live_cache = None;
        Ok(())
    }

    /// Whether the index was found empty while task dirs exist: they are
    /// missing from it until `reindex`.
    pub fn index_lost(&self) -> bool {
        self.store.opened_empty() && self.dirs.holds_any()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The task's directory here (for the local executor, its task dir).
    pub fn task_dir(&self, id: &TaskId) -> PathBuf {
        self.dirs.dir(id)
    }

    /// The full prompt or command, from the task's directory.
    pub fn payload_text(&self, record: &TaskRecord) -> Option<String> {
        self.dirs.payload_text(record)
    }

    /// The executor named `name`, built on first use.
    pub fn executor(&mut self, name: &str) -> Result<&dyn Executor, TaskError> {
        if !self.executors.contains_key(name) {
            let Some(config) = self.config.executor(name) else {
                return Err(self.unknown_executor(name));
            };
            let executor = (self.factory)(config, self.store.paths())?;
            self.executors.insert(name.to_owned(), executor);
        }
        Ok(self.executors[name].as_ref())
    }

    fn unknown_executor(&self, name: &str) -> TaskError {
        TaskError::unknown_executor(&self.config, name)
    }

    pub fn resolve(&self, id: &str) -> Result<TaskRecord, TaskError> {
        Ok(self.store.resolve(&TaskIdPrefix::parse(id)?)?)
    }

    /// Calls `visit` with the JSON view of each task matching `filter` (see
    /// [`for_each_json`]).
    pub fn for_each_json(
        &self,
        filter: &ListFilter,
        stall_timeout: Duration,
        visit: impl FnMut(&str) -> std::io::Result<()>,
    ) -> Result<Result<(), std::io::Error>, TaskError> {
        Ok(for_each_json(&self.store, filter, stall_timeout, visit)?)
    }
}

/// The JSON views of up to `limit` tasks matching `filter`, newest first,
/// older than `before` when given.
pub fn page_json(
    store: &Store,
    filter: &ListFilter,
    before: Option<&TaskId>,
    limit: usize,
    stall_timeout: Duration,
) -> Result<Vec<String>, StoreError> {
    let now = jiff::Timestamp::now();
    Ok(store
        .page(filter, before, limit)?
        .into_iter()
        .map(|paged| match paged {
            Paged::Rendered(json) => json,
            Paged::Live(record) => TaskView::at(&record, stall_timeout, now).to_json(),
        })
        .collect())
}

/// Calls `visit` with the JSON view of each task matching `filter`, oldest
/// first. Ended tasks stream their stored rendering; the few others are
/// rendered now, judging stalls by `stall_timeout`.
pub fn for_each_json(
    store: &Store,
    filter: &ListFilter,
    stall_timeout: Duration,
    mut visit: impl FnMut(&str) -> std::io::Result<()>,
) -> Result<Result<(), std::io::Error>, StoreError> {
    let now = jiff::Timestamp::now();
    store.for_each_listed(filter, |listed| match listed {
        Listed::Rendered(json) => visit(json),
        Listed::Live(record) => visit(&TaskView::at(&record, stall_timeout, now).to_json()),
    })
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
