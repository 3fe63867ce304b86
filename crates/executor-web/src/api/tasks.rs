//! Tasks: list (filtered, paginated), one, dispatch, kill, cleanup.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use executor_core::view::DispatchedView;
use executor_core::{
    DispatchRequest, IsolationChoice, ListFilter, Placement, Selection, TaskError, TaskId,
    TaskStatus,
};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::extract::{Body, Q};
use crate::state::Shared;

const MAX_PAGE: usize = 500;
const DEFAULT_PAGE: usize = 100;
/// Seconds between SIGTERM and SIGKILL, as `kill` defaults to.
const DEFAULT_GRACE: f64 = 10.0;

/// A JSON text the handler already rendered.
pub fn json_text(status: StatusCode, text: String) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        text,
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    executor: Option<String>,
    /// The last task id of the previous page.
    before: Option<String>,
    limit: Option<usize>,
}

pub async fn list(
    State(state): State<Shared>,
    Q(query): Q<ListQuery>,
) -> Result<Response, ApiError> {
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(TaskStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown status `{text}`; one of: {}",
                TaskStatus::ALL.map(|s| s.as_str()).join(", ")
            ))
        })?),
    };
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<TaskId>()
                .map_err(|_| ApiError::bad_request(format!("`before` is not a task id: {text}")))?,
        ),
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "`limit` must be 1 to {MAX_PAGE}"
        )));
    }
    let executor = query.executor.filter(|e| !e.is_empty());
    state
        .with_manager(move |manager| {
            if let Some(name) = &executor
                && manager.config().executor(name).is_none()
            {
                return Err(TaskError::unknown_executor(manager.config(), name).into());
            }
            let filter = ListFilter {
                status,
                executor,
                group: None,
            };
            let stall_timeout = manager.config().defaults.stall_timeout;
            let total = manager.store().count(&filter)?;
            let page = executor_core::manager::page_json(
                manager.store(),
                &filter,
                before.as_ref(),
                limit,
                stall_timeout,
            )?;
            let next = if page.len() == limit {
                page.last()
                    .and_then(|json| serde_json::from_str::<serde_json::Value>(json).ok())
                    .and_then(|v| v["task_id"].as_str().map(str::to_owned))
            } else {
                None
            };
            let tasks = page.join(",");
            Ok(json_text(
                StatusCode::OK,
                format!(
                    "{{\"total\":{total},\"next\":{},\"tasks\":[{tasks}]}}",
                    json!(next)
                ),
            ))
        })
        .await
}

pub async fn one(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .with_manager(move |manager| {
            let task = manager.resolve(&id)?;
            let (task, _) = manager.refresh(&task.id)?;
            let json = manager.detailed_json(&task, jiff::Timestamp::now())?;
            Ok(json_text(StatusCode::OK, json))
        })
        .await
}

/// `POST /api/tasks`: `run` (a shell command) or `start` (an agent), with
/// the same fields and checks as the CLI's options.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DispatchBody {
    Shell {
        command: String,
        executor: Option<String>,
        #[serde(default)]
        labels: Vec<String>,
        workspace: Option<String>,
        #[serde(default)]
        priority: i32,
        /// `--worktree`, `--no-worktree`, `--sync`, `--base` (see [`IsolationBody`]).
        #[serde(default)]
        worktree: bool,
        #[serde(default)]
        no_worktree: bool,
        #[serde(default)]
        sync: bool,
        base: Option<String>,
    },
    Agent {
        prompt: String,
        max_turns: Option<u32>,
        resume: Option<String>,
        executor: Option<String>,
        #[serde(default)]
        labels: Vec<String>,
        workspace: Option<String>,
        #[serde(default)]
        priority: i32,
        /// `claude`, `codex`, `gemini` or `opencode`.
        agent: Option<executor_core::agent::AgentKind>,
        model: Option<String>,
        max_budget_usd: Option<f64>,
        /// `--worktree`, `--no-worktree`, `--sync`, `--base` (see [`IsolationBody`]).
        #[serde(default)]
        worktree: bool,
        #[serde(default)]
        no_worktree: bool,
        #[serde(default)]
        sync: bool,
        base: Option<String>,
    },
}

pub async fn dispatch(
    State(state): State<Shared>,
    Body(body): Body<DispatchBody>,
) -> Result<Response, ApiError> {
    let (request, isolation) = match body {
        DispatchBody::Shell {
            command,
            executor,
            labels,
            workspace,
            priority,
            worktree,
            no_worktree,
            sync,
            base,
        } => (
            DispatchRequest::Shell {
                command,
                placement: Placement {
                    executor,
                    labels,
                    workspace,
                    priority,
                },
            },
            Some(IsolationChoice {
                worktree,
                no_worktree,
                sync,
                base,
            }),
        ),
        DispatchBody::Agent {
            prompt,
            max_turns,
            resume,
            executor,
            labels,
            workspace,
            priority,
            agent,
            model,
            max_budget_usd,
            worktree,
            no_worktree,
            sync,
            base,
        } => {
            // A follow-up's worktree comes from its parent's.
            let follow_up = resume.is_some();
            let request = DispatchRequest::Agent {
                prompt,
                max_turns,
                resume,
                placement: Placement {
                    executor,
                    labels,
                    workspace,
                    priority,
                },
                agent,
                model,
                max_budget_usd,
            };
            let choice = IsolationChoice {
                worktree,
                no_worktree,
                sync,
                base,
            };
            (request, (!follow_up).then_some(choice))
        }
    };
    state
        .with_manager(move |manager| {
            let mut spec = manager.spec_for(request)?;
            if let Some(choice) = &isolation {
                // No checkout here to ship: a sync to a host is refused.
                spec.worktree = manager.worktree_for(&spec, choice, false, None)?;
            }
            let task = manager.dispatch(spec)?;
            let task_dir = manager.task_dir(&task.id).to_string_lossy().into_owned();
            let view = DispatchedView::of(&task, task_dir);
            Ok(json_text(
                StatusCode::CREATED,
                serde_json::to_string(&view).unwrap_or_default(),
            ))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KillBody {
    grace: Option<f64>,
}

fn grace(seconds: Option<f64>) -> Result<Duration, ApiError> {
    Duration::try_from_secs_f64(seconds.unwrap_or(DEFAULT_GRACE))
        .ok()
        .filter(|d| d.as_secs() <= 3600)
        .ok_or_else(|| ApiError::bad_request("`grace` must be 0 to 3600 seconds"))
}

pub async fn kill(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Body(body): Body<KillBody>,
) -> Result<Response, ApiError> {
    let grace = grace(body.grace)?;
    state
        .with_manager(move |manager| {
            let task = manager.resolve(&id)?;
            let killed = manager.kill(&task.id, grace)?;
            let json = manager.detailed_json(&killed.record, jiff::Timestamp::now())?;
            Ok(json_text(StatusCode::OK, json))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupBody {
    #[serde(default)]
    force: bool,
    grace: Option<f64>,
}

pub async fn cleanup(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Body(body): Body<CleanupBody>,
) -> Result<Response, ApiError> {
    let grace = grace(body.grace)?;
    let shared = state.clone();
    let removed = state
        .with_manager(move |manager| {
            let task = manager.resolve(&id)?;
            manager.cleanup(&task.id, body.force, false, grace)?;
            Ok(task.id.to_string())
        })
        .await?;
    shared.publish("removed", json!({ "task_id": removed }));
    Ok(json_text(
        StatusCode::OK,
        json!({ "removed": [removed] }).to_string(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanupFinishedBody {
    finished: bool,
}

/// `POST /api/cleanup {"finished": true}`: as `cleanup --finished`.
pub async fn cleanup_finished(
    State(state): State<Shared>,
    Body(body): Body<CleanupFinishedBody>,
) -> Result<Response, ApiError> {
    if !body.finished {
        return Err(ApiError::bad_request(
            "nothing to do: pass {\"finished\": true}",
        ));
    }
    let shared = state.clone();
    let (removed, skipped) = state
        .with_manager(move |manager| {
            let selection = Selection {
                ended: Some(true),
                ..Selection::default()
            };
            let finished: Vec<TaskId> = manager.select(&selection)?.iter().map(|t| t.id).collect();
            let mut removed = Vec::new();
            let mut skipped = Vec::new();
            // One pass: one liveness check and one removal per executor.
            let bulk = manager.cleanup_many(&finished, false, false, Duration::ZERO)?;
            for (id, result) in bulk.results {
                match result {
                    Ok(()) => removed.push(id.to_string()),
                    Err(err) => skipped.push(json!({
                        "task_id": id.to_string(),
                        "error": executor_core::error_chain(&err),
                    })),
                }
            }
            Ok((removed, skipped))
        })
        .await?;
    for id in &removed {
        shared.publish("removed", json!({ "task_id": id }));
    }
    Ok(json_text(
        StatusCode::OK,
        json!({ "removed": removed, "skipped": skipped }).to_string(),
    ))
}
