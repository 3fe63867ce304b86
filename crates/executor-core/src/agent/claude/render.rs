//! Claude Code's records for people: `logs` renders the `stream-json` log,
//! `logs --transcript` the session transcript.

use serde_json::Value;

use crate::agent::shorten;

/// How much of a tool result `logs` shows.
const RESULT_PREVIEW_CHARS: usize = 300;

pub(super) fn blocks(message: &Value) -> impl Iterator<Item = &Value> {
    message["content"].as_array().into_iter().flatten()
}

/// A one-line summary of a tool call's input: the field that says what it does.
pub fn summarize_tool_input(name: &str, input: &Value) -> String {
    let field = |key: &str| input[key].as_str().map(str::to_owned);
    let summary = match name {
        "Bash" => field("command"),
        "Read" | "Write" | "Edit" | "MultiEdit" | "NotebookEdit" => {
            field("file_path").or_else(|| field("notebook_path"))
        }
        "Glob" | "Grep" => field("pattern").map(|p| match field("path") {
            Some(path) => format!("{p} in {path}"),
            None => p,
        }),
        "WebFetch" => field("url"),
        "WebSearch" => field("query"),
        "Task" | "Agent" => field("description").or_else(|| field("prompt")),
        "TodoWrite" => input["todos"]
            .as_array()
            .map(|todos| format!("{} todos", todos.len())),
        _ => None,
    };
    let summary = summary.unwrap_or_else(|| {
        [
            "description",
            "command",
            "file_path",
            "path",
            "pattern",
            "query",
            "url",
        ]
        .iter()
        .find_map(|k| field(k))
        .unwrap_or_else(|| input.to_string())
    });
    shorten(&summary, 160)
}

/// Renders one line of a `stream-json` log for people; `None` for records not worth showing.
/// Lines that are not JSON (the agent's stderr) are shown as they are.
pub(super) fn render_line(line: &str) -> Option<String> {
    let Ok(record) = serde_json::from_str::<Value>(line) else {
        return (!line.trim().is_empty()).then(|| line.to_owned());
    };
    let mut out = Vec::new();
    match record["type"].as_str() {
        Some("system") if record["subtype"] == "init" => out.push(format!(
            "● session {} · model {} · cwd {}",
            record["session_id"].as_str().unwrap_or("?"),
            record["model"].as_str().unwrap_or("?"),
            record["cwd"].as_str().unwrap_or("?"),
        )),
        Some("assistant") => {
            for block in blocks(&record["message"]) {
                match block["type"].as_str() {
                    Some("text") => {
                        let text = block["text"].as_str().unwrap_or_default().trim();
                        if !text.is_empty() {
                            out.push(format!("◆ {text}"));
                        }
                    }
                    Some("tool_use") => {
                        let name = block["name"].as_str().unwrap_or("?");
                        out.push(format!(
                            "→ {name}: {}",
                            summarize_tool_input(name, &block["input"])
                        ));
                    }
                    _ => {}
                }
            }
        }
        Some("user") => {
            for block in blocks(&record["message"]).filter(|b| b["type"] == "tool_result") {
                let content = match &block["content"] {
                    Value::String(s) => s.clone(),
                    Value::Array(parts) => parts
                        .iter()
                        .filter_map(|p| p["text"].as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    other => other.to_string(),
                };
                let marker = if block["is_error"] == true {
                    "✗"
                } else {
                    "←"
                };
                out.push(format!(
                    "  {marker} {}",
                    shorten(&content, RESULT_PREVIEW_CHARS)
                ));
            }
        }
        Some("result") => {
            let mark = if record["is_error"] == true {
                "✗"
            } else {
                "✓"
            };
            let usage = &record["usage"];
            out.push(format!(
                "{mark} {} · {} turns · ${:.4} · {} in / {} out tokens · {:.1}s",
                record["subtype"].as_str().unwrap_or("?"),
                record["num_turns"].as_u64().unwrap_or(0),
                record["total_cost_usd"].as_f64().unwrap_or(0.0),
                usage["input_tokens"].as_u64().unwrap_or(0),
                usage["output_tokens"].as_u64().unwrap_or(0),
                record["duration_ms"].as_f64().unwrap_or(0.0) / 1000.0,
            ));
            if let Some(result) = record["result"].as_str().filter(|r| !r.is_empty()) {
                out.push(format!("  {}", shorten(result, RESULT_PREVIEW_CHARS)));
            }
        }
        _ => {}
    }
    (!out.is_empty()).then(|| out.join("\n"))
}

/// Renders one line of a session transcript (`~/.claude/projects/.../<session>.jsonl`),
/// which also holds the user's prompts and a timestamp per record.
pub(super) fn render_transcript_line(line: &str) -> Option<String> {
    let record: Value = serde_json::from_str(line).ok()?;
    let time = record["timestamp"].as_str().unwrap_or("");
    let time = time.get(11..19).unwrap_or(time);
    let body = match record["type"].as_str() {
        Some("user") if record["message"]["content"].is_string() => Some(format!(
            "▶ {}",
            shorten(record["message"]["content"].as_str().unwrap_or(""), 300)
        )),
        Some("user" | "assistant") => render_line(line),
        _ => None,
    }?;
    Some(format!("[{time}] {body}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendering_shows_tools_and_results() {
        let rendered: Vec<String> = super::super::stream::tests::STREAM
            .lines()
            .filter_map(render_line)
            .collect();
        assert_eq!(rendered[0], "● session s1 · model m · cwd /w");
        assert_eq!(rendered[1], "→ Bash: echo hi > f");
        assert_eq!(rendered[2], "  ← (no output)");
        assert_eq!(rendered[3], "◆ Done.");
        assert!(rendered[4].starts_with("✓ success · 2 turns · $0.5000 · 200 in / 40 out"));
        assert_eq!(render_line("plain stderr").as_deref(), Some("plain stderr"));
    }

    #[test]
    fn transcripts_show_prompts_with_their_time() {
        let line = r#"{"type":"user","timestamp":"2026-11-30T10:00:05.123Z","message":{"content":"fix it"}}"#;
        assert_eq!(
            render_transcript_line(line).as_deref(),
            Some("[10:00:05] ▶ fix it")
        );
    }
}
