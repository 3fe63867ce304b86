//! Codex (`codex exec --json`): its command line and its JSONL stream.
//!
//! Codex names its own sessions (`thread_id`, from `thread.started`) and
//! keeps no turn limit and no cost: the task's `--max-turns` is enforced on
//! its tool calls and its tokens are priced from the price table.

mod render;
mod stream;

use super::{AgentCli, AgentEvent, AgentKind, AgentRun, AgentSession, Usage, usage, word};
use crate::sh::sh_quote;

/// Headless with every tool allowed (the task's workspace is its sandbox),
/// no git requirement, and nothing but model calls on the network: plugins
/// (their marketplace sync) and analytics off.
const FLAGS: &str = "--json --skip-git-repo-check --dangerously-bypass-approvals-and-sandbox \
                     --disable plugins -c analytics.enabled=false";

/// Codex.
#[derive(Debug, Clone, Copy, Default)]
pub struct Codex;

impl AgentCli for Codex {
    fn kind(&self) -> AgentKind {
        AgentKind::Codex
    }

    fn display_name(&self) -> &'static str {
        "Codex"
    }

    /// The prompt is `-`: codex reads it from stdin, fed from the prompt file.
    fn invocation(&self, run: &AgentRun<'_>) -> String {
        let model = run
            .model
            .map(|m| format!(" -m {}", sh_quote(m)))
            .unwrap_or_default();
        let (sub, thread) = match run.session {
            AgentSession::New(_) => ("", String::new()),
            AgentSession::Resume(id) => (" resume", format!(" {}", word(id))),
        };
        format!(
            "{}exec {} exec{sub} {FLAGS}{model}{thread} - < {}\n",
            usage::watcher(run.task_dir, usage::CODEX_FIND, usage::CODEX_TOTALS),
            sh_quote(run.program),
            sh_quote(run.prompt_file)
        )
    }

    fn parse_line(&self, line: &[u8], events: &mut Vec<AgentEvent>) {
        stream::parse_line(line, events);
    }

    fn running_usage(&self, watched: &[u8]) -> Option<Usage> {
        usage::parse_codex(watched)
    }

    /// Its rollout file, found by the thread id below `$CODEX_HOME/sessions`.
    fn transcript_script(&self, _program: &str, session_id: &str) -> Option<String> {
        let id = super::plain_id(session_id)?;
        Some(usage::print_found(
            &usage::codex_find_thread(id),
            &format!("Codex rollout file of thread {id}"),
        ))
    }

    fn store_env(&self) -> &'static [&'static str] {
        &["CODEX_HOME"]
    }

    fn render_transcript_line(&self, line: &str) -> Option<String> {
        render::render_transcript_line(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prompt_comes_from_its_file_on_stdin() {
        let run = AgentRun {
            program: "/opt/codex",
            max_turns: 3,
            session: &AgentSession::New(uuid::Uuid::nil()),
            task_dir: "/t/d",
            prompt_file: "/t/d/prompt.txt",
            model: Some("gpt-5.5"),
            max_budget_usd: None,
        };
        let watch = usage::watcher("/t/d", usage::CODEX_FIND, usage::CODEX_TOTALS);
        assert_eq!(
            Codex.invocation(&run),
            format!("{watch}exec '/opt/codex' exec {FLAGS} -m 'gpt-5.5' - < '/t/d/prompt.txt'\n")
        );
        let resumed = Codex.invocation(&AgentRun {
            session: &AgentSession::Resume("th-1".into()),
            model: None,
            ..run
        });
        assert_eq!(
            resumed,
            format!("{watch}exec '/opt/codex' exec resume {FLAGS} th-1 - < '/t/d/prompt.txt'\n")
        );
    }
}
