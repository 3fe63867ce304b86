//! Mocks of the model APIs of Codex (OpenAI Responses), Gemini CLI (Gemini
//! `streamGenerateContent`) and opencode (OpenAI-compatible chat completions),
//! each good enough for the real, pinned CLI.
//!
//! One server speaks all three, chosen by the request's path. The reply to a
//! request is chosen by how many tool results it already carries (retries and
//! parallel requests stay consistent); requests without tools (titles) get a
//! short text. Every request is recorded.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::mock_anthropic::{RecordedRequest, read_request, respond};

/// One model reply of a script.
#[derive(Debug, Clone)]
pub enum ModelReply {
    /// The CLI's shell tool, asked to run this command.
    Shell(String),
    Text(String),
    /// Headers sent, then silence (a model that hangs), with an SSE comment
    /// every second as a keep-alive.
    Hang,
}

/// Tokens the mock reports per reply.
pub const INPUT_TOKENS: u64 = 1000;
pub const CACHED_TOKENS: u64 = 200;
pub const OUTPUT_TOKENS: u64 = 50;

#[derive(Debug, Clone)]
pub struct ModelScript {
    pub replies: Vec<ModelReply>,
    /// Repeat the last reply forever.
    pub repeat_last: bool,
}

impl ModelScript {
    pub fn shell_then_text(command: &str, text: &str) -> Self {
        Self {
            replies: vec![
                ModelReply::Shell(command.into()),
                ModelReply::Text(text.into()),
            ],
            repeat_last: false,
        }
    }

    pub fn text(text: &str) -> Self {
        Self {
            replies: vec![ModelReply::Text(text.into())],
            repeat_last: false,
        }
    }

    /// Shell calls forever (`sleep 1` each): only a limit ends it.
    pub fn endless() -> Self {
        Self {
            replies: vec![ModelReply::Shell("sleep 1".into())],
            repeat_last: true,
        }
    }

    pub fn hang() -> Self {
        Self {
            replies: vec![ModelReply::Hang],
            repeat_last: true,
        }
    }

    fn reply_for(&self, results: usize) -> ModelReply {
        match self.replies.get(results) {
            Some(reply) => reply.clone(),
            None if self.repeat_last => self
                .replies
                .last()
                .cloned()
                .unwrap_or_else(|| ModelReply::Text("done".into())),
            None => ModelReply::Text("(the script has ended)".into()),
        }
    }
}

struct Shared {
    script: Mutex<ModelScript>,
    requests: Mutex<Vec<RecordedRequest>>,
    stopping: AtomicBool,
}

/// The mock server; it stops when dropped.
pub struct MockModels {
    port: u16,
    shared: Arc<Shared>,
}

/// How long a hanging reply holds its connection at most.
const HANG_LIMIT: Duration = Duration::from_secs(600);

impl MockModels {
    /// Starts on `addr` (`127.0.0.1:0`; `0.0.0.0:0` for clients in containers).
    pub fn start_on(addr: &str, script: ModelScript) -> Self {
        let listener = TcpListener::bind(addr).expect("bind the mock model API");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            requests: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        let accept = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accept);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Self { port, shared }
    }

    pub fn start(script: ModelScript) -> Self {
        Self::start_on("127.0.0.1:0", script)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn set_script(&self, script: ModelScript) {
        *self.shared.script.lock().expect("script lock") = script;
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// Whether some request carried `text` inside one of its JSON strings.
    pub fn saw_text(&self, text: &str) -> bool {
        self.requests().iter().any(|r| has_text(&r.body, text))
    }
}

impl Drop for MockModels {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn has_text(value: &Value, text: &str) -> bool {
    match value {
        Value::String(s) => s.contains(text),
        Value::Array(items) => items.iter().any(|v| has_text(v, text)),
        Value::Object(map) => map.values().any(|v| has_text(v, text)),
        _ => false,
    }
}

#[derive(Clone, Copy)]
enum Dialect {
    Responses,
    Gemini,
    Chat,
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    let Some(request) = read_request(&mut reader)? else {
        return Ok(());
    };
    shared
        .requests
        .lock()
        .expect("requests lock")
        .push(request.clone());
    let path = request.path.as_str();
    let dialect = if path.ends_with("/responses") {
        Dialect::Responses
    } else if path.contains(":streamGenerateContent") || path.contains(":generateContent") {
        Dialect::Gemini
    } else if path.ends_with("/chat/completions") {
        Dialect::Chat
    } else {
        return respond(&mut writer, 200, "application/json", "{}", false);
    };
    let body = &request.body;
    // The reply follows the tool results since the user last spoke: a
    // resumed conversation starts the script anew.
    let has_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let results = match dialect {
        Dialect::Responses => results_since_user(&body["input"], |item| {
            if item["type"] == "function_call_output" {
                Some(true)
            } else {
                (item["role"] == "user").then_some(false)
            }
        }),
        Dialect::Gemini => results_since_user(&body["contents"], |content| {
            let parts = content["parts"].as_array()?;
            if parts.iter().any(|p| !p["functionResponse"].is_null()) {
                Some(true)
            } else {
                (content["role"] == "user" && parts.iter().any(|p| p["text"].is_string()))
                    .then_some(false)
            }
        }),
        Dialect::Chat => results_since_user(&body["messages"], |message| {
            match message["role"].as_str() {
                Some("tool") => Some(true),
                Some("user") => Some(false),
                _ => None,
            }
        }),
    };
    let reply = if has_tools {
        shared
            .script
            .lock()
            .expect("script lock")
            .reply_for(results)
    } else {
        ModelReply::Text("Mock title".into())
    };
    if matches!(dialect, Dialect::Gemini) && path.contains(":generateContent") {
        let chunk = gemini_chunk(&reply, results);
        return respond(
            &mut writer,
            200,
            "application/json",
            &chunk.to_string(),
            false,
        );
    }
    write!(
        writer,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
         connection: close\r\n\r\n"
    )?;
    writer.flush()?;
    if let ModelReply::Hang = reply {
        let started = Instant::now();
        while !shared.stopping.load(Ordering::SeqCst) && started.elapsed() < HANG_LIMIT {
            writer.write_all(b": keep-alive\n\n")?;
            writer.flush()?;
            std::thread::sleep(Duration::from_secs(1));
        }
        return Ok(());
    }
    let n = shared.requests.lock().expect("lock").len();
    match dialect {
        Dialect::Responses => responses_reply(&mut writer, &reply, n),
        Dialect::Gemini => data(&mut writer, &gemini_chunk(&reply, results)),
        Dialect::Chat => chat_reply(&mut writer, &reply, n),
    }
}

/// Tool results after the last user message; `kind` says of an item whether
/// it is a tool result (`Some(true)`), a user message (`Some(false)`) or neither.
fn results_since_user(list: &Value, kind: impl Fn(&Value) -> Option<bool>) -> usize {
    list.as_array().map_or(0, |items| {
        items.iter().fold(0, |n, item| match kind(item) {
            Some(true) => n + 1,
            Some(false) => 0,
            None => n,
        })
    })
}

fn data(writer: &mut impl Write, value: &Value) -> std::io::Result<()> {
    write!(writer, "data: {value}\n\n")?;
    writer.flush()
}

fn sse(writer: &mut impl Write, value: &Value) -> std::io::Result<()> {
    write!(
        writer,
        "event: {}\ndata: {value}\n\n",
        value["type"].as_str().unwrap_or("")
    )?;
    writer.flush()
}

fn responses_reply(writer: &mut impl Write, reply: &ModelReply, n: usize) -> std::io::Result<()> {
    let id = format!("resp_mock_{n}");
    sse(
        writer,
        &json!({"type": "response.created", "response": {"id": id, "status": "in_progress", "output": []}}),
    )?;
    let item = match reply {
        ModelReply::Shell(cmd) => json!({
            "type": "function_call", "id": format!("fc_{n}"), "call_id": format!("call_{n}"),
            "name": "exec_command", "arguments": json!({"cmd": cmd}).to_string(), "status": "completed"
        }),
        ModelReply::Text(text) => json!({
            "type": "message", "id": format!("msg_{n}"), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]
        }),
        ModelReply::Hang => unreachable!("answered before"),
    };
    sse(
        writer,
        &json!({"type": "response.output_item.added", "output_index": 0, "item": item}),
    )?;
    if let ModelReply::Text(text) = reply {
        sse(
            writer,
            &json!({"type": "response.output_text.delta", "item_id": format!("msg_{n}"),
                    "output_index": 0, "content_index": 0, "delta": text}),
        )?;
    }
    sse(
        writer,
        &json!({"type": "response.output_item.done", "output_index": 0, "item": item}),
    )?;
    sse(
        writer,
        &json!({"type": "response.completed", "response": {
            "id": id, "status": "completed", "output": [item],
            "usage": {
                "input_tokens": INPUT_TOKENS,
                "input_tokens_details": {"cached_tokens": CACHED_TOKENS},
                "output_tokens": OUTPUT_TOKENS,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS
            }
        }}),
    )
}

fn gemini_chunk(reply: &ModelReply, results: usize) -> Value {
    let part = match reply {
        ModelReply::Shell(cmd) => json!({"functionCall": {
            "name": "run_shell_command", "args": {"command": cmd, "description": "scripted"}
        }}),
        ModelReply::Text(text) => json!({"text": text}),
        ModelReply::Hang => unreachable!("answered before"),
    };
    json!({
        "candidates": [{"content": {"role": "model", "parts": [part]}, "finishReason": "STOP", "index": 0}],
        "usageMetadata": {
            "promptTokenCount": INPUT_TOKENS,
            "cachedContentTokenCount": CACHED_TOKENS,
            "candidatesTokenCount": OUTPUT_TOKENS,
            "totalTokenCount": INPUT_TOKENS + OUTPUT_TOKENS
        },
        "modelVersion": "mock",
        "responseId": format!("mock_{results}")
    })
}

fn chat_reply(writer: &mut impl Write, reply: &ModelReply, n: usize) -> std::io::Result<()> {
    let base = |delta: Value, finish: Value| {
        json!({"id": format!("chatcmpl_{n}"), "object": "chat.completion.chunk", "created": 0,
               "model": "mock-model",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let finish = match reply {
        ModelReply::Shell(cmd) => {
            data(
                writer,
                &base(
                    json!({"role": "assistant", "tool_calls": [{"index": 0, "id": format!("call_{n}"),
                        "type": "function", "function": {"name": "bash",
                        "arguments": json!({"command": cmd, "description": "scripted"}).to_string()}}]}),
                    Value::Null,
                ),
            )?;
            "tool_calls"
        }
        ModelReply::Text(text) => {
            data(
                writer,
                &base(json!({"role": "assistant", "content": text}), Value::Null),
            )?;
            "stop"
        }
        ModelReply::Hang => unreachable!("answered before"),
    };
    data(writer, &base(json!({}), json!(finish)))?;
    data(
        writer,
        &json!({"id": format!("chatcmpl_{n}"), "object": "chat.completion.chunk", "created": 0,
                "model": "mock-model", "choices": [],
                "usage": {"prompt_tokens": INPUT_TOKENS, "completion_tokens": OUTPUT_TOKENS,
                          "total_tokens": INPUT_TOKENS + OUTPUT_TOKENS,
                          "prompt_tokens_details": {"cached_tokens": CACHED_TOKENS}}}),
    )?;
    writer.write_all(b"data: [DONE]\n\n")?;
    writer.flush()
}
