//! `wait`, `kill` and `cleanup`: act on a task's lifecycle.

use std::io::Write;
use std::time::Duration;

use executor_core::{ExecutorType, TaskError, TaskId, TaskRecord, TaskStatus};

use crate::app::App;
use crate::cli::{CleanupArgs, KillArgs, WaitArgs};
use crate::commands::select::choose;
use crate::exit::{CliError, code};
use executor_core::view::TaskView;

fn seconds(value: f64, flag: &str) -> Result<Duration, CliError> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        CliError::new(
            code::USAGE,
            format!("{flag} needs a number of seconds >= 0"),
        )
    })
}

pub fn wait(app: &App, args: WaitArgs) -> Result<u8, CliError> {
    let timeout = args.timeout.map(|t| seconds(t, "--timeout")).transpose()?;
    let mut manager = app.manager()?;
    let chosen = choose(app, &manager, &args.tasks, Some(false))?;
    let ids: Vec<TaskId> = chosen.tasks.iter().map(|t| t.id).collect();
    if ids.is_empty() {
        writeln!(std::io::stdout().lock(), "no tasks to wait for")?;
        return Ok(code::OK);
    }
    // Local runners are waited on (pidfds): `wait` returns as their tasks end.
    let mut watch = executor_local::ExitWatch::new();
    let (tasks, report) = manager.wait_many_with(&ids, args.any, timeout, |records, pause| {
        let runners: Vec<_> = records
            .iter()
            .filter(|t| !t.status.is_terminal() && t.executor_type == ExecutorType::LOCAL)
            .filter_map(|t| Some((t.id, t.runner_pid?, t.runner_start.as_deref())))
            .collect();
        let all_watched =
            runners.len() == records.iter().filter(|t| !t.status.is_terminal()).count();
        watch.watch(&runners);
        if all_watched && !watch.is_empty() {
            // Nothing else can end unseen: wait for an exit, looking again
            // now and then; with a timeout, `pause` is what is left of it.
            let longest = if timeout.is_some() {
                pause
            } else {
                pause.max(Duration::from_millis(250))
            };
            watch.wait(longest);
        } else {
            std::thread::sleep(pause);
        }
    })?;
    app.settle(&manager, &report);
    if let [task] = tasks.as_slice()
        && !chosen.by_selector
    {
        return Ok(exit_code_of(task));
    }
    let mut out = std::io::stdout().lock();
    for task in &tasks {
        match task.exit_code {
            Some(exit_code) if task.status.is_terminal() => {
                writeln!(out, "{} {} (exit code {exit_code})", task.id, task.status)?
            }
            _ => writeln!(out, "{} {}", task.id, task.status)?,
        }
    }
    if args.any {
        // The first to end: the earliest end recorded.
        let first = tasks
            .iter()
            .filter(|t| t.status.is_terminal())
            .min_by(|a, b| {
                a.ended_at
                    .as_ref()
                    .map(|e| e.as_str())
                    .cmp(&b.ended_at.as_ref().map(|e| e.as_str()))
            });
        return Ok(first.map_or(code::FAILURE, exit_code_of));
    }
    let all_completed = tasks
        .iter()
        .all(|t| t.status == TaskStatus::Completed && t.exit_code.is_none_or(|c| c == 0));
    Ok(if all_completed {
        code::OK
    } else {
        code::FAILURE
    })
}

/// One task named by id, whose operation failed: that failure is the
/// command's error, with its own exit code (a selection reports each task).
fn lone_failure<T>(
    by_selector: bool,
    results: &mut Vec<(TaskId, Result<T, TaskError>)>,
) -> Result<(), CliError> {
    if !by_selector
        && let [(_, Err(_))] = results.as_slice()
        && let Some((_, Err(err))) = results.pop()
    {
        return Err(err.into());
    }
    Ok(())
}

/// `wait`'s exit code for one task: the task's own.
fn exit_code_of(task: &TaskRecord) -> u8 {
    match (task.status, task.exit_code) {
        (_, Some(exit_code)) => u8::try_from(exit_code).unwrap_or(code::FAILURE),
        (TaskStatus::Completed, None) => code::OK,
        _ => code::NO_EXIT_CODE,
    }
}

pub fn kill(app: &App, args: KillArgs) -> Result<u8, CliError> {
    let grace = seconds(args.grace, "--grace")?;
    let mut manager = app.manager()?;
    let chosen = choose(app, &manager, &args.tasks, Some(false))?;
    if chosen.tasks.is_empty() {
        return Err(CliError::new(
            code::NO_SUCH_TASK,
            "no task matches the selection",
        ));
    }
    let ids: Vec<TaskId> = chosen.tasks.iter().map(|t| t.id).collect();
    let mut bulk = manager.kill_many(&ids, grace)?;
    app.settle(&manager, &bulk.report);
    lone_failure(chosen.by_selector, &mut bulk.results)?;
    let stall_timeout = app.config.defaults.stall_timeout;
    let mut out = std::io::stdout().lock();
    let mut failure = None;
    for (id, result) in bulk.results {
        let killed = match result {
            Ok(killed) => killed,
            // Chosen by status and ended since: nothing is left to kill.
            Err(TaskError::AlreadyFinished { id, status }) if chosen.by_selector => {
                writeln!(out, "{id} {status} (had already ended)")?;
                continue;
            }
            Err(err) => {
                let err = CliError::from(err);
                eprintln!("error: {}", crate::terminal::safe(&err.one_line()));
                failure.get_or_insert(err.code);
                continue;
            }
        };
        let task = killed.record;
        if args.json {
            writeln!(out, "{}", TaskView::of(&task, stall_timeout).to_json())?;
        } else if killed.ended_leftovers {
            writeln!(
                out,
                "{} {}; ended the processes it had left running",
                task.id, task.status
            )?;
        } else {
            writeln!(out, "{id} {}", task.status)?;
        }
    }
    Ok(failure.unwrap_or(code::OK))
}

pub fn cleanup(app: &App, args: CleanupArgs) -> Result<u8, CliError> {
    let grace = seconds(args.grace, "--grace")?;
    let mut manager = app.manager()?;
    let mut out = std::io::stdout().lock();
    if args.orphans {
        return cleanup_orphans(&manager, &mut out);
    }
    let mut selection = args.tasks;
    selection.all |= args.finished;
    if selection.task_id.is_empty() {
        // Tasks that ended since the last look are chosen too.
        let report = manager.reconcile(None)?;
        app.settle(&manager, &report);
    }
    let ended = (!args.force).then_some(true);
    let chosen = choose(app, &manager, &selection, ended)?;
    let ids: Vec<TaskId> = chosen.tasks.iter().map(|t| t.id).collect();
    let progress = crate::progress::Progress::new(ids.len(), "removing");
    let mut bulk =
        manager.cleanup_many_with(&ids, args.force, args.keep_branch, grace, || progress.inc())?;
    drop(progress);
    app.settle(&manager, &bulk.report);
    lone_failure(chosen.by_selector, &mut bulk.results)?;
    let mut failure = None;
    let nothing = bulk.results.is_empty();
    for (id, result) in bulk.results {
        match result {
            Ok(()) => writeln!(out, "removed {id}")?,
            // Not a failure of a selection: the task is kept until its
            // processes end, or until its work has been taken home.
            Err(err @ (TaskError::ProcessesLeft { .. } | TaskError::Undelivered { .. }))
                if chosen.by_selector =>
            {
                eprintln!(
                    "warning: skipped: {}",
                    crate::terminal::safe(&CliError::from(err).one_line())
                );
            }
            Err(err) => {
                let err = CliError::from(err);
                eprintln!("error: {}", crate::terminal::safe(&err.one_line()));
                failure.get_or_insert(err.code);
            }
        }
    }
    if nothing {
        writeln!(out, "no finished tasks")?;
    }
    Ok(failure.map_or(code::OK, |_| code::FAILURE))
}

/// `cleanup --orphans`: removes the task dirs that no task owns.
fn cleanup_orphans(
    manager: &executor_core::TaskManager,
    out: &mut impl Write,
) -> Result<u8, CliError> {
    let orphans = manager.remove_orphans()?;
    let mut failures = 0;
    for orphan in &orphans {
        match &orphan.removal {
            Ok(()) => writeln!(out, "removed orphan dir {}", orphan.dir.display())?,
            Err(err) => {
                failures += 1;
                eprintln!("error: cannot remove {}: {err}", orphan.dir.display());
            }
        }
    }
    if orphans.is_empty() {
        writeln!(out, "no orphan task dirs")?;
    }
    Ok(if failures > 0 {
        code::FAILURE
    } else {
        code::OK
    })
}
