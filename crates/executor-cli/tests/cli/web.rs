//! `serve` / `daemon --listen`: the HTTP API (api.rs) and the page in a real
//! headless Chromium (browser.rs), against the built binary.

mod api;
mod browser;

use std::io::{BufRead, BufReader, Read};
use std::process::Child;
use std::time::Duration;

use serde_json::Value;

use crate::helpers::TestEnv;

/// A running `serve` of a test's store.
pub struct Served {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub base: String,
    pub token: String,
    pub stderr: std::sync::Arc<std::sync::Mutex<String>>,
    http: ureq::Agent,
}

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|err| panic!("not JSON ({err}): {}", self.body))
    }

    /// A 4xx with the one-line `{"error": ...}` body containing `needle`.
    pub fn assert_error(&self, status: u16, needle: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.content_type, "application/json", "{}", self.body);
        assert_eq!(self.body.trim_end().lines().count(), 1, "{}", self.body);
        let value = self.json();
        let message = value["error"].as_str().expect("error message");
        assert!(message.contains(needle), "{message} (wanted {needle})");
        assert_eq!(value.as_object().map(|o| o.len()), Some(1), "{value}");
    }
}

impl Served {
    /// `openclaw-agent ARGS` (a `serve` or `daemon --listen` on 127.0.0.1:0).
    pub fn start(env: &TestEnv, args: &[&str]) -> Self {
        let mut command = env.command(args);
        let mut child = command.spawn().expect("start serve");
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let collected = stderr.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                if let Ok(mut text) = collected.lock() {
                    text.push_str(&String::from_utf8_lossy(&buffer[..n]));
                }
            }
        });
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = sender.send(line);
        });
        let line = receiver
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_default();
        let Some((base, token)) = line
            .trim()
            .strip_prefix("serving ")
            .and_then(|url| url.split_once("/#token="))
        else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "serve printed no address: {line:?}; stderr: {}",
                stderr.lock().map(|s| s.clone()).unwrap_or_default()
            );
        };
        Self {
            child,
            base: base.to_owned(),
            token: token.to_owned(),
            stderr,
            // No reuse: a server may close a connection after refusing a body.
            http: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_idle_connections(0)
                .timeout_global(Some(Duration::from_secs(60)))
                .build()
                .into(),
        }
    }

    /// `serve --listen 127.0.0.1:0` with a quick supervisor round.
    pub fn serve(env: &TestEnv) -> Self {
        Self::start(
            env,
            &["serve", "--listen", "127.0.0.1:0", "--interval", "0.2"],
        )
    }

    pub fn page_url(&self) -> String {
        format!("{}/#token={}", self.base, self.token)
    }

    /// A request with `token` (`None`: no Authorization header).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Reply {
        let url = format!("{}{path}", self.base);
        let auth = token.map(|t| format!("Bearer {t}"));
        let response = match method {
            "GET" => {
                let mut request = self.http.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("authorization", auth);
                }
                request.call()
            }
            "DELETE" => {
                let mut request = self.http.delete(&url);
                if let Some(auth) = &auth {
                    request = request.header("authorization", auth);
                }
                request.call()
            }
            _ => {
                let mut request = self
                    .http
                    .post(&url)
                    .header("content-type", "application/json");
                if let Some(auth) = &auth {
                    request = request.header("authorization", auth);
                }
                request.send(body.unwrap_or_default())
            }
        };
        let mut response = response.unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Reply {
            status: response.status().as_u16(),
            content_type,
            body: response
                .body_mut()
                .with_config()
                .limit(64 * 1024 * 1024)
                .read_to_string()
                .unwrap_or_default(),
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, Some(&self.token), None)
    }

    pub fn post(&self, path: &str, body: &str) -> Reply {
        self.request("POST", path, Some(&self.token), Some(body.as_bytes()))
    }

    /// Opens a Server-Sent Events stream; events come out of the receiver as
    /// (name, data) with the instant each arrived.
    pub fn events(
        &self,
        path: &str,
    ) -> std::sync::mpsc::Receiver<(String, Value, std::time::Instant)> {
        let url = format!("{}{path}", self.base);
        let auth = format!("Bearer {}", self.token);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let (sender, receiver) = std::sync::mpsc::channel();
        let response = agent
            .get(&url)
            .header("authorization", &auth)
            .call()
            .expect("open event stream");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        std::thread::spawn(move || {
            let reader = BufReader::new(response.into_body().into_reader());
            let mut name = String::new();
            for line in reader.lines() {
                let Ok(line) = line else { return };
                if let Some(rest) = line.strip_prefix("event:") {
                    name = rest.trim().to_owned();
                } else if let Some(rest) = line.strip_prefix("data:") {
                    let data = serde_json::from_str(rest.trim()).unwrap_or(Value::Null);
                    if sender
                        .send((name.clone(), data, std::time::Instant::now()))
                        .is_err()
                    {
                        return;
                    }
                }
            }
        });
        receiver
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        crate::helpers::kill_pid(self.child.id(), libc::SIGTERM);
        for _ in 0..100 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for the next event named `name` matching `accept`.
pub fn next_event(
    events: &std::sync::mpsc::Receiver<(String, Value, std::time::Instant)>,
    limit: Duration,
    name: &str,
    accept: impl Fn(&Value) -> bool,
) -> (Value, std::time::Instant) {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let left = deadline
            .checked_duration_since(std::time::Instant::now())
            .unwrap_or_else(|| panic!("no `{name}` event within {limit:?}"));
        let (got, data, at) = events
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no `{name}` event within {limit:?}"));
        if got == name && accept(&data) {
            return (data, at);
        }
    }
}

/// Every process whose session is `sid` (a task's process tree: the runner
/// starts the payload in a session of its own).
pub fn session_members(sid: u32) -> Vec<u32> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command's closing parenthesis: state ppid pgrp session ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.first() != Some(&"Z") && fields.get(3).and_then(|s| s.parse().ok()) == Some(sid) {
            members.push(pid);
        }
    }
    members
}
