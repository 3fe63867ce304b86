//! One module per group of commands; each returns the process exit code.

pub mod batch;
pub mod compare;
pub mod config;
pub mod control;
pub mod daemon;
pub mod dispatch;
pub mod executors;
pub mod generate;
pub mod inspect;
pub mod list;
pub mod log_printer;
pub mod logs_many;
pub mod reindex;
mod request;
pub mod select;
pub mod serve;
pub mod transcript;
pub mod webhooks;
pub mod work;

pub(crate) use dispatch::dispatched_line;
pub(crate) use request::worktree_request;
