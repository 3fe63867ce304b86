//! A real headless Chromium driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, installed by `scripts/setup/browser.sh`): a small client
//! of the W3C protocol over HTTP on loopback, enough for the page tests.
//!
//! The browser gets a fresh profile and every switch that keeps it from
//! reaching beyond the machine (no sync, no component updates, no
//! background networking); tests point it at 127.0.0.1 only.

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The element key of W3C WebDriver.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn found(var: &str, name: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(name))
                    .find(|p| p.is_file())
            })
        })
        .filter(|p| p.is_file())
}

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: ureq::Agent,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session; `None` (a skip,
    /// or a failure in CI) when they are not installed.
    pub fn start() -> Option<Self> {
        let (Some(chromium), Some(driver)) = (
            found("OPENCLAW_TEST_CHROMIUM", "chromium"),
            found("OPENCLAW_TEST_CHROMEDRIVER", "chromedriver"),
        ) else {
            crate::missing(
                "chromium and chromedriver: run `scripts/test` (scripts/setup/browser.sh \
                 installs Debian's chromium and chromium-driver)",
            );
            return None;
        };
        let port = free_port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let profile = tempfile::tempdir().expect("profile dir");
        let mut browser = Self {
            driver,
            base,
            session: String::new(),
            http,
            _profile: profile,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while browser.call("GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-default-apps",
            "--disable-extensions",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", browser._profile.path().display()),
        ];
        let session = browser
            .call(
                "POST",
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "unhandledPromptBehavior": "ignore",
                    "goog:chromeOptions": {"binary": chromium, "args": args},
                }}})),
            )
            .expect("new browser session");
        browser.session = session["sessionId"]
            .as_str()
            .expect("session id")
            .to_owned();
        Some(browser)
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        let url = format!("{}{path}", self.base);
        let response = match method {
            "GET" => self.http.get(&url).call(),
            "DELETE" => self.http.delete(&url).call(),
            _ => self
                .http
                .post(&url)
                .header("content-type", "application/json")
                .send(body.unwrap_or(json!({})).to_string()),
        };
        let mut response = response.map_err(|err| err.to_string())?;
        let status = response.status();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|err| err.to_string())?;
        let value: Value = serde_json::from_str(&text).map_err(|err| format!("{err}: {text}"))?;
        if status.is_success() {
            Ok(value["value"].clone())
        } else {
            Err(value["value"]["error"]
                .as_str()
                .unwrap_or("error")
                .to_owned()
                + ": "
                + value["value"]["message"].as_str().unwrap_or(""))
        }
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    pub fn goto(&self, url: &str) {
        assert!(
            url.starts_with("http://127.0.0.1:"),
            "tests browse loopback only: {url}"
        );
        self.session_call("POST", "/url", Some(json!({ "url": url })))
            .expect("navigate");
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
        .unwrap_or_else(|err| panic!("script failed: {err}\n{script}"))
    }

    /// Waits until `script` returns something truthy; returns it.
    pub fn wait_for(&self, what: &str, limit: Duration, script: &str) -> Value {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.execute(script, vec![]);
            let truthy = !matches!(&value, Value::Null | Value::Bool(false))
                && value != json!("")
                && value != json!(0);
            if truthy {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; page text:\n{}",
                self.execute("return document.body.innerText", vec![])
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The element `css` selects (the first), as a WebDriver reference.
    pub fn find(&self, css: &str) -> String {
        let found = self
            .session_call(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .unwrap_or_else(|err| panic!("no element {css}: {err}"));
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element id in {found}"))
            .to_owned()
    }

    /// Clicks like a user: the browser moves the pointer there and clicks.
    pub fn click(&self, css: &str) {
        let element = self.find(css);
        self.session_call("POST", &format!("/element/{element}/click"), None)
            .unwrap_or_else(|err| panic!("cannot click {css}: {err}"));
    }

    /// The text of an open alert, confirm or prompt dialog, if one is open.
    pub fn alert_text(&self) -> Option<String> {
        self.session_call("GET", "/alert/text", None)
            .ok()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
    }

    /// A PNG of the viewport.
    pub fn screenshot(&self) -> Vec<u8> {
        let data = self
            .session_call("GET", "/screenshot", None)
            .expect("screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(data.as_str().expect("base64 PNG"))
            .expect("decode screenshot")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.session_call("DELETE", "", None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Checks that `png` is an image with real content: decodes it, and counts
/// the pixels that differ from the most common colour (the background).
/// Returns (width, height, share of non-background pixels).
pub fn png_content(png: &[u8]) -> (u32, u32, f64) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("PNG size")];
    let info = reader.next_frame(&mut pixels).expect("PNG frame");
    let channels = info.color_type.samples();
    let mut counts = std::collections::HashMap::new();
    for pixel in pixels[..info.buffer_size()].chunks(channels) {
        *counts.entry(pixel.to_vec()).or_insert(0u64) += 1;
    }
    let total: u64 = counts.values().sum();
    let background = counts.values().copied().max().unwrap_or(0);
    let share = (total - background) as f64 / total.max(1) as f64;
    (info.width, info.height, share)
}

/// A listener on loopback that counts the connections made to it: proof that
/// a page did (or did not) fetch an injected URL.
pub struct Tripwire {
    pub port: u16,
    hits: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Tripwire {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("tripwire");
        let port = listener.local_addr().expect("addr").port();
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if let Ok(mut stream) = stream {
                    let _ = stream.set_read_timeout(Some(Duration::from_millis(200)));
                    let mut buffer = [0u8; 1024];
                    let _ = stream.read(&mut buffer);
                }
            }
        });
        Self { port, hits }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}
