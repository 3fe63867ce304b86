//! Claude Code's `stream-json` records as [`AgentEvent`]s.

use serde_json::Value;

use super::render::summarize_tool_input;
use crate::agent::{AgentEvent, RunEnd, Usage};

pub(super) fn parse_line(line: &[u8], events: &mut Vec<AgentEvent>) {
    let Ok(record) = serde_json::from_slice::<Value>(line) else {
        return;
    };
    let text = |value: &Value| value.as_str().map(str::to_owned);
    match record["type"].as_str() {
        Some("system") if record["subtype"] == "init" => events.push(AgentEvent::Session {
            id: text(&record["session_id"]),
            cwd: text(&record["cwd"]),
            model: text(&record["model"]),
        }),
        Some("assistant") => {
            let message = &record["message"];
            events.push(AgentEvent::Turn {
                message_id: text(&message["id"]),
                usage: usage(&message["usage"]),
                cost_usd: None,
            });
            for block in super::render::blocks(message).filter(|b| b["type"] == "tool_use") {
                let name = block["name"].as_str().unwrap_or("?");
                events.push(AgentEvent::ToolCall {
                    name: name.to_owned(),
                    summary: summarize_tool_input(name, &block["input"]),
                });
            }
        }
        Some("result") => events.push(AgentEvent::End(RunEnd {
            subtype: text(&record["subtype"]),
            is_error: record["is_error"].as_bool(),
            result: text(&record["result"]),
            turns: record["num_turns"].as_u64(),
            cost_usd: record["total_cost_usd"].as_f64(),
            usage: usage(&record["usage"]),
            session_id: text(&record["session_id"]),
        })),
        _ => {}
    }
}

fn usage(usage: &Value) -> Usage {
    Usage {
        input: usage["input_tokens"].as_u64(),
        output: usage["output_tokens"].as_u64(),
        cache_creation: usage["cache_creation_input_tokens"].as_u64(),
        cache_read: usage["cache_read_input_tokens"].as_u64(),
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::Claude;
    use crate::agent::AgentStats;

    pub(crate) const STREAM: &str = concat!(
        r#"{"type":"system","subtype":"init","cwd":"/w","session_id":"s1","model":"m"}"#,
        "\n",
        r#"{"type":"assistant","message":{"id":"a","content":[{"type":"tool_use","name":"Bash","input":{"command":"echo hi > f"}}],"usage":{"input_tokens":100,"output_tokens":1,"cache_creation_input_tokens":10,"cache_read_input_tokens":30}}}"#,
        "\n",
        r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"(no output)","is_error":false}]}}"#,
        "\n",
        r#"{"type":"assistant","message":{"id":"b","content":[{"type":"text","text":"Done."}],"usage":{"input_tokens":100,"output_tokens":1}}}"#,
        "\n",
        r#"{"type":"result","subtype":"success","is_error":false,"num_turns":2,"total_cost_usd":0.5,"result":"Done.","usage":{"input_tokens":200,"output_tokens":40,"cache_creation_input_tokens":20,"cache_read_input_tokens":60}}"#,
        "\n",
    );

    #[test]
    fn stats_follow_the_stream_in_pieces() {
        let mut stats = AgentStats::default();
        let first = &STREAM.as_bytes()[..150];
        stats.feed(&Claude, first);
        let consumed = stats.parsed_offset as usize;
        assert!(consumed < 150);
        stats.feed(&Claude, &STREAM.as_bytes()[consumed..]);
        assert_eq!(stats.parsed_offset as usize, STREAM.len());
        assert_eq!(stats.session_id.as_deref(), Some("s1"));
        assert_eq!(stats.cwd.as_deref(), Some("/w"));
        assert_eq!(stats.turns, 2);
        assert_eq!(stats.tool_calls, 1);
        assert_eq!((stats.input_tokens, stats.output_tokens), (200, 40));
        assert_eq!(stats.cache_read_input_tokens, 60);
        assert_eq!(stats.total_cost_usd, Some(0.5));
        assert_eq!(stats.failure_reason(), None);
    }

    #[test]
    fn a_message_repeated_per_block_is_one_turn() {
        let mut stats = AgentStats::default();
        let record = |block: &str| {
            format!(
                r#"{{"type":"assistant","message":{{"id":"m1","content":[{block}],"usage":{{"input_tokens":10,"output_tokens":2}}}}}}"#
            )
        };
        let log = format!(
            "{}\n{}\n",
            record(r#"{"type":"text","text":"x"}"#),
            record(r#"{"type":"tool_use","name":"Read","input":{"file_path":"/f"}}"#)
        );
        stats.feed(&Claude, log.as_bytes());
        assert_eq!((stats.turns, stats.tool_calls), (1, 1));
        assert_eq!((stats.input_tokens, stats.output_tokens), (10, 2));
    }

    #[test]
    fn max_turns_is_a_failure() {
        let mut stats = AgentStats::default();
        stats.feed(
            &Claude,
            b"{\"type\":\"result\",\"subtype\":\"error_max_turns\",\"is_error\":true}\n",
        );
        assert_eq!(stats.failure_reason().as_deref(), Some("error_max_turns"));
    }
}
