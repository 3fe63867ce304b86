//! Core of openclaw-agent: the task model, configuration, the local store, the
//! task runner shared by all executors, completion records and webhooks, and the
//! [`Executor`] trait that backends implement.

pub mod agent;
pub mod backend;
pub mod completion;
pub mod config;
pub mod dispatch_lock;
pub mod executor;
pub mod fsutil;
pub mod manager;
pub mod orphans;
pub mod paths;
pub mod procstat;
pub mod reindex;
pub mod runner;
pub mod sh;
pub mod store;
pub mod task;
pub mod time;
pub mod view;

pub use config::{Config, ExecutorConfig, ExecutorSettings, ExecutorType};
pub use executor::{AgentLaunch, Executor, ExecutorError, LaunchSpec, Launched, LogChunk};
pub use manager::{ExecutorFactory, ReconcileReport, TaskError, TaskManager, error_chain};
pub use paths::Paths;
pub use runner::{RunnerObservation, TaskFile};
pub use store::{ListFilter, Store, StoreError, TaskRecord, TaskRef};
pub use task::{Payload, TaskId, TaskIdPrefix, TaskMeta, TaskSpec, TaskStatus, TaskType};
