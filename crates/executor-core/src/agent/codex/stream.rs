//! Codex's `--json` records as [`AgentEvent`]s: `thread.started`,
//! `turn.started`, `item.started` / `item.completed` (commands, messages,
//! file changes, MCP calls), `turn.completed` with the usage, `turn.failed`
//! (the run's end) and `error` (a notice: codex retries).

use serde_json::Value;

use crate::agent::{AgentEvent, RunEnd, Usage, shorten};

pub(super) fn parse_line(line: &[u8], events: &mut Vec<AgentEvent>) {
    let Ok(record) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    let text = |value: &Value| value.as_str().map(str::to_owned);
    match record["type"].as_str() {
        Some("thread.started") => events.push(AgentEvent::Session {
            id: text(&record["thread_id"]),
            cwd: None,
            model: None,
        }),
        Some("turn.started") => events.push(AgentEvent::Activity),
        Some("item.started") => item_started(&record["item"], events),
        Some("item.completed") => item_completed(&record["item"], events),
        Some("turn.completed") => {
            let usage = &record["usage"];
            let cached = usage["cached_input_tokens"].as_u64();
            // Codex counts cached input inside `input_tokens`; the model keeps
            // them apart, as Claude Code reports them.
            let usage = Usage {
                input: usage["input_tokens"]
                    .as_u64()
                    .map(|i| i.saturating_sub(cached.unwrap_or(0))),
                output: usage["output_tokens"].as_u64(),
                cache_creation: usage["cache_write_input_tokens"].as_u64(),
                cache_read: cached,
            };
            events.push(AgentEvent::Turn {
                message_id: None,
                usage,
                cost_usd: None,
            });
            events.push(AgentEvent::End(RunEnd {
                subtype: Some("success".into()),
                is_error: Some(false),
                usage,
                ..Default::default()
            }));
        }
        Some("turn.failed") => {
            let message = record["error"]["message"]
                .as_str()
                .unwrap_or("codex reported an error");
            events.push(AgentEvent::End(RunEnd {
                subtype: Some("error_during_execution".into()),
                is_error: Some(true),
                result: Some(message.to_owned()),
                ..Default::default()
            }));
        }
        // Notices such as "Reconnecting...": the run goes on.
        Some("error") => events.push(AgentEvent::ToolResult {
            ok: false,
            output: record["message"].as_str().unwrap_or("error").to_owned(),
        }),
        _ => {}
    }
}

fn item_started(item: &Value, events: &mut Vec<AgentEvent>) {
    match item["type"].as_str() {
        Some("command_execution") => events.push(AgentEvent::ToolCall {
            name: "shell".into(),
            summary: shorten(item["command"].as_str().unwrap_or("?"), 160),
        }),
        Some("mcp_tool_call") => events.push(AgentEvent::ToolCall {
            name: format!(
                "{}.{}",
                item["server"].as_str().unwrap_or("mcp"),
                item["tool"].as_str().unwrap_or("?")
            ),
            summary: shorten(&item["arguments"].to_string(), 160),
        }),
        _ => events.push(AgentEvent::Activity),
    }
}

fn item_completed(item: &Value, events: &mut Vec<AgentEvent>) {
    match item["type"].as_str() {
        Some("agent_message") => {
            events.push(AgentEvent::Text(
                item["text"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        Some("command_execution") => events.push(AgentEvent::ToolResult {
            ok: item["exit_code"].as_i64() == Some(0),
            output: item["aggregated_output"].as_str().unwrap_or("").to_owned(),
        }),
        Some("file_change") => {
            let paths: Vec<&str> = item["changes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["path"].as_str())
                .collect();
            events.push(AgentEvent::ToolCall {
                name: "patch".into(),
                summary: shorten(&paths.join(", "), 160),
            });
        }
        Some("mcp_tool_call") => events.push(AgentEvent::ToolResult {
            ok: item["status"] != "failed",
            output: item["result"].to_string(),
        }),
        Some("error") => events.push(AgentEvent::ToolResult {
            ok: false,
            output: item["message"].as_str().unwrap_or("").to_owned(),
        }),
        _ => events.push(AgentEvent::Activity),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Codex;
    use crate::agent::{AgentCli, AgentStats};

    const STREAM: &str = concat!(
        r#"{"type":"thread.started","thread_id":"th-1"}"#,
        "\n",
        r#"{"type":"turn.started"}"#,
        "\n",
        r#"{"type":"item.started","item":{"id":"i0","type":"command_execution","command":"bash -lc 'touch m'","status":"in_progress"}}"#,
        "\n",
        r#"{"type":"item.completed","item":{"id":"i0","type":"command_execution","command":"bash -lc 'touch m'","aggregated_output":"","exit_code":0,"status":"completed"}}"#,
        "\n",
        r#"{"type":"item.completed","item":{"id":"i1","type":"agent_message","text":"Done."}}"#,
        "\n",
        r#"{"type":"turn.completed","usage":{"input_tokens":2000,"cached_input_tokens":400,"output_tokens":100}}"#,
        "\n",
    );

    #[test]
    fn stats_and_rendering() {
        let mut stats = AgentStats::default();
        assert_eq!(stats.feed(&Codex, STREAM.as_bytes()), 7);
        assert_eq!(stats.session_id.as_deref(), Some("th-1"));
        assert_eq!((stats.turns, stats.tool_calls), (1, 1));
        assert_eq!(stats.last_tool_input.as_deref(), Some("bash -lc 'touch m'"));
        assert_eq!(
            (
                stats.input_tokens,
                stats.cache_read_input_tokens,
                stats.output_tokens
            ),
            (1600, 400, 100)
        );
        assert_eq!(stats.result.as_deref(), Some("Done."));
        assert_eq!(stats.failure_reason(), None);
        let rendered: Vec<String> = STREAM
            .lines()
            .filter_map(|l| Codex.render_log_line(l))
            .collect();
        assert_eq!(rendered[0], "● session th-1 · model ? · cwd ?");
        assert_eq!(rendered[1], "→ shell: bash -lc 'touch m'");
        assert_eq!(rendered[2], "  ← ");
        assert_eq!(rendered[3], "◆ Done.");
        assert!(rendered[4].starts_with("· 1600 in / 100 out tokens (400 cached)\n✓ success"));
    }
}
