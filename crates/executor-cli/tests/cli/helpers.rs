//! Shared test helpers: a throwaway HOME, the built binary, bounded waits.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_openclaw-agent");

/// Longest any single CLI invocation may take before the test calls it hung.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);

pub struct TestEnv {
    pub home: tempfile::TempDir,
    /// A workspace directory for tasks.
    pub work: PathBuf,
    extra_env: Vec<(String, String)>,
    /// A command the CLI runs under (e.g. `ip netns exec NS`), empty for none.
    prefix: Vec<String>,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from_output(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts a clean failure: the expected code, one line on stderr, no panic.
    pub fn assert_error(&self, code: i32, needle: &str) {
        assert_eq!(
            self.code, code,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        assert_eq!(self.stderr.lines().count(), 1, "stderr: {}", self.stderr);
        assert!(
            self.stderr.starts_with("error: "),
            "stderr: {}",
            self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "stderr: {} (wanted {needle})",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "stderr: {}", self.stderr);
    }
}

/// Points everything the CLI and its tasks keep per user below `home`, whatever
/// the caller's HOME, XDG variables and OPENCLAW_CONFIG say (`home/run` is the
/// runtime dir; [`TestEnv::new`] creates it).
pub fn isolate(command: &mut Command, home: &Path) {
    command
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env_remove("XDG_STATE_HOME")
        .env("XDG_RUNTIME_DIR", home.join("run"))
        .env_remove("OPENCLAW_CONFIG");
}

impl TestEnv {
    pub fn new() -> Self {
        let home = tempfile::tempdir().expect("temp home");
        let work = home.path().join("work");
        std::fs::create_dir(&work).expect("workspace");
        let run = home.path().join("run");
        std::fs::create_dir(&run).expect("runtime dir");
        std::fs::set_permissions(&run, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .expect("runtime dir mode");
        Self {
            home,
            work,
            extra_env: Vec::new(),
            prefix: Vec::new(),
        }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn set_env(&mut self, key: &str, value: &str) {
        self.extra_env.push((key.to_owned(), value.to_owned()));
    }

    /// The variables set with [`Self::set_env`].
    pub fn extra_env(&self) -> &[(String, String)] {
        &self.extra_env
    }

    /// Runs every CLI command under `prefix` (e.g. `ip netns exec NS`).
    pub fn set_prefix(&mut self, prefix: Vec<String>) {
        self.prefix = prefix;
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = match self.prefix.split_first() {
            Some((program, rest)) => {
                let mut command = Command::new(program);
                command.args(rest).arg(BIN);
                command
            }
            None => Command::new(BIN),
        };
        command
            .args(args)
            .current_dir(&self.work)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        isolate(&mut command, self.home());
        for (key, value) in &self.extra_env {
            command.env(key, value);
        }
        command
    }

    /// Runs the CLI to completion (bounded in time).
    pub fn run(&self, args: &[&str]) -> Run {
        run_bounded(self.command(args))
    }

    /// Runs the CLI and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(
            run.code, 0,
            "openclaw-agent {args:?} failed\nstdout: {}\nstderr: {}",
            run.stdout, run.stderr
        );
        run.stdout
    }

    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON from {args:?}: {e}\n{out}"))
    }

    /// Dispatches a shell command on the local executor and returns its task id.
    pub fn run_task(&self, cmd: &str) -> String {
        let out = self.ok(&["run", "--executor", "local", "--cmd", cmd]);
        let id = out.lines().next().expect("task id line").to_owned();
        assert_eq!(id.len(), 36, "not a task id: {out}");
        id
    }

    pub fn status(&self, id: &str) -> Value {
        self.json(&["status", "--task-id", id, "--json"])
    }

    /// Waits for the task to end and returns its final status JSON.
    pub fn wait_done(&self, id: &str) -> Value {
        let run = self.run(&["wait", "--task-id", id, "--timeout", "30"]);
        assert_ne!(run.code, 124, "task {id} did not end: {}", run.stderr);
        self.status(id)
    }

    /// A home whose `local` executor runs the real claude against the model
    /// API at `url`; `None` without claude (a failure in CI).
    pub fn with_local_claude(url: &str) -> Option<Self> {
        let claude = test_support::claude::claude_binary()?;
        let mut env = Self::new();
        for (key, value) in test_support::claude::claude_env(url) {
            env.set_env(key, &value);
        }
        env.write_config(&format!(
            "executors:\n  - name: local\n    type: local\n    allow_root: true\n    claude_path: {}\n",
            claude.display()
        ));
        Some(env)
    }

    /// Waits until `list` shows no task pending, running or queued.
    pub fn wait_all_ended(&self, limit: Duration) {
        let ended = eventually(limit, || {
            self.json(&["list", "--json"])
                .as_array()
                .expect("list")
                .iter()
                .all(|t| {
                    t["status"]
                        .as_str()
                        .is_some_and(|s| s != "pending" && s != "running" && s != "queued")
                })
        });
        assert!(ended, "{}", self.ok(&["list"]));
    }

    pub fn config_path(&self) -> PathBuf {
        self.home().join(".config/openclaw/coding-agent.yaml")
    }

    pub fn write_config(&self, yaml: &str) {
        let path = self.config_path();
        std::fs::create_dir_all(path.parent().expect("parent")).expect("config dir");
        std::fs::write(path, yaml).expect("write config");
    }

    pub fn tasks_dir(&self) -> PathBuf {
        self.home().join(".local/share/openclaw/tasks")
    }

    pub fn task_dir(&self, id: &str) -> PathBuf {
        self.tasks_dir().join(id)
    }

    pub fn completions_dir(&self) -> PathBuf {
        self.home().join(".openclaw-agent/completions")
    }

    pub fn completion(&self, id: &str) -> Option<Value> {
        let bytes = std::fs::read(self.completions_dir().join(format!("{id}.json"))).ok()?;
        Some(serde_json::from_slice(&bytes).expect("completion record is JSON"))
    }
}

pub fn run_bounded(mut command: Command) -> Run {
    let mut child = command.spawn().expect("spawn openclaw-agent");
    // Drain the pipes while waiting so a chatty command cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > COMMAND_LIMIT {
            let _ = child.kill();
            panic!("openclaw-agent hung for {COMMAND_LIMIT:?}: {command:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Run::from_output(Output {
        status,
        stdout: out_reader.join().expect("stdout reader"),
        stderr: err_reader.join().expect("stderr reader"),
    })
}

/// Polls `condition` until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    condition()
}

/// A command that runs about a second and touches `marker` as its last act.
pub fn ends_with_marker(marker: &Path) -> String {
    format!("sleep 1; touch '{}'", marker.display())
}

/// Checks that a task's `ended_at` is when it ended (the runner's exit record),
/// not when a command first noticed: the task runs [`ends_with_marker`], and
/// nothing looks at it until three seconds after the marker appeared.
pub fn assert_ended_at_is_the_end(env: &TestEnv, id: &str, marker: &Path) {
    assert!(eventually(Duration::from_secs(90), || marker.exists()));
    let marked = jiff::Timestamp::now();
    std::thread::sleep(Duration::from_secs(3));
    let status = env.status(id);
    assert_eq!(status["status"], "completed", "{status}");
    let ended: jiff::Timestamp = status["ended_at"].as_str().unwrap().parse().unwrap();
    // Remote records have second precision.
    let gap = ended.duration_since(marked).as_secs_f64();
    assert!(
        (-1.5..1.5).contains(&gap),
        "ended {gap:.2}s after the marker: {status}"
    );
}

/// Whether any live process of this machine is in process group `pgid`.
pub fn group_alive(pgid: u32) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            return false;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // After the command name: state, ppid, pgrp.
        let rest: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        rest.len() > 2 && rest[0] != "Z" && rest[0] != "X" && rest[2] == pgid.to_string()
    })
}

/// Whether a process exists and is not a zombie.
pub fn process_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("?");
            state != "Z" && state != "X"
        }
        Err(_) => false,
    }
}

pub fn kill_pid(pid: u32, signal: i32) {
    // SAFETY: kill has no memory-safety preconditions; the pid is one this test started.
    unsafe {
        libc::kill(pid as i32, signal);
    }
}

/// Reads pids written one per line by a task.
pub fn read_pids(path: &Path) -> Vec<u32> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Executor `env:` line forwarding what the real claude needs to reach the mock API.
pub const FORWARD_CLAUDE_ENV: &str = "    env: [ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC, DISABLE_TELEMETRY]\n";

/// Writes a script and makes it executable.
pub fn write_executable(path: &Path, script: &str) {
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// Puts a wrapper ahead of the real `program` on PATH that counts its calls.
pub fn count_calls(env: &mut TestEnv, program: &str) -> PathBuf {
    let bin = env.home().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let calls = env.home().join(format!("{program}-calls"));
    let real = ["/usr/bin", "/usr/local/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.exists())
        .unwrap();
    write_executable(
        &bin.join(program),
        &format!(
            "#!/bin/sh\necho call >> {}\nexec {} \"$@\"\n",
            calls.display(),
            real.display()
        ),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    env.set_env("PATH", &path);
    calls
}

pub fn calls(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .count()
}

/// Every file below `dir` (none when it is missing), for tests that search a
/// task's files for what must not be there.
pub fn all_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(all_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}

/// Text of at least `min_len` bytes with everything a shell or a JSON encoder
/// could mangle: quotes, `$()`, backticks, backslashes, tabs, unicode.
pub fn hostile_text(min_len: usize) -> String {
    let mut text = String::from(
        "single 'quotes' and \"double\" and `backticks` and $(echo subst) and ${HOME}\n\
         backslash \\ and \\n literal, tab\tand; semicolons && pipes | > redirects\n\
         unicode: ünïcødé ✓ 🤖 日本語 \u{202e}rtl\n\
         glob * ? [a-z] ~ # not a comment\n",
    );
    let mut i = 0;
    while text.len() < min_len {
        text.push_str(&format!(
            "line {i}: $x 'q' \"d\" `b` \\ {}\n",
            "é".repeat(i % 7)
        ));
        i += 1;
    }
    text
}
