//! `wait`, `kill` and `cleanup`: act on a task's lifecycle.

use std::io::Write;
use std::time::Duration;

use executor_core::{ListFilter, TaskError, TaskStatus};

use crate::app::App;
use crate::cli::{CleanupArgs, KillArgs, WaitArgs};
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
    let task = manager.resolve(&args.id.task_id)?;
    let result = manager.wait(&task.id, timeout);
    let (task, report) = result?;
    app.settle(&manager, &report);
    Ok(match (task.status, task.exit_code) {
        (_, Some(exit_code)) => u8::try_from(exit_code).unwrap_or(code::FAILURE),
        (TaskStatus::Completed, None) => code::OK,
        _ => code::NO_EXIT_CODE,
    })
}

pub fn kill(app: &App, args: KillArgs) -> Result<u8, CliError> {
    let grace = seconds(args.grace, "--grace")?;
    let mut manager = app.manager()?;
    let task = manager.resolve(&args.id.task_id)?;
    let killed = manager.kill(&task.id, grace)?;
    let (task, report) = (killed.record, killed.report);
    app.settle(&manager, &report);
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(
            out,
            "{}",
            TaskView::of(&task, app.config.defaults.stall_timeout).to_json()
        )?;
    } else if killed.ended_leftovers {
        writeln!(
            out,
            "{} {}; ended the processes it had left running",
            task.id, task.status
        )?;
    } else {
        writeln!(out, "{} {}", task.id, task.status)?;
    }
    Ok(code::OK)
}

pub fn cleanup(app: &App, args: CleanupArgs) -> Result<u8, CliError> {
    let grace = seconds(args.grace, "--grace")?;
    let mut manager = app.manager()?;
    let mut out = std::io::stdout().lock();
    if let Some(id) = &args.task_id {
        let task = manager.resolve(id)?;
        let report = manager.cleanup(&task.id, args.force, args.keep_branch, grace)?;
        app.settle(&manager, &report);
        writeln!(out, "removed {}", task.id)?;
        return Ok(code::OK);
    }
    if args.orphans {
        return cleanup_orphans(&manager, &mut out);
    }

    let report = manager.reconcile(None)?;
    app.settle(&manager, &report);
    let mut finished = Vec::new();
    manager
        .store()
        .for_each_table_row(&ListFilter::default(), |task| {
            if task.status.is_terminal()
                && let Some(id) = task.task_id()
            {
                finished.push(id);
            }
            Ok(())
        })??;
    let mut failures = 0;
    let progress = crate::progress::Progress::new(finished.len(), "removing");
    for id in &finished {
        progress.set_message(id.handle());
        let result = manager.cleanup(id, false, args.keep_branch, grace);
        progress.inc();
        progress.suspend(|| match result {
            Ok(_) => writeln!(out, "removed {id}"),
            // Not a failure of `--finished`: the task is kept until its
            // processes end, or until its work has been taken home.
            Err(err @ (TaskError::ProcessesLeft { .. } | TaskError::Undelivered { .. })) => {
                eprintln!("warning: skipped: {}", CliError::from(err).one_line());
                Ok(())
            }
            Err(err) => {
                failures += 1;
                eprintln!(
                    "error: {}",
                    crate::terminal::safe(&CliError::from(err).one_line())
                );
                Ok(())
            }
        })?;
    }
    drop(progress);
    if finished.is_empty() {
        writeln!(out, "no finished tasks")?;
    }
    Ok(if failures > 0 {
        code::FAILURE
    } else {
        code::OK
    })
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
