//! `executors`: what is configured and how busy it is.

use std::collections::HashMap;
use std::io::Write;

use serde_json::json;

use crate::app::App;
use crate::cli::ExecutorsArgs;
use crate::exit::{CliError, code};

pub fn executors(app: &App, args: ExecutorsArgs) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let report = manager.reconcile(None)?;
    app.settle(&manager, &report);
    let mut running: HashMap<String, u64> = HashMap::new();
    let mut total: HashMap<String, u64> = HashMap::new();
    for (executor, status, n) in manager.store().counts()? {
        *total.entry(executor.clone()).or_default() += n;
        if !status.is_terminal() {
            *running.entry(executor).or_default() += n;
        }
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = app
            .config
            .executors
            .iter()
            .map(|e| {
                json!({
                    "name": e.name,
                    "type": e.executor_type().as_str(),
                    "target": e.target(),
                    "labels": e.labels,
                    "claude_path": app.config.claude_path(e),
                    "builtin": e.builtin,
                    "running": running.get(&e.name).copied().unwrap_or(0),
                    "tasks": total.get(&e.name).copied().unwrap_or(0),
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::from(list))?;
        return Ok(code::OK);
    }
    writeln!(
        out,
        "{:<14} {:<10} {:>7} {:>6}  {:<28} LABELS",
        "NAME", "TYPE", "RUNNING", "TASKS", "TARGET"
    )?;
    for e in &app.config.executors {
        writeln!(
            out,
            "{:<14} {:<10} {:>7} {:>6}  {:<28} {}",
            e.name,
            e.executor_type().as_str(),
            running.get(&e.name).copied().unwrap_or(0),
            total.get(&e.name).copied().unwrap_or(0),
            crate::output::truncate(&e.target(), 28),
            e.labels.join(",")
        )?;
    }
    Ok(code::OK)
}
