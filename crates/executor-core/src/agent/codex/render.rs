//! `logs --transcript` of a Codex task: its rollout file
//! (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-…-<thread>.jsonl`), one record a
//! line with a timestamp: the session, the prompts, the model's messages, its
//! tool calls and what they gave back.

use serde_json::Value;

use crate::agent::shorten;

/// How much of a message or a tool result is shown.
const PREVIEW_CHARS: usize = 300;

pub(super) fn render_transcript_line(line: &str) -> Option<String> {
    let record: Value = serde_json::from_str(line).ok()?;
    let time = record["timestamp"].as_str().unwrap_or("");
    let time = time.get(11..19).unwrap_or(time);
    let payload = &record["payload"];
    let body = match (record["type"].as_str(), payload["type"].as_str()) {
        (Some("session_meta"), _) => format!(
            "● session {} · cwd {}",
            payload["id"].as_str().unwrap_or("?"),
            payload["cwd"].as_str().unwrap_or("?")
        ),
        (Some("response_item"), Some("message")) => {
            let text: Vec<&str> = payload["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|part| part["text"].as_str())
                .collect();
            let text = text.join("\n");
            match payload["role"].as_str() {
                // The context codex sends along (`<environment_context>`, the
                // skills) is no prompt of the user's.
                Some("user") if !text.trim_start().starts_with('<') => {
                    format!("▶ {}", shorten(&text, PREVIEW_CHARS))
                }
                Some("assistant") if !text.trim().is_empty() => {
                    format!("◆ {}", shorten(text.trim(), PREVIEW_CHARS))
                }
                _ => return None,
            }
        }
        (Some("response_item"), Some("function_call")) => {
            let arguments = payload["arguments"].as_str().unwrap_or("");
            let summary = serde_json::from_str::<Value>(arguments)
                .ok()
                .and_then(|a| a["cmd"].as_str().map(str::to_owned))
                .unwrap_or_else(|| arguments.to_owned());
            format!(
                "→ {}: {}",
                payload["name"].as_str().unwrap_or("?"),
                shorten(&summary, 160)
            )
        }
        (Some("response_item"), Some("function_call_output")) => {
            let output = match &payload["output"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("  ← {}", shorten(output.trim(), PREVIEW_CHARS))
        }
        _ => return None,
    };
    Some(format!("[{time}] {body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rollout_reads_as_a_conversation() {
        let lines = [
            r#"{"timestamp":"2026-11-30T16:23:25.762Z","type":"session_meta","payload":{"id":"th-1","cwd":"/w"}}"#,
            r#"{"timestamp":"2026-11-30T16:23:25.800Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context>"}]}}"#,
            r#"{"timestamp":"2026-11-30T16:23:26.000Z","type":"response_item","payload":{"type":"message","role":"user","content":[{"type":"input_text","text":"go on"}]}}"#,
            r#"{"timestamp":"2026-11-30T16:23:27.000Z","type":"response_item","payload":{"type":"function_call","name":"exec_command","arguments":"{\"cmd\":\"touch m\"}"}}"#,
            r#"{"timestamp":"2026-11-30T16:23:28.000Z","type":"response_item","payload":{"type":"function_call_output","output":"Process exited with code 0\n"}}"#,
            r#"{"timestamp":"2026-11-30T16:23:29.000Z","type":"event_msg","payload":{"type":"token_count"}}"#,
            r#"{"timestamp":"2026-11-30T16:23:30.000Z","type":"response_item","payload":{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Done."}]}}"#,
        ];
        let rendered: Vec<String> = lines
            .iter()
            .filter_map(|l| render_transcript_line(l))
            .collect();
        assert_eq!(
            rendered,
            [
                "[16:23:25] ● session th-1 · cwd /w",
                "[16:23:26] ▶ go on",
                "[16:23:27] → exec_command: touch m",
                "[16:23:28]   ← Process exited with code 0",
                "[16:23:30] ◆ Done.",
            ]
        );
    }
}
