//! The container executor against real Docker and Podman engines.
//!
//! `scripts/test` (scripts/setup/containers.sh) starts a private dockerd and a
//! private Podman storage, imports the test images and exports:
//! `OPENCLAW_TEST_DOCKER_HOST`, `OPENCLAW_TEST_PODMAN=1` (with `CONTAINERS_CONF`
//! and `CONTAINERS_STORAGE_CONF`), `OPENCLAW_TEST_BUSYBOX_IMAGE` and
//! `OPENCLAW_TEST_CLAUDE_IMAGE`. Every test runs once per engine; containers use
//! `--network none` except the agent's, which needs the mock API on loopback.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use test_support::claude::claude_env;
use test_support::{MockAnthropic, Script, Usage};

use crate::helpers::{Run, TestEnv, eventually, run_bounded};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Runtime {
    Docker,
    Podman,
}

impl Runtime {
    fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
        }
    }
}

/// One engine prepared by scripts/setup/containers.sh.
pub(crate) struct Engine {
    runtime: Runtime,
    busybox: String,
    pub(crate) docker_host: Option<String>,
}

/// Reports a missing component: a failure in CI, a skip (said out loud) elsewhere.
pub(crate) fn missing(what: &str) {
    let message = format!(
        "{what}: run `scripts/test` as root (scripts/setup/containers.sh starts private engines and builds the test images)"
    );
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("missing test component: {message}");
    }
    eprintln!("skipping: missing {message}");
}

impl Engine {
    pub(crate) fn get(runtime: Runtime) -> Option<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let (ready, docker_host) = match runtime {
            Runtime::Docker => {
                let host = var("OPENCLAW_TEST_DOCKER_HOST");
                (host.is_some(), host)
            }
            Runtime::Podman => (var("OPENCLAW_TEST_PODMAN").is_some(), None),
        };
        let busybox = var("OPENCLAW_TEST_BUSYBOX_IMAGE");
        match (ready, busybox) {
            (true, Some(busybox)) => Some(Self {
                runtime,
                busybox,
                docker_host,
            }),
            _ => {
                missing(&format!("a prepared {} engine", runtime.as_str()));
                None
            }
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        self.runtime.as_str()
    }

    /// The engine's CLI, pointed at the test engine.
    pub(crate) fn cli(&self, args: &[&str]) -> Run {
        let mut command = Command::new(self.name());
        command
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        if let Some(host) = &self.docker_host {
            command.env("DOCKER_HOST", host);
        }
        run_bounded(command)
    }

    /// The container's state (`running`, `exited`, ...), or `None` when it is gone.
    pub(crate) fn container_status(&self, id: &str) -> Option<String> {
        let run = self.cli(&[
            "container",
            "inspect",
            "--format",
            "{{.State.Status}}",
            &format!("openclaw-{id}"),
        ]);
        (run.code == 0).then(|| run.stdout.trim().to_owned())
    }

    /// The snapshot images `logs --transcript` made of task `id`'s container
    /// and left behind.
    pub(crate) fn snapshots_of(&self, id: &str) -> Vec<String> {
        let run = self.cli(&[
            "images",
            "--quiet",
            "--filter",
            &format!("reference=openclaw-transcript:{id}"),
        ]);
        assert_eq!(run.code, 0, "{} images: {}", self.name(), run.stderr);
        run.stdout.lines().map(str::to_owned).collect()
    }

    /// Names of all containers labelled with the task id.
    pub(crate) fn containers_of(&self, id: &str) -> Vec<String> {
        let run = self.cli(&[
            "ps",
            "--all",
            "--filter",
            &format!("label=openclaw.task={id}"),
            "--format",
            "{{.Names}}",
        ]);
        assert_eq!(run.code, 0, "{} ps: {}", self.name(), run.stderr);
        run.stdout.lines().map(str::to_owned).collect()
    }

    /// A test environment whose executor `box` runs `image` on this engine, with
    /// the host dir `data` mounted at /data (also the default workspace) plus
    /// `volumes`, and `extra` config lines.
    fn env_with(&self, image: &str, volumes: &[String], extra: &str) -> (TestEnv, PathBuf) {
        let mut env = TestEnv::new();
        if let Some(host) = &self.docker_host {
            env.set_env("DOCKER_HOST", host);
        }
        let data = env.home().join("data");
        std::fs::create_dir(&data).unwrap();
        let mut mounts = vec![format!("\"{}:/data\"", data.display())];
        mounts.extend(volumes.iter().map(|v| format!("\"{v}\"")));
        env.write_config(&format!(
            "executors:\n  - name: box\n    type: container\n    image: {image}\n    runtime: {}\n    network: none\n    workdir: /data\n    volumes: [{}]\n{extra}",
            self.name(),
            mounts.join(", ")
        ));
        (env, data)
    }

    pub(crate) fn env(&self, extra: &str) -> (TestEnv, PathBuf) {
        self.env_with(&self.busybox, &[], extra)
    }
}

/// Dispatches `cmd` on `box` and returns the task id.
fn run_box(env: &TestEnv, cmd: &str) -> String {
    run_box_in(env, cmd, &[])
}

fn run_box_in(env: &TestEnv, cmd: &str, extra_args: &[&str]) -> String {
    let mut args = vec!["run", "--executor", "box", "--cmd", cmd];
    args.extend_from_slice(extra_args);
    let out = env.ok(&args);
    let id = out.lines().next().expect("task id").to_owned();
    assert_eq!(id.len(), 36, "not a task id: {out}");
    id
}

/// Removes what a test leaves behind in the engine.
pub(crate) fn cleanup_all(env: &TestEnv, engine: &Engine, ids: &[&str]) {
    for id in ids {
        env.ok(&["cleanup", "--task-id", id, "--force", "--grace", "1"]);
        assert!(
            engine.containers_of(id).is_empty(),
            "container of {id} left"
        );
    }
}

fn wait_running(env: &TestEnv, id: &str) -> Value {
    let mut status = Value::Null;
    assert!(
        eventually(Duration::from_secs(20), || {
            status = env.status(id);
            status["status"] == "running" && status["pid"].is_u64()
        }),
        "task {id} never ran: {status}"
    );
    status
}

// ---------------------------------------------------------------------------
// The tests, each run against both engines (see the bottom of the file).

fn exit_codes_names_and_volumes(engine: &Engine) {
    let ro = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("input"), "from the host\n").unwrap();
    let (env, data) = engine.env_with(
        &engine.busybox,
        &[format!("{}:/ro:ro", ro.path().display())],
        "    labels: [isolated]\n",
    );

    let ok = run_box(
        &env,
        "echo to-stdout; echo to-stderr >&2; pwd > pwd.txt; cat /ro/input > copied; \
         if touch /ro/x 2>/dev/null; then echo writable; else echo read-only; fi > ro.txt",
    );
    let status = env.wait_done(&ok);
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["exit_code"], 0);
    assert_eq!(status["executor_type"], "container");
    assert_eq!(status["workspace"], "/data", "workdir is the default");
    assert_eq!(
        std::fs::read_to_string(data.join("pwd.txt")).unwrap(),
        "/data\n"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("copied")).unwrap(),
        "from the host\n"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("ro.txt")).unwrap(),
        "read-only\n"
    );
    let logs = env.ok(&["logs", "--task-id", &ok]);
    assert_eq!(logs, "to-stdout\nto-stderr\n");
    assert_eq!(engine.containers_of(&ok), [format!("openclaw-{ok}")]);
    assert_eq!(engine.container_status(&ok).as_deref(), Some("exited"));

    let failing = run_box(&env, "echo failing; exit 7");
    let run = env.run(&["wait", "--task-id", &failing, "--timeout", "30"]);
    assert_eq!(
        run.code, 7,
        "wait exits with the task's code: {}",
        run.stderr
    );
    let status = env.status(&failing);
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["exit_code"], 7);
    assert_eq!(status["reason"], "exit code 7");
    // The runner's record is on the host and outlives the container.
    let record: Value =
        serde_json::from_slice(&std::fs::read(env.task_dir(&failing).join("exit.json")).unwrap())
            .unwrap();
    assert_eq!(record["exit_code"], 7);
    assert_eq!(env.completion(&failing).unwrap()["status"], "failure");

    // A host path inside a volume is where the container sees it.
    std::fs::create_dir(data.join("sub dir")).unwrap();
    let host_path = data.join("sub dir");
    let mapped = run_box_in(
        &env,
        "pwd > here.txt",
        &["--workspace", host_path.to_str().unwrap()],
    );
    let status = env.wait_done(&mapped);
    assert_eq!(status["workspace"], "/data/sub dir");
    assert_eq!(
        std::fs::read_to_string(data.join("sub dir/here.txt")).unwrap(),
        "/data/sub dir\n"
    );
    // A workspace that is not there fails inside the container, clearly.
    let nowhere = run_box_in(&env, "true", &["--workspace", "/no/such/dir"]);
    let status = env.wait_done(&nowhere);
    assert_eq!(status["status"], "failed");
    assert_eq!(status["exit_code"], 126);
    assert!(
        env.ok(&["logs", "--task-id", &nowhere])
            .contains("cannot enter workspace /no/such/dir"),
    );
    env.run(&["run", "-e", "box", "-w", "relative/path", "-c", "true"])
        .assert_error(5, "must be an absolute path inside the container");

    // No `workdir`, no --workspace: the image's working directory (`/` here).
    let config = std::fs::read_to_string(env.config_path()).unwrap();
    env.write_config(&format!(
        "{config}  - name: plain\n    type: container\n    image: {}\n    runtime: {}\n    network: none\n",
        engine.busybox,
        engine.name()
    ));
    let out = env.ok(&["run", "-e", "plain", "-c", "pwd"]);
    let plain = out.trim();
    let status = env.wait_done(plain);
    assert_eq!(status["workspace"], "/", "{status}");
    assert_eq!(env.ok(&["logs", "--task-id", plain]), "/\n");

    let list = env.json(&["list", "--json", "--executor", "box"]);
    assert_eq!(list.as_array().unwrap().len(), 4);
    let executors = env.json(&["executors", "--json"]);
    let entry = &executors[0];
    assert_eq!(entry["name"], "box");
    assert_eq!(entry["labels"][0], "isolated");
    assert_eq!(entry["tasks"], 4);
    assert_eq!(entry["running"], 0);
    assert_eq!(
        entry["target"],
        format!("{} {}", engine.name(), engine.busybox)
    );
    cleanup_all(&env, engine, &[&ok, &failing, &mapped, &nowhere, plain]);
}

fn adversarial_commands_byte_for_byte(engine: &Engine) {
    let (env, data) = engine.env("");
    let text = crate::helpers::hostile_text(64 * 1024);
    let command = format!(
        "cat > received <<'OPENCLAW_END'\n{text}OPENCLAW_END\n\
         printf '%s|%s|%s' \"it's\" \"$(echo sub)\" `echo tick` > short\n"
    );
    let id = run_box(&env, &command);
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        std::fs::read_to_string(data.join("received")).unwrap(),
        text
    );
    assert_eq!(
        std::fs::read_to_string(data.join("short")).unwrap(),
        "it's|sub|tick"
    );
    assert_eq!(status["command"], command.as_str());
    cleanup_all(&env, engine, &[&id]);
}

fn logs_and_follow(engine: &Engine) {
    let (env, _) = engine.env("");
    let id = run_box(
        &env,
        "for i in 1 2 3 4 5 6; do echo \"line $i\"; sleep 0.3; done",
    );
    wait_running(&env, &id);
    // Follows until the task ends, then returns with every line.
    let followed = env.ok(&["logs", "--task-id", &id, "--follow"]);
    assert_eq!(followed, "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n");
    assert_eq!(env.status(&id)["status"], "completed");
    assert_eq!(
        env.ok(&["logs", "--task-id", &id, "--lines", "2"]),
        "line 5\nline 6\n"
    );
    assert_eq!(
        env.ok(&["logs", "--task-id", &id, "--lines", "100"]),
        "line 1\nline 2\nline 3\nline 4\nline 5\nline 6\n"
    );
    cleanup_all(&env, engine, &[&id]);
}

fn kill_stops_the_container(engine: &Engine) {
    let (env, _) = engine.env("");
    let id = run_box(&env, "echo started; sleep 300 & setsid sleep 301 & wait");
    let status = wait_running(&env, &id);
    assert_eq!(engine.container_status(&id).as_deref(), Some("running"));
    assert!(status["runner_pid"].as_u64().unwrap() > 0, "{status}");
    let out = env.ok(&["kill", "--task-id", &id, "--grace", "5"]);
    assert_eq!(out, format!("{id} killed\n"));
    let status = env.status(&id);
    assert_eq!(status["status"], "killed", "{status}");
    assert_eq!(status["exit_code"], 143, "the runner recorded SIGTERM");
    assert_eq!(status["reason"], "killed by request");
    assert_eq!(engine.container_status(&id).as_deref(), Some("exited"));
    env.run(&["kill", "--task-id", &id])
        .assert_error(7, "already ended");

    // A payload that ignores SIGTERM is ended with SIGKILL after the grace period.
    let stubborn = run_box(
        &env,
        "trap '' TERM; echo stubborn; while :; do sleep 1; done",
    );
    wait_running(&env, &stubborn);
    let out = env.ok(&["kill", "--task-id", &stubborn, "--grace", "1"]);
    assert_eq!(out, format!("{stubborn} killed\n"));
    let status = env.status(&stubborn);
    assert_eq!(status["status"], "killed", "{status}");
    assert_eq!(status["exit_code"], 137, "{status}");
    assert_eq!(
        engine.container_status(&stubborn).as_deref(),
        Some("exited")
    );
    let record = env.completion(&stubborn).unwrap();
    assert_eq!(record["task_status"], "killed");
    cleanup_all(&env, engine, &[&id, &stubborn]);
}

fn cleanup_removes_container_and_task_dir(engine: &Engine) {
    let (env, _) = engine.env("");
    let done = run_box(&env, "echo done");
    env.wait_done(&done);
    assert_eq!(engine.containers_of(&done).len(), 1);
    assert!(env.task_dir(&done).is_dir());
    // What a `logs --transcript` killed between its snapshot and the
    // snapshot's removal leaves: the image and the task dir's mark of it.
    let snapshot = engine.cli(&[
        "commit",
        &format!("openclaw-{done}"),
        &format!("openclaw-transcript:{done}"),
    ]);
    assert_eq!(snapshot.code, 0, "commit: {}", snapshot.stderr);
    std::fs::write(env.task_dir(&done).join("transcript-snapshot"), "").unwrap();
    assert_eq!(engine.snapshots_of(&done).len(), 1);
    assert_eq!(
        env.ok(&["cleanup", "--task-id", &done]),
        format!("removed {done}\n")
    );
    assert!(engine.containers_of(&done).is_empty(), "container left");
    assert!(engine.snapshots_of(&done).is_empty(), "snapshot image left");
    assert_eq!(engine.container_status(&done), None);
    assert!(!env.task_dir(&done).exists(), "task dir left");
    env.run(&["status", "--task-id", &done])
        .assert_error(4, "no task matches");
    assert!(env.completion(&done).is_some(), "the record is kept");

    let live = run_box(&env, "sleep 300");
    wait_running(&env, &live);
    env.run(&["cleanup", "--task-id", &live])
        .assert_error(7, "kill it first or pass --force");
    env.ok(&["cleanup", "--task-id", &live, "--force", "--grace", "1"]);
    assert!(engine.containers_of(&live).is_empty());
    assert!(!env.task_dir(&live).exists());
    assert_eq!(env.completion(&live).unwrap()["task_status"], "killed");

    let finished = run_box(&env, "exit 3");
    env.wait_done(&finished);
    env.ok(&["cleanup", "--finished"]);
    assert!(engine.containers_of(&finished).is_empty());
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");
}

fn missing_image_is_a_clear_error(engine: &Engine) {
    let (env, _) = engine.env_with("openclaw-test/missing:1", &[], "");
    env.run(&["run", "-e", "box", "-w", "/", "-c", "true"])
        .assert_error(5, "image `openclaw-test/missing:1` not found");
    // Without a workspace too (the default comes from the image).
    env.run(&["run", "-e", "box", "-c", "true"])
        .assert_error(5, "image `openclaw-test/missing:1` not found");
    let list = env.json(&["list", "--json"]);
    let tasks = list.as_array().unwrap();
    assert!(!tasks.is_empty());
    for task in tasks {
        assert_eq!(task["status"], "failed", "{task}");
        let reason = task["reason"].as_str().unwrap();
        assert!(reason.starts_with("launch failed: "), "{reason}");
        assert!(
            engine
                .containers_of(task["task_id"].as_str().unwrap())
                .is_empty()
        );
    }
}

fn secrets_stay_out_of_task_files(engine: &Engine) {
    let secret = "sk-container-secret-5c1e 'quoted' $(not run)";
    let fixed = "fixed-container-secret-9a7b";
    let multiline = "first-line-secret\nsecond-line-secret";
    let (mut env, data) = engine.env(&format!(
        "    env: [OC_TEST_SECRET, OC_TEST_MULTILINE, OC_TEST_UNSET, \"OC_TEST_FIXED={fixed}\"]\n"
    ));
    env.set_env("OC_TEST_SECRET", secret);
    env.set_env("OC_TEST_MULTILINE", multiline);
    let id = run_box(
        &env,
        "printf '%s|%s|%s|%s' \"$OC_TEST_SECRET\" \"$OC_TEST_FIXED\" \"$OC_TEST_MULTILINE\" \"${OC_TEST_UNSET-unset}\" > seen",
    );
    assert_eq!(env.wait_done(&id)["status"], "completed");
    assert_eq!(
        std::fs::read_to_string(data.join("seen")).unwrap(),
        format!("{secret}|{fixed}|{multiline}|unset")
    );
    for dir in [
        env.home().join(".local/share/openclaw"),
        env.home().join(".openclaw-agent"),
    ] {
        for file in crate::helpers::all_files(&dir) {
            let text =
                String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
            for value in [secret, fixed, "first-line-secret", "second-line-secret"] {
                assert!(
                    !text.contains(value),
                    "a secret leaked into {}",
                    file.display()
                );
            }
        }
    }
    cleanup_all(&env, engine, &[&id]);
}

fn engine_state_when_the_runner_could_not_record(engine: &Engine) {
    let (env, _) = engine.env("    run_args: [--memory, 32m, --memory-swap, 32m]\n");
    // SIGKILL for the whole container: the runner writes nothing, the engine knows.
    let killed = run_box(&env, "sleep 300");
    wait_running(&env, &killed);
    let run = engine.cli(&["kill", &format!("openclaw-{killed}")]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = env.wait_done(&killed);
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["exit_code"], 137);
    assert_eq!(status["reason"], "exit code 137 (signal 9)");
    assert!(!env.task_dir(&killed).join("exit.json").exists());

    // The container removed behind our back: the task is lost, not running forever.
    let removed = run_box(&env, "sleep 300");
    wait_running(&env, &removed);
    let name = format!("openclaw-{removed}");
    // Podman's `rm --force` stops gracefully first (and the runner records that).
    let run = match engine.runtime {
        Runtime::Docker => engine.cli(&["rm", "--force", &name]),
        Runtime::Podman => engine.cli(&["rm", "--force", "--time", "0", &name]),
    };
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = env.wait_done(&removed);
    assert_eq!(status["status"], "lost", "{status}");

    // Out of memory: the engine's verdict becomes the reason.
    let hungry = run_box(
        &env,
        "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}",
    );
    let status = env.wait_done(&hungry);
    assert_eq!(status["status"], "killed", "{status}");
    assert_eq!(status["exit_code"], 137, "{status}");
    assert_eq!(
        status["reason"],
        format!(
            "out of memory: {} OOM-killed the task's container",
            engine.name()
        )
    );
    cleanup_all(&env, engine, &[&killed, &removed, &hungry]);
}

fn container_user_can_use_the_task_dir(engine: &Engine) {
    // A uid, and a name the image's /etc/passwd knows (nobody = 65534).
    for user in ["65534:65534", "nobody"] {
        let (env, data) = engine.env(&format!("    user: \"{user}\"\n"));
        std::fs::set_permissions(&data, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        let id = run_box(&env, "id -u > uid; echo as-nobody");
        let status = env.wait_done(&id);
        assert_eq!(status["status"], "completed", "{user}: {status}");
        assert_eq!(
            std::fs::read_to_string(data.join("uid")).unwrap(),
            "65534\n"
        );
        assert_eq!(env.ok(&["logs", "--task-id", &id]), "as-nobody\n");
        cleanup_all(&env, engine, &[&id]);
    }
}

fn claude_runs_inside(engine: &Engine) {
    let Some(image) = std::env::var("OPENCLAW_TEST_CLAUDE_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        missing("the claude test image (OPENCLAW_TEST_CLAUDE_IMAGE)");
        return;
    };
    let mock = MockAnthropic::start(Script::bash_then_text(
        "echo agent-in-a-container > proof.txt && id -u >> proof.txt",
        "Done in the box.",
    ));
    let mut env = TestEnv::new();
    if let Some(host) = &engine.docker_host {
        env.set_env("DOCKER_HOST", host);
    }
    for (key, value) in claude_env(&mock.url()) {
        env.set_env(key, &value);
    }
    let names: Vec<&str> = claude_env(&mock.url())
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    env.write_config(&format!(
        "executors:\n  - name: agent\n    type: container\n    image: {image}\n    runtime: {}\n    \
         network: host\n    allow_root: true\n    claude_path: /usr/local/bin/claude\n    \
         volumes: [\"{}:/work\"]\n    env: [{}]\n",
        engine.name(),
        env.work.display(),
        names.join(", ")
    ));
    let prompt = "Write the proof file. It's \"urgent\" — $(not a command) `nor this`";
    let out = env.json(&[
        "start",
        "--json",
        "--executor",
        "agent",
        "--workspace",
        "/work",
        "--prompt",
        prompt,
    ]);
    let id = out["task_id"].as_str().unwrap().to_owned();
    let run = env.run(&["wait", "--task-id", &id, "--timeout", "90"]);
    let status = env.status(&id);
    assert_eq!(
        run.code,
        0,
        "{status}\n{}",
        env.ok(&["logs", "--task-id", &id, "--raw"])
    );
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        std::fs::read_to_string(env.work.join("proof.txt")).unwrap(),
        "agent-in-a-container\n0\n",
        "the agent's Bash tool ran in the container, as root, in the mounted workspace"
    );
    let agent = &status["agent"];
    assert_eq!(agent["turns"], 2, "{agent}");
    assert_eq!(agent["tool_calls"], 1);
    assert_eq!(agent["output_tokens"], 2 * Usage::default().output_tokens);
    assert_eq!(agent["result"], "Done in the box.");
    assert_eq!(agent["session_id"], out["session_id"]);
    let first = &mock.message_requests()[0];
    assert_eq!(first.header("x-api-key"), Some("sk-test-dummy"));
    assert!(
        first.body["messages"].to_string().contains("nor this"),
        "the prompt reached the API"
    );
    let rendered = env.ok(&["logs", "--task-id", &id]);
    assert!(
        rendered.contains("→ Bash: echo agent-in-a-container"),
        "{rendered}"
    );
    // Claude's own transcript stays in the container until cleanup.
    let transcript = env.ok(&["logs", "--task-id", &id, "--transcript"]);
    assert!(
        transcript.contains("▶ Write the proof file."),
        "{transcript}"
    );
    assert!(transcript.contains("→ Bash"), "{transcript}");
    let spent = crate::claude::budget_holds(
        &env,
        &mock,
        &["--executor", "agent", "--workspace", "/work"],
    );
    cleanup_all(&env, engine, &[&id, &spent]);
}

fn claude_as_root_needs_allow_root(engine: &Engine) {
    let (env, _) = engine.env("    claude_path: /usr/local/bin/claude\n");
    env.run(&["start", "-e", "box", "-p", "hi"])
        .assert_error(5, "allow_root: true");
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]", "nothing recorded");
}

/// A `docker` and a `podman` module, each with one test per function named,
/// run on that engine (skipped outside CI when the engine is missing).
macro_rules! on_both_engines {
    ($($test:ident),* $(,)?) => {
        mod docker {
            $(
                #[test]
                fn $test() {
                    if let Some(engine) = crate::container::Engine::get(crate::container::Runtime::Docker) {
                        super::$test(&engine);
                    }
                }
            )*
        }
        mod podman {
            $(
                #[test]
                fn $test() {
                    if let Some(engine) = crate::container::Engine::get(crate::container::Runtime::Podman) {
                        super::$test(&engine);
                    }
                }
            )*
        }
    };
}

pub(crate) use on_both_engines;

on_both_engines!(
    exit_codes_names_and_volumes,
    adversarial_commands_byte_for_byte,
    logs_and_follow,
    kill_stops_the_container,
    cleanup_removes_container_and_task_dir,
    missing_image_is_a_clear_error,
    secrets_stay_out_of_task_files,
    engine_state_when_the_runner_could_not_record,
    container_user_can_use_the_task_dir,
    claude_runs_inside,
    claude_as_root_needs_allow_root,
);

// ---------------------------------------------------------------------------
// Engine trouble, and a non-root user of a rootful engine.

#[test]
fn engine_not_installed() {
    for runtime in ["docker", "podman"] {
        let env = TestEnv::new();
        env.write_config(&format!(
            "executors:\n  - name: box\n    type: container\n    image: img\n    runtime: {runtime}\n"
        ));
        let mut command = env.command(&["run", "-e", "box", "-w", "/", "-c", "true"]);
        command.env("PATH", env.home().join("empty-path"));
        let run = run_bounded(command);
        run.assert_error(5, "is not installed: no `");
        assert!(run.stderr.contains("executor `box`"), "{}", run.stderr);
        assert!(run.stderr.contains(runtime), "{}", run.stderr);
        let list = env.json(&["list", "--json"]);
        assert_eq!(list[0]["status"], "failed", "{list}");
    }
}

#[test]
fn docker_daemon_down() {
    let Some(engine) = Engine::get(Runtime::Docker) else {
        return;
    };
    let (mut env, _) = engine.env("");
    let live = run_box(&env, "sleep 300");
    wait_running(&env, &live);

    // The daemon "goes away": a clear error, and the live task is not given up.
    let gone = format!("unix://{}/no-docker.sock", env.home().display());
    env.set_env("DOCKER_HOST", &gone);
    env.run(&["run", "-e", "box", "-w", "/", "-c", "true"])
        .assert_error(5, "docker: Cannot connect to the Docker daemon");
    let run = env.run(&["status", "--task-id", &live, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: executor `box`: docker: Cannot connect"),
        "{}",
        run.stderr
    );
    let status: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        status["status"], "running",
        "not lost while the daemon is away"
    );

    // Back again.
    env.set_env("DOCKER_HOST", engine.docker_host.as_deref().unwrap());
    assert_eq!(env.status(&live)["status"], "running");
    cleanup_all(&env, &engine, &[&live]);
}

#[test]
fn docker_context_is_honoured() {
    let Some(engine) = Engine::get(Runtime::Docker) else {
        return;
    };
    let (mut env, data) = engine.env("    context: openclaw-test\n");
    // The context lives in the test's HOME (~/.docker) and names the test engine;
    // DOCKER_HOST points nowhere, so only the context can reach it.
    let mut create = Command::new("docker");
    create
        .args(["context", "create", "openclaw-test", "--docker"])
        .arg(format!("host={}", engine.docker_host.as_deref().unwrap()))
        .env("HOME", env.home())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let run = run_bounded(create);
    assert_eq!(run.code, 0, "{}", run.stderr);
    env.set_env(
        "DOCKER_HOST",
        &format!("unix://{}/nowhere.sock", env.home().display()),
    );
    let id = run_box(&env, "echo via-context > ctx.txt");
    assert_eq!(env.wait_done(&id)["status"], "completed");
    assert_eq!(
        std::fs::read_to_string(data.join("ctx.txt")).unwrap(),
        "via-context\n"
    );
    cleanup_all(&env, &engine, &[&id]);
}

/// A user in the `docker` group runs tasks whose container runs as root: the
/// files root writes in the task dir must stay readable to that user.
#[test]
fn non_root_user_reads_what_container_root_wrote() {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;
    let Some(engine) = Engine::get(Runtime::Docker) else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping: needs root to act as another user");
        return;
    }
    let host = engine.docker_host.clone().unwrap();
    let socket = host.trim_start_matches("unix://");
    let socket_gid = std::fs::metadata(socket).unwrap().gid();
    let (env, data) = engine.env("");
    let nobody = 65534;
    for path in [env.home().to_path_buf(), env.work.clone(), data.clone()]
        .iter()
        .chain(all_dirs(env.home()).iter())
    {
        std::os::unix::fs::chown(path, Some(nobody), Some(socket_gid)).unwrap();
    }
    std::os::unix::fs::chown(env.config_path(), Some(nobody), Some(socket_gid)).unwrap();
    let as_nobody = |args: &[&str]| {
        let mut command = env.command(args);
        command.uid(nobody).gid(socket_gid);
        run_bounded(command)
    };
    let run = as_nobody(&[
        "run",
        "-e",
        "box",
        "-c",
        "id -u > /data/uid; echo from root; exit 4",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.stdout.trim().to_owned();
    let run = as_nobody(&["wait", "--task-id", &id, "--timeout", "30"]);
    assert_eq!(run.code, 4, "the exit record is readable: {}", run.stderr);
    let run = as_nobody(&["logs", "--task-id", &id]);
    assert_eq!(run.stdout, "from root\n", "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(data.join("uid")).unwrap(), "0\n");
    let exit = env.task_dir(&id).join("exit.json");
    assert_eq!(
        std::fs::metadata(&exit).unwrap().uid(),
        0,
        "written by container root"
    );
    let run = as_nobody(&["cleanup", "--task-id", &id]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(!env.task_dir(&id).exists());
    assert!(engine.containers_of(&id).is_empty());
}

fn all_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            dirs.push(path.clone());
            dirs.extend(all_dirs(&path));
        }
    }
    dirs
}
