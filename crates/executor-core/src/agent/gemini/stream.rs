//! Gemini CLI's `stream-json` records as [`AgentEvent`]s: `init`,
//! `message`, `tool_use`, `tool_result`, `error` and the final `result`.

use serde_json::Value;

use crate::agent::{AgentEvent, RunEnd, Usage, shorten};

pub(super) fn parse_line(line: &[u8], events: &mut Vec<AgentEvent>) {
    let Ok(record) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    let text = |value: &Value| value.as_str().map(str::to_owned);
    match record["type"].as_str() {
        Some("init") => events.push(AgentEvent::Session {
            id: text(&record["session_id"]),
            cwd: None,
            model: text(&record["model"]),
        }),
        Some("message") if record["role"] == "assistant" => {
            events.push(AgentEvent::Text(
                record["content"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        Some("message") => events.push(AgentEvent::Activity),
        Some("tool_use") => {
            // Gemini reports no usage per model call: each call that asked
            // for a tool is a turn, and the final answer one more.
            events.push(AgentEvent::Turn {
                message_id: None,
                usage: Usage::default(),
                cost_usd: None,
            });
            let params = &record["parameters"];
            let summary = [
                "command",
                "file_path",
                "absolute_path",
                "path",
                "pattern",
                "url",
            ]
            .iter()
            .find_map(|k| params[k].as_str().map(str::to_owned))
            .unwrap_or_else(|| params.to_string());
            events.push(AgentEvent::ToolCall {
                name: record["tool_name"].as_str().unwrap_or("?").to_owned(),
                summary: shorten(&summary, 160),
            });
        }
        Some("tool_result") => events.push(AgentEvent::ToolResult {
            ok: record["status"] == "success",
            output: match &record["output"] {
                Value::String(s) => s.clone(),
                Value::Null => record["error"]["message"].as_str().unwrap_or("").to_owned(),
                other => other.to_string(),
            },
        }),
        Some("result") => {
            let stats = &record["stats"];
            let cached = stats["cached"].as_u64();
            let usage = Usage {
                input: stats["input_tokens"]
                    .as_u64()
                    .map(|i| i.saturating_sub(cached.unwrap_or(0))),
                output: stats["output_tokens"].as_u64(),
                cache_creation: None,
                cache_read: cached,
            };
            events.push(AgentEvent::Turn {
                message_id: None,
                usage: Usage::default(),
                cost_usd: None,
            });
            let ok = record["status"] == "success";
            events.push(AgentEvent::End(RunEnd {
                subtype: Some(
                    if ok {
                        "success"
                    } else {
                        "error_during_execution"
                    }
                    .into(),
                ),
                is_error: Some(!ok),
                result: (!ok)
                    .then(|| record["error"]["message"].as_str().map(str::to_owned))
                    .flatten(),
                usage,
                ..Default::default()
            }));
        }
        Some("error") => events.push(AgentEvent::ToolResult {
            ok: false,
            output: record["message"].as_str().unwrap_or("error").to_owned(),
        }),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::Gemini;
    use crate::agent::{AgentCli, AgentStats};

    const STREAM: &str = concat!(
        r#"{"type":"init","timestamp":"t","session_id":"g-1","model":"gemini-2.5-flash"}"#,
        "\n",
        r#"{"type":"message","role":"user","content":"do it"}"#,
        "\n",
        r#"{"type":"tool_use","tool_name":"run_shell_command","tool_id":"t1","parameters":{"command":"touch m"}}"#,
        "\n",
        r#"{"type":"tool_result","tool_id":"t1","status":"success","output":"ok"}"#,
        "\n",
        r#"{"type":"message","role":"assistant","content":"Done.","delta":true}"#,
        "\n",
        r#"{"type":"result","status":"success","stats":{"total_tokens":2100,"input_tokens":2000,"output_tokens":100,"cached":400,"duration_ms":5,"tool_calls":1}}"#,
        "\n",
    );

    #[test]
    fn stats_and_rendering() {
        let mut stats = AgentStats::default();
        stats.feed(&Gemini, STREAM.as_bytes());
        assert_eq!(stats.session_id.as_deref(), Some("g-1"));
        assert_eq!(stats.model.as_deref(), Some("gemini-2.5-flash"));
        assert_eq!((stats.turns, stats.tool_calls), (2, 1));
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
            .filter_map(|l| Gemini.render_log_line(l))
            .collect();
        assert_eq!(
            rendered[0],
            "● session g-1 · model gemini-2.5-flash · cwd ?"
        );
        assert!(
            rendered[1].ends_with("→ run_shell_command: touch m"),
            "{rendered:?}"
        );
        assert_eq!(rendered[2], "  ← ok");
    }
}
