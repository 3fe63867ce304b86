//! executor-core's integration tests, one binary: the task logic against a fake
//! executor (no processes, temp dirs only; each test takes milliseconds),
//! property tests of every parser of outside input, and the index migration
//! fixtures.

mod config_props;
mod harness;
mod migrations;
mod record_props;
mod stream_props;
mod tasks_control;
mod tasks_dispatch;
mod tasks_reconcile;
mod tasks_web;
mod tasks_webhooks;

#[global_allocator]
static ALLOC: test_support::fuzz::CountingAlloc = test_support::fuzz::CountingAlloc;

// The backends the binary has, so that config properties reach every section.
executor_core::backends!(
    pub AllBackends: executor_ssh::Ssh,
    executor_container::Container,
    executor_slurm::Slurm,
);
