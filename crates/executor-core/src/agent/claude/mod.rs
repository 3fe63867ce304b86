//! Claude Code (`claude -p --output-format stream-json`): its command line, its
//! root rule, its stream and transcript formats.

mod render;
mod stream;

use super::{AgentCli, AgentEvent, AgentKind, AgentRun, AgentSession, RootRule, word};
use crate::sh::sh_quote;

/// claude refuses `--dangerously-skip-permissions` as root unless IS_SANDBOX=1;
/// the payload says so plainly instead of leaving the user with claude's own refusal.
const ROOT_CHECK: &str = "if [ \"$(id -u)\" = 0 ] && [ \"${IS_SANDBOX:-}\" != 1 ]; then \
    echo 'openclaw-agent: claude refuses --dangerously-skip-permissions as root; set `allow_root: true` on the executor (runs claude with IS_SANDBOX=1) or use a non-root user' >&2; exit 126; fi\n";

const ROOT_RULE: RootRule = RootRule {
    env_name: "IS_SANDBOX",
    env_value: "1",
    refusal: "claude refuses --dangerously-skip-permissions as root; set \
              `allow_root: true` on the executor (runs claude with IS_SANDBOX=1) \
              or run as a non-root user",
};

/// Claude Code.
#[derive(Debug, Clone, Copy, Default)]
pub struct Claude;

impl AgentCli for Claude {
    fn kind(&self) -> AgentKind {
        AgentKind::Claude
    }

    fn display_name(&self) -> &'static str {
        "Claude Code"
    }

    fn invocation(&self, run: &AgentRun<'_>) -> String {
        let (flag, session) = match run.session {
            AgentSession::New(id) => ("--session-id", id.to_string()),
            AgentSession::Resume(id) => ("--resume", word(id)),
        };
        let mut extra = String::new();
        if let Some(model) = run.model {
            extra.push_str(&format!(" --model {}", sh_quote(model)));
        }
        if let Some(budget) = run.max_budget_usd {
            extra.push_str(&format!(" --max-budget-usd {budget}"));
        }
        // Its update checks, telemetry and error reports are off for every
        // run, whatever the executor's `env` says: a task calls its model only.
        format!(
            "{ROOT_CHECK}CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1 \
             exec {} --dangerously-skip-permissions --max-turns {} -p \
             --output-format stream-json --verbose {flag} {session}{extra} < {}\n",
            sh_quote(run.program),
            run.max_turns,
            sh_quote(run.prompt_file)
        )
    }

    fn root_rule(&self) -> Option<RootRule> {
        Some(ROOT_RULE)
    }

    fn parse_line(&self, line: &[u8], events: &mut Vec<AgentEvent>) {
        stream::parse_line(line, events);
    }

    fn render_log_line(&self, line: &str) -> Option<String> {
        render::render_line(line)
    }

    fn transcript_path(&self, cwd: &str, session_id: &str) -> Option<String> {
        Some(format!(
            ".claude/projects/{}/{session_id}.jsonl",
            escape_cwd(cwd)
        ))
    }

    fn render_transcript_line(&self, line: &str) -> Option<String> {
        render::render_transcript_line(line)
    }

    fn limits_turns(&self) -> bool {
        true
    }

    fn reports_cost(&self) -> bool {
        true
    }

    /// The session id chosen at dispatch (`--session-id`), which claude keeps.
    fn resume_session(&self, recorded: Option<&str>, _reported: Option<&str>) -> Option<String> {
        let id = uuid::Uuid::parse_str(recorded?).ok()?;
        Some(id.to_string())
    }
}

/// Claude Code's directory name for a working directory.
fn escape_cwd(cwd: &str) -> String {
    cwd.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_path_escapes_cwd() {
        assert_eq!(
            super::super::under_home(
                "/root",
                &Claude
                    .transcript_path("/tmp/my repo.x", "s")
                    .expect("claude keeps transcripts")
            ),
            "/root/.claude/projects/-tmp-my-repo-x/s.jsonl"
        );
    }

    #[test]
    fn only_a_recorded_uuid_is_resumed() {
        let id = "0190f0e4-6a5e-7c3b-9d2a-1b2c3d4e5f60";
        assert_eq!(
            Claude.resume_session(Some(id), Some("other")).as_deref(),
            Some(id)
        );
        assert_eq!(Claude.resume_session(None, Some(id)), None);
        assert_eq!(Claude.resume_session(Some("x; rm -rf"), None), None);
    }

    #[test]
    fn the_command_line_reads_the_prompt_from_its_file() {
        let run = AgentRun {
            program: "/opt/claude code/claude",
            max_turns: 7,
            session: &AgentSession::New(uuid::Uuid::nil()),
            task_dir: "/t/d",
            prompt_file: "/t/d/prompt.txt",
            model: None,
            max_budget_usd: None,
        };
        let line = Claude.invocation(&run);
        assert!(line.starts_with(ROOT_CHECK), "{line}");
        assert!(
            line.contains(
                "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1 exec '/opt/claude code/claude' "
            ),
            "{line}"
        );
        assert!(
            line.ends_with(
                "exec '/opt/claude code/claude' --dangerously-skip-permissions --max-turns 7 -p \
                 --output-format stream-json --verbose --session-id \
                 00000000-0000-0000-0000-000000000000 < '/t/d/prompt.txt'\n"
            ),
            "{line}"
        );
        let resumed = Claude.invocation(&AgentRun {
            session: &AgentSession::Resume("0190-ab".into()),
            ..run.clone()
        });
        assert!(resumed.contains(" --resume 0190-ab < "), "{resumed}");
        let odd = Claude.invocation(&AgentRun {
            session: &AgentSession::Resume("a b;c".into()),
            ..run
        });
        assert!(odd.contains(" --resume 'a b;c' < "), "{odd}");
    }
}
