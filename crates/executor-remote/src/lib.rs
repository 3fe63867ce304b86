//! The task-dir protocol in POSIX sh, shared by the backends whose tasks live
//! in a task dir that this process reaches through a shell: the SSH executor
//! (a host) and the Slurm executor (a shared file system, here or on a login
//! node).
//!
//! - [`scripts`]: the scripts and the fragments they are built from (task dir
//!   creation, file writer, `export` of the environment, observe, tree kill, log reads, removal, claude check).
//! - [`launch`]: starting any number of tasks on a host in one script.
//! - [`observe`]: reading what the observe scripts print (outside input).
//! - [`shell`]: where a script runs: here (`/bin/sh -s`) or over SSH.
//! - [`skew`]: moving a host's mtimes onto this machine's clock.
//! - [`ssh`]: the SSH connection settings and the transport (the system `ssh`
//!   client, one shared ControlMaster connection per host).

pub mod bulk;
mod bulk_kill;
pub mod launch;
pub mod logs;
pub mod observe;
pub mod scripts;
pub mod shell;
pub mod skew;
pub mod ssh;

#[cfg(test)]
mod parser_props;

pub use shell::{Output, Shell};
