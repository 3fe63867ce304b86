//! opencode (`opencode run --format json`): its command line and its stream.
//!
//! opencode names its own sessions (`sessionID` on every event) and prices
//! each step itself (from the model's `cost` in its config); it has no turn
//! limit on its command line, so the task's `--max-turns` is enforced on its
//! tool calls.

mod render;
mod stream;

use super::{AgentCli, AgentEvent, AgentKind, AgentRun, AgentSession, word};
use crate::sh::sh_quote;

/// opencode's documented switches for everything but model calls: update
/// checks, the model catalogue download, default plugins, LSP server
/// downloads and sharing.
const OFFLINE_ENV: &str = "OPENCODE_DISABLE_AUTOUPDATE=1 OPENCODE_DISABLE_MODELS_FETCH=1 \
                           OPENCODE_DISABLE_DEFAULT_PLUGINS=1 OPENCODE_DISABLE_LSP_DOWNLOAD=1 \
                           OPENCODE_DISABLE_SHARE=1";

/// opencode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opencode;

impl AgentCli for Opencode {
    fn kind(&self) -> AgentKind {
        AgentKind::Opencode
    }

    fn display_name(&self) -> &'static str {
        "opencode"
    }

    /// With no message arguments, `opencode run` reads the message from stdin.
    fn invocation(&self, run: &AgentRun<'_>) -> String {
        let model = run
            .model
            .map(|m| format!(" -m {}", sh_quote(m)))
            .unwrap_or_default();
        let session = match run.session {
            AgentSession::New(_) => String::new(),
            AgentSession::Resume(id) => format!(" --session {}", word(id)),
        };
        format!(
            "{OFFLINE_ENV} exec {} run --format json --auto{model}{session} < {}\n",
            sh_quote(run.program),
            sh_quote(run.prompt_file)
        )
    }

    fn parse_line(&self, line: &[u8], events: &mut Vec<AgentEvent>) {
        stream::parse_line(line, events);
    }

    fn reports_cost(&self) -> bool {
        true
    }

    /// Its sessions are in an SQLite database: `opencode export` reads it,
    /// offline. Into a file first: writing to a pipe, it exits before a large
    /// export is all out.
    fn transcript_script(&self, program: &str, session_id: &str) -> Option<String> {
        Some(format!(
            "t=$(mktemp) || exit 3\n\
             {OFFLINE_ENV} {} export {} </dev/null >\"$t\"; s=$?\n\
             cat \"$t\"; rm -f \"$t\"; exit $s\n",
            sh_quote(program),
            sh_quote(session_id)
        ))
    }

    fn store_env(&self) -> &'static [&'static str] {
        &[
            "XDG_DATA_HOME",
            "XDG_CONFIG_HOME",
            "XDG_CACHE_HOME",
            "XDG_STATE_HOME",
        ]
    }

    fn render_transcript(&self, transcript: &str) -> Vec<String> {
        render::render_transcript(transcript)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_comes_from_the_prompt_file() {
        let run = AgentRun {
            program: "opencode",
            max_turns: 4,
            session: &AgentSession::Resume("ses_1".into()),
            task_dir: "/t/d",
            prompt_file: "/t/d/prompt.txt",
            model: Some("mock/mock-model"),
            max_budget_usd: None,
        };
        assert_eq!(
            Opencode.invocation(&run),
            format!(
                "{OFFLINE_ENV} exec 'opencode' run --format json --auto -m 'mock/mock-model' \
                 --session ses_1 < '/t/d/prompt.txt'\n"
            )
        );
    }
}
