//! `executors`: what is configured, how busy it is, and (`--check`) whether it works.

use std::io::Write;
use std::time::Duration;

use executor_core::fleet::{self, ExecutorLoad};
use executor_core::{AgentCheck, AgentLaunch, ExecutorCheck, error_chain};

use crate::app::{App, executor_factory};
use crate::cli::ExecutorsArgs;
use crate::exit::{CliError, code};

pub fn executors(app: &App, args: ExecutorsArgs) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    let report = manager.reconcile(None)?;
    app.settle(&manager, &report);
    let load = fleet::loads(manager.store())?;
    let checks = if args.check {
        let timeout = Duration::try_from_secs_f64(args.timeout)
            .map_err(|_| CliError::new(code::USAGE, "--timeout needs a number of seconds"))?;
        Some(probe_all(app, timeout))
    } else {
        None
    };
    let capacity_text = |limit: Option<u32>| limit.map_or("-".to_owned(), |l| l.to_string());

    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = app
            .config
            .executors
            .iter()
            .enumerate()
            .map(|(index, e)| {
                let load = load.get(&e.name).copied().unwrap_or_default();
                let check = checks.as_ref().map(|checks| &checks[index]);
                fleet::executor_json(&app.config, e, load, check)
            })
            .collect();
        writeln!(out, "{}", serde_json::Value::from(list))?;
    } else {
        writeln!(
            out,
            "{:<14} {:<10} {:>7} {:>6} {:>4} {:>6}  {:<28} LABELS",
            "NAME", "TYPE", "RUNNING", "QUEUED", "MAX", "TASKS", "TARGET"
        )?;
        for (index, e) in app.config.executors.iter().enumerate() {
            let l: ExecutorLoad = load.get(&e.name).copied().unwrap_or_default();
            writeln!(
                out,
                "{:<14} {:<10} {:>7} {:>6} {:>4} {:>6}  {:<28} {}",
                e.name,
                e.executor_type().as_str(),
                l.running,
                l.queued,
                capacity_text(app.config.capacity(e)),
                l.tasks,
                crate::output::truncate(&e.target(), 28),
                e.labels.join(",")
            )?;
            if let Some(checks) = &checks {
                // What a host or engine answered: shown escaped.
                match &checks[index] {
                    Ok(check) => {
                        writeln!(out, "  ✓ {}", crate::terminal::safe(&check.summary))?;
                        for agent in &check.agents {
                            let line = agent_line(agent);
                            let mark = if agent.probed && agent.version.is_none() {
                                "!"
                            } else {
                                "✓"
                            };
                            writeln!(out, "  {mark} {}", crate::terminal::safe(&line))?;
                        }
                    }
                    Err(problem) => writeln!(out, "  ✗ {}", crate::terminal::safe(problem))?,
                }
            }
        }
    }
    let failed = checks.is_some_and(|c| c.iter().any(Result::is_err));
    Ok(if failed { code::EXECUTOR } else { code::OK })
}

/// One agent CLI as the check found it, for people.
fn agent_line(agent: &AgentCheck) -> String {
    let name = agent.launch.kind.as_str();
    let program = &agent.launch.program;
    match (&agent.version, agent.probed) {
        (Some(version), _) => format!("{name}: {version} (`{program}`)"),
        (None, true) => format!("{name} not found at `{program}`"),
        (None, false) => format!("{name}: `{program}` in the image (not probed)"),
    }
}

/// Probes every executor at once, each for at most `timeout`.
fn probe_all(app: &App, timeout: Duration) -> Vec<Result<ExecutorCheck, String>> {
    let executors = app.config.executors.clone();
    let names: Vec<String> = executors.iter().map(|e| e.name.clone()).collect();
    let agents: Vec<_> = executors
        .iter()
        .map(|e| AgentLaunch::required(&app.config, e))
        .collect();
    let paths = app.paths.clone();
    let claude_default = app.config.defaults.claude_path.clone();
    let progress = crate::progress::Progress::new(names.len(), "checking");
    fleet::probe_all(
        &names,
        timeout,
        move |index| {
            executor_factory(&claude_default)(&executors[index], &paths)
                .and_then(|executor| executor.check(&agents[index]))
                .map_err(|err| error_chain(&err))
        },
        |index| {
            progress.set_message(&names[index]);
            progress.inc();
        },
    )
}
