//! `list` and `dashboard`: many tasks at once.

use std::io::Write;
use std::time::Duration;

use executor_core::{ListFilter, TaskStatus};

use crate::app::App;
use crate::cli::{DashboardArgs, ListArgs, StatusFilter};
use crate::exit::{CliError, code};
use crate::output;
use crate::rounds;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Table,
    JsonArray,
    JsonLines,
}

pub fn status_of(filter: StatusFilter) -> TaskStatus {
    match filter {
        StatusFilter::Queued => TaskStatus::Queued,
        StatusFilter::Pending => TaskStatus::Pending,
        StatusFilter::Running => TaskStatus::Running,
        StatusFilter::Completed => TaskStatus::Completed,
        StatusFilter::Failed => TaskStatus::Failed,
        StatusFilter::Killed => TaskStatus::Killed,
        StatusFilter::Lost => TaskStatus::Lost,
    }
}

pub fn list(app: &App, args: ListArgs, asked: Option<rounds::Asked>) -> Result<u8, CliError> {
    if let Some(name) = &args.executor {
        app.executor_config(name)?;
    }
    let filter = ListFilter {
        status: args.status.map(status_of),
        executor: args.executor,
        group: args.group,
    };
    let format = if args.json {
        Format::JsonArray
    } else if args.jsonl {
        Format::JsonLines
    } else {
        Format::Table
    };
    let mut manager = app.manager()?;
    if !args.no_refresh {
        rounds::refresh(app, &mut manager, asked)?;
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write_tasks(&manager, &filter, format, &mut out)?;
    out.flush()?;
    Ok(code::OK)
}

/// Streams the matching tasks to `out`: memory stays flat at any store size.
fn write_tasks(
    manager: &executor_core::TaskManager,
    filter: &ListFilter,
    format: Format,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let stall_timeout = manager.config().defaults.stall_timeout;
    let mut count = 0u64;
    let written = match format {
        Format::Table => {
            let now = jiff::Timestamp::now();
            manager.store().for_each_table_row(filter, |task| {
                if count == 0 {
                    output::table_header(out)?;
                }
                count += 1;
                output::table_row(out, task, now, stall_timeout)
            })?
        }
        Format::JsonArray => {
            out.write_all(b"[")?;
            manager.for_each_json(filter, stall_timeout, |json| {
                if count > 0 {
                    out.write_all(b",")?;
                }
                count += 1;
                out.write_all(b"\n")?;
                out.write_all(json.as_bytes())
            })?
        }
        Format::JsonLines => manager.for_each_json(filter, stall_timeout, |json| {
            count += 1;
            out.write_all(json.as_bytes())?;
            out.write_all(b"\n")
        })?,
    };
    written?;
    match format {
        Format::JsonArray => out.write_all(if count > 0 { b"\n]\n" } else { b"]\n" })?,
        Format::Table if count == 0 => writeln!(out, "no tasks")?,
        _ => {}
    }
    Ok(())
}

pub fn dashboard(
    app: &App,
    args: DashboardArgs,
    asked: Option<rounds::Asked>,
) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let all = ListFilter::default();
    if args.stream {
        if !args.no_refresh {
            rounds::refresh(app, &mut manager, asked)?;
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write_tasks(&manager, &all, Format::JsonLines, &mut out)?;
        out.flush()?;
        return Ok(code::OK);
    }
    let positive = |value: f64, flag: &str| {
        Duration::try_from_secs_f64(value)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                CliError::new(
                    code::USAGE,
                    format!("{flag} needs a positive number of seconds"),
                )
            })
    };
    let is_terminal = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let Some(watch) = args.watch else {
        let interval = positive(args.interval, "--interval")?;
        if is_terminal && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
            if args.no_refresh {
                return Err(CliError::new(
                    code::USAGE,
                    "--no-refresh needs --stream or --watch (the interactive dashboard reads its executors)",
                ));
            }
            drop(manager);
            return crate::tui::run(app, interval);
        }
        // Piped: what one frame of the dashboard shows, once.
        if !args.no_refresh {
            rounds::refresh(app, &mut manager, None)?;
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        write_frame(&manager, &mut out)?;
        out.flush()?;
        return Ok(code::OK);
    };
    let interval = positive(watch, "--watch")?;
    let mut refreshes = 0u64;
    loop {
        if !args.no_refresh {
            rounds::refresh(app, &mut manager, None)?;
        }
        let mut frame = Vec::new();
        if is_terminal {
            // Clear the screen and home the cursor.
            frame.extend_from_slice(b"\x1b[2J\x1b[H");
        }
        write_frame(&manager, &mut frame)?;
        let mut out = std::io::stdout().lock();
        out.write_all(&frame)?;
        out.flush()?;
        refreshes += 1;
        if args.count.is_some_and(|n| refreshes >= n) {
            return Ok(code::OK);
        }
        std::thread::sleep(interval);
    }
}

/// A title line with the counts per status, then the table of all tasks.
fn write_frame(manager: &executor_core::TaskManager, out: &mut impl Write) -> Result<(), CliError> {
    let counts = status_counts(manager)?;
    writeln!(
        out,
        "openclaw-agent dashboard  {}  [{}]",
        executor_core::time::now_rfc3339(),
        if counts.is_empty() {
            "no tasks".to_owned()
        } else {
            counts
        }
    )?;
    write_tasks(manager, &ListFilter::default(), Format::Table, out)
}

fn status_counts(manager: &executor_core::TaskManager) -> Result<String, CliError> {
    let mut totals: Vec<(TaskStatus, u64)> = TaskStatus::ALL.iter().map(|s| (*s, 0)).collect();
    for (_, status, n) in manager.store().counts()? {
        if let Some(entry) = totals.iter_mut().find(|(s, _)| *s == status) {
            entry.1 += n;
        }
    }
    Ok(output::status_line(&totals))
}
