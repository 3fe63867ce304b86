//! `logs --transcript` of an opencode task: `opencode export <session>`, one
//! JSON document (the session's `info` and its `messages`, each with its
//! `parts`), shown step by step.

use serde_json::Value;

use crate::agent::shorten;

const PREVIEW_CHARS: usize = 300;

pub(super) fn render_transcript(transcript: &str) -> Vec<String> {
    // `export` may print a notice before the document.
    let start = transcript.find('{').unwrap_or(0);
    let Ok(document) = serde_json::from_str::<Value>(&transcript[start..]) else {
        return transcript.lines().map(str::to_owned).collect();
    };
    let info = &document["info"];
    let mut out = vec![format!(
        "● session {} · model {} · cwd {}",
        info["id"].as_str().unwrap_or("?"),
        info["model"]["id"].as_str().unwrap_or("?"),
        info["directory"].as_str().unwrap_or("?")
    )];
    for message in document["messages"].as_array().into_iter().flatten() {
        let role = message["info"]["role"].as_str();
        let time = message["info"]["time"]["created"]
            .as_i64()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .map(|t| t.strftime("%H:%M:%S").to_string())
            .unwrap_or_default();
        for part in message["parts"].as_array().into_iter().flatten() {
            let line = match (role, part["type"].as_str()) {
                (Some("user"), Some("text")) => {
                    format!(
                        "▶ {}",
                        shorten(part["text"].as_str().unwrap_or(""), PREVIEW_CHARS)
                    )
                }
                (Some("assistant"), Some("text")) => {
                    let text = part["text"].as_str().unwrap_or("").trim();
                    if text.is_empty() {
                        continue;
                    }
                    format!("◆ {}", shorten(text, PREVIEW_CHARS))
                }
                (_, Some("tool")) => {
                    let state = &part["state"];
                    let input = &state["input"];
                    let summary = input["command"]
                        .as_str()
                        .or_else(|| input["filePath"].as_str())
                        .map_or_else(|| input.to_string(), str::to_owned);
                    let mut line = format!(
                        "→ {}: {}",
                        part["tool"].as_str().unwrap_or("?"),
                        shorten(&summary, 160)
                    );
                    match state["status"].as_str() {
                        Some("completed") => line.push_str(&format!(
                            "\n  ← {}",
                            shorten(state["output"].as_str().unwrap_or("").trim(), PREVIEW_CHARS)
                        )),
                        Some("error") => line.push_str(&format!(
                            "\n  ✗ {}",
                            shorten(state["error"].as_str().unwrap_or("").trim(), PREVIEW_CHARS)
                        )),
                        _ => {}
                    }
                    line
                }
                (_, Some("step-finish")) => {
                    let tokens = &part["tokens"];
                    format!(
                        "· {} in / {} out tokens ({} cached) · ${:.4}",
                        tokens["input"].as_u64().unwrap_or(0),
                        tokens["output"].as_u64().unwrap_or(0),
                        tokens["cache"]["read"].as_u64().unwrap_or(0),
                        part["cost"].as_f64().unwrap_or(0.0)
                    )
                }
                _ => continue,
            };
            out.push(format!("[{time}] {line}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_reads_as_a_conversation() {
        let export = r#"Exporting session: ses_1
{"info":{"id":"ses_1","directory":"/w","model":{"id":"mock-model"}},
 "messages":[
  {"info":{"role":"user","time":{"created":1796056562724}},"parts":[{"type":"text","text":"go on"}]},
  {"info":{"role":"assistant","time":{"created":1796056563000}},"parts":[
    {"type":"step-start"},
    {"type":"tool","tool":"bash","state":{"status":"completed","input":{"command":"touch m"},"output":"(no output)"}},
    {"type":"step-finish","tokens":{"input":800,"output":50,"cache":{"read":200}},"cost":0.00315},
    {"type":"text","text":"Done."}]}]}"#;
        let rendered = render_transcript(export);
        assert_eq!(rendered[0], "● session ses_1 · model mock-model · cwd /w");
        assert!(rendered[1].ends_with("▶ go on"), "{rendered:?}");
        assert!(
            rendered[2].ends_with("→ bash: touch m\n  ← (no output)"),
            "{rendered:?}"
        );
        assert!(
            rendered[3].ends_with("· 800 in / 50 out tokens (200 cached) · $0.0032"),
            "{rendered:?}"
        );
        assert!(rendered[4].ends_with("◆ Done."), "{rendered:?}");
        assert_eq!(rendered.len(), 5);
    }
}
