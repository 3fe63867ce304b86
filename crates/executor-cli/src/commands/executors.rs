//! `executors`: what is configured, how busy it is, and (`--check`) whether it works.

use std::collections::HashMap;
use std::io::Write;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use executor_core::{TaskStatus, error_chain};
use serde_json::json;

use crate::app::{App, executor_factory};
use crate::cli::ExecutorsArgs;
use crate::exit::{CliError, code};

#[derive(Default, Clone, Copy)]
struct Load {
    running: u64,
    queued: u64,
    tasks: u64,
}

pub fn executors(app: &App, args: ExecutorsArgs) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let report = manager.reconcile(None)?;
    app.settle(&manager, &report);
    let mut load: HashMap<String, Load> = HashMap::new();
    for (executor, status, n) in manager.store().counts()? {
        let entry = load.entry(executor).or_default();
        entry.tasks += n;
        match status {
            TaskStatus::Pending | TaskStatus::Running => entry.running += n,
            TaskStatus::Queued => entry.queued += n,
            _ => {}
        }
    }
    let checks = if args.check {
        let timeout = Duration::try_from_secs_f64(args.timeout)
            .map_err(|_| CliError::new(code::USAGE, "--timeout needs a number of seconds"))?;
        Some(probe_all(app, timeout))
    } else {
        None
    };
    let capacity_text = |limit: Option<u32>| limit.map_or("-".to_owned(), |l| l.to_string());

    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = app
            .config
            .executors
            .iter()
            .enumerate()
            .map(|(index, e)| {
                let l = load.get(&e.name).copied().unwrap_or_default();
                let mut value = json!({
                    "name": e.name,
                    "type": e.executor_type().as_str(),
                    "target": e.target(),
                    "labels": e.labels,
                    "claude_path": app.config.claude_path(e),
                    "builtin": e.builtin,
                    "max_concurrent": app.config.capacity(e),
                    "running": l.running,
                    "queued": l.queued,
                    "tasks": l.tasks,
                });
                if let Some(checks) = &checks {
                    value["check"] = match &checks[index] {
                        Ok(summary) => json!({"ok": true, "detail": summary}),
                        Err(problem) => json!({"ok": false, "detail": problem}),
                    };
                }
                value
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::from(list))?;
    } else {
        writeln!(
            out,
            "{:<14} {:<10} {:>7} {:>6} {:>4} {:>6}  {:<28} LABELS",
            "NAME", "TYPE", "RUNNING", "QUEUED", "MAX", "TASKS", "TARGET"
        )?;
        for (index, e) in app.config.executors.iter().enumerate() {
            let l = load.get(&e.name).copied().unwrap_or_default();
            writeln!(
                out,
                "{:<14} {:<10} {:>7} {:>6} {:>4} {:>6}  {:<28} {}",
                e.name,
                e.executor_type().as_str(),
                l.running,
                l.queued,
                capacity_text(app.config.capacity(e)),
                l.tasks,
                crate::output::truncate(&e.target(), 28),
                e.labels.join(",")
            )?;
            if let Some(checks) = &checks {
                match &checks[index] {
                    // What a host or engine answered: shown escaped.
                    Ok(summary) => writeln!(out, "  ✓ {}", crate::terminal::safe(summary))?,
                    Err(problem) => writeln!(out, "  ✗ {}", crate::terminal::safe(problem))?,
                }
            }
        }
    }
    let failed = checks.is_some_and(|c| c.iter().any(Result::is_err));
    Ok(if failed { code::EXECUTOR } else { code::OK })
}

/// Probes every executor at once, each for at most `timeout`.
fn probe_all(app: &App, timeout: Duration) -> Vec<Result<String, String>> {
    let (sender, receiver) = mpsc::channel();
    for (index, config) in app.config.executors.iter().enumerate() {
        let sender = sender.clone();
        let config = config.clone();
        let paths = app.paths.clone();
        let claude_default = app.config.defaults.claude_path.clone();
        // A probe stuck past the deadline is left behind; the process ends soon after.
        std::thread::spawn(move || {
            let factory = executor_factory(&claude_default);
            let result = factory(&config, &paths)
                .and_then(|executor| executor.check())
                .map_err(|err| error_chain(&err));
            let _ = sender.send((index, result));
        });
    }
    drop(sender);
    let mut results: Vec<Result<String, String>> = app
        .config
        .executors
        .iter()
        .map(|e| {
            Err(format!(
                "executor `{}`: no answer within {:.0}s",
                e.name,
                timeout.as_secs_f64()
            ))
        })
        .collect();
    let progress = crate::progress::Progress::new(results.len(), "checking");
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match receiver.recv_timeout(left) {
            Ok((index, result)) => {
                progress.set_message(&app.config.executors[index].name);
                progress.inc();
                results[index] = result;
            }
            Err(_) => break,
        }
    }
    results
}
