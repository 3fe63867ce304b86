//! `start` and `run`: record a task and start it.

use std::io::{Read, Write};

use executor_core::view::DispatchedView;
use executor_core::{DispatchRequest, Placement};

use crate::app::App;
use crate::cli::{Routing, RunArgs, StartArgs};
use crate::exit::{CliError, code};

pub fn start(app: &App, args: StartArgs) -> Result<u8, CliError> {
    let prompt = match (&args.prompt, &args.prompt_file) {
        (Some(prompt), _) => prompt.clone(),
        (None, Some(path)) => read_prompt_file(path)?,
        (None, None) => return Err(CliError::new(code::USAGE, "give --prompt or --prompt-file")),
    };
    let request = DispatchRequest::Agent {
        prompt,
        max_turns: args.max_turns,
        resume: args.resume,
        placement: placement(args.executor, args.workspace, args.routing),
    };
    dispatch(app, request, args.json)
}

pub fn run(app: &App, args: RunArgs) -> Result<u8, CliError> {
    if let Some(file) = &args.batch {
        return super::batch::run_batch(app, file, args.json);
    }
    let Some(command) = args.cmd else {
        return Err(CliError::new(code::USAGE, "give --cmd or --batch"));
    };
    let request = DispatchRequest::Shell {
        command,
        placement: placement(args.executor, args.workspace, args.routing),
    };
    dispatch(app, request, args.json)
}

fn placement(executor: Option<String>, workspace: Option<String>, routing: Routing) -> Placement {
    Placement {
        executor,
        labels: routing.label,
        workspace,
        priority: routing.priority,
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

fn dispatch(app: &App, request: DispatchRequest, json: bool) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let spec = manager.spec_for(request)?;
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
