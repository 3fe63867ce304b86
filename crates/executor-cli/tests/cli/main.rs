//! End-to-end tests of the `openclaw-agent` binary on the local executor, each
//! in a throwaway HOME.

#![allow(clippy::unwrap_used)]

mod helpers;

mod agents;
mod agents_remote;
mod batch;
mod brain;
mod bulk;
mod claude;
mod concurrency;
mod config;
mod container;
mod crash;
mod crash_batch;
mod dashboard;
mod errors;
mod escapes;
mod faults;
mod fleet;
mod handoff;
mod lifecycle;
mod payloads;
mod private_files;
mod processes;
mod slurm;
mod ssh;
mod upgrades;
mod views;
mod web;
mod webhooks;
mod worktrees;
mod worktrees_agents;
mod worktrees_container;
mod worktrees_remote;
