//! `run --batch FILE`: many tasks from JSONL, checked whole before any is
//! recorded, then recorded in one index transaction and launched with one
//! batch per executor.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use executor_core::agent::AgentKind;
use executor_core::view::DispatchedView;
use executor_core::{DispatchRequest, Placement, TaskManager, TaskSpec};
use serde::Deserialize;

use super::request::{read_prompt_file, worktree_request};
use crate::app::App;
use crate::cli::Isolation;
use crate::exit::{CliError, code};

/// One line of a batch: the options of `run` or `start`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    cmd: Option<String>,
    prompt: Option<String>,
    prompt_file: Option<PathBuf>,
    executor: Option<String>,
    #[serde(default)]
    label: Labels,
    #[serde(default)]
    priority: i32,
    workspace: Option<String>,
    max_turns: Option<u32>,
    resume: Option<String>,
    agent: Option<String>,
    model: Option<String>,
    max_budget_usd: Option<f64>,
}

/// `"label": "gpu"` or `"label": ["gpu", "big"]`.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum Labels {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl Labels {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::One(label) => vec![label],
            Self::Many(labels) => labels,
        }
    }
}

pub fn run_batch(
    app: &App,
    file: &Path,
    isolation: &Isolation,
    json: bool,
) -> Result<u8, CliError> {
    let lines = read_lines(file)?;
    let mut manager = app.manager()?;
    // Tasks routed by label earlier in the batch count as load there.
    let mut planned: HashMap<String, u64> = HashMap::new();
    let mut specs = Vec::new();
    let mut numbers = Vec::new();
    for (number, text) in lines {
        let at_line = |err: CliError| {
            CliError::new(
                err.code,
                format!("{}: line {number}: {}", file.display(), err.one_line()),
            )
        };
        let line: Line = serde_json::from_str(&text)
            .map_err(|err| at_line(CliError::new(code::USAGE, format!("not a task: {err}"))))?;
        let spec = task_spec(&manager, line, &planned).map_err(at_line)?;
        // A batch is recorded and launched as one: a worktree's probe and
        // branch per task are not part of it.
        if worktree_request(&manager, &spec, isolation, false)
            .map_err(at_line)?
            .is_some()
        {
            return Err(at_line(usage(&format!(
                "a batch makes no worktrees, and executor `{}` asks for one (`isolation: worktree`): give --no-worktree, or dispatch it on its own",
                spec.executor
            ))));
        }
        let spec = manager.prepare(spec).map_err(|e| at_line(e.into()))?;
        *planned.entry(spec.executor.clone()).or_default() += 1;
        specs.push(spec);
        numbers.push(number);
    }
    let results = match manager.dispatch_batch(specs) {
        Ok(results) => results,
        Err(err) => {
            app.settle(&manager, &Default::default());
            return Err(err.into());
        }
    };
    // Launches that failed ended their tasks: their completions are announced.
    app.settle(&manager, &Default::default());
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failure = None;
    for (number, result) in numbers.into_iter().zip(results) {
        match result {
            Ok(task) if json => {
                let task_dir = manager.task_dir(&task.id).to_string_lossy().into_owned();
                let view = DispatchedView::of(&task, task_dir);
                writeln!(out, "{}", serde_json::to_string(&view).unwrap_or_default())?;
            }
            Ok(task) => writeln!(out, "{}", task.id)?,
            Err(err) => {
                let err = CliError::from(err);
                eprintln!(
                    "error: {}: line {number}: {}",
                    file.display(),
                    crate::terminal::safe(&err.one_line())
                );
                failure.get_or_insert(err.code);
            }
        }
    }
    out.flush()?;
    Ok(failure.unwrap_or(code::OK))
}

/// The non-blank lines of the batch, numbered from 1.
fn read_lines(file: &Path) -> Result<Vec<(usize, String)>, CliError> {
    let cannot = |err: std::io::Error| {
        CliError::new(
            code::USAGE,
            format!("cannot read batch file {}: {err}", file.display()),
        )
    };
    let reader: Box<dyn BufRead> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).map_err(cannot)?,
        ))
    };
    let mut lines = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(cannot)?;
        if !line.trim().is_empty() {
            lines.push((index + 1, line));
        }
    }
    Ok(lines)
}

fn usage(message: &str) -> CliError {
    CliError::new(code::USAGE, message)
}

/// The task a line describes, checked as `run` or `start` check theirs.
fn task_spec(
    manager: &TaskManager,
    line: Line,
    planned: &HashMap<String, u64>,
) -> Result<TaskSpec, CliError> {
    let placement = Placement {
        executor: line.executor,
        labels: line.label.into_vec(),
        workspace: line.workspace,
        priority: line.priority,
    };
    let prompt = match (line.prompt, &line.prompt_file) {
        (Some(_), Some(_)) => return Err(usage("give \"prompt\" or \"prompt_file\", not both")),
        (Some(prompt), None) => Some(prompt),
        (None, Some(path)) if path.as_os_str() == "-" => {
            return Err(usage("\"prompt_file\" cannot be standard input in a batch"));
        }
        (None, Some(path)) => Some(read_prompt_file(path)?),
        (None, None) => None,
    };
    let request = match (line.cmd, prompt) {
        (Some(_), Some(_)) => return Err(usage("give \"cmd\" or a prompt, not both")),
        (None, None) => return Err(usage("give \"cmd\", \"prompt\" or \"prompt_file\"")),
        (Some(command), None) => {
            if line.max_turns.is_some()
                || line.resume.is_some()
                || line.agent.is_some()
                || line.model.is_some()
                || line.max_budget_usd.is_some()
            {
                return Err(usage(
                    "\"max_turns\", \"resume\", \"agent\", \"model\" and \"max_budget_usd\" are for prompts",
                ));
            }
            DispatchRequest::Shell { command, placement }
        }
        (None, Some(prompt)) => DispatchRequest::Agent {
            prompt,
            max_turns: line.max_turns,
            resume: line.resume,
            placement,
            agent: line
                .agent
                .as_deref()
                .map(|name| {
                    AgentKind::parse(name).ok_or_else(|| {
                        usage(&format!(
                            "unknown agent `{name}` (expected claude, codex, gemini or opencode)"
                        ))
                    })
                })
                .transpose()?,
            model: line.model,
            max_budget_usd: line.max_budget_usd,
        },
    };
    Ok(manager.spec_for_planned(request, planned)?)
}
