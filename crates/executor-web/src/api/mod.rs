//! The JSON API under `/api` (documented in docs/api.md).

pub mod executors;
pub mod logs;
pub mod tasks;

use axum::Router;
use axum::routing::{get, post};

use crate::state::Shared;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/tasks", get(tasks::list).post(tasks::dispatch))
        .route("/api/tasks/{id}", get(tasks::one))
        .route("/api/tasks/{id}/kill", post(tasks::kill))
        .route("/api/tasks/{id}/cleanup", post(tasks::cleanup))
        .route("/api/tasks/{id}/log", get(logs::tail))
        .route("/api/tasks/{id}/log/follow", get(logs::follow))
        .route("/api/tasks/{id}/activity", get(logs::activity))
        .route("/api/tasks/{id}/diff", get(logs::diff))
        .route("/api/cleanup", post(tasks::cleanup_finished))
        .route("/api/executors", get(executors::list))
        .route("/api/costs", get(executors::costs))
        .route("/api/events", get(crate::watch::events))
}
