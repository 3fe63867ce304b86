//! The tasks a command acts on: named by id (prefix) or chosen by selectors.
//! The one place where the CLI turns what the user typed into task records.

use executor_core::config::parse_duration_text;
use executor_core::{Selection, TaskManager, TaskRecord};

use crate::app::App;
use crate::cli::TaskSelection;
use crate::commands::list::status_of;
use crate::exit::{CliError, code};

/// The tasks chosen, oldest first when chosen by selectors.
pub struct Chosen {
    pub tasks: Vec<TaskRecord>,
    /// Chosen by selectors rather than named: a task that changed state
    /// between choosing and acting is no mistake of the user's.
    pub by_selector: bool,
}

/// Resolves `args`. Selectors without `--status` choose by `ended`: only
/// tasks not ended (`Some(false)`), only ended ones (`Some(true)`) or any.
pub fn choose(
    app: &App,
    manager: &TaskManager,
    args: &TaskSelection,
    ended: Option<bool>,
) -> Result<Chosen, CliError> {
    if !args.task_id.is_empty() {
        let mut tasks: Vec<TaskRecord> = Vec::with_capacity(args.task_id.len());
        for id in &args.task_id {
            let task = manager.resolve(id)?;
            if !tasks.iter().any(|t| t.id == task.id) {
                tasks.push(task);
            }
        }
        return Ok(Chosen {
            tasks,
            by_selector: false,
        });
    }
    let Some(selection) = selection(app, args, ended)? else {
        return Err(CliError::new(
            code::USAGE,
            "name the tasks: --task-id ID, or a selector (--all, --status, --executor, --label, --group, --older-than)",
        ));
    };
    Ok(Chosen {
        tasks: manager.select(&selection)?,
        by_selector: true,
    })
}

/// The selection `args` describe; `None` when they name no selector.
pub fn selection(
    app: &App,
    args: &TaskSelection,
    ended: Option<bool>,
) -> Result<Option<Selection>, CliError> {
    let any = args.all
        || args.status.is_some()
        || args.executor.is_some()
        || args.label.is_some()
        || args.group.is_some()
        || args.older_than.is_some();
    if !any {
        return Ok(None);
    }
    let older_than = args
        .older_than
        .as_deref()
        .map(parse_duration_text)
        .transpose()
        .map_err(|err| CliError::new(code::USAGE, format!("--older-than: {err}")))?;
    let mut executors = args.executor.clone().map(|name| vec![name]);
    if let Some(label) = &args.label {
        let carrying: Vec<String> = app
            .config
            .executors
            .iter()
            .filter(|e| e.labels.iter().any(|l| l == label))
            .map(|e| e.name.clone())
            .collect();
        executors = Some(match executors {
            Some(named) => named.into_iter().filter(|n| carrying.contains(n)).collect(),
            None => carrying,
        });
    }
    Ok(Some(Selection {
        status: args.status.map(status_of),
        executors,
        group: args.group.clone(),
        older_than,
        ended,
    }))
}
