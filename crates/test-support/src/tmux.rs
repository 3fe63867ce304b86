//! A terminal for tests of terminal programs: a private tmux server (its own
//! socket in a temp dir) running one command in one pane, read back with
//! `capture-pane` and driven with `send-keys`. Waits poll the screen until a
//! deadline; nothing sleeps a fixed time.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub struct Tmux {
    dir: tempfile::TempDir,
    session: &'static str,
}

impl Tmux {
    /// Runs `command` (a shell command line) in a `width`x`height` pane, or
    /// `None` (after [`crate::missing`]) when tmux is not installed.
    pub fn start(width: u16, height: u16, command: &str) -> Option<Self> {
        if Command::new("tmux")
            .arg("-V")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            crate::missing("tmux (scripts/setup/tmux.sh installs it)");
            return None;
        }
        let tmux = Self {
            dir: tempfile::tempdir().expect("tmux dir"),
            session: "t",
        };
        let (w, h) = (width.to_string(), height.to_string());
        tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            tmux.session,
            "-x",
            &w,
            "-y",
            &h,
            command,
        ]);
        // A pane whose command ended stays, so its last screen can be read.
        tmux.run(&["set-option", "-g", "remain-on-exit", "on"]);
        // What programs copy with OSC 52 lands in a paste buffer ([`Self::clipboard`]).
        tmux.run(&["set-option", "-s", "set-clipboard", "on"]);
        Some(tmux)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    fn run(&self, args: &[&str]) -> String {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(self.socket())
            .args(args)
            .env_remove("TMUX")
            .stdin(Stdio::null())
            .output()
            .expect("run tmux");
        assert!(
            output.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The screen as text, one line per row.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", self.session])
    }

    /// A tmux format for the pane, e.g. `#{alternate_on}`.
    pub fn format(&self, format: &str) -> String {
        self.run(&["display-message", "-p", "-t", self.session, format])
            .trim()
            .to_owned()
    }

    /// Types `keys` (tmux key names, e.g. `Enter`, `Escape`, or text).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.session];
        args.extend(keys);
        self.run(&args);
    }

    /// Types `text` literally.
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-l", "-t", self.session, text]);
    }

    pub fn resize(&self, width: u16, height: u16) {
        let (w, h) = (width.to_string(), height.to_string());
        self.run(&["resize-window", "-t", self.session, "-x", &w, "-y", &h]);
    }

    /// The newest paste buffer: what the program last copied with OSC 52.
    pub fn clipboard(&self) -> Option<String> {
        let output = Command::new("tmux")
            .arg("-S")
            .arg(self.socket())
            .args(["show-buffer"])
            .output()
            .ok()?;
        output
            .status
            .success()
            .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Appends every byte the pane's program writes from now on to `path`.
    pub fn record(&self, path: &std::path::Path) {
        let command = format!("cat >> '{}'", path.display());
        self.run(&["pipe-pane", "-o", "-t", self.session, &command]);
    }

    /// Polls the screen until `ready` holds for it; panics with the last
    /// screen after `limit`.
    pub fn wait_for(&self, what: &str, limit: Duration, ready: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            if started.elapsed() > limit {
                panic!("waited {limit:?} for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Ends this test's own server (and the pane's command) only.
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(self.socket())
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
