//! Claude Code's `stream-json` output: the running totals shown by `status` and
//! `list`, and the readable rendering shown by `logs`.

use serde_json::Value;

/// The numbers live in the model, which every layer stands on; counting them
/// from the stream is this module's job.
pub use crate::model::AgentStats;

/// How much of a tool result `logs` shows.
const RESULT_PREVIEW_CHARS: usize = 300;

impl AgentStats {
    /// Counts the complete lines of `bytes`, which continue the log at `parsed_offset`.
    pub fn feed(&mut self, bytes: &[u8]) {
        let Some(end) = bytes.iter().rposition(|b| *b == b'\n') else {
            return;
        };
        for line in bytes[..end].split(|b| *b == b'\n') {
            if let Ok(record) = serde_json::from_slice::<Value>(line) {
                self.count(&record);
            }
        }
        self.parsed_offset = self.parsed_offset.saturating_add(end as u64 + 1);
    }

    fn count(&mut self, record: &Value) {
        match record["type"].as_str() {
            Some("system") if record["subtype"] == "init" => {
                self.session_id = record["session_id"].as_str().map(str::to_owned);
                self.cwd = record["cwd"].as_str().map(str::to_owned);
                self.model = record["model"].as_str().map(str::to_owned);
            }
            Some("assistant") => {
                let message = &record["message"];
                let id = message["id"].as_str().map(str::to_owned);
                if id.is_none() || id != self.last_message_id {
                    // Saturating: the numbers come from the agent's output.
                    self.turns = self.turns.saturating_add(1);
                    let usage = &message["usage"];
                    let add = |total: &mut u64, key: &str| {
                        *total = total.saturating_add(usage[key].as_u64().unwrap_or(0));
                    };
                    add(&mut self.input_tokens, "input_tokens");
                    add(&mut self.output_tokens, "output_tokens");
                    add(
                        &mut self.cache_creation_input_tokens,
                        "cache_creation_input_tokens",
                    );
                    add(&mut self.cache_read_input_tokens, "cache_read_input_tokens");
                    self.last_message_id = id;
                }
                self.tool_calls = self.tool_calls.saturating_add(
                    blocks(message).filter(|b| b["type"] == "tool_use").count() as u64,
                );
            }
            Some("result") => {
                // The result's totals are authoritative; the stream's were provisional.
                let usage = &record["usage"];
                let total = |key: &str, current: u64| usage[key].as_u64().unwrap_or(current);
                self.input_tokens = total("input_tokens", self.input_tokens);
                self.output_tokens = total("output_tokens", self.output_tokens);
                self.cache_creation_input_tokens = total(
                    "cache_creation_input_tokens",
                    self.cache_creation_input_tokens,
                );
                self.cache_read_input_tokens =
                    total("cache_read_input_tokens", self.cache_read_input_tokens);
                self.turns = record["num_turns"].as_u64().unwrap_or(self.turns);
                self.total_cost_usd = record["total_cost_usd"].as_f64();
                self.result_subtype = record["subtype"].as_str().map(str::to_owned);
                self.is_error = record["is_error"].as_bool();
                self.result = record["result"]
                    .as_str()
                    .map(|r| shorten(r, RESULT_PREVIEW_CHARS));
                if let Some(session) = record["session_id"].as_str() {
                    self.session_id = Some(session.to_owned());
                }
            }
            _ => {}
        }
    }

    /// Why a finished agent run failed, if it did (`None` for a successful run).
    pub fn failure_reason(&self) -> Option<String> {
        match (self.result_subtype.as_deref(), self.is_error) {
            (Some("success"), Some(false) | None) => None,
            (Some("success"), Some(true)) => Some(self.result.clone().map_or_else(
                || "agent reported an error".into(),
                |r| format!("agent error: {r}"),
            )),
            (Some(subtype), _) => Some(subtype.to_owned()),
            (None, _) => None,
        }
    }
}

fn blocks(message: &Value) -> impl Iterator<Item = &Value> {
    message["content"].as_array().into_iter().flatten()
}

/// Shortens to one line of at most `max` characters.
pub fn shorten(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        return flat.to_owned();
    }
    let mut short: String = flat.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
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
pub fn render_line(line: &str) -> Option<String> {
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

/// Claude Code's directory name for a working directory.
pub fn escape_cwd(cwd: &str) -> String {
    cwd.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// Where Claude Code keeps the transcript of `session_id` run in `cwd`, below `home`.
pub fn transcript_path(home: &str, cwd: &str, session_id: &str) -> String {
    format!(
        "{home}/.claude/projects/{}/{session_id}.jsonl",
        escape_cwd(cwd)
    )
}

/// Renders one line of a session transcript (`~/.claude/projects/.../<session>.jsonl`),
/// which also holds the user's prompts and a timestamp per record.
pub fn render_transcript_line(line: &str) -> Option<String> {
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

    const STREAM: &str = concat!(
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
        let (first, rest) = STREAM.as_bytes().split_at(150);
        stats.feed(first);
        let consumed = stats.parsed_offset as usize;
        assert!(consumed < 150);
        stats.feed(&STREAM.as_bytes()[consumed..]);
        let _ = rest;
        assert_eq!(stats.parsed_offset as usize, STREAM.len());
        assert_eq!(stats.session_id.as_deref(), Some("s1"));
        assert_eq!(stats.turns, 2);
        assert_eq!(stats.tool_calls, 1);
        assert_eq!((stats.input_tokens, stats.output_tokens), (200, 40));
        assert_eq!(stats.cache_read_input_tokens, 60);
        assert_eq!(stats.total_cost_usd, Some(0.5));
        assert_eq!(stats.failure_reason(), None);
    }

    #[test]
    fn rendering_shows_tools_and_results() {
        let rendered: Vec<String> = STREAM.lines().filter_map(render_line).collect();
        assert_eq!(rendered[0], "● session s1 · model m · cwd /w");
        assert_eq!(rendered[1], "→ Bash: echo hi > f");
        assert_eq!(rendered[2], "  ← (no output)");
        assert_eq!(rendered[3], "◆ Done.");
        assert!(rendered[4].starts_with("✓ success · 2 turns · $0.5000 · 200 in / 40 out"));
        assert_eq!(render_line("plain stderr").as_deref(), Some("plain stderr"));
    }

    #[test]
    fn max_turns_is_a_failure() {
        let mut stats = AgentStats::default();
        stats.feed(b"{\"type\":\"result\",\"subtype\":\"error_max_turns\",\"is_error\":true}\n");
        assert_eq!(stats.failure_reason().as_deref(), Some("error_max_turns"));
    }

    #[test]
    fn transcript_path_escapes_cwd() {
        assert_eq!(
            transcript_path("/root", "/tmp/my repo.x", "s"),
            "/root/.claude/projects/-tmp-my-repo-x/s.jsonl"
        );
    }
}
