//! Executors with their load (and, on request, their health), and the cost
//! totals per executor and per day.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use executor_core::{TaskStatus, error_chain};
use serde::Deserialize;
use serde_json::json;

use super::tasks::json_text;
use crate::error::ApiError;
use crate::extract::Q;
use crate::state::{ManagerFactory, Shared};

/// Longest a health probe may take before it is reported as not answering.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecutorsQuery {
    /// Probe every executor (as `executors --check`).
    #[serde(default)]
    check: bool,
}

/// `GET /api/executors`: the same fields as `executors --json`.
pub async fn list(
    State(state): State<Shared>,
    Q(query): Q<ExecutorsQuery>,
) -> Result<Response, ApiError> {
    let managers = state.managers.clone();
    state
        .with_manager(move |manager| {
            let mut load: HashMap<String, (u64, u64, u64)> = HashMap::new();
            for (executor, status, n) in manager.store().counts()? {
                let entry = load.entry(executor).or_default();
                entry.2 += n;
                match status {
                    TaskStatus::Pending | TaskStatus::Running => entry.0 += n,
                    TaskStatus::Queued => entry.1 += n,
                    _ => {}
                }
            }
            let config = manager.config();
            let names: Vec<String> = config.executors.iter().map(|e| e.name.clone()).collect();
            let checks = query.check.then(|| probe_all(&managers, &names));
            let list: Vec<_> = config
                .executors
                .iter()
                .enumerate()
                .map(|(index, e)| {
                    let (running, queued, tasks) = load.get(&e.name).copied().unwrap_or_default();
                    let mut value = json!({
                        "name": e.name,
                        "type": e.executor_type().as_str(),
                        "target": e.target(),
                        "labels": e.labels,
                        "claude_path": config.claude_path(e),
                        "builtin": e.builtin,
                        "max_concurrent": config.capacity(e),
                        "running": running,
                        "queued": queued,
                        "tasks": tasks,
                    });
                    if let Some(checks) = &checks {
                        value["check"] = match &checks[index] {
                            Ok(detail) => json!({"ok": true, "detail": detail}),
                            Err(problem) => json!({"ok": false, "detail": problem}),
                        };
                    }
                    value
                })
                .collect();
            Ok(json_text(
                StatusCode::OK,
                serde_json::Value::from(list).to_string(),
            ))
        })
        .await
}

/// Probes every executor at once, each on its own manager, for at most
/// [`PROBE_TIMEOUT`]; a probe stuck past it is left to finish on its own.
fn probe_all(managers: &ManagerFactory, names: &[String]) -> Vec<Result<String, String>> {
    let (sender, receiver) = mpsc::channel();
    for (index, name) in names.iter().enumerate() {
        let sender = sender.clone();
        let managers = managers.clone();
        let name = name.clone();
        std::thread::spawn(move || {
            let result = managers().and_then(|mut manager| {
                manager
                    .executor(&name)
                    .map_err(|err| error_chain(&err))?
                    .check()
                    .map_err(|err| error_chain(&err))
            });
            let _ = sender.send((index, result));
        });
    }
    drop(sender);
    let mut results: Vec<Result<String, String>> = names
        .iter()
        .map(|name| {
            Err(format!(
                "executor `{name}`: no answer within {}s",
                PROBE_TIMEOUT.as_secs()
            ))
        })
        .collect();
    let deadline = Instant::now() + PROBE_TIMEOUT;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match receiver.recv_timeout(left) {
            Ok((index, result)) => results[index] = result,
            Err(_) => break,
        }
    }
    results
}

/// `GET /api/costs`: cost totals per executor, per day, and per both.
pub async fn costs(State(state): State<Shared>) -> Result<Response, ApiError> {
    state
        .with_manager(|manager| {
            let rows = manager.store().cost_totals()?;
            let mut by_executor: BTreeMap<&str, (f64, u64)> = BTreeMap::new();
            let mut by_day: BTreeMap<&str, (f64, u64)> = BTreeMap::new();
            for row in &rows {
                let e = by_executor.entry(&row.executor).or_default();
                e.0 += row.cost_usd;
                e.1 += row.tasks;
                let d = by_day.entry(&row.day).or_default();
                d.0 += row.cost_usd;
                d.1 += row.tasks;
            }
            let total: f64 = rows.iter().map(|r| r.cost_usd).sum();
            let entries = |map: BTreeMap<&str, (f64, u64)>, key: &str| -> Vec<serde_json::Value> {
                map.into_iter()
                    .map(|(name, (cost, tasks))| json!({ key: name, "cost_usd": cost, "tasks": tasks }))
                    .collect()
            };
            let cells: Vec<_> = rows
                .iter()
                .map(|r| json!({"executor": r.executor, "day": r.day, "cost_usd": r.cost_usd, "tasks": r.tasks}))
                .collect();
            Ok(json_text(
                StatusCode::OK,
                json!({
                    "total_usd": total,
                    "by_executor": entries(by_executor, "executor"),
                    "by_day": entries(by_day, "day"),
                    "by_executor_day": cells,
                })
                .to_string(),
            ))
        })
        .await
}
