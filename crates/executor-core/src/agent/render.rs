//! `logs` for the agent CLIs whose stream says nothing Claude Code's renderer
//! does not: their lines are rendered from the events they parse into, in
//! the same form as Claude Code's (`●` session, `→` tool, `←` result, `◆`
//! text, `✓`/`✗` end).

use super::{AgentEvent, shorten};

/// How much of a tool result `logs` shows.
const RESULT_PREVIEW_CHARS: usize = 300;

/// One log line of an agent's stream, rendered from the events `parse`
/// finds in it; lines that are not records (the CLI's stderr) are shown as
/// they are.
pub(super) fn render_by_events(
    parse: impl Fn(&[u8], &mut Vec<AgentEvent>),
    line: &str,
) -> Option<String> {
    if serde_json::from_str::<serde_json::Value>(line).is_err() {
        return (!line.trim().is_empty()).then(|| line.to_owned());
    }
    let mut events = Vec::new();
    parse(line.as_bytes(), &mut events);
    let out: Vec<String> = events.into_iter().filter_map(render_event).collect();
    (!out.is_empty()).then(|| out.join("\n"))
}

fn render_event(event: AgentEvent) -> Option<String> {
    Some(match event {
        AgentEvent::Session { id, cwd, model } => format!(
            "● session {} · model {} · cwd {}",
            id.as_deref().unwrap_or("?"),
            model.as_deref().unwrap_or("?"),
            cwd.as_deref().unwrap_or("?"),
        ),
        AgentEvent::ToolCall { name, summary } => format!("→ {name}: {summary}"),
        AgentEvent::ToolResult { ok, output } => format!(
            "  {} {}",
            if ok { "←" } else { "✗" },
            shorten(&output, RESULT_PREVIEW_CHARS)
        ),
        AgentEvent::Text(text) if !text.trim().is_empty() => format!("◆ {}", text.trim()),
        AgentEvent::Turn { usage, .. } if usage.input.is_some() || usage.output.is_some() => {
            format!(
                "· {} in / {} out tokens{}",
                usage.input.unwrap_or(0),
                usage.output.unwrap_or(0),
                usage
                    .cache_read
                    .map(|c| format!(" ({c} cached)"))
                    .unwrap_or_default()
            )
        }
        AgentEvent::End(end) => {
            let failed = end.is_error == Some(true);
            let mut line = format!(
                "{} {}",
                if failed { "✗" } else { "✓" },
                end.subtype.as_deref().unwrap_or("done")
            );
            if let Some(cost) = end.cost_usd {
                line.push_str(&format!(" · ${cost:.4}"));
            }
            if let Some(result) = end.result.filter(|r| !r.is_empty()) {
                line.push_str(&format!("\n  {}", shorten(&result, RESULT_PREVIEW_CHARS)));
            }
            line
        }
        AgentEvent::Text(_) | AgentEvent::Turn { .. } | AgentEvent::Activity => return None,
    })
}
