//! `logs --transcript` of a Gemini CLI task: its chat recording
//! (`<home>/.gemini/tmp/<project>/chats/session-…-<id>.jsonl`). A message is
//! written again (same `id`) as it grows: the last version of each counts, in
//! the order the messages began.

use serde_json::Value;

use crate::agent::shorten;

const PREVIEW_CHARS: usize = 300;

pub(super) fn render_transcript(transcript: &str) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut latest: std::collections::HashMap<String, Value> = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in transcript.lines() {
        let Ok(record) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(session) = record["sessionId"].as_str() {
            out.push(format!("● session {session}"));
            continue;
        }
        let Some(id) = record["id"].as_str() else {
            continue;
        };
        if !latest.contains_key(id) {
            order.push(id.to_owned());
        }
        latest.insert(id.to_owned(), record);
    }
    for id in order {
        out.extend(render_message(&latest[&id]));
    }
    out
}

fn render_message(message: &Value) -> Option<String> {
    let time = message["timestamp"].as_str().unwrap_or("");
    let time = time.get(11..19).unwrap_or(time);
    let text = match &message["content"] {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    };
    let mut lines = Vec::new();
    match message["type"].as_str() {
        // Gemini CLI's own context (`<session_context>`) is no prompt.
        Some("user") if !text.trim().is_empty() && !text.trim_start().starts_with('<') => {
            lines.push(format!("▶ {}", shorten(&text, PREVIEW_CHARS)));
        }
        Some("gemini") => {
            if !text.trim().is_empty() {
                lines.push(format!("◆ {}", shorten(text.trim(), PREVIEW_CHARS)));
            }
            for call in message["toolCalls"].as_array().into_iter().flatten() {
                let args = &call["args"];
                let summary = args["command"]
                    .as_str()
                    .or_else(|| args["file_path"].as_str())
                    .map_or_else(|| args.to_string(), str::to_owned);
                lines.push(format!(
                    "→ {}: {}",
                    call["name"].as_str().unwrap_or("?"),
                    shorten(&summary, 160)
                ));
                let output = call["result"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r["functionResponse"]["response"]["output"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n");
                let mark = if call["status"] == "error" {
                    "✗"
                } else {
                    "←"
                };
                if call["status"].is_string() {
                    lines.push(format!(
                        "  {mark} {}",
                        shorten(output.trim(), PREVIEW_CHARS)
                    ));
                }
            }
            let tokens = &message["tokens"];
            if tokens.is_object() {
                lines.push(format!(
                    "· {} in / {} out tokens ({} cached)",
                    tokens["input"].as_u64().unwrap_or(0),
                    tokens["output"].as_u64().unwrap_or(0),
                    tokens["cached"].as_u64().unwrap_or(0)
                ));
            }
        }
        _ => {}
    }
    if lines.is_empty() {
        return None;
    }
    Some(format!("[{time}] {}", lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_message_shows_once_in_its_last_version() {
        let transcript = concat!(
            r#"{"sessionId":"s-1","projectHash":"h","kind":"main"}"#,
            "\n",
            r#"{"id":"u0","timestamp":"2026-11-30T16:23:37.341Z","type":"user","content":[{"text":"<session_context>"}]}"#,
            "\n",
            r#"{"id":"u1","timestamp":"2026-11-30T16:23:37.365Z","type":"user","content":[{"text":"go on"}]}"#,
            "\n",
            r#"{"$set":{"lastUpdated":"2026-11-30T16:23:37.365Z"}}"#,
            "\n",
            r#"{"id":"g1","timestamp":"2026-11-30T16:23:37.887Z","type":"gemini","content":"","tokens":{"input":1000,"output":50,"cached":200}}"#,
            "\n",
            r#"{"id":"g1","timestamp":"2026-11-30T16:23:37.887Z","type":"gemini","content":"","tokens":{"input":1000,"output":50,"cached":200},"toolCalls":[{"name":"run_shell_command","args":{"command":"touch m"},"status":"success","result":[{"functionResponse":{"response":{"output":"ok"}}}]}]}"#,
            "\n",
        );
        assert_eq!(
            render_transcript(transcript),
            [
                "● session s-1",
                "[16:23:37] ▶ go on",
                "[16:23:37] → run_shell_command: touch m\n  ← ok\n· 1000 in / 50 out tokens (200 cached)",
            ]
        );
    }
}
