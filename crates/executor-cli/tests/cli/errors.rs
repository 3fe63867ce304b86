//! Bad input gets a clear one-line error and a documented exit code.

use crate::helpers::TestEnv;

#[test]
fn bad_task_ids() {
    let env = TestEnv::new();
    let id = env.run_task("true");
    env.wait_done(&id);

    env.run(&[
        "status",
        "--task-id",
        "ffffffff-ffff-7fff-bfff-ffffffffffff",
    ])
    .assert_error(4, "no task matches");
    env.run(&["status", "--task-id", "../../x"])
        .assert_error(4, "not a task id");
    env.run(&["logs", "--task-id", "../../etc/passwd"])
        .assert_error(4, "not a task id");
    env.run(&["kill", "--task-id", "abc"])
        .assert_error(4, "too short");
    env.run(&["cleanup", "--task-id", "zzzz"])
        .assert_error(4, "not a task id");

    // Two tasks created in the same second share their leading characters.
    let other = env.run_task("true");
    let common: String = id
        .chars()
        .zip(other.chars())
        .take_while(|(a, b)| a == b)
        .map(|(a, _)| a)
        .collect();
    assert!(common.len() >= 4, "{id} {other}");
    env.run(&["status", "--task-id", &common[..4]])
        .assert_error(4, "ambiguous");
}

#[test]
fn unknown_executor_lists_known_ones() {
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: crib\n    type: ssh\n    host: 127.0.0.1\n");
    let run = env.run(&["run", "--executor", "nope", "--cmd", "true"]);
    run.assert_error(5, "unknown executor `nope`");
    assert!(
        run.stderr.contains("crib") && run.stderr.contains("local"),
        "{}",
        run.stderr
    );
    env.run(&["start", "--executor", "nope", "--prompt", "hi"])
        .assert_error(5, "known executors: crib, local");
    env.run(&["list", "--executor", "nope"])
        .assert_error(5, "unknown executor");
    // Nothing was recorded for the failed dispatches.
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");
}

#[test]
fn bad_workspace_records_nothing() {
    let env = TestEnv::new();
    env.run(&[
        "run",
        "--executor",
        "local",
        "--cmd",
        "true",
        "--workspace",
        "/does/not/exist",
    ])
    .assert_error(5, "workspace `/does/not/exist`");
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");
}

#[test]
fn malformed_config_names_the_line() {
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: a\n    type: local\n    labels: [x\n");
    let run = env.run(&["list"]);
    run.assert_error(3, "line ");
    assert!(run.stderr.contains("coding-agent.yaml"), "{}", run.stderr);

    env.write_config("executors:\n  - name: a\n    type: local\n    colour: blue\n");
    env.run(&["list"]).assert_error(3, "line 4");
    env.run(&["config", "check"]).assert_error(3, "colour");

    env.write_config("executors:\n  - name: a\n    type: local\n  - name: a\n    type: local\n");
    env.run(&["executors"])
        .assert_error(3, "duplicate executor name `a`");

    env.write_config("defaults:\n  max_turns: lots\n");
    env.run(&["list"]).assert_error(3, "key `max_turns`");
}

#[test]
fn explicit_config_must_exist() {
    let env = TestEnv::new();
    env.run(&["--config", "/nonexistent/c.yaml", "list"])
        .assert_error(3, "does not exist");
    let mut env = TestEnv::new();
    env.set_env("OPENCLAW_CONFIG", "/nonexistent/env.yaml");
    env.run(&["list"]).assert_error(3, "/nonexistent/env.yaml");
}

#[test]
fn unwritable_data_dir_loses_nothing() {
    let mut env = TestEnv::new();
    let id = env.run_task("echo kept");
    env.wait_done(&id);
    // A regular file where a directory must be: unwritable even for root.
    let blocker = env.home().join("blocker");
    std::fs::write(&blocker, "").unwrap();
    let good_data = env.home().join(".local/share");
    env.set_env("XDG_DATA_HOME", blocker.join("data").to_str().unwrap());
    env.run(&["run", "--executor", "local", "--cmd", "true"])
        .assert_error(6, "cannot create data directory");
    env.run(&["list"])
        .assert_error(6, "cannot create data directory");
    env.set_env("XDG_DATA_HOME", good_data.to_str().unwrap());
    let list = env.json(&["list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["task_id"], id.as_str());
    assert_eq!(env.ok(&["logs", "--task-id", &id]), "kept\n");
}

#[test]
fn unreachable_executor_records_a_failed_launch() {
    let env = TestEnv::new();
    // A port nothing listens on: the connection is refused at once.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.write_config(&format!(
        "executors:\n  - name: crib\n    type: ssh\n    host: 127.0.0.1\n    port: {port}\n    ssh_config: /dev/null\n"
    ));
    env.run(&["run", "--executor", "crib", "--cmd", "true"])
        .assert_error(5, "executor `crib`: cannot reach");
    let list = env.json(&["list", "--json"]);
    let tasks = list.as_array().unwrap();
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["status"], "failed", "never recorded as running");
    assert!(
        tasks[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("launch failed")
    );
    let id = tasks[0]["task_id"].as_str().unwrap();
    assert_eq!(env.completion(id).unwrap()["status"], "failure");
}

#[test]
fn usage_errors_exit_2() {
    let env = TestEnv::new();
    assert_eq!(env.run(&["run", "--executor", "local"]).code, 2);
    assert_eq!(env.run(&["frobnicate"]).code, 2);
    assert_eq!(env.run(&["list", "--status", "sideways"]).code, 2);
    assert_eq!(env.run(&["dashboard", "--stream", "--watch", "1"]).code, 2);
    env.run(&["run", "--executor", "local", "--cmd", ""])
        .assert_error(2, "empty");
}

#[test]
fn whitespace_only_command_is_a_usage_error() {
    let env = TestEnv::new();
    env.run(&["run", "--executor", "local", "--cmd", "   "])
        .assert_error(2, "the command is empty");
    env.run(&["run", "--executor", "local", "--cmd", "\n\t "])
        .assert_error(2, "the command is empty");
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");
}

#[test]
fn force_without_a_task_is_a_usage_error() {
    let env = TestEnv::new();
    let id = env.run_task("true");
    env.wait_done(&id);
    let run = env.run(&["cleanup", "--finished", "--force"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    // Nothing was removed.
    assert_eq!(env.status(&id)["status"], "completed");
    assert_eq!(env.run(&["config", "--force"]).code, 2);
}

/// A workspace without search permission for the dispatching user is refused at
/// dispatch (exit 5) and nothing is recorded. Root may enter any directory, so
/// as root the CLI runs as `nobody` (setpriv) in a home that user owns.
#[test]
fn workspace_that_cannot_be_entered_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let root = unsafe { libc::geteuid() } == 0;
    let home = tempfile::tempdir().expect("temp home");
    let locked = home.path().join("locked");
    std::fs::create_dir(&locked).expect("locked dir");
    if root {
        for dir in [home.path(), &locked] {
            std::os::unix::fs::chown(dir, Some(65534), Some(65534)).expect("chown to nobody");
        }
    }
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o600)).expect("chmod 600");
    let run_as = |args: &[&str]| {
        let mut command = if root {
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(crate::helpers::BIN);
            c
        } else {
            std::process::Command::new(crate::helpers::BIN)
        };
        crate::helpers::isolate(&mut command, home.path());
        let out = command
            .args(args)
            .current_dir(home.path())
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run the CLI");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let workspace = locked.to_str().expect("utf-8");
    let (code, _, stderr) = run_as(&["run", "-e", "local", "-c", "true", "-w", workspace]);
    assert_eq!(code, Some(5), "{stderr}");
    assert!(stderr.contains("cannot be entered"), "{stderr}");
    let (code, stdout, stderr) = run_as(&["list", "--json"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout.trim(), "[]");
}
