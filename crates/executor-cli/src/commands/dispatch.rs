//! `start` and `run`: record a task and start it.

use std::io::{Read, Write};

use executor_core::agent::{AgentKind, AgentSession};
use executor_core::model::WorktreeRequest;
use executor_core::view::DispatchedView;
use executor_core::{AgentLaunch, Payload, TaskSpec};

use crate::app::App;
use crate::cli::{Isolation, RunArgs, StartArgs};
use crate::exit::{CliError, code};

pub fn start(app: &App, args: StartArgs) -> Result<u8, CliError> {
    let prompt = match (&args.prompt, &args.prompt_file) {
        (Some(prompt), _) => prompt.clone(),
        (None, Some(path)) => read_prompt_file(path)?,
        (None, None) => return Err(CliError::new(code::USAGE, "give --prompt or --prompt-file")),
    };
    if prompt.trim().is_empty() {
        return Err(CliError::new(code::USAGE, "the prompt is empty"));
    }
    if let Some(parent) = &args.resume {
        let manager = app.manager()?;
        let parent = manager.resolve(parent)?;
        let spec = manager.resume_spec(&parent, prompt, args.max_turns)?;
        drop(manager);
        return dispatch(app, spec, args.json);
    }
    let agent_spec = |name: String| -> Result<TaskSpec, CliError> {
        let executor = app.executor_config(&name)?;
        let agent = AgentKind::Claude;
        let payload = Payload::Agent {
            agent,
            prompt: prompt.clone(),
            max_turns: args.max_turns.unwrap_or(app.config.defaults.max_turns),
            program: AgentLaunch::new(&app.config, executor, agent).program,
            session: AgentSession::New(uuid::Uuid::new_v4()),
        };
        let mut spec = spec(name, args.workspace.clone(), payload, args.routing.priority);
        spec.worktree =
            worktree_request(app, &spec.executor, &args.isolation, &spec.workspace, false)?;
        Ok(spec)
    };
    if let Some(count) = args.fanout {
        return fanout(app, &args, count, agent_spec);
    }
    let name = choose_executor(app, args.executor.clone(), &args.routing.label)?;
    dispatch(app, agent_spec(name)?, args.json)
}

/// `start --fanout N`: the same prompt as N tasks, each in a worktree of its
/// own, under one group id (printed first). With labels, each task is routed
/// in turn, so they spread over the executors that carry them.
fn fanout(
    app: &App,
    args: &StartArgs,
    count: u32,
    agent_spec: impl Fn(String) -> Result<TaskSpec, CliError>,
) -> Result<u8, CliError> {
    let group = format!("g{}", &uuid::Uuid::new_v4().simple().to_string()[..11]);
    let mut out = std::io::stdout().lock();
    let mut dispatched = Vec::new();
    if !args.json {
        writeln!(out, "{group}")?;
        out.flush()?;
    }
    for _ in 0..count {
        let name = choose_executor(app, args.executor.clone(), &args.routing.label)?;
        let mut spec = agent_spec(name)?;
        spec.group = Some(group.clone());
        if spec.worktree.is_none() {
            spec.worktree =
                worktree_request(app, &spec.executor, &args.isolation, &spec.workspace, true)?;
        }
        let mut manager = app.manager()?;
        let task = match manager.dispatch(spec) {
            Ok(task) => task,
            Err(err) => {
                app.settle(&manager, &Default::default());
                return Err(err.into());
            }
        };
        if args.json {
            let task_dir = manager.task_dir(&task.id).to_string_lossy().into_owned();
            dispatched.push(
                serde_json::to_value(DispatchedView::of(&task, task_dir)).unwrap_or_default(),
            );
        } else {
            writeln!(out, "{}", task.id)?;
            out.flush()?;
        }
    }
    if args.json {
        let json = serde_json::json!({"group": group, "tasks": dispatched});
        writeln!(out, "{json}")?;
    }
    Ok(code::OK)
}

pub fn run(app: &App, args: RunArgs) -> Result<u8, CliError> {
    if args.cmd.trim().is_empty() {
        return Err(CliError::new(code::USAGE, "the command is empty"));
    }
    let payload = Payload::ShellCommand { command: args.cmd };
    let executor = choose_executor(app, args.executor, &args.routing.label)?;
    let mut spec = spec(executor, args.workspace, payload, args.routing.priority);
    spec.worktree = worktree_request(app, &spec.executor, &args.isolation, &spec.workspace, false)?;
    dispatch(app, spec, args.json)
}

/// Whether the task gets a worktree of its own: the flags, else the
/// executor's `isolation`, else the defaults'.
/// `--sync` (or `sync: true`) ships the repository of the workspace (local
/// executor) or of the current directory (elsewhere: the workspace is a path
/// over there).
fn worktree_request(
    app: &App,
    executor: &str,
    isolation: &Isolation,
    workspace: &str,
    forced: bool,
) -> Result<Option<WorktreeRequest>, CliError> {
    let config = app.executor_config(executor)?;
    let configured = app.config.isolation(config);
    let sync = isolation.sync || config.sync;
    let wanted = if isolation.worktree || isolation.sync || forced {
        true
    } else if isolation.no_worktree {
        false
    } else {
        configured == executor_core::config::Isolation::Worktree
    };
    if !wanted && isolation.base.is_some() {
        return Err(CliError::new(
            code::USAGE,
            "--base needs --worktree (or `isolation: worktree` in the config)",
        ));
    }
    let sync_from = match sync {
        false => None,
        true if config.settings.is_local() && !workspace.is_empty() => Some(workspace.into()),
        true => Some(std::env::current_dir().map_err(|err| {
            CliError::new(
                code::USAGE,
                format!("--sync: cannot read the current directory: {err}"),
            )
        })?),
    };
    Ok(wanted.then(|| WorktreeRequest {
        base: isolation.base.clone(),
        sync_from,
    }))
}

/// An empty workspace means the executor's default: the current directory for
/// `local`, the remote home for `ssh`, the image's working directory for containers.
fn spec(executor: String, workspace: Option<String>, payload: Payload, priority: i32) -> TaskSpec {
    TaskSpec {
        executor,
        priority,
        workspace: workspace.unwrap_or_default(),
        payload,
        parent: None,
        worktree: None,
        group: None,
    }
}

/// The executor named, or the one the labels route to.
fn choose_executor(
    app: &App,
    named: Option<String>,
    labels: &[String],
) -> Result<String, CliError> {
    match named {
        Some(name) => Ok(name),
        None => Ok(app.manager()?.route(labels)?),
    }
}

fn read_prompt_file(path: &std::path::Path) -> Result<String, CliError> {
    let mut bytes = Vec::new();
    let result = if path.as_os_str() == "-" {
        std::io::stdin().read_to_end(&mut bytes).map(|_| ())
    } else {
        std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes).map(|_| ()))
    };
    result.map_err(|err| {
        CliError::new(
            code::USAGE,
            format!("cannot read prompt file {}: {err}", path.display()),
        )
    })?;
    String::from_utf8(bytes).map_err(|_| {
        CliError::new(
            code::USAGE,
            format!("prompt file {} is not valid UTF-8", path.display()),
        )
    })
}

fn dispatch(app: &App, spec: TaskSpec, json: bool) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let task = match manager.dispatch(spec) {
        Ok(task) => task,
        Err(err) => {
            // A failed launch still ended a task: its completion must be announced.
            app.settle(&manager, &Default::default());
            return Err(err.into());
        }
    };
    let mut out = std::io::stdout().lock();
    if json {
        let task_dir = manager.task_dir(&task.id).to_string_lossy().into_owned();
        let view = DispatchedView::of(&task, task_dir);
        writeln!(out, "{}", serde_json::to_string(&view).unwrap_or_default())?;
    } else {
        writeln!(out, "{}", task.id)?;
    }
    Ok(code::OK)
}
