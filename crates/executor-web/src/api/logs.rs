//! A task's output: the log tail, a follow stream, the agent's rendered
//! activity, and its diff.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use executor_core::TaskRecord;
use executor_core::agent::AgentCli;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::tasks::json_text;
use crate::error::ApiError;
use crate::extract::Q;
use crate::state::Shared;

const DEFAULT_LINES: usize = 200;
const MAX_LINES: usize = 10_000;
/// How often a follow stream looks for new output.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TailQuery {
    lines: Option<usize>,
}

fn lines(requested: Option<usize>) -> Result<usize, ApiError> {
    let lines = requested.unwrap_or(DEFAULT_LINES);
    if lines > MAX_LINES {
        return Err(ApiError::bad_request(format!(
            "`lines` must be at most {MAX_LINES}"
        )));
    }
    Ok(lines)
}

/// `GET /api/tasks/{id}/log`: the last lines, raw (as text).
pub async fn tail(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Q(query): Q<TailQuery>,
) -> Result<Response, ApiError> {
    let lines = lines(query.lines)?;
    state
        .with_manager(move |manager| {
            let task = manager.resolve(&id)?;
            let chunk = manager.executor(&task.executor)?.tail_log(&task, lines)?;
            Ok(json_text(
                StatusCode::OK,
                json!({
                    "task_id": task.id.to_string(),
                    "text": String::from_utf8_lossy(&chunk.bytes),
                    "next_offset": chunk.next_offset,
                })
                .to_string(),
            ))
        })
        .await
}

/// Renders complete log lines of an agent task as `logs` does.
pub struct Renderer {
    agent: &'static dyn AgentCli,
    partial: Vec<u8>,
}

impl Renderer {
    pub fn of(task: &TaskRecord) -> Option<Self> {
        Some(Self {
            agent: task.task_type.agent()?.cli(),
            partial: Vec::new(),
        })
    }

    /// The rendered lines `bytes` completes; `last` renders an unfinished tail too.
    pub fn push(&mut self, bytes: &[u8], last: bool) -> Vec<String> {
        self.partial.extend_from_slice(bytes);
        let end = if last {
            self.partial.len()
        } else {
            match self.partial.iter().rposition(|b| *b == b'\n') {
                Some(end) => end + 1,
                None => return Vec::new(),
            }
        };
        let complete: Vec<u8> = self.partial.drain(..end).collect();
        complete
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| self.agent.render_log_line(&String::from_utf8_lossy(line)))
            .collect()
    }
}

/// `GET /api/tasks/{id}/activity`: the agent's records of the last lines,
/// rendered as `logs` renders them.
pub async fn activity(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Q(query): Q<TailQuery>,
) -> Result<Response, ApiError> {
    let lines = lines(query.lines)?;
    state
        .with_manager(move |manager| {
            let task = manager.resolve(&id)?;
            let Some(mut renderer) = Renderer::of(&task) else {
                return Err(ApiError::not_found(format!(
                    "task {} is a shell command: it has no agent activity (see its log)",
                    task.id
                )));
            };
            let chunk = manager.executor(&task.executor)?.tail_log(&task, lines)?;
            Ok(json_text(
                StatusCode::OK,
                json!({
                    "task_id": task.id.to_string(),
                    "lines": renderer.push(&chunk.bytes, true),
                    "next_offset": chunk.next_offset,
                })
                .to_string(),
            ))
        })
        .await
}

/// `GET /api/tasks/{id}/diff`: a task's changes, where it recorded a result.
pub async fn diff(
    State(state): State<Shared>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state
        .with_manager(move |manager| {
            let task = manager.resolve(&id)?;
            // Tasks record no result (branch, patch) yet: nothing to show.
            Err(ApiError::not_found(format!(
                "task {} has no result: it recorded no diff",
                task.id
            )))
        })
        .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowQuery {
    /// Start at this byte offset (from a tail's `next_offset`); default: the last `lines`.
    offset: Option<u64>,
    lines: Option<usize>,
    /// `activity`: rendered agent records instead of raw text.
    format: Option<String>,
}

/// `GET /api/tasks/{id}/log/follow`: Server-Sent Events, `log` events with
/// new output (`{"text"}` raw, or `{"lines"}` with `format=activity`) as it
/// is written, then one `end` event with the task's status once it ended and
/// everything was sent.
pub async fn follow(
    State(state): State<Shared>,
    Path(id): Path<String>,
    Q(query): Q<FollowQuery>,
) -> Result<Response, ApiError> {
    let lines = lines(query.lines)?;
    let activity = match query.format.as_deref() {
        None | Some("raw") => false,
        Some("activity") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown format `{other}`; raw or activity"
            )));
        }
    };
    // Resolve first, so an unknown id is a 404 rather than an empty stream.
    let task = state
        .with_manager(move |manager| Ok(manager.resolve(&id)?))
        .await?;
    if activity && Renderer::of(&task).is_none() {
        return Err(ApiError::not_found(format!(
            "task {} is a shell command: it has no agent activity (see its log)",
            task.id
        )));
    }
    let (sender, receiver) = mpsc::channel::<Event>(64);
    let managers = state.managers.clone();
    tokio::task::spawn_blocking(move || {
        let event = |name: &str, data: serde_json::Value| {
            Event::default().event(name).data(data.to_string())
        };
        let failed = |message: String| event("error", json!({ "error": message }));
        let mut manager = match managers() {
            Ok(manager) => manager,
            Err(message) => {
                let _ = sender.blocking_send(failed(message));
                return;
            }
        };
        let mut renderer = Renderer::of(&task).filter(|_| activity);
        let mut offset = match query.offset {
            Some(offset) => offset,
            None => match manager
                .executor(&task.executor)
                .and_then(|e| Ok(e.tail_log(&task, lines)?))
            {
                Ok(chunk) => {
                    let data = match &mut renderer {
                        Some(r) => json!({ "lines": r.push(&chunk.bytes, false) }),
                        None => json!({ "text": String::from_utf8_lossy(&chunk.bytes) }),
                    };
                    if sender.blocking_send(event("log", data)).is_err() {
                        return;
                    }
                    chunk.next_offset
                }
                Err(err) => {
                    let _ = sender.blocking_send(failed(executor_core::error_chain(&err)));
                    return;
                }
            },
        };
        loop {
            // Learn whether the task ended before reading, so the last read drains all.
            let current = match manager.refresh(&task.id) {
                Ok((current, _)) => current,
                Err(err) => {
                    let _ = sender.blocking_send(failed(executor_core::error_chain(&err)));
                    return;
                }
            };
            let chunk = manager
                .executor(&task.executor)
                .and_then(|e| Ok(e.read_log(&current, offset)?));
            match chunk {
                Ok(chunk) if !chunk.bytes.is_empty() => {
                    offset = chunk.next_offset;
                    let data = match &mut renderer {
                        Some(r) => json!({ "lines": r.push(&chunk.bytes, false) }),
                        None => json!({ "text": String::from_utf8_lossy(&chunk.bytes) }),
                    };
                    if sender.blocking_send(event("log", data)).is_err() {
                        return;
                    }
                    continue;
                }
                Ok(_) if current.status.is_terminal() => {
                    if let Some(r) = &mut renderer {
                        let rest = r.push(&[], true);
                        if !rest.is_empty() {
                            let _ = sender.blocking_send(event("log", json!({ "lines": rest })));
                        }
                    }
                    let _ = sender.blocking_send(event(
                        "end",
                        json!({ "status": current.status.as_str(), "exit_code": current.exit_code }),
                    ));
                    return;
                }
                // A dropped link is ridden out: the next round reads from the same offset.
                Ok(_) | Err(_) => {}
            }
            if sender.is_closed() {
                return;
            }
            std::thread::sleep(FOLLOW_POLL);
        }
    });
    let stream = tokio_stream::StreamExt::map(ReceiverStream::new(receiver), Ok::<_, Infallible>);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
