//! `diff`, `apply` and `fetch`: a worktree task's work, brought home.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use executor_core::worktree::git;
use executor_core::{TaskManager, TaskRecord};
use serde::Serialize;

use crate::app::App;
use crate::cli::{ApplyArgs, DiffArgs, FetchArgs};
use crate::exit::{CliError, code};

/// The task named by `id`, reconciled (so a task that just ended has its result).
fn task(app: &App, manager: &mut TaskManager, id: &str) -> Result<TaskRecord, CliError> {
    let task = manager.resolve(id)?;
    let (task, report) = manager.refresh(&task.id)?;
    app.settle(manager, &report);
    Ok(task)
}

#[derive(Serialize)]
struct DiffJson<'a> {
    task_id: String,
    branch: &'a str,
    base: &'a str,
    head: &'a str,
    files_changed: u64,
    insertions: u64,
    deletions: u64,
    files: Vec<git::FileStat>,
    /// The patch as text (binary files are in git's base85 form).
    patch: String,
}

pub fn diff(app: &App, args: DiffArgs) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let task = task(app, &mut manager, &args.id.task_id)?;
    let patch = manager.work_patch(&task)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let (worktree, result) = manager.work_result(&task)?;
        let json = DiffJson {
            task_id: task.id.to_string(),
            branch: &worktree.branch,
            base: &result.base,
            head: &result.head,
            files_changed: result.files_changed,
            insertions: result.insertions,
            deletions: result.deletions,
            files: git::numstat(&patch).map_err(executor_core::TaskError::from)?,
            patch: String::from_utf8_lossy(&patch).into_owned(),
        };
        writeln!(out, "{}", serde_json::to_string(&json).unwrap_or_default())?;
    } else if args.name_only {
        for file in git::numstat(&patch).map_err(executor_core::TaskError::from)? {
            writeln!(out, "{}", quote_path(&file.path))?;
        }
    } else if args.stat {
        out.write_all(&git::stat(&patch).map_err(executor_core::TaskError::from)?)?;
    } else if std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        write_coloured(&mut out, &patch)?;
    } else {
        out.write_all(&patch)?;
    }
    out.flush()?;
    Ok(code::OK)
}

pub fn apply(app: &App, args: ApplyArgs) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let task = task(app, &mut manager, &args.id.task_id)?;
    let target = args.to.unwrap_or_else(|| PathBuf::from("."));
    manager.apply_work(&task, &target, args.three_way)?;
    let branch = task.worktree.as_ref().map_or("", |w| w.branch.as_str());
    writeln!(
        std::io::stdout().lock(),
        "applied {} ({branch}) to {}",
        task.id,
        crate::terminal::safe(&target.display().to_string())
    )?;
    Ok(code::OK)
}

pub fn fetch(app: &App, args: FetchArgs) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let task = task(app, &mut manager, &args.id.task_id)?;
    let into = args.into.unwrap_or_else(|| PathBuf::from("."));
    let progress = crate::progress::Progress::spinner(&format!("fetching {}", task.id.handle()));
    let branch = manager.fetch_work(&task, &into)?;
    drop(progress);
    writeln!(
        std::io::stdout().lock(),
        "fetched {branch} into {}",
        crate::terminal::safe(&into.display().to_string())
    )?;
    Ok(code::OK)
}

/// A path as `git diff --name-only` shows one: in double quotes with C
/// escapes when it holds a quote, a backslash or a control character.
fn quote_path(path: &str) -> String {
    if !path
        .chars()
        .any(|c| c == '"' || c == '\\' || c.is_control())
    {
        return path.to_owned();
    }
    let mut quoted = String::from("\"");
    for c in path.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            c if c.is_control() => quoted.push_str(&format!("\\{:03o}", c as u32)),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// The patch coloured as `git diff` colours it on a terminal.
fn write_coloured(out: &mut impl Write, patch: &[u8]) -> std::io::Result<()> {
    const BOLD: &[u8] = b"\x1b[1m";
    const CYAN: &[u8] = b"\x1b[36m";
    const GREEN: &[u8] = b"\x1b[32m";
    const RED: &[u8] = b"\x1b[31m";
    const RESET: &[u8] = b"\x1b[m";
    let mut in_header = false;
    for line in patch.split_inclusive(|b| *b == b'\n') {
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        if body.starts_with(b"diff --git ") {
            in_header = true;
        } else if body.starts_with(b"@@") {
            in_header = false;
        }
        let colour = if in_header {
            Some(BOLD)
        } else if body.starts_with(b"@@") {
            Some(CYAN)
        } else if body.starts_with(b"+") {
            Some(GREEN)
        } else if body.starts_with(b"-") {
            Some(RED)
        } else {
            None
        };
        // A line of the task's files may hold escape sequences of its own:
        // shown as `git diff` would, byte for byte, inside the colour.
        match colour {
            Some(colour) => {
                out.write_all(colour)?;
                out.write_all(body)?;
                out.write_all(RESET)?;
                if body.len() < line.len() {
                    out.write_all(b"\n")?;
                }
            }
            None => out.write_all(line)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_names_are_quoted_like_git() {
        assert_eq!(quote_path("plain ünï"), "plain ünï");
        assert_eq!(quote_path("a\"b\nc"), "\"a\\\"b\\nc\"");
    }

    #[test]
    fn colour_wraps_lines_and_keeps_bytes() {
        let patch = b"diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";
        let mut out = Vec::new();
        write_coloured(&mut out, patch).unwrap();
        let plain: Vec<u8> = String::from_utf8(out)
            .unwrap()
            .replace("\x1b[1m", "")
            .replace("\x1b[36m", "")
            .replace("\x1b[32m", "")
            .replace("\x1b[31m", "")
            .replace("\x1b[m", "")
            .into_bytes();
        assert_eq!(plain, patch);
    }
}
