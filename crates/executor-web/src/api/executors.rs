//! Executors with their load (and, on request, their health), and the cost
//! totals per executor and per day.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use executor_core::fleet;
use executor_core::{AgentLaunch, ExecutorCheck, error_chain};
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
            let load = fleet::loads(manager.store())?;
            let config = manager.config();
            let names: Vec<String> = config.executors.iter().map(|e| e.name.clone()).collect();
            let checks = query.check.then(|| probe_all(&managers, names));
            let list: Vec<_> = config
                .executors
                .iter()
                .enumerate()
                .map(|(index, e)| {
                    let load = load.get(&e.name).copied().unwrap_or_default();
                    let check = checks.as_ref().map(|checks| &checks[index]);
                    fleet::executor_json(config, e, load, check)
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
/// [`PROBE_TIMEOUT`].
fn probe_all(managers: &ManagerFactory, names: Vec<String>) -> Vec<Result<ExecutorCheck, String>> {
    let managers = managers.clone();
    let probed = names.clone();
    fleet::probe_all(
        &names,
        PROBE_TIMEOUT,
        move |index| {
            let name = &probed[index];
            managers().and_then(|mut manager| {
                let agents = manager
                    .config()
                    .executor(name)
                    .map(|e| AgentLaunch::required(manager.config(), e))
                    .unwrap_or_default();
                manager
                    .executor(name)
                    .map_err(|err| error_chain(&err))?
                    .check(&agents)
                    .map_err(|err| error_chain(&err))
            })
        },
        |_| {},
    )
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
