//! Core of openclaw-agent: the task model, configuration, the task index, the
//! task directories, the task runner shared by all executors, completion
//! records and webhooks, the [`Executor`] trait that backends implement, and
//! the task operations ([`TaskManager`]) that join them. See
//! `docs/ARCHITECTURE.md` for how the modules stand on each other.

pub mod agent;
pub mod backend;
pub mod completion;
pub mod config;
pub mod executor;
pub mod fleet;
pub mod fsutil;
pub mod manager;
pub mod model;
pub mod paths;
pub mod process;
pub mod procstat;
pub mod runner;
pub mod sh;
pub mod store;
pub mod taskdir;
pub mod time;
pub mod view;
pub mod worktree;

pub use config::{Config, ExecutorConfig, ExecutorSettings};
pub use executor::{
    AgentCheck, AgentLaunch, Caller, Executor, ExecutorCheck, ExecutorError, LaunchSpec, Launched,
    LogChunk, ScriptOutput,
};
pub use manager::reindex::ReindexReport;
pub use manager::{
    Bulk, DispatchRequest, ExecutorFactory, IsolationChoice, KillOutcome, Placement,
    ReconcileReport, TaskError, TaskManager, error_chain,
};
pub use model::{
    ExecutorType, ListFilter, Payload, Selection, StatusUpdate, TaskId, TaskIdPrefix, TaskMeta,
    TaskRecord, TaskSpec, TaskStatus, TaskType, Timestamp, WebhookState,
};
pub use paths::Paths;
pub use runner::{RunnerObservation, TaskFile};
pub use store::{Store, StoreError};
