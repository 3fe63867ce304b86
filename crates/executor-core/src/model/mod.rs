//! The task model: what a task is, independent of where it is stored, how it
//! runs and how it is shown. A leaf: it stands on nothing of this crate but
//! the clock helper (`time`), which imports nothing.

mod agent_kind;
mod agent_stats;
mod id;
mod kinds;
mod meta;
mod price;
mod record;
mod selection;
mod spec;
mod timestamp;
mod worktree;

pub use agent_kind::{AgentKind, AgentSession};
pub use agent_stats::AgentStats;
pub use id::{
    HANDLE_LEN, MIN_ID_PREFIX, TaskId, TaskIdPrefix, TaskIdPrefixError, created_ms, handle,
};
pub use kinds::{ExecutorType, TaskStatus, TaskType, WebhookState};
pub use meta::{META_SCHEMA_VERSION, TaskMeta};
pub use price::{BUILTIN_PRICES_DATE, Price, Prices};
pub use record::{ListFilter, SUMMARY_CHARS, StatusUpdate, TaskRecord, stalled_for, summarize};
pub use selection::Selection;
pub use spec::{Payload, TaskSpec};
pub use timestamp::Timestamp;
pub use worktree::{BRANCH_PREFIX, RESULT_SCHEMA_VERSION, WorkResult, Worktree, WorktreeRequest};
