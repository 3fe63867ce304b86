//! `compare`: the tasks of a fan-out group side by side.

use std::io::Write;

use executor_core::TaskRecord;
use serde::Serialize;

use crate::app::App;
use crate::cli::CompareArgs;
use crate::exit::{CliError, code};

/// One task of the group, as `compare --json` prints it.
#[derive(Debug, Serialize)]
struct Compared<'a> {
    task_id: String,
    executor: &'a str,
    status: &'static str,
    exit_code: Option<i32>,
    turns: Option<u64>,
    cost_usd: Option<f64>,
    duration_secs: Option<f64>,
    branch: Option<&'a str>,
    files_changed: Option<u64>,
    insertions: Option<u64>,
    deletions: Option<u64>,
}

impl<'a> Compared<'a> {
    fn of(task: &'a TaskRecord) -> Self {
        let stats = task.agent_stats();
        let result = task.worktree.as_ref().and_then(|w| w.result.as_ref());
        let seconds = |t: &executor_core::Timestamp| {
            t.as_str()
                .parse::<jiff::Timestamp>()
                .ok()
                .map(|t| t.as_millisecond())
        };
        let duration_secs = match (&task.started_at, &task.ended_at) {
            (Some(start), end) => {
                let end = end
                    .as_ref()
                    .and_then(seconds)
                    .unwrap_or_else(|| jiff::Timestamp::now().as_millisecond());
                seconds(start).map(|s| (end - s).max(0) as f64 / 1000.0)
            }
            _ => None,
        };
        Self {
            task_id: task.id.to_string(),
            executor: &task.executor,
            status: task.status.as_str(),
            exit_code: task.exit_code,
            turns: stats.as_ref().map(|s| s.turns),
            cost_usd: stats.as_ref().and_then(|s| s.total_cost_usd),
            duration_secs,
            branch: task.worktree.as_ref().map(|w| w.branch.as_str()),
            files_changed: result.map(|r| r.files_changed),
            insertions: result.map(|r| r.insertions),
            deletions: result.map(|r| r.deletions),
        }
    }
}

pub fn compare(app: &App, args: CompareArgs) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let report = manager.reconcile(None)?;
    app.settle(&manager, &report);
    let tasks = manager.store().group(&args.group)?;
    if tasks.is_empty() {
        return Err(CliError::new(
            code::NO_SUCH_TASK,
            format!("no tasks in group `{}`", crate::terminal::safe(&args.group)),
        ));
    }
    let rows: Vec<Compared<'_>> = tasks.iter().map(Compared::of).collect();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string(&rows).unwrap_or_default())?;
        return Ok(code::OK);
    }
    writeln!(
        out,
        "{:<36}  {:<12}  {:<9}  {:>4}  {:>5}  {:>8}  {:>8}  {:>5}  {:>11}",
        "ID", "EXECUTOR", "STATUS", "EXIT", "TURNS", "COST", "TIME", "FILES", "+/-"
    )?;
    let or_blank = |v: Option<String>| v.unwrap_or_default();
    for row in &rows {
        writeln!(
            out,
            "{:<36}  {:<12}  {:<9}  {:>4}  {:>5}  {:>8}  {:>8}  {:>5}  {:>11}",
            row.task_id,
            crate::output::truncate(&crate::terminal::safe(row.executor), 12),
            row.status,
            or_blank(row.exit_code.map(|c| c.to_string())),
            or_blank(row.turns.map(|t| t.to_string())),
            or_blank(row.cost_usd.map(|c| format!("${c:.4}"))),
            or_blank(row.duration_secs.map(|d| format!("{d:.1}s"))),
            or_blank(row.files_changed.map(|f| f.to_string())),
            or_blank(
                row.insertions
                    .zip(row.deletions)
                    .map(|(i, d)| format!("+{i} -{d}"))
            ),
        )?;
    }
    Ok(code::OK)
}
