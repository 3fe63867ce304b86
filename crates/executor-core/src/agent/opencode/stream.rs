//! opencode's `--format json` events as [`AgentEvent`]s: `step_start`,
//! `tool_use`, `text`, `step_finish` (tokens and cost of the step), `error`.
//! Every event names its session (`sessionID`).

use serde_json::Value;

use crate::agent::{AgentEvent, RunEnd, Usage, shorten};

pub(super) fn parse_line(line: &[u8], events: &mut Vec<AgentEvent>) {
    let Ok(record) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    let part = &record["part"];
    match record["type"].as_str() {
        Some("step_start") => events.push(AgentEvent::Session {
            id: record["sessionID"].as_str().map(str::to_owned),
            cwd: None,
            model: None,
        }),
        Some("tool_use") => {
            let state = &part["state"];
            let input = &state["input"];
            let summary = ["command", "filePath", "path", "pattern", "url"]
                .iter()
                .find_map(|k| input[k].as_str().map(str::to_owned))
                .unwrap_or_else(|| input.to_string());
            events.push(AgentEvent::ToolCall {
                name: part["tool"].as_str().unwrap_or("?").to_owned(),
                summary: shorten(&summary, 160),
            });
            if let Some(output) = state["output"].as_str() {
                let exit = state["metadata"]["exit"].as_i64();
                events.push(AgentEvent::ToolResult {
                    ok: state["status"] != "error" && exit.is_none_or(|e| e == 0),
                    output: output.to_owned(),
                });
            }
        }
        Some("text") => events.push(AgentEvent::Text(
            part["text"].as_str().unwrap_or_default().to_owned(),
        )),
        Some("step_finish") => {
            let tokens = &part["tokens"];
            events.push(AgentEvent::Turn {
                message_id: part["messageID"].as_str().map(str::to_owned),
                usage: Usage {
                    input: tokens["input"].as_u64(),
                    output: tokens["output"]
                        .as_u64()
                        .map(|o| o + tokens["reasoning"].as_u64().unwrap_or(0)),
                    cache_creation: tokens["cache"]["write"].as_u64(),
                    cache_read: tokens["cache"]["read"].as_u64(),
                },
                cost_usd: part["cost"].as_f64(),
            });
        }
        Some("error") => {
            let error = &record["error"];
            let message = error["data"]["message"]
                .as_str()
                .or(error["message"].as_str())
                .or(error["name"].as_str())
                .unwrap_or("opencode reported an error");
            events.push(AgentEvent::End(RunEnd {
                subtype: Some("error_during_execution".into()),
                is_error: Some(true),
                result: Some(message.to_owned()),
                ..Default::default()
            }));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::Opencode;
    use crate::agent::{AgentCli, AgentStats};

    const STREAM: &str = concat!(
        r#"{"type":"step_start","sessionID":"ses_1","part":{"type":"step-start"}}"#,
        "\n",
        r#"{"type":"tool_use","sessionID":"ses_1","part":{"tool":"bash","state":{"status":"completed","input":{"command":"touch m"},"output":"","metadata":{"exit":0}}}}"#,
        "\n",
        r#"{"type":"step_finish","sessionID":"ses_1","part":{"messageID":"m1","tokens":{"input":1000,"output":50,"reasoning":0,"cache":{"read":200,"write":0}},"cost":0.01}}"#,
        "\n",
        r#"{"type":"text","sessionID":"ses_1","part":{"text":"Done."}}"#,
        "\n",
        r#"{"type":"step_finish","sessionID":"ses_1","part":{"messageID":"m2","tokens":{"input":1000,"output":50,"reasoning":0,"cache":{"read":200,"write":0}},"cost":0.02}}"#,
        "\n",
    );

    #[test]
    fn steps_sum_up() {
        let mut stats = AgentStats::default();
        stats.feed(&Opencode, STREAM.as_bytes());
        assert_eq!(stats.session_id.as_deref(), Some("ses_1"));
        assert_eq!((stats.turns, stats.tool_calls), (2, 1));
        assert_eq!((stats.input_tokens, stats.output_tokens), (2000, 100));
        assert!((stats.total_cost_usd.unwrap() - 0.03).abs() < 1e-9);
        assert!(!stats.cost_estimated);
        assert_eq!(stats.result.as_deref(), Some("Done."));
        let rendered: Vec<String> = STREAM
            .lines()
            .filter_map(|l| Opencode.render_log_line(l))
            .collect();
        assert_eq!(rendered[1], "→ bash: touch m\n  ← ");
    }
}
