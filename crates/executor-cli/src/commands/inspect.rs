//! `status` and `logs`: look at one task.

use std::io::Write;
use std::time::{Duration, Instant};

use executor_core::runner;

use crate::app::App;
use crate::cli::{LogsArgs, StatusArgs};
use crate::exit::{CliError, code};
use crate::output::TaskView;

pub fn status(app: &App, args: StatusArgs) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let task = manager.resolve(&args.id.task_id)?;
    let (task, report) = manager.refresh(&task.id)?;
    app.settle(&manager, &report);
    let task_dir = manager.store().task_dir(&task.id);
    let payload_text = manager.payload_text(&task);
    let mut out = std::io::stdout().lock();
    if args.json {
        let mut value = serde_json::to_value(TaskView::of(&task)).unwrap_or_default();
        let key = match task.task_type {
            executor_core::TaskType::ClaudeCode => "prompt",
            executor_core::TaskType::ShellCommand => "command",
        };
        value[key] = serde_json::Value::from(payload_text);
        value["task_dir"] = serde_json::Value::from(task_dir.to_string_lossy());
        writeln!(out, "{value}")?;
        return Ok(code::OK);
    }

    let mut field = |name: &str, value: &dyn std::fmt::Display| writeln!(out, "{name:<11}{value}");
    field("task", &task.id)?;
    let status = match (task.status.is_terminal(), task.pid) {
        (false, Some(pid)) => format!("{} (pid {pid})", task.status),
        _ => task.status.to_string(),
    };
    field("status", &status)?;
    if let Some(reason) = &task.reason {
        field("reason", reason)?;
    }
    field(
        "executor",
        &format!("{} ({})", task.executor, task.executor_type),
    )?;
    field(
        "type",
        &format!(
            "{} {}",
            crate::output::icon(task.task_type),
            task.task_type.as_str()
        ),
    )?;
    field("workspace", &task.workspace)?;
    let text = payload_text.unwrap_or_else(|| task.summary.clone());
    let label = match task.task_type {
        executor_core::TaskType::ClaudeCode => "prompt",
        executor_core::TaskType::ShellCommand => "command",
    };
    field(
        label,
        &crate::output::truncate(&text.replace('\n', "⏎"), 200),
    )?;
    if let Some(turns) = task.max_turns {
        field("max turns", &turns)?;
    }
    if let Some(session) = &task.session_id {
        field("session", session)?;
    }
    field("created", &task.created_at)?;
    if let Some(started) = &task.started_at {
        field("started", started)?;
    }
    if let Some(ended) = &task.ended_at {
        field("ended", ended)?;
    }
    if let Some(exit_code) = task.exit_code {
        field("exit code", &exit_code)?;
    }
    if let Some(state) = &task.webhook_state {
        field("webhook", state)?;
    }
    field("log", &task_dir.join(runner::LOG_FILE).display())?;
    Ok(code::OK)
}

pub fn logs(app: &App, args: LogsArgs) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let task = manager.resolve(&args.id.task_id)?;
    let tail = manager
        .executor(&task.executor)?
        .tail_log(&task, args.lines)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&tail.bytes)?;
    out.flush()?;
    let Some(follow_secs) = args.follow else {
        return Ok(code::OK);
    };

    let deadline = (follow_secs > 0).then(|| Instant::now() + Duration::from_secs(follow_secs));
    let mut offset = tail.next_offset;
    loop {
        // Learn whether the task ended *before* reading, so the last read drains everything.
        let (current, report) = manager.refresh(&task.id)?;
        app.settle(&manager, &report);
        let chunk = manager
            .executor(&task.executor)?
            .read_log(&current, offset)?;
        if !chunk.bytes.is_empty() {
            out.write_all(&chunk.bytes)?;
            out.flush()?;
            offset = chunk.next_offset;
            continue;
        }
        if current.status.is_terminal() {
            return Ok(code::OK);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(code::OK);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
