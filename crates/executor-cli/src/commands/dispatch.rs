//! `start` and `run`: record a task and start it.

use std::io::Write;

use executor_core::view::DispatchedView;
use executor_core::{DispatchRequest, Placement, TaskId, TaskManager, TaskRecord, TaskSpec};

use super::request::{read_prompt_file, worktree_request};
use crate::app::App;
use crate::cli::{Isolation, Routing, RunArgs, StartArgs};
use crate::exit::{CliError, code};

pub fn start(app: &App, args: StartArgs) -> Result<u8, CliError> {
    let prompt = match (&args.prompt, &args.prompt_file) {
        (Some(prompt), _) => prompt.clone(),
        (None, Some(path)) => read_prompt_file(path)?,
        (None, None) => return Err(CliError::new(code::USAGE, "give --prompt or --prompt-file")),
    };
    // A follow-up's worktree comes from its parent's (`resume_spec`).
    let isolation = args.resume.is_none().then_some(&args.isolation);
    let request = DispatchRequest::Agent {
        prompt,
        max_turns: args.max_turns,
        resume: args.resume.clone(),
        placement: placement(
            args.executor.clone(),
            args.workspace.clone(),
            args.routing.clone(),
        ),
        agent: args.agent,
        model: args.model.clone(),
        max_budget_usd: args.max_budget_usd,
    };
    if let Some(count) = args.fanout {
        return fanout(app, request, &args.isolation, count, args.json);
    }
    let mut manager = app.manager()?;
    let mut spec = manager.spec_for(request)?;
    if let Some(isolation) = isolation {
        spec.worktree = worktree_request(&manager, &spec, isolation, false)?;
    }
    dispatch(app, &mut manager, spec, TaskId::new(), args.json)
}

pub fn run(app: &App, args: RunArgs) -> Result<u8, CliError> {
    if let Some(file) = &args.batch {
        return super::batch::run_batch(app, file, &args.isolation, args.json);
    }
    let mut manager = app.manager()?;
    run_as(app, &mut manager, args, TaskId::new())
}

/// `run --cmd` as task `id`.
pub fn run_as(
    app: &App,
    manager: &mut TaskManager,
    args: RunArgs,
    id: TaskId,
) -> Result<u8, CliError> {
    let Some(command) = args.cmd else {
        return Err(CliError::new(code::USAGE, "give --cmd or --batch"));
    };
    let request = DispatchRequest::Shell {
        command,
        placement: placement(args.executor, args.workspace, args.routing),
    };
    let mut spec = manager.spec_for(request)?;
    spec.worktree = worktree_request(manager, &spec, &args.isolation, false)?;
    dispatch(app, manager, spec, id, args.json)
}

/// `start --fanout N`: the same prompt as N tasks, each in a worktree of its
/// own, under one group id (printed first). With labels, each task is routed
/// in turn, so they spread over the executors that carry them.
fn fanout(
    app: &App,
    request: DispatchRequest,
    isolation: &Isolation,
    count: u32,
    json: bool,
) -> Result<u8, CliError> {
    let group = format!("g{}", &uuid::Uuid::new_v4().simple().to_string()[..11]);
    let mut out = std::io::stdout().lock();
    let mut dispatched = Vec::new();
    if !json {
        writeln!(out, "{group}")?;
        out.flush()?;
    }
    for _ in 0..count {
        let mut manager = app.manager()?;
        let mut spec = manager.spec_for(request.clone())?;
        spec.group = Some(group.clone());
        spec.worktree = worktree_request(&manager, &spec, isolation, true)?;
        let task = match manager.dispatch(spec) {
            Ok(task) => task,
            Err(err) => {
                app.settle(&manager, &Default::default());
                return Err(err.into());
            }
        };
        if json {
            let task_dir = manager.task_dir(&task.id).to_string_lossy().into_owned();
            dispatched.push(
                serde_json::to_value(DispatchedView::of(&task, task_dir)).unwrap_or_default(),
            );
        } else {
            writeln!(out, "{}", task.id)?;
            out.flush()?;
        }
    }
    if json {
        let json = serde_json::json!({"group": group, "tasks": dispatched});
        writeln!(out, "{json}")?;
    }
    Ok(code::OK)
}

fn placement(executor: Option<String>, workspace: Option<String>, routing: Routing) -> Placement {
    Placement {
        executor,
        labels: routing.label,
        workspace,
        priority: routing.priority,
    }
}

fn dispatch(
    app: &App,
    manager: &mut TaskManager,
    spec: TaskSpec,
    id: TaskId,
    json: bool,
) -> Result<u8, CliError> {
    let task = match manager.dispatch_as(id, spec) {
        Ok(task) => task,
        Err(err) => {
            // A failed launch still ended a task: its completion must be announced.
            app.settle(manager, &Default::default());
            return Err(err.into());
        }
    };
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", dispatched_line(manager, &task, json))?;
    out.flush()?;
    // Done: exit without freeing the manager, SQLite's cache and the config,
    // which is most of what is left to do. Nothing is lost: the index's
    // connection ends as a killed process's does, which with its WAL kept at
    // close is what closing it does (no checkpoint), and the dispatch lock
    // and the runner's gate were released already.
    std::process::exit(i32::from(code::OK))
}

/// What `run` and `start` print about a task just dispatched: its id, or
/// with `--json` an object on one line.
pub(crate) fn dispatched_line(manager: &TaskManager, task: &TaskRecord, json: bool) -> String {
    if !json {
        return task.id.to_string();
    }
    let task_dir = manager.task_dir(&task.id).to_string_lossy().into_owned();
    serde_json::to_string(&DispatchedView::of(task, task_dir)).unwrap_or_default()
}
