//! The SSH executor against a real OpenSSH server on loopback.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
pub(crate) use test_support::accounts::give_to_test_user;
use test_support::claude::{claude_binary, claude_env};
use test_support::sshd::{ROOT_USER, Sshd, TEST_USER};
use test_support::{MockAnthropic, Script};

use crate::helpers::{TestEnv, eventually, process_alive, read_pids};

/// A test environment with one SSH executor `box` logging in as `user`.
pub(crate) struct SshTest {
    pub(crate) env: TestEnv,
    sshd: Sshd,
    /// Remote task root, private to this test.
    pub(crate) task_root: PathBuf,
    /// A workspace on the "remote" host (the same machine), writable by `user`.
    pub(crate) workspace: PathBuf,
    user: String,
}

impl SshTest {
    pub(crate) fn new(user: &str) -> Option<Self> {
        Self::with_config(user, "")
    }

    pub fn with_config(user: &str, extra: &str) -> Option<Self> {
        let sshd = Sshd::start()?;
        let mut env = TestEnv::new();
        // Short socket paths: unix sockets are limited to ~100 bytes.
        let control = env.home().join("cm");
        std::fs::create_dir(&control).unwrap();
        std::fs::set_permissions(
            &control,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        env.set_env("OPENCLAW_SSH_CONTROL_DIR", control.to_str().unwrap());
        let remote = tempfile::Builder::new()
            .prefix("openclaw-remote-")
            .tempdir_in(std::env::temp_dir())
            .unwrap()
            .keep();
        std::fs::set_permissions(&remote, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let task_root = remote.join("tasks");
        let workspace = remote.join("work");
        std::fs::create_dir(&workspace).unwrap();
        if user != ROOT_USER {
            give_to_test_user(&remote);
        }
        let test = Self {
            env,
            sshd,
            task_root,
            workspace,
            user: user.to_owned(),
        };
        test.write_config(extra);
        Some(test)
    }

    fn executor_yaml(&self, extra: &str) -> String {
        format!(
            "{}    task_root: {}\n{extra}",
            self.sshd.executor_yaml("box", &self.user),
            self.task_root.display()
        )
    }

    pub(crate) fn write_config(&self, extra: &str) {
        self.env
            .write_config(&format!("executors:\n{}", self.executor_yaml(extra)));
    }

    pub(crate) fn ws(&self) -> &str {
        self.workspace.to_str().unwrap()
    }

    pub(crate) fn run_task(&self, cmd: &str) -> String {
        let out = self.env.ok(&[
            "run",
            "--executor",
            "box",
            "--cmd",
            cmd,
            "--workspace",
            self.ws(),
        ]);
        out.lines().next().unwrap().to_owned()
    }

    pub(crate) fn remote_dir(&self, id: &str) -> PathBuf {
        self.task_root.join(id)
    }
}

impl Drop for SshTest {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.workspace.parent().unwrap());
    }
}

fn lifecycle(user: &str) {
    let Some(t) = SshTest::new(user) else { return };
    let env = &t.env;
    let id = t.run_task("echo out; id -un; echo err >&2; exit 3");
    let run = env.run(&["wait", "--task-id", &id, "--timeout", "30"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let status = env.status(&id);
    assert_eq!(status["status"], "failed");
    assert_eq!(status["exit_code"], 3);
    assert_eq!(status["executor_type"], "ssh");
    let name = user;
    assert_eq!(
        env.ok(&["logs", "--task-id", &id]),
        format!("out\n{name}\nerr\n")
    );
    assert_eq!(env.ok(&["logs", "--task-id", &id, "--lines", "1"]), "err\n");

    // Remote layout: a private task dir with the runner's records.
    let dir = t.remote_dir(&id);
    for file in [
        ".meta.json",
        "task.log",
        "task.pid",
        "exit.json",
        "runner.sh",
    ] {
        assert!(dir.join(file).exists(), "{file} missing remotely");
    }
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&t.task_root), 0o700);
    // Mirrored locally.
    assert!(env.task_dir(&id).join(".meta.json").exists());
    assert_eq!(env.completion(&id).unwrap()["status"], "failure");

    // Follow a task that prints over time.
    let id2 = t.run_task("for i in 1 2 3; do echo tick$i; sleep 0.5; done");
    let followed = env.ok(&["logs", "--task-id", &id2, "--follow"]);
    assert_eq!(followed, "tick1\ntick2\ntick3\n");

    // Kill ends the remote tree.
    let pids = t.workspace.join("pids");
    let id3 = t.run_task(&format!(
        "echo $$ >> {p}; sleep 300 & echo $! >> {p}; setsid sh -c 'echo $$ >> {p}; sleep 301' & wait",
        p = pids.display()
    ));
    assert!(eventually(Duration::from_secs(10), || read_pids(&pids)
        .len()
        >= 3));
    let list = env.json(&["list", "--status", "running", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    env.ok(&["kill", "--task-id", &id3, "--grace", "1"]);
    for pid in read_pids(&pids) {
        assert!(
            eventually(Duration::from_secs(5), || !process_alive(pid)),
            "pid {pid} survived: {:?} {:?}",
            std::fs::read_to_string(format!("/proc/{pid}/stat")),
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        );
    }
    assert_eq!(env.status(&id3)["status"], "killed");

    // Cleanup removes the remote dir and the mirror.
    for task in [&id, &id2, &id3] {
        env.ok(&["cleanup", "--task-id", task]);
        assert!(!t.remote_dir(task).exists());
        assert!(!env.task_dir(task).exists());
    }
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");
}

#[test]
fn lifecycle_as_root() {
    lifecycle(ROOT_USER);
}

#[test]
fn lifecycle_as_a_normal_user() {
    lifecycle(TEST_USER);
}

fn agent_task(user: &str) {
    let Some(claude) = claude_binary() else {
        return;
    };
    let mock = MockAnthropic::start(Script::bash_then_text(
        "echo remote-agent > proof.txt",
        "Done remotely.",
    ));
    let forward = crate::helpers::FORWARD_CLAUDE_ENV;
    let extra = format!(
        "    claude_path: {}\n{forward}{}",
        claude.display(),
        if user == ROOT_USER {
            "    allow_root: true\n"
        } else {
            ""
        }
    );
    let Some(mut t) = SshTest::with_config(user, &extra) else {
        return;
    };
    for (key, value) in claude_env(&mock.url()) {
        t.env.set_env(key, &value);
    }
    let out = t.env.json(&[
        "start",
        "--executor",
        "box",
        "--workspace",
        t.ws(),
        "--prompt",
        "write the proof",
        "--json",
    ]);
    let id = out["task_id"].as_str().unwrap().to_owned();
    let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "90"]);
    let status = t.env.status(&id);
    assert_eq!(
        run.code,
        0,
        "{status}\n{}",
        t.env.ok(&["logs", "--task-id", &id, "--raw"])
    );
    assert_eq!(status["status"], "completed");
    assert_eq!(
        std::fs::read_to_string(t.workspace.join("proof.txt")).unwrap(),
        "remote-agent\n"
    );
    assert_eq!(status["agent"]["tool_calls"], 1);
    assert_eq!(status["agent"]["turns"], 2);
    assert_eq!(status["agent"]["result_subtype"], "success");
    let rendered = t.env.ok(&["logs", "--task-id", &id]);
    assert!(
        rendered.contains("→ Bash: echo remote-agent > proof.txt"),
        "{rendered}"
    );
    let transcript = t.env.ok(&["logs", "--task-id", &id, "--transcript"]);
    assert!(transcript.contains("▶ write the proof"), "{transcript}");
    crate::claude::budget_holds(&t.env, &mock, &["--executor", "box", "--workspace", t.ws()]);
}

#[test]
fn agent_task_as_root() {
    agent_task(ROOT_USER);
}

#[test]
fn agent_task_as_a_normal_user() {
    agent_task(TEST_USER);
}

#[test]
fn unknown_host_key_is_refused_unless_accept_new() {
    let Some(t) = SshTest::new(ROOT_USER) else {
        return;
    };
    std::fs::write(&t.sshd.known_hosts, "").unwrap();
    let run = t.env.run(&["run", "--executor", "box", "--cmd", "true"]);
    run.assert_error(5, "host key");
    assert!(run.stderr.contains("accept-new"), "{}", run.stderr);
    assert!(
        t.env
            .json(&["list", "--status", "running", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    t.write_config("    host_key_policy: accept-new\n");
    let id = t.run_task("true");
    assert_eq!(t.env.wait_done(&id)["status"], "completed");
    let known = std::fs::read_to_string(&t.sshd.known_hosts).unwrap();
    assert!(known.contains("127.0.0.1"), "the key was recorded: {known}");
}

#[test]
fn task_survives_sshd_going_away() {
    let Some(mut t) = SshTest::new(ROOT_USER) else {
        return;
    };
    let marker = t.workspace.join("marker");
    let id = t.run_task(&format!("sleep 2; echo done > {}", marker.display()));
    t.sshd.stop();
    let run = t.env.run(&["status", "--task-id", &id, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
    let status: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        status["status"], "running",
        "last known state while unreachable"
    );
    assert!(
        eventually(Duration::from_secs(15), || marker.exists()),
        "the task died with sshd"
    );
    t.sshd.resume();
    let status = t.env.wait_done(&id);
    assert_eq!(status["status"], "completed");
    assert_eq!(status["exit_code"], 0);
}

/// A host that hangs (its sshd stopped mid-session) holds up neither the
/// dashboard nor the other executors' tasks: it is marked stale, then
/// unreachable, and its tasks stay as last known.
#[test]
fn dashboard_marks_a_hung_host_and_goes_on() {
    use crate::dashboard::{LIMIT, assert_quits_cleanly, dashboard, row_has};
    let Some(t) = SshTest::new(ROOT_USER) else {
        return;
    };
    let remote = t.run_task("sleep 300");
    let marker = t.env.work.join("go");
    let local = t.env.run_task(&format!(
        "while [ ! -e '{}' ]; do sleep 0.1; done",
        marker.display()
    ));
    let Some(tmux) = dashboard(&t.env, 120, 30) else {
        return;
    };
    tmux.wait_for("both tasks, the host answering", LIMIT, |s| {
        row_has(s, &remote, "running") && row_has(s, &local, "running") && s.contains("box 1/0/- ✓")
    });
    t.sshd.freeze();
    std::fs::write(&marker, "").unwrap();
    // The local task's end shows while the host hangs.
    let screen = tmux.wait_for("the local task completed", LIMIT, |s| {
        row_has(s, &local, "completed")
    });
    assert!(row_has(&screen, &remote, "running"), "{screen}");
    tmux.wait_for("the host marked", LIMIT, |s| {
        s.contains("box 1/0/- stale") || s.contains("box 1/0/- ✗")
    });
    // Keys are served meanwhile.
    tmux.keys(&["s"]);
    tmux.wait_for("the filter", LIMIT, |s| {
        s.contains("status=running")
            && row_has(s, &remote, "running")
            && !row_has(s, &local, "completed")
    });
    assert_quits_cleanly(&tmux);
    t.sshd.thaw();
    t.env.ok(&["kill", "-t", &remote, "--grace", "1"]);
}

#[test]
fn logs_follow_rides_out_a_dropped_link() {
    let Some(mut t) = SshTest::new(ROOT_USER) else {
        return;
    };
    let id = t.run_task("for i in 1 2 3 4 5 6; do echo line$i; sleep 0.5; done");
    let mut follow = t.env.command(&["logs", "--task-id", &id, "--follow", "60"]);
    let mut child = follow.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(800));
    t.sshd.stop();
    std::thread::sleep(Duration::from_millis(1500));
    t.sshd.resume();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(stdout, "line1\nline2\nline3\nline4\nline5\nline6\n");
}

#[test]
fn end_time_is_when_the_task_ended() {
    let Some(t) = SshTest::new(ROOT_USER) else {
        return;
    };
    let marker = t.workspace.join("ended");
    let id = t.run_task(&crate::helpers::ends_with_marker(&marker));
    crate::helpers::assert_ended_at_is_the_end(&t.env, &id, &marker);
}

#[test]
fn twenty_concurrent_dispatches() {
    let Some(t) = SshTest::new(ROOT_USER) else {
        return;
    };
    let handles: Vec<_> = (0..20)
        .map(|i| {
            let command = t.env.command(&[
                "run",
                "--executor",
                "box",
                "--cmd",
                &format!("echo n{i}"),
                "--workspace",
                t.ws(),
            ]);
            std::thread::spawn(move || crate::helpers::run_bounded(command))
        })
        .collect();
    let mut ids = Vec::new();
    for handle in handles {
        let run = handle.join().unwrap();
        assert_eq!(run.code, 0, "{}", run.stderr);
        ids.push(run.stdout.trim().to_owned());
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20);
    for id in &ids {
        assert_eq!(t.env.wait_done(id)["status"], "completed");
    }
    assert_eq!(
        t.env.json(&["list", "--json"]).as_array().unwrap().len(),
        20
    );
    // One process opened the shared connection and the others waited for it:
    // twenty logins at once would meet sshd's MaxStartups and be dropped.
    // Sessions on it are capped below sshd's MaxSessions, so ssh never falls
    // back to logins of its own (a session still closing on the server may
    // rarely cost one).
    let log = t.sshd.log();
    assert!(!log.contains("MaxStartups"), "{log}");
    assert!(log.matches("Accepted publickey").count() <= 2, "{log}");
}

#[test]
fn adversarial_commands_arrive_byte_for_byte() {
    let Some(t) = SshTest::new(ROOT_USER) else {
        return;
    };
    let text = crate::helpers::hostile_text(100 * 1024);
    let command = format!("cat > received <<'OPENCLAW_END'\n{text}OPENCLAW_END\n");
    let id = t.run_task(&command);
    assert_eq!(t.env.wait_done(&id)["status"], "completed");
    assert_eq!(
        std::fs::read_to_string(t.workspace.join("received")).unwrap(),
        text
    );
    assert_eq!(
        std::fs::read_to_string(t.remote_dir(&id).join("command.sh")).unwrap(),
        command
    );
}

#[test]
fn prompts_arrive_byte_for_byte() {
    let Some(t) = SshTest::new(ROOT_USER) else {
        return;
    };
    let catcher = t.workspace.join("catcher");
    crate::helpers::write_executable(
        &catcher,
        &format!("#!/bin/sh\ncat > {}/prompt-received\n", t.ws()),
    );
    t.write_config(&format!(
        "    claude_path: {}\n    allow_root: true\n",
        catcher.display()
    ));
    let prompt = crate::helpers::hostile_text(100 * 1024);
    let id = t.env.ok(&[
        "start",
        "--executor",
        "box",
        "--workspace",
        t.ws(),
        "--prompt",
        &prompt,
    ]);
    assert_eq!(t.env.wait_done(id.trim())["status"], "completed");
    assert_eq!(
        std::fs::read_to_string(t.workspace.join("prompt-received")).unwrap(),
        prompt
    );
}

#[test]
fn unsafe_task_roots_are_refused() {
    let Some(t) = SshTest::new(ROOT_USER) else {
        return;
    };
    let target = t.workspace.join("elsewhere");
    std::fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&target, &t.task_root).unwrap();
    t.env
        .run(&["run", "--executor", "box", "--cmd", "true"])
        .assert_error(5, "symbolic link");
    assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0);

    std::fs::remove_file(&t.task_root).unwrap();
    std::fs::create_dir(&t.task_root).unwrap();
    give_to_test_user(&t.task_root);
    t.env
        .run(&["run", "--executor", "box", "--cmd", "true"])
        .assert_error(5, "owned by uid");
}

#[test]
fn unreachable_host_and_bad_auth_are_clear() {
    let Some(t) = SshTest::new(ROOT_USER) else {
        return;
    };
    // Nothing listens on a port we just freed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = t
        .executor_yaml("")
        .replace(&format!("port: {}", t.sshd.port), &format!("port: {port}"));
    t.env.write_config(&format!("executors:\n{config}"));
    let run = t.env.run(&["run", "--executor", "box", "--cmd", "true"]);
    run.assert_error(5, "executor `box`: cannot reach");
    let failed = t.env.json(&["list", "--json"]);
    assert!(
        failed
            .as_array()
            .unwrap()
            .iter()
            .all(|task| task["status"] == "failed")
    );

    // A key the server does not know.
    let other_key = t.env.home().join("otherkey");
    assert!(
        std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", ""])
            .arg("-f")
            .arg(&other_key)
            .status()
            .unwrap()
            .success()
    );
    let config = t.executor_yaml("").replace(
        t.sshd.client_key.to_str().unwrap(),
        other_key.to_str().unwrap(),
    );
    t.env.write_config(&format!("executors:\n{config}"));
    t.env
        .run(&["run", "--executor", "box", "--cmd", "true"])
        .assert_error(5, "authentication to root@127.0.0.1");

    // claude missing on the host.
    t.write_config("    claude_path: /nonexistent/claude\n    allow_root: true\n");
    t.env
        .run(&["start", "--executor", "box", "--prompt", "hi"])
        .assert_error(5, "claude not found on the host");
    assert!(
        t.env
            .json(&["list", "--status", "running", "--json"])
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn list_refreshes_a_host_in_one_round_trip() {
    let Some(mut t) = SshTest::new(ROOT_USER) else {
        return;
    };
    let ids: Vec<String> = (0..5).map(|_| t.run_task("sleep 300")).collect();
    // Count ssh invocations with a wrapper ahead of the real client on PATH.
    let calls = crate::helpers::count_calls(&mut t.env, "ssh");
    let list = t.env.json(&["list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 5);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|task| task["status"] == "running")
    );
    assert_eq!(
        crate::helpers::calls(&calls),
        1,
        "one ssh invocation refreshes all five tasks"
    );
    for id in &ids {
        t.env.ok(&["kill", "--task-id", id, "--grace", "1"]);
    }
}

#[test]
fn a_runner_killed_on_the_host_is_lost() {
    // A normal user: liveness reads the runner's /proc/<pid>/fd, which only
    // its owner (or root) may.
    let Some(t) = SshTest::new(TEST_USER) else {
        return;
    };
    let child_file = t.workspace.join("child");
    let id = t.run_task(&format!(
        "sleep 300 & echo $! > {}; wait",
        child_file.display()
    ));
    let dir = t.remote_dir(&id);
    let read_pid = |name: &str| -> Option<i32> {
        let text = std::fs::read_to_string(dir.join(name)).ok()?;
        text.strip_suffix('\n')?.parse().ok()
    };
    let started = std::time::Instant::now();
    let (runner, payload) = loop {
        if let (Some(runner), Some(payload)) = (read_pid("runner.pid"), read_pid("task.pid")) {
            break (runner, payload);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "runner never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(t.env.status(&id)["status"], "running");
    assert!(eventually(Duration::from_secs(10), || !read_pids(
        &child_file
    )
    .is_empty()));
    let child = read_pids(&child_file)[0];
    // SAFETY: kill has no memory-safety preconditions; this process is this test's.
    unsafe {
        libc::kill(runner, libc::SIGKILL);
    }
    let started = std::time::Instant::now();
    loop {
        let status = t.env.status(&id);
        if status["status"] == "lost" {
            assert_eq!(
                status["reason"],
                format!(
                    "the task runner is gone from {TEST_USER}@127.0.0.1:{} without an exit record",
                    t.sshd.port
                )
            );
            break;
        }
        assert_eq!(status["status"], "running", "{status}");
        assert!(started.elapsed() < Duration::from_secs(10), "{status}");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Found lost, the payload and its child end on the host.
    for pid in [payload as u32, child] {
        assert!(
            eventually(Duration::from_secs(10), || !process_alive(pid)),
            "pid {pid} of the lost task survived"
        );
    }
}

/// The umask this process (and so the test's sshd and its sessions) runs with.
fn own_umask() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn remote_tasks_leave_nothing_running_and_get_the_login_umask() {
    let Some(t) = SshTest::new(TEST_USER) else {
        return;
    };
    let env = &t.env;
    let created = t.workspace.join("created");
    let id = t.run_task(&format!("umask; : > {}", created.display()));
    assert_eq!(env.wait_done(&id)["status"], "completed");
    assert_eq!(env.ok(&["logs", "--task-id", &id]).trim(), own_umask());
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions())
            & 0o777
    };
    let mask = u32::from_str_radix(&own_umask(), 8).unwrap();
    assert_eq!(mode(&created), 0o666 & !mask);
    for entry in std::fs::read_dir(t.remote_dir(&id)).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }

    // A background job ends with the task.
    let pids = t.workspace.join("pids");
    let id = t.run_task(&format!("sleep 300 & echo $! > {}; exit 0", pids.display()));
    assert_eq!(env.wait_done(&id)["status"], "completed");
    let job = read_pids(&pids)[0];
    assert!(!process_alive(job), "the background job outlived the task");

    // Unless the executor keeps them: then kill and cleanup still reach them.
    t.write_config("    keep_background: true\n");
    std::fs::remove_file(&pids).unwrap();
    let id = t.run_task(&format!("sleep 300 & echo $! > {}; exit 0", pids.display()));
    assert_eq!(env.wait_done(&id)["status"], "completed");
    let job = read_pids(&pids)[0];
    assert!(process_alive(job), "the kept background job ended");
    env.run(&["cleanup", "--task-id", &id])
        .assert_error(7, "still run");
    assert!(t.remote_dir(&id).exists());
    let out = env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
    assert!(out.contains("ended the processes"), "{out}");
    assert!(eventually(Duration::from_secs(5), || !process_alive(job)));
    env.ok(&["cleanup", "--task-id", &id]);
    assert!(!t.remote_dir(&id).exists());
}

#[test]
fn a_workspace_missing_on_the_host_fails_the_launch() {
    // The host checks the workspace the task was dispatched with, whether the
    // task starts at once or later from the queue.
    let Some(t) = SshTest::with_config(ROOT_USER, "    max_concurrent: 1\n") else {
        return;
    };
    let gone = t.workspace.join("gone");
    let gone = gone.to_str().expect("a UTF-8 path");
    let run = |json: bool| {
        let mut args = vec!["run", "--executor", "box", "--cmd", "touch here"];
        args.extend(["--workspace", gone]);
        if json {
            args.push("--json");
        }
        t.env.run(&args)
    };
    run(false).assert_error(5, &format!("workspace {gone} does not exist on the host"));
    let tasks = t.env.json(&["list", "--json"]);
    let failed = &tasks.as_array().expect("a list")[0];
    assert_eq!(failed["status"], "failed", "{failed}");
    let id = failed["task_id"].as_str().expect("an id");
    assert!(!t.remote_dir(id).exists(), "the host keeps no task dir");

    let blocker = t.run_task("sleep 300");
    let queued = run(true);
    assert_eq!(queued.code, 0, "{}", queued.stderr);
    let queued: Value = serde_json::from_str(&queued.stdout).expect("json");
    assert_eq!(queued["status"], "queued");
    let id = queued["task_id"].as_str().expect("an id");
    t.env.ok(&["kill", "--task-id", &blocker, "--grace", "1"]);
    let status = t.env.wait_done(id);
    assert_eq!(status["status"], "failed", "{status}");
    let reason = status["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains(&format!("workspace {gone} does not exist on the host")),
        "{status}"
    );
    assert!(!t.remote_dir(id).exists(), "the host keeps no task dir");
}
