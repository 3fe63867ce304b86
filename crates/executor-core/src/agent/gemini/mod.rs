//! Gemini CLI (`gemini -o stream-json`): its command line and its stream.
//!
//! Gemini takes a session id chosen at dispatch (`--session-id`), like
//! Claude Code. Its usage statistics can be switched off only in its
//! settings (`privacy.usageStatisticsEnabled` in
//! `$GEMINI_CLI_HOME/.gemini/settings.json`, which holds the user's auth as
//! well: docs/agents.md says what to put there); no variable or flag of the
//! pinned version does it, and a system settings file
//! (`GEMINI_CLI_SYSTEM_SETTINGS_PATH`) counts only when it and every directory
//! above it belong to root, so the payload cannot bring its own. Its
//! OpenTelemetry export has a variable, set for every run; its update check
//! runs only in interactive sessions. With no settings of its own, the
//! payload cannot pass the turn limit (`model.maxSessionTurns`) either: the
//! task's `--max-turns` is enforced on its tool calls.

mod render;
mod stream;

use super::{AgentCli, AgentEvent, AgentKind, AgentRun, AgentSession, Usage, usage, word};
use crate::sh::sh_quote;

/// Gemini CLI.
#[derive(Debug, Clone, Copy, Default)]
pub struct Gemini;

impl AgentCli for Gemini {
    fn kind(&self) -> AgentKind {
        AgentKind::Gemini
    }

    fn display_name(&self) -> &'static str {
        "Gemini CLI"
    }

    /// With stdin not a terminal and no `-p`, gemini runs headless on what
    /// stdin holds: the prompt file. The workspace is trusted for the run
    /// (gemini exits 55 in an untrusted folder); its OpenTelemetry export is
    /// off whatever the settings say (the variable wins over them).
    fn invocation(&self, run: &AgentRun<'_>) -> String {
        let (session, id) = match run.session {
            AgentSession::New(id) => (format!("--session-id {id}"), id.to_string()),
            AgentSession::Resume(id) => (format!("--resume {}", word(id)), id.clone()),
        };
        let watch = usage::watcher(run.task_dir, &usage::gemini_find(&id), usage::GEMINI_TOTALS);
        let model = run
            .model
            .map(|m| format!(" -m {}", sh_quote(m)))
            .unwrap_or_default();
        format!(
            "{watch}GEMINI_CLI_TRUST_WORKSPACE=true GEMINI_TELEMETRY_ENABLED=false exec {} -o stream-json --yolo {session}{model} < {}\n",
            sh_quote(run.program),
            sh_quote(run.prompt_file),
        )
    }

    fn parse_line(&self, line: &[u8], events: &mut Vec<AgentEvent>) {
        stream::parse_line(line, events);
    }

    fn running_usage(&self, watched: &[u8]) -> Option<Usage> {
        usage::parse_gemini(watched)
    }

    /// Its chat recording, found by the session id below
    /// `$GEMINI_CLI_HOME/.gemini/tmp`.
    fn transcript_script(&self, _program: &str, session_id: &str) -> Option<String> {
        let id = super::plain_id(session_id)?;
        Some(usage::print_found(
            &usage::gemini_find(id),
            &format!("Gemini CLI chat recording of session {id}"),
        ))
    }

    fn store_env(&self) -> &'static [&'static str] {
        &["GEMINI_CLI_HOME"]
    }

    fn render_transcript(&self, transcript: &str) -> Vec<String> {
        render::render_transcript(transcript)
    }

    fn resume_session(&self, recorded: Option<&str>, reported: Option<&str>) -> Option<String> {
        reported
            .or(recorded)
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_comes_from_its_file() {
        let run = AgentRun {
            program: "gemini",
            max_turns: 4,
            session: &AgentSession::New(uuid::Uuid::nil()),
            task_dir: "/t/d",
            prompt_file: "/t/d/prompt.txt",
            model: Some("gemini-2.5-flash"),
            max_budget_usd: None,
        };
        let id = "00000000-0000-0000-0000-000000000000";
        let invocation = Gemini.invocation(&run);
        let (watch, run_line) = invocation.split_at(invocation.find("GEMINI_CLI_TRUST").unwrap());
        assert_eq!(
            watch,
            usage::watcher("/t/d", &usage::gemini_find(id), usage::GEMINI_TOTALS)
        );
        assert_eq!(
            run_line,
            format!(
                "GEMINI_CLI_TRUST_WORKSPACE=true GEMINI_TELEMETRY_ENABLED=false exec 'gemini' \
                 -o stream-json --yolo \
                 --session-id {id} -m 'gemini-2.5-flash' < '/t/d/prompt.txt'\n"
            )
        );
    }
}
