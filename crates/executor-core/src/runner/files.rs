//! The files of a task directory: their names, and the payload script and text
//! a task is dispatched with.

use crate::model::Payload;

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
/// The runner's third argument when background jobs may outlive the payload
/// (`keep_background`); an empty argument otherwise.
pub fn keep_background_arg(keep: bool) -> &'static str {
    if keep { KEEP_BACKGROUND } else { "" }
}
pub const KEEP_BACKGROUND: &str = "keep-background";

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
        Payload::ClaudeCode {
            prompt,
            max_turns,
            claude_path,
            session_id,
            resume,
        } => (
            // The prompt arrives on stdin from a 0600 file: never in argv, never through a shell.
            format!(
                "{enter_workspace}{ROOT_CHECK}exec {} --dangerously-skip-permissions --max-turns {max_turns} -p \
                 --output-format stream-json --verbose {} {session_id} < {}\n",
                sh_quote(claude_path),
                if *resume { "--resume" } else { "--session-id" },
                sh_quote(&format!("{task_dir}/{PROMPT_FILE}"))
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

/// claude refuses `--dangerously-skip-permissions` as root unless IS_SANDBOX=1;
/// say so plainly instead of leaving the user with claude's own refusal.
const ROOT_CHECK: &str = "if [ \"$(id -u)\" = 0 ] && [ \"${IS_SANDBOX:-}\" != 1 ]; then \
    echo 'openclaw-agent: claude refuses --dangerously-skip-permissions as root; set `allow_root: true` on the executor (runs claude with IS_SANDBOX=1) or use a non-root user' >&2; exit 126; fi\n";

/// The workspace a task's payload script enters (empty: the home directory), for
/// backends that check it on the executing side before starting the runner.
pub fn payload_workspace(files: &[TaskFile]) -> Option<String> {
    let payload = files.iter().find(|f| f.name == PAYLOAD_FILE)?;
    let first = std::str::from_utf8(&payload.contents)
        .ok()?
        .lines()
        .next()?;
    if first.starts_with("cd ||") {
        return Some(String::new());
    }
    let quoted = first.strip_prefix("cd -- '")?;
    let end = quoted.find("' ||")?;
    Some(quoted[..end].replace("'\\''", "'"))
}

/// Whether the files are those of a Claude Code task.
pub fn is_agent_task(files: &[TaskFile]) -> bool {
    files.iter().any(|f| f.name == PROMPT_FILE)
}

/// Quotes `s` for a POSIX shell: single quotes, with embedded ones spliced in.
pub fn sh_quote(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('\'');
    for c in s.chars() {
        if c == '\'' {
            quoted.push_str("'\\''");
        } else {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_hostile_text() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn prompt_never_lands_in_the_payload_script() {
        let prompt = "rm -rf / $(whoami) `id` 'quoted'\n";
        let files = task_files(
            &Payload::ClaudeCode {
                prompt: prompt.into(),
                max_turns: 7,
                claude_path: "/opt/claude code/claude".into(),
                session_id: uuid::Uuid::nil(),
                resume: false,
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
    fn workspace_is_read_back() {
        let payload = |ws: &str| {
            task_files(
                &Payload::ShellCommand {
                    command: "x".into(),
                },
                "/t",
                ws,
            )
        };
        assert_eq!(
            payload_workspace(&payload("/it's here")).as_deref(),
            Some("/it's here")
        );
        assert_eq!(payload_workspace(&payload("")).as_deref(), Some(""));
    }
}
