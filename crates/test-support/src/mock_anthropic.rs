//! A mock of the Anthropic Messages API, good enough for the real Claude Code CLI.
//!
//! It answers `POST /v1/messages` with Server-Sent Events like the real API,
//! serves every connection on its own thread, follows a scripted conversation
//! (the reply is chosen by how many assistant turns the request already holds, so
//! retries and parallel requests stay consistent), and records each request.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Tokens the mock reports for every reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
}

impl Default for Usage {
    fn default() -> Self {
        Self {
            input_tokens: 100,
            output_tokens: 20,
            cache_creation_input_tokens: 10,
            cache_read_input_tokens: 30,
        }
    }
}

/// One assistant turn of a script.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A `tool_use` block (e.g. `Bash` with `{"command": ...}`), `stop_reason: tool_use`.
    ToolUse { name: String, input: Value },
    /// A text block and `stop_reason: end_turn`.
    Text(String),
    /// An HTTP error with the API's error body.
    Error {
        status: u16,
        kind: String,
        message: String,
    },
    /// Sends the headers and `message_start`, then nothing until the mock stops.
    Hang,
}

impl Reply {
    pub fn bash(command: &str) -> Self {
        Self::ToolUse {
            name: "Bash".into(),
            input: json!({"command": command, "description": "scripted command"}),
        }
    }

    pub fn text(text: &str) -> Self {
        Self::Text(text.into())
    }
}

/// A scripted conversation: reply `n` answers a request holding `n` assistant turns.
#[derive(Debug, Clone)]
pub struct Script {
    pub replies: Vec<Reply>,
    /// Repeat the last reply forever (a conversation that never ends).
    pub repeat_last: bool,
    pub usage: Usage,
    /// Conversations whose first user message holds the text get these
    /// replies instead (several agents, each with its own script).
    pub by_prompt: Vec<(String, Vec<Reply>)>,
}

impl Script {
    pub fn new(replies: Vec<Reply>) -> Self {
        Self {
            replies,
            repeat_last: false,
            usage: Usage::default(),
            by_prompt: Vec::new(),
        }
    }

    /// Agents told different things follow different scripts: the first
    /// route whose text the conversation's first message holds.
    pub fn by_prompt(routes: Vec<(&str, Vec<Reply>)>) -> Self {
        Self {
            by_prompt: routes
                .into_iter()
                .map(|(text, replies)| (text.to_owned(), replies))
                .collect(),
            ..Self::new(Vec::new())
        }
    }

    /// This conversation's script.
    fn for_request(&self, request: &RecordedRequest) -> Self {
        let first = request
            .messages()
            .iter()
            .find(|m| m["role"] == "user")
            .map(|m| m["content"].to_string())
            .unwrap_or_default();
        match self.by_prompt.iter().find(|(text, _)| first.contains(text)) {
            Some((_, replies)) => Self {
                replies: replies.clone(),
                by_prompt: Vec::new(),
                ..self.clone()
            },
            None => self.clone(),
        }
    }

    /// A Bash tool call, then a final text.
    pub fn bash_then_text(command: &str, text: &str) -> Self {
        Self::new(vec![Reply::bash(command), Reply::text(text)])
    }

    /// Tool calls forever: only `--max-turns` ends it.
    pub fn endless() -> Self {
        Self {
            replies: vec![Reply::bash("true")],
            repeat_last: true,
            usage: Usage::default(),
            by_prompt: Vec::new(),
        }
    }

    fn reply_for(&self, assistant_turns: usize) -> Reply {
        match self.replies.get(assistant_turns) {
            Some(reply) => reply.clone(),
            None if self.repeat_last => self
                .replies
                .last()
                .cloned()
                .unwrap_or_else(|| Reply::text("done")),
            None => Reply::text("(the script has ended)"),
        }
    }
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The conversation's messages, as sent.
    pub fn messages(&self) -> &[Value] {
        self.body["messages"].as_array().map_or(&[], Vec::as_slice)
    }
}

struct Shared {
    script: Mutex<Script>,
    requests: Mutex<Vec<RecordedRequest>>,
    stopping: AtomicBool,
}

pub struct MockAnthropic {
    port: u16,
    shared: Arc<Shared>,
}

/// How long a hanging reply holds its connection at most.
const HANG_LIMIT: Duration = Duration::from_secs(600);

impl MockAnthropic {
    /// Starts the mock on 127.0.0.1 at a free port.
    pub fn start(script: Script) -> Self {
        Self::start_on("127.0.0.1:0", script)
    }

    /// Starts the mock on `addr` (e.g. `0.0.0.0:0` for clients in containers).
    pub fn start_on(addr: &str, script: Script) -> Self {
        let listener = TcpListener::bind(addr).expect("bind the mock Anthropic API");
        let port = listener.local_addr().expect("local addr").port();
        let shared = Arc::new(Shared {
            script: Mutex::new(script),
            requests: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
        });
        let accept_shared = Arc::clone(&shared);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept_shared.stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let shared = Arc::clone(&accept_shared);
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
        });
        Self { port, shared }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The base URL to put in `ANTHROPIC_BASE_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Replaces the script (e.g. for a follow-up conversation).
    pub fn set_script(&self, script: Script) {
        *self.shared.script.lock().expect("script lock") = script;
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests.lock().expect("requests lock").clone()
    }

    /// Requests to the Messages endpoint.
    pub fn message_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST" && r.path.starts_with("/v1/messages"))
            .collect()
    }
}

impl Drop for MockAnthropic {
    fn drop(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut writer = stream;
    loop {
        let Some(request) = read_request(&mut reader)? else {
            return Ok(());
        };
        let keep_alive = !request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let is_messages = request.method == "POST" && request.path.starts_with("/v1/messages");
        let script = shared.script.lock().expect("script lock").clone();
        shared
            .requests
            .lock()
            .expect("requests lock")
            .push(request.clone());
        if !is_messages {
            let body = if request.method == "HEAD" {
                ""
            } else if request.path.starts_with("/v1/messages/count_tokens") {
                r#"{"input_tokens":100}"#
            } else {
                "{}"
            };
            respond(&mut writer, 200, "application/json", body, keep_alive)?;
            if !keep_alive {
                return Ok(());
            }
            continue;
        }
        let has_tools = request.body["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty());
        // Side requests (titles, summaries) carry no tools; they are not part of the script.
        let reply = if has_tools {
            let turns = request
                .messages()
                .iter()
                .filter(|m| m["role"] == "assistant")
                .count();
            script.for_request(&request).reply_for(turns)
        } else {
            Reply::text("ok")
        };
        let model = request.body["model"]
            .as_str()
            .unwrap_or("claude-test")
            .to_owned();
        let message_id = format!("msg_mock_{}", shared.requests.lock().expect("lock").len());
        match reply {
            Reply::Error {
                status,
                kind,
                message,
            } => {
                let body = json!({"type": "error", "error": {"type": kind, "message": message}});
                respond(
                    &mut writer,
                    status,
                    "application/json",
                    &body.to_string(),
                    false,
                )?;
                return Ok(());
            }
            reply => stream_reply(
                &mut writer,
                &reply,
                &model,
                &message_id,
                script.usage,
                shared,
            )?,
        }
        return Ok(());
    }
}

pub(crate) fn read_request(reader: &mut impl BufRead) -> std::io::Result<Option<RecordedRequest>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 {
            break;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        read_chunked(reader)?
    } else {
        let length: usize = find("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(Some(RecordedRequest {
        method,
        path,
        headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    }))
}

fn read_chunked(reader: &mut impl BufRead) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size_line = String::new();
        reader.read_line(&mut size_line)?;
        let size = usize::from_str_radix(size_line.trim().split(';').next().unwrap_or("0"), 16)
            .unwrap_or(0);
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk)?;
        if size == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

pub(crate) fn respond(
    writer: &mut impl Write,
    status: u16,
    content_type: &str,
    body: &str,
    keep_alive: bool,
) -> std::io::Result<()> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    write!(
        writer,
        "HTTP/1.1 {status} {}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         connection: {connection}\r\nrequest-id: req_mock\r\n\r\n{body}",
        reason(status),
        body.len()
    )?;
    writer.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        529 => "Overloaded",
        _ => "Status",
    }
}

fn event(writer: &mut impl Write, name: &str, data: &Value) -> std::io::Result<()> {
    write!(writer, "event: {name}\ndata: {data}\n\n")?;
    writer.flush()
}

fn stream_reply(
    writer: &mut impl Write,
    reply: &Reply,
    model: &str,
    message_id: &str,
    usage: Usage,
    shared: &Shared,
) -> std::io::Result<()> {
    write!(
        writer,
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n\
         connection: close\r\nrequest-id: req_mock\r\n\r\n"
    )?;
    event(
        writer,
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": message_id, "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {
                "input_tokens": usage.input_tokens,
                "output_tokens": 1,
                "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                "cache_read_input_tokens": usage.cache_read_input_tokens,
            }
        }}),
    )?;
    let stop_reason = match reply {
        Reply::Hang => {
            let started = Instant::now();
            while !shared.stopping.load(Ordering::SeqCst) && started.elapsed() < HANG_LIMIT {
                std::thread::sleep(Duration::from_millis(50));
            }
            return Ok(());
        }
        Reply::ToolUse { name, input } => {
            event(
                writer,
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": {
                    "type": "tool_use", "id": format!("toolu_{message_id}"), "name": name, "input": {}
                }}),
            )?;
            // Split the input JSON in two deltas, as the real API streams partial JSON.
            let input = input.to_string();
            let middle = input
                .char_indices()
                .nth(input.chars().count() / 2)
                .map_or(0, |(i, _)| i);
            for part in [&input[..middle], &input[middle..]] {
                event(
                    writer,
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": 0,
                            "delta": {"type": "input_json_delta", "partial_json": part}}),
                )?;
            }
            "tool_use"
        }
        Reply::Text(text) => {
            event(
                writer,
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}),
            )?;
            event(
                writer,
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": text}}),
            )?;
            "end_turn"
        }
        Reply::Error { .. } => unreachable!("errors are answered before streaming"),
    };
    event(
        writer,
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    )?;
    event(
        writer,
        "message_delta",
        &json!({"type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                "usage": {"output_tokens": usage.output_tokens}}),
    )?;
    event(writer, "message_stop", &json!({"type": "message_stop"}))
}
