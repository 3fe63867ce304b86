//! Integration tests of executor-core: the task logic against a fake executor
//! (no processes, temp dirs only; each test takes milliseconds).

mod harness;
mod tasks_control;
mod tasks_dispatch;
mod tasks_reconcile;
mod tasks_webhooks;
