//! `start` and `run`: record a task and start it.

use std::io::{Read, Write};

use executor_core::agent::{AgentKind, AgentSession};
use executor_core::view::DispatchedView;
use executor_core::{AgentLaunch, Payload, TaskSpec};

use crate::app::App;
use crate::cli::{RunArgs, StartArgs};
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
    let name = choose_executor(app, args.executor, &args.routing.label)?;
    let payload = agent_payload(app, &name, prompt, args.max_turns)?;
    dispatch(
        app,
        spec(name, args.workspace, payload, args.routing.priority),
        args.json,
    )
}

pub fn run(app: &App, args: RunArgs) -> Result<u8, CliError> {
    if let Some(file) = &args.batch {
        return super::batch::run_batch(app, file, args.json);
    }
    let Some(cmd) = args.cmd else {
        return Err(CliError::new(code::USAGE, "give --cmd or --batch"));
    };
    if cmd.trim().is_empty() {
        return Err(CliError::new(code::USAGE, "the command is empty"));
    }
    let payload = Payload::ShellCommand { command: cmd };
    let executor = choose_executor(app, args.executor, &args.routing.label)?;
    dispatch(
        app,
        spec(executor, args.workspace, payload, args.routing.priority),
        args.json,
    )
}

/// A new Claude Code session on executor `name`.
pub(crate) fn agent_payload(
    app: &App,
    name: &str,
    prompt: String,
    max_turns: Option<u32>,
) -> Result<Payload, CliError> {
    let executor = app.executor_config(name)?;
    let agent = AgentKind::Claude;
    Ok(Payload::Agent {
        agent,
        prompt,
        max_turns: max_turns.unwrap_or(app.config.defaults.max_turns),
        program: AgentLaunch::new(&app.config, executor, agent).program,
        session: AgentSession::New(uuid::Uuid::new_v4()),
    })
}

/// An empty workspace means the executor's default: the current directory for
/// `local`, the remote home for `ssh`, the image's working directory for containers.
pub(crate) fn spec(
    executor: String,
    workspace: Option<String>,
    payload: Payload,
    priority: i32,
) -> TaskSpec {
    TaskSpec {
        executor,
        priority,
        workspace: workspace.unwrap_or_default(),
        payload,
        parent: None,
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

pub(crate) fn read_prompt_file(path: &std::path::Path) -> Result<String, CliError> {
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
