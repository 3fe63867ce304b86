//! The files of a task directory: their names, and the payload script and text
//! a task is dispatched with.

use crate::agent::AgentRun;
use crate::model::Payload;
pub use crate::sh::sh_quote;

/// The runner script, POSIX sh so it runs where openclaw-agent is not installed.
pub const RUNNER_SCRIPT: &str = include_str!("../runner.sh");

pub const META_FILE: &str = ".meta.json";
pub const LOG_FILE: &str = "task.log";
pub const PID_FILE: &str = "task.pid";
/// The runner's own pid, for when the launcher died before recording it.
pub const RUNNER_PID_FILE: &str = "runner.pid";
pub const EXIT_FILE: &str = "exit.json";
pub const RUNNER_FILE: &str = "runner.sh";
pub const PAYLOAD_FILE: &str = "payload.sh";
pub const COMMAND_FILE: &str = "command.sh";
pub const PROMPT_FILE: &str = "prompt.txt";
/// Sourced by the runner of a worktree task: makes the worktree, commits the work.
pub const WORKTREE_FILE: &str = "worktree.sh";
/// `worktree.sh` of a task whose worktree is made on the dispatching machine
/// (containers): the runner does not source it.
pub const WORKTREE_HOST_FILE: &str = "worktree-host.sh";
/// The worktree of a worktree task, inside its task dir.
pub const WORKTREE_DIR: &str = "worktree";
/// A worktree task's result (`WorkResult`), written before `exit.json`.
pub const RESULT_FILE: &str = "result.json";
/// The binary-safe patch from the task's base to its head.
pub const PATCH_FILE: &str = "result.patch";
/// The repository of a `--sync` task, shipped as a git bundle.
pub const BUNDLE_FILE: &str = "repo.bundle";
/// The runner's third argument when background jobs may outlive the payload
/// (`keep_background`); an empty argument otherwise.
pub fn keep_background_arg(keep: bool) -> &'static str {
    if keep { KEEP_BACKGROUND } else { "" }
}
pub const KEEP_BACKGROUND: &str = "keep-background";
/// The runner's fourth argument when it was started parked: it reads fd 3 to
/// its end before anything else (the local executor's gate).
pub const GATED: &str = "gated";

/// An agent's running totals, copied out of its session file by the
/// payload's usage watcher (Codex, Gemini CLI: their streams report usage
/// only at the end of a run).
pub const AGENT_USAGE_FILE: &str = "agent-usage.json";

/// Written by `kill` before it signals, so the exit that follows is recorded as killed.
pub const KILL_MARKER: &str = "kill.requested";

/// A file to create in a task directory before the runner starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFile {
    pub name: &'static str,
    pub contents: Vec<u8>,
}

/// The files that make up a task directory at `task_dir` (a path on the executing side).
/// An empty `workspace` means the home directory of the user the task runs as.
pub fn task_files(payload: &Payload, task_dir: &str, workspace: &str) -> Vec<TaskFile> {
    let enter_workspace = if workspace.is_empty() {
        "cd || { echo \"openclaw-agent: cannot enter the home directory\" >&2; exit 126; }\n"
            .to_owned()
    } else {
        format!(
            "cd -- {ws} || {{ echo \"openclaw-agent: cannot enter workspace \"{ws} >&2; exit 126; }}\n",
            ws = sh_quote(workspace)
        )
    };
    let (payload_script, payload_file) = match payload {
        // Sourced by the payload's shell rather than run by one more `sh`: a
        // process less per task, and the command behaves the same (`exit`,
        // `exec`, a syntax error ending the shell with 2).
        Payload::ShellCommand { command } => (
            format!(
                "{enter_workspace}. {}\n",
                sh_quote(&format!("{task_dir}/{COMMAND_FILE}"))
            ),
            TaskFile {
                name: COMMAND_FILE,
                contents: command.as_bytes().to_vec(),
            },
        ),
        Payload::Agent {
            agent,
            prompt,
            max_turns,
            program,
            session,
            model,
            max_budget_usd,
        } => (
            format!(
                "{enter_workspace}{}",
                agent.cli().invocation(&AgentRun {
                    program,
                    max_turns: *max_turns,
                    session,
                    task_dir,
                    prompt_file: &format!("{task_dir}/{PROMPT_FILE}"),
                    model: model.as_deref(),
                    max_budget_usd: *max_budget_usd,
                })
            ),
            TaskFile {
                name: PROMPT_FILE,
                contents: prompt.as_bytes().to_vec(),
            },
        ),
    };
    vec![
        payload_file,
        TaskFile {
            name: PAYLOAD_FILE,
            contents: payload_script.into_bytes(),
        },
        TaskFile {
            name: RUNNER_FILE,
            contents: RUNNER_SCRIPT.as_bytes().to_vec(),
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_never_lands_in_the_payload_script() {
        let prompt = "rm -rf / $(whoami) `id` 'quoted'\n";
        let files = task_files(
            &Payload::Agent {
                agent: crate::model::AgentKind::Claude,
                prompt: prompt.into(),
                max_turns: 7,
                program: "/opt/claude code/claude".into(),
                session: crate::model::AgentSession::New(uuid::Uuid::nil()),
                model: None,
                max_budget_usd: None,
            },
            "/t/d",
            "/w",
        );
        let script = String::from_utf8(files[1].contents.clone()).unwrap();
        assert!(!script.contains("whoami"), "{script}");
        assert!(script.contains("'/opt/claude code/claude'"), "{script}");
        assert!(script.contains("--max-turns 7 -p"), "{script}");
        assert_eq!(files[0].name, PROMPT_FILE);
        assert_eq!(files[0].contents, prompt.as_bytes());
    }

    #[test]
    fn payload_scripts_keep_their_bytes() {
        // Task dirs written before the agent seam must read the same: these
        // are the bytes the runner has always been given.
        let agent = task_files(
            &Payload::Agent {
                agent: crate::model::AgentKind::Claude,
                prompt: "p".into(),
                max_turns: 3,
                program: "claude".into(),
                session: crate::model::AgentSession::Resume(uuid::Uuid::nil().to_string()),
                model: None,
                max_budget_usd: None,
            },
            "/t/d",
            "/it's",
        );
        assert_eq!(
            String::from_utf8_lossy(&agent[1].contents),
            concat!(
                "cd -- '/it'\\''s' || { echo \"openclaw-agent: cannot enter workspace \"'/it'\\''s' >&2; exit 126; }\n",
                "if [ \"$(id -u)\" = 0 ] && [ \"${IS_SANDBOX:-}\" != 1 ]; then ",
                "echo 'openclaw-agent: claude refuses --dangerously-skip-permissions as root; set `allow_root: true` on the executor (runs claude with IS_SANDBOX=1) or use a non-root user' >&2; exit 126; fi\n",
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1 ",
                "exec 'claude' --dangerously-skip-permissions --max-turns 3 -p --output-format stream-json --verbose ",
                "--resume 00000000-0000-0000-0000-000000000000 < '/t/d/prompt.txt'\n",
            )
        );
        let shell = task_files(
            &Payload::ShellCommand {
                command: "x".into(),
            },
            "/t/d",
            "",
        );
        assert_eq!(
            String::from_utf8_lossy(&shell[1].contents),
            "cd || { echo \"openclaw-agent: cannot enter the home directory\" >&2; exit 126; }\n. '/t/d/command.sh'\n"
        );
    }
}
