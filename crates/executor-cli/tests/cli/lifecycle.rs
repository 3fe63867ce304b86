//! A task's life through the commands: run/start, status, logs, list, wait.

use std::time::Duration;

use crate::helpers::TestEnv;

#[test]
fn end_time_is_when_the_task_ended() {
    let env = TestEnv::new();
    let marker = env.work.join("ended");
    let id = env.run_task(&crate::helpers::ends_with_marker(&marker));
    crate::helpers::assert_ended_at_is_the_end(&env, &id, &marker);
}

#[test]
fn run_records_a_completed_task() {
    let env = TestEnv::new();
    let id = env.run_task("echo out; echo err >&2; pwd > where");
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed");
    assert_eq!(status["exit_code"], 0);
    assert_eq!(status["task_type"], "shell_command");
    assert_eq!(status["executor"], "local");
    assert_eq!(status["executor_type"], "local");
    assert!(status["ended_at"].is_string());
    let workspace = std::fs::canonicalize(&env.work).unwrap();
    assert_eq!(status["workspace"], workspace.to_str().unwrap());
    // The command ran in the workspace.
    let where_ = std::fs::read_to_string(env.work.join("where")).unwrap();
    assert_eq!(where_.trim(), workspace.to_str().unwrap());

    let log = env.ok(&["logs", "--task-id", &id]);
    assert_eq!(log, "out\nerr\n");

    let meta: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.task_dir(&id).join(".meta.json")).unwrap())
            .unwrap();
    assert_eq!(meta["schema_version"], 1);
    assert_eq!(meta["task_id"], id.as_str());
    assert_eq!(meta["status"], "completed");
    assert_eq!(meta["command"], "echo out; echo err >&2; pwd > where");
    assert_eq!(meta["exit_code"], 0);
    assert!(meta["pid"].as_u64().is_some());

    let record = env.completion(&id).expect("completion record");
    assert_eq!(record["task_id"], id.as_str());
    assert_eq!(record["status"], "success");
    assert_eq!(record["exit_code"], 0);
    assert_eq!(record["executor"], "local");
    assert!(record["completed_at"].is_string());
}

#[test]
fn failing_command_is_failed_with_its_exit_code() {
    let env = TestEnv::new();
    let id = env.run_task("exit 42");
    let run = env.run(&["wait", "--task-id", &id]);
    assert_eq!(run.code, 42);
    let status = env.status(&id);
    assert_eq!(status["status"], "failed");
    assert_eq!(status["exit_code"], 42);
    assert_eq!(status["reason"], "exit code 42");
    assert_eq!(env.completion(&id).unwrap()["status"], "failure");
}

#[test]
fn workspace_flag_and_json_dispatch() {
    let env = TestEnv::new();
    let elsewhere = env.home().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let out = env.json(&[
        "run",
        "--executor",
        "local",
        "--cmd",
        "touch made-here",
        "--workspace",
        elsewhere.to_str().unwrap(),
        "--json",
    ]);
    let id = out["task_id"].as_str().unwrap().to_owned();
    assert_eq!(out["status"], "running");
    env.wait_done(&id);
    assert!(elsewhere.join("made-here").exists());
    assert!(!env.work.join("made-here").exists());
}

#[test]
fn prefix_ids_work_everywhere() {
    let env = TestEnv::new();
    let id = env.run_task("true");
    env.wait_done(&id);
    // The random tail of a v7 id is unique; the leading timestamp part may be shared.
    let prefix = &id[..23];
    let status = env.json(&["status", "--task-id", prefix, "--json"]);
    assert_eq!(status["task_id"], id.as_str());
    let upper = id.to_uppercase();
    assert_eq!(env.status(&upper)["task_id"], id.as_str());

    // The short handle (the last 12 characters), as `list` and `status` show it;
    // any part of it, with or without the id's hyphens.
    let handle = &id[24..];
    let other = env.run_task("true");
    env.wait_done(&other);
    assert!(env.ok(&["list"]).contains(handle));
    assert!(
        env.ok(&["status", "-t", &id])
            .contains(&format!("handle     {handle}\n"))
    );
    for part in [
        handle,
        &handle[..6],
        &id[30..],
        &id[16..28],
        &id[16..28].replace('-', ""),
    ] {
        let status = env.json(&["status", "--task-id", part, "--json"]);
        assert_eq!(status["task_id"], id.as_str(), "{part}");
    }
    env.ok(&["logs", "-t", handle]);
    env.ok(&["wait", "-t", handle]);
    // A part both ids hold names neither: the error lists both.
    let common = id
        .chars()
        .zip(other.chars())
        .take_while(|(a, b)| a == b)
        .count();
    env.run(&["status", "-t", &id[..common.clamp(4, 13)]])
        .assert_error(4, &format!("ambiguous: it matches {id}, {other}"));
}

#[test]
fn logs_tail_and_follow() {
    let env = TestEnv::new();
    let id = env.run_task("for i in $(seq 1 100); do echo line$i; done");
    env.wait_done(&id);
    let tail = env.ok(&["logs", "--task-id", &id, "--lines", "3"]);
    assert_eq!(tail, "line98\nline99\nline100\n");
    let default = env.ok(&["logs", "--task-id", &id]);
    assert_eq!(default.lines().count(), 50);
    assert!(default.starts_with("line51\n"));

    // --follow streams output as it arrives and returns when the task ends.
    let id = env.run_task("echo first; sleep 1; echo second; sleep 1; echo third");
    let followed = env.ok(&["logs", "--task-id", &id, "--follow"]);
    assert_eq!(followed, "first\nsecond\nthird\n");
    assert_eq!(env.status(&id)["status"], "completed");

    // --follow SECS stops after SECS even while the task runs on.
    let id = env.run_task("echo begin; sleep 30");
    let started = std::time::Instant::now();
    let followed = env.ok(&["logs", "--task-id", &id, "--follow", "1"]);
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(followed, "begin\n");
    env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
}

#[test]
fn list_formats_and_filters() {
    let env = TestEnv::new();
    assert_eq!(env.ok(&["list"]), "no tasks\n");
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");
    let ok = env.run_task("true");
    let bad = env.run_task("exit 1");
    env.wait_done(&ok);
    env.wait_done(&bad);

    let table = env.ok(&["list"]);
    assert!(
        table.contains(&ok[24..]) && table.contains(&bad[24..]),
        "{table}"
    );
    assert!(table.contains("⚙️"), "{table}");

    let all = env.json(&["list", "--json"]);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["task_id"], ok.as_str(), "oldest first");

    let jsonl = env.ok(&["list", "--jsonl"]);
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);

    let failed = env.json(&["list", "--status", "failed", "--json"]);
    assert_eq!(failed.as_array().unwrap().len(), 1);
    assert_eq!(failed[0]["task_id"], bad.as_str());
    let local = env.json(&["list", "--executor", "local", "--json"]);
    assert_eq!(local.as_array().unwrap().len(), 2);
    let running = env.json(&["list", "--status", "running", "--json"]);
    assert!(running.as_array().unwrap().is_empty());
}

#[test]
fn wait_times_out_and_exits_with_task_code() {
    let env = TestEnv::new();
    let id = env.run_task("sleep 30");
    let run = env.run(&["wait", "--task-id", &id, "--timeout", "0.3"]);
    assert_eq!(run.code, 124, "{}", run.stderr);
    assert!(run.stderr.contains("timed out"), "{}", run.stderr);
    env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
    let run = env.run(&["wait", "--task-id", &id]);
    assert_eq!(run.code, 143, "killed by SIGTERM: 128 + 15");
}

/// A stand-in for `claude` that records how it was called. The real CLI is
/// exercised by the Claude Code test suite; here only the invocation matters.
fn fake_claude(env: &TestEnv) -> std::path::PathBuf {
    let path = env.home().join("fake-claude");
    let record = env.home().join("claude-call");
    crate::helpers::write_executable(
        &path,
        &format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > '{0}.argv'\ncat > '{0}.stdin'\npwd > '{0}.cwd'\necho '{{\"type\":\"result\"}}'\n",
            record.display()
        ),
    );
    path
}

#[test]
fn start_invokes_claude_with_prompt_on_stdin() {
    let env = TestEnv::new();
    let claude = fake_claude(&env);
    env.write_config(&format!(
        "executors:\n  - name: box\n    type: local\n    allow_root: true\n    claude_path: {}\ndefaults:\n  max_turns: 9\n",
        claude.display()
    ));
    let prompt = "Fix the \"tests\" in `src/` and $(rm -rf /) it's fine\nsecond line ✓";
    let out = env.json(&["start", "--executor", "box", "--prompt", prompt, "--json"]);
    let id = out["task_id"].as_str().unwrap().to_owned();
    let session = out["session_id"].as_str().unwrap().to_owned();
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed");
    assert_eq!(status["task_type"], "claude_code");
    assert_eq!(status["max_turns"], 9);
    assert_eq!(status["prompt"], prompt);

    let call = env.home().join("claude-call");
    let argv = std::fs::read_to_string(call.with_extension("argv")).unwrap();
    let expected = format!(
        "--dangerously-skip-permissions\n--max-turns\n9\n-p\n--output-format\nstream-json\n--verbose\n--session-id\n{session}\n"
    );
    assert_eq!(argv, expected, "the prompt must not be in argv");
    assert_eq!(
        std::fs::read_to_string(call.with_extension("stdin")).unwrap(),
        prompt
    );
    let cwd = std::fs::read_to_string(call.with_extension("cwd")).unwrap();
    assert_eq!(
        cwd.trim(),
        std::fs::canonicalize(&env.work).unwrap().to_str().unwrap()
    );

    // --max-turns overrides the default; --prompt-file - reads stdin.
    let mut command = env.command(&[
        "start",
        "--executor",
        "box",
        "--prompt-file",
        "-",
        "--max-turns",
        "3",
    ]);
    command.stdin(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"from stdin")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let id = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    env.wait_done(&id);
    assert_eq!(
        std::fs::read_to_string(call.with_extension("stdin")).unwrap(),
        "from stdin"
    );
    let argv = std::fs::read_to_string(call.with_extension("argv")).unwrap();
    assert!(argv.contains("--max-turns\n3\n"), "{argv}");
    let list = env.ok(&["list"]);
    assert!(list.contains("🤖"), "{list}");
}

#[test]
fn task_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let id = env.run_task("true");
    env.wait_done(&id);
    let dir = env.task_dir(&id);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for file in [".meta.json", "command.sh", "task.log", "exit.json"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
}

#[test]
fn reindex_rebuilds_a_lost_index() {
    let env = TestEnv::new();
    let ended = env.run_task("echo done; exit 3");
    env.wait_done(&ended);
    let release = env.work.join("release");
    let live = env.run_task(&format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done; echo late",
        release.display()
    ));
    assert!(crate::helpers::eventually(Duration::from_secs(10), || {
        env.status(&live)["status"] == "running"
    }));

    // The index is lost; the task directories remain.
    let index = env.tasks_dir().parent().unwrap().join("index.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let mut path = index.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    assert_eq!(env.ok(&["list", "--json"]).trim(), "[]");
    let stray = env.tasks_dir().join(uuid_like());
    std::fs::create_dir(&stray).unwrap();

    let report = env.json(&["reindex", "--json"]);
    let mut added: Vec<&str> = report["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    added.sort_unstable();
    assert_eq!(added, [ended.as_str(), live.as_str()]);
    assert_eq!(report["already_indexed"], 0);
    assert_eq!(report["skipped"][0]["path"], stray.to_str().unwrap());

    let status = env.status(&ended);
    assert_eq!(status["status"], "failed");
    assert_eq!(status["exit_code"], 3);
    assert_eq!(env.ok(&["logs", "--task-id", &ended]), "done\n");
    // The live task is followed as before and ends normally.
    assert_eq!(env.status(&live)["status"], "running");
    std::fs::write(&release, "").unwrap();
    assert_eq!(env.wait_done(&live)["status"], "completed");
    assert_eq!(env.ok(&["logs", "--task-id", &live]), "late\n");

    // Running it again changes nothing.
    let again = env.json(&["reindex", "--json"]);
    assert_eq!(again["added"].as_array().unwrap().len(), 0);
    assert_eq!(again["already_indexed"], 2);
}

/// A directory name that parses as a task id but holds no task.
fn uuid_like() -> String {
    "01a21ca8-0000-7000-8000-000000000000".to_owned()
}
