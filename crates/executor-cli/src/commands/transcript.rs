//! `logs --transcript`: the agent's own session transcript, which also holds
//! the prompts and a timestamp for every step. Claude Code's is a file at a
//! path known in advance; Codex's rollout file and Gemini CLI's chat
//! recording are found on the executing host by their session id, and
//! opencode's is exported from its database there (`opencode export`); for a
//! container task, inside its container.

use std::io::Write;

use executor_core::TaskRecord;
use executor_core::agent::AgentCli;
use executor_core::config::EnvEntry;

use crate::exit::{CliError, code};
use crate::terminal;

/// Prints the last `lines` steps of `task`'s transcript (`raw`: its last
/// `lines` lines as they are).
pub fn transcript(
    manager: &mut executor_core::TaskManager,
    task: &TaskRecord,
    lines: usize,
    raw: bool,
) -> Result<u8, CliError> {
    let Some(agent) = task.task_type.agent().map(|a| a.cli()) else {
        return Err(CliError::new(
            code::TASK_STATE,
            "--transcript is for agent tasks",
        ));
    };
    // A live task's session id is known once its stream reported it: the
    // record is brought up to date first.
    let refreshed;
    let task = if task.status.is_terminal() {
        task
    } else {
        refreshed = manager.refresh(&task.id)?.0;
        &refreshed
    };
    let stats = task.agent.clone().unwrap_or_default();
    let session = stats
        .session_id
        .or_else(|| task.session_id.clone())
        .unwrap_or_default();
    let cwd = stats.cwd.unwrap_or_else(|| task.workspace.clone());
    let bytes = match agent.transcript_path(&cwd, &session) {
        Some(path) => manager
            .executor(&task.executor)?
            .read_transcript(task, &path)?,
        None => from_host(manager, task, agent, &session)?,
    };
    let mut out = std::io::stdout().lock();
    if raw {
        // Byte for byte, like `logs --raw`.
        let all: Vec<&[u8]> = bytes.split_inclusive(|b| *b == b'\n').collect();
        for line in &all[all.len().saturating_sub(lines)..] {
            out.write_all(line)?;
        }
        return Ok(code::OK);
    }
    let shown = agent.render_transcript(&String::from_utf8_lossy(&bytes));
    for entry in &shown[shown.len().saturating_sub(lines)..] {
        writeln!(out, "{}", terminal::safe_lines(entry))?;
    }
    Ok(code::OK)
}

/// The transcript as the CLI's own script prints it on the executing host,
/// with the executor's `env` that says where the CLI keeps its sessions.
fn from_host(
    manager: &mut executor_core::TaskManager,
    task: &TaskRecord,
    agent: &dyn AgentCli,
    session: &str,
) -> Result<Vec<u8>, CliError> {
    let no_transcript = |why: &str| {
        CliError::new(
            code::TASK_STATE,
            format!("no {} transcript: {why}", agent.display_name()),
        )
    };
    let config = manager.config();
    let executor = config
        .executor(&task.executor)
        .ok_or_else(|| no_transcript("its executor is no longer configured"))?;
    let program = config.agent_path(executor, agent.kind());
    if session.is_empty() {
        return Err(no_transcript("the task reported no session"));
    }
    let Some(body) = agent.transcript_script(program, session) else {
        return Err(no_transcript(
            "the session id is not one the CLI names files after",
        ));
    };
    let mut script = String::new();
    for entry in &executor.env {
        if !agent.store_env().contains(&entry.name()) {
            continue;
        }
        let value = match entry {
            EnvEntry::Forward(name) => std::env::var(name).ok(),
            EnvEntry::Fixed(_, value) => Some(value.clone()),
        };
        if let Some(value) = value {
            script.push_str(&format!(
                "export {}={}\n",
                entry.name(),
                executor_core::runner::sh_quote(&value)
            ));
        }
    }
    script.push_str(&body);
    let out = manager
        .executor(&task.executor)?
        .run_script_for_task(task, &script)?;
    if out.code != Some(0) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let why = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("its script failed");
        return Err(no_transcript(why.trim()));
    }
    Ok(out.stdout)
}
