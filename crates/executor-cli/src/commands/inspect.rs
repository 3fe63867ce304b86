//! `status` and `logs`: look at one task.

use std::io::Write;
use std::time::{Duration, Instant};

use executor_core::agent::{AgentKind, AgentStats};
use executor_core::{LogChunk, TaskType, runner};

use super::log_printer::{LogPrinter, renderer};
use crate::app::App;
use crate::cli::{LogsArgs, StatusArgs};
use crate::commands::select::choose;
use crate::exit::{CliError, code};

use crate::output;
use crate::terminal;

pub fn status(app: &App, args: StatusArgs) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let task = manager.resolve(&args.id.task_id)?;
    let (task, report) = manager.refresh(&task.id)?;
    app.settle(&manager, &report);
    let stall_timeout = app.config.defaults.stall_timeout;
    let now = jiff::Timestamp::now();
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", manager.detailed_json(&task, now)?)?;
        return Ok(code::OK);
    }
    let task_dir = manager.task_dir(&task.id);
    let payload_text = manager.payload_text(&task);
    let (ancestors, followups) = manager.chain(&task)?;
    let executor_details = match manager.executor(&task.executor) {
        Ok(executor) => executor.details(&task),
        Err(_) => None,
    };

    // Every value may hold text from the task or its host: shown escaped.
    let mut field = |name: &str, value: &dyn std::fmt::Display| {
        writeln!(out, "{name:<11}{}", terminal::safe(&value.to_string()))
    };
    field("task", &task.id)?;
    field("handle", &task.id.handle())?;
    let mut status = match (task.status.is_terminal(), task.pid) {
        (false, Some(pid)) => format!("{} (pid {pid})", task.status),
        _ => task.status.to_string(),
    };
    if let Some(quiet) = task.stalled_for(stall_timeout, now) {
        status.push_str(&format!(
            ", stalled: no agent activity for {}s",
            quiet.as_secs()
        ));
    }
    field("status", &status)?;
    if let Some(reason) = &task.reason {
        field("reason", reason)?;
    }
    field(
        "executor",
        &format!("{} ({})", task.executor, task.executor_type),
    )?;
    if let Some(details) = &executor_details {
        let text: Vec<String> = details
            .iter()
            .map(|(key, value)| match value {
                serde_json::Value::String(s) => format!("{key} {s}"),
                other => format!("{key} {other}"),
            })
            .collect();
        field(task.executor_type.as_str(), &text.join(", "))?;
    }
    field(
        "type",
        &format!(
            "{} {}",
            output::icon(task.task_type),
            task.task_type.as_str()
        ),
    )?;
    field("workspace", &task.workspace)?;
    if let Some(worktree) = &task.worktree {
        field("branch", &worktree.branch)?;
        let base: String = worktree.base.chars().take(12).collect();
        match &worktree.result {
            Some(r) => field(
                "changes",
                &format!(
                    "{} file(s), +{} -{} (base {base})",
                    r.files_changed, r.insertions, r.deletions
                ),
            )?,
            None => field("changes", &format!("not recorded yet (base {base})"))?,
        }
    }
    let text = payload_text.unwrap_or_else(|| task.summary.clone());
    let label = task.task_type.text_key();
    field(label, &output::truncate(&text.replace('\n', "⏎"), 200))?;
    if let Some(turns) = task.max_turns {
        field("max turns", &turns)?;
    }
    if let Some(session) = &task.session_id {
        field("session", session)?;
    }
    if let Some(agent) = task.task_type.agent().filter(|a| *a != AgentKind::Claude) {
        field("agent cli", &agent.cli().display_name())?;
    }
    if let Some(model) = &task.model {
        field("model", model)?;
    }
    if let Some(budget) = task.max_budget_usd {
        field("budget", &format!("${budget}"))?;
    }
    if let Some(stats) = task.agent_stats() {
        field("agent", &agent_summary(&stats))?;
        if let (Some(tool), Some(input)) = (&stats.last_tool, &stats.last_tool_input) {
            field("last tool", &format!("{tool}: {input}"))?;
        }
        if let Some(subtype) = &stats.result_subtype {
            field("result", subtype)?;
        }
        if let Some(activity) = &stats.last_activity {
            field("activity", activity)?;
        }
    }
    for ancestor in &ancestors {
        field("follows", &ancestor.id)?;
    }
    for followup in &followups {
        field("followup", &followup.id)?;
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
    // The log lives where the task runs; for local tasks that is the mirror.
    let log = match manager.executor(&task.executor) {
        Ok(executor) => format!("{}/{}", executor.task_dir(&task.id), runner::LOG_FILE),
        Err(_) => task_dir.join(runner::LOG_FILE).display().to_string(),
    };
    field("log", &log)?;
    Ok(code::OK)
}

fn agent_summary(stats: &AgentStats) -> String {
    let cost = stats
        .total_cost_usd
        .map(|c| {
            // `~`: priced from the price table, the CLI reports no cost.
            let estimated = if stats.cost_estimated { "~" } else { "" };
            format!(" · {estimated}${c:.4}")
        })
        .unwrap_or_default();
    format!(
        "{} turns · {} tool calls · {} in / {} out tokens (cache: {} written, {} read){cost}",
        stats.turns,
        stats.tool_calls,
        stats.input_tokens,
        stats.output_tokens,
        stats.cache_creation_input_tokens,
        stats.cache_read_input_tokens,
    )
}

/// `logs` of a local task named by its full id: its mirror dir is its task dir,
/// so the tail is read without opening the index (the costliest step here).
fn local_tail_without_index(app: &App, args: &LogsArgs) -> Option<(TaskType, LogChunk)> {
    let [id] = args.tasks.task_id.as_slice() else {
        return None;
    };
    let id: executor_core::TaskId = id.trim().parse().ok()?;
    let dirs = executor_core::taskdir::TaskDirs::new(app.paths.clone());
    let meta = dirs.read_meta(&id).ok()?;
    if meta.executor_type != executor_core::ExecutorType::LOCAL {
        return None;
    }
    let dir = dirs.dir(&id);
    let tail = executor_core::executor::tail_local_log(&dir, args.lines).ok()?;
    Some((meta.task_type, tail))
}

pub fn logs(app: &App, args: LogsArgs) -> Result<u8, CliError> {
    if args.follow.is_none()
        && !args.transcript
        && let Some((task_type, tail)) = local_tail_without_index(app, &args)
    {
        let mut printer = LogPrinter {
            render: renderer(task_type, args.raw),
            partial: Vec::new(),
        };
        let mut out = std::io::stdout().lock();
        printer.write(&mut out, &tail.bytes)?;
        printer.finish(&mut out)?;
        out.flush()?;
        return Ok(code::OK);
    }
    let mut manager = app.manager()?;
    let chosen = choose(app, &manager, &args.tasks, None)?;
    let task = match chosen.tasks.as_slice() {
        [task] if !chosen.by_selector => task.clone(),
        _ if args.transcript => {
            return Err(CliError::new(
                code::USAGE,
                "--transcript shows one task: name it with --task-id",
            ));
        }
        _ => return super::logs_many::logs_many(app, &mut manager, chosen.tasks, &args),
    };
    if args.transcript {
        return super::transcript::transcript(&mut manager, &task, args.lines, args.raw);
    }
    let mut printer = LogPrinter {
        render: renderer(task.task_type, args.raw),
        partial: Vec::new(),
    };
    let tail = manager
        .executor(&task.executor)?
        .tail_log(&task, args.lines)?;
    let mut out = std::io::stdout().lock();
    printer.write(&mut out, &tail.bytes)?;
    let Some(follow_secs) = args.follow else {
        printer.finish(&mut out)?;
        out.flush()?;
        return Ok(code::OK);
    };
    out.flush()?;

    let deadline = (follow_secs > 0).then(|| Instant::now() + Duration::from_secs(follow_secs));
    let mut offset = tail.next_offset;
    let mut link_down = false;
    loop {
        // Learn whether the task ended *before* reading, so the last read drains everything.
        let (current, report) = manager.refresh(&task.id)?;
        app.settle(&manager, &report);
        let chunk = match manager.executor(&task.executor)?.read_log(&current, offset) {
            Ok(chunk) => chunk,
            // A dropped link is ridden out: reconnect and go on from the same offset.
            Err(err) if err.is_transient() => {
                if !link_down {
                    eprintln!(
                        "warning: {}; retrying",
                        terminal::safe(&executor_core::error_chain(&err))
                    );
                    link_down = true;
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    printer.finish(&mut out)?;
                    return Ok(code::OK);
                }
                std::thread::sleep(Duration::from_secs(1));
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        link_down = false;
        if !chunk.bytes.is_empty() {
            printer.write(&mut out, &chunk.bytes)?;
            out.flush()?;
            offset = chunk.next_offset;
            continue;
        }
        if current.status.is_terminal() || deadline.is_some_and(|d| Instant::now() >= d) {
            printer.finish(&mut out)?;
            out.flush()?;
            return Ok(code::OK);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
