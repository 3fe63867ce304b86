//! `run --batch FILE`: many tasks from JSONL, all checked before any is
//! recorded, recorded in one transaction and launched per executor.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{TestEnv, hostile_text};

fn write_batch(env: &TestEnv, lines: &[Value]) -> String {
    let path = env.home().join("batch.jsonl");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn list(env: &TestEnv) -> Vec<Value> {
    env.json(&["list", "--json"]).as_array().unwrap().clone()
}

#[test]
fn a_bad_line_names_itself_and_nothing_is_recorded() {
    let env = TestEnv::new();
    let good = json!({"cmd": "true", "executor": "local"});
    let cases = [
        (
            json!({"cmd": "true"}),
            2,
            "line 2: give an executor or labels",
        ),
        (
            json!({"cmd": "true", "executor": "nope"}),
            5,
            "line 2: unknown executor `nope`",
        ),
        (
            json!({"cmd": "true", "executor": "local", "colour": 1}),
            2,
            "line 2: not a task",
        ),
        (
            json!({"cmd": " ", "executor": "local"}),
            2,
            "line 2: the command is empty",
        ),
        (
            json!({"cmd": "true", "executor": "local", "workspace": "/no/such/dir"}),
            5,
            "line 2: ",
        ),
        (
            json!({"cmd": "true", "prompt": "hi", "executor": "local"}),
            2,
            "not both",
        ),
        (json!({"prompt": "hi", "resume": "ffffffff"}), 4, "line 2: "),
    ];
    for (bad, code, needle) in cases {
        let file = write_batch(&env, &[good.clone(), bad]);
        env.run(&["run", "--batch", &file])
            .assert_error(code, needle);
        assert!(list(&env).is_empty(), "nothing recorded for {needle}");
    }
    let path = env.home().join("broken.jsonl");
    std::fs::write(
        &path,
        "{\"cmd\": \"true\", \"executor\": \"local\"}\n\n{not json\n",
    )
    .unwrap();
    env.run(&["run", "--batch", path.to_str().unwrap()])
        .assert_error(2, "line 3: not a task");
    assert!(list(&env).is_empty());
    assert_eq!(
        std::fs::read_dir(env.tasks_dir()).map_or(0, |d| d.count()),
        0,
        "no task dir is left behind"
    );
}

#[test]
fn a_batch_starts_every_task_byte_for_byte_in_order() {
    let env = TestEnv::new();
    let texts: Vec<String> = (0..12)
        .map(|i| format!("{i} {}", hostile_text(40)))
        .collect();
    // Each command prints its own text back: quotes, `$()`, newlines, unicode.
    let lines: Vec<Value> = texts
        .iter()
        .map(|t| json!({"cmd": format!("cat <<'EOF_T'\n{t}\nEOF_T"), "executor": "local"}))
        .collect();
    let file = write_batch(&env, &lines);
    let out = env.ok(&["run", "--batch", &file]);
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids.len(), 12, "{out}");
    for (id, text) in ids.iter().zip(&texts) {
        let status = env.wait_done(id);
        assert_eq!(status["status"], "completed", "{status}");
        let log = std::fs::read(env.task_dir(id).join("task.log")).unwrap();
        assert_eq!(String::from_utf8_lossy(&log), format!("{text}\n"));
    }
    // Listed in the order of the file.
    let listed: Vec<String> = list(&env)
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);
}

#[test]
fn a_batch_fills_free_slots_queues_the_rest_and_spreads_labels() {
    let env = TestEnv::new();
    env.write_config(
        "executors:\n  - name: a\n    type: local\n    labels: [cpu]\n    max_concurrent: 2\n  - name: b\n    type: local\n    labels: [cpu]\n",
    );
    let mut lines = vec![json!({"cmd": "sleep 30", "executor": "a"}); 4];
    lines.extend(vec![json!({"cmd": "sleep 30", "label": ["cpu"]}); 4]);
    lines.push(json!({"cmd": "sleep 30", "label": "cpu", "priority": 5, "workspace": "/tmp"}));
    let file = write_batch(&env, &lines);
    let out = env.ok(&["run", "--batch", &file, "--json"]);
    let views: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(views.len(), 9);
    let tasks = list(&env);
    let count = |executor: &str, status: &str| {
        tasks
            .iter()
            .filter(|t| t["executor"] == executor && t["status"] == status)
            .count()
    };
    assert_eq!(count("a", "running"), 2, "{tasks:?}");
    assert_eq!(count("a", "queued"), 2, "{tasks:?}");
    // a is full: every labelled task goes to b.
    assert_eq!(count("b", "running"), 5, "{tasks:?}");
    assert_eq!(tasks[8]["workspace"], "/tmp");
    env.ok(&["kill", "--all", "--grace", "1"]);
}

#[test]
fn a_batch_reads_standard_input() {
    let env = TestEnv::new();
    let mut command = env.command(&["run", "--batch", "-"]);
    command.stdin(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for _ in 0..3 {
            writeln!(stdin, "{}", json!({"cmd": "echo hi", "executor": "local"})).unwrap();
        }
    }
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let out = String::from_utf8(output.stdout).unwrap();
    assert_eq!(out.lines().count(), 3);
    let done = crate::helpers::eventually(Duration::from_secs(10), || {
        list(&env).iter().all(|t| t["status"] == "completed")
    });
    assert!(done);
}

/// Over SSH a batch is one round trip to the host.
#[test]
fn ssh_batch_launches_in_one_round_trip() {
    use test_support::sshd::TEST_USER;
    let Some(mut t) = crate::ssh::SshTest::new(TEST_USER) else {
        return;
    };
    // The shared connection is up first: what is counted is the batch.
    t.run_task("true");
    let lines: Vec<Value> = (0..20)
        .map(|i| json!({"cmd": format!("echo task {i}"), "executor": "box"}))
        .collect();
    let file = write_batch(&t.env, &lines);
    let calls = crate::helpers::count_calls(&mut t.env, "ssh");
    let out = t.env.ok(&["run", "--batch", &file]);
    assert_eq!(crate::helpers::calls(&calls), 1, "one ssh run for 20 tasks");
    let ids: Vec<&str> = out.lines().collect();
    assert_eq!(ids.len(), 20);
    for (i, id) in ids.iter().enumerate() {
        assert_eq!(t.env.wait_done(id)["status"], "completed");
        let log = std::fs::read_to_string(t.remote_dir(id).join("task.log")).unwrap();
        assert_eq!(log, format!("task {i}\n"));
    }
}

#[test]
fn a_batch_makes_no_worktrees_and_says_so_before_recording_anything() {
    let env = TestEnv::new();
    env.write_config(
        "executors:\n  - name: plain\n    type: local\n  - name: isolated\n    type: local\n    isolation: worktree\n",
    );
    let file = write_batch(
        &env,
        &[
            json!({"cmd": "true", "executor": "plain"}),
            json!({"cmd": "true", "executor": "isolated"}),
        ],
    );
    env.run(&["run", "--batch", &file])
        .assert_error(2, "line 2: a batch makes no worktrees");
    assert!(list(&env).is_empty());
    let flag = env.run(&["run", "--batch", &file, "--worktree"]);
    assert_eq!(flag.code, 2, "{}", flag.stderr);
    assert!(flag.stderr.contains("'--worktree'"), "{}", flag.stderr);
    // --no-worktree overrides the executor's isolation, as for one `run`.
    let out = env.ok(&["run", "--batch", &file, "--no-worktree"]);
    for id in out.lines() {
        assert_eq!(env.wait_done(id)["status"], "completed");
        assert!(env.status(id)["branch"].is_null());
    }
    assert_eq!(out.lines().count(), 2);

    // A batch line takes the agent options of `start`, checked like them.
    let file = write_batch(
        &env,
        &[json!({"prompt": "hi", "executor": "plain", "agent": "nope"})],
    );
    env.run(&["run", "--batch", &file])
        .assert_error(2, "line 1: unknown agent `nope`");
    let file = write_batch(
        &env,
        &[json!({"cmd": "true", "executor": "plain", "model": "m"})],
    );
    env.run(&["run", "--batch", &file])
        .assert_error(2, "line 1: \"max_turns\", \"resume\", \"agent\"");
}

/// What a batch costs here does not grow with it: one index write for the
/// whole batch (and one for the launch records), and one process started,
/// the forker of its runners. Counted with `strace` (SQLite takes the WAL
/// write lock, byte 120 of the `-shm` file, once per write transaction), not
/// timed.
#[test]
fn a_batch_writes_the_index_a_fixed_number_of_times_and_spawns_one_forker() {
    let Some(strace) = crate::crash::strace() else {
        return;
    };
    let env = TestEnv::new();
    env.ok(&["list"]);
    let count = |tasks: usize| {
        let lines = vec![json!({"cmd": "true", "executor": "local"}); tasks];
        let file = write_batch(&env, &lines);
        let trace = env.home().join(format!("trace-{tasks}"));
        let run = crate::crash::traced(
            &env,
            strace,
            &[
                "-o",
                trace.to_str().unwrap(),
                "-qq",
                "-e",
                "trace=fcntl,clone,clone3,fork,vfork,execve",
            ],
            &["run", "--batch", &file],
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(run.stdout.lines().count(), tasks);
        let text = std::fs::read_to_string(&trace).unwrap();
        let writes = text
            .lines()
            .filter(|l| l.contains("F_WRLCK") && l.contains("l_start=120,"))
            .count();
        let forks = text
            .lines()
            .filter(|l| {
                ["clone(", "clone3(", "fork(", "vfork("]
                    .iter()
                    .any(|c| l.starts_with(c))
            })
            .count();
        (writes, forks)
    };
    let (small_writes, small_forks) = count(2);
    let (writes, forks) = count(40);
    assert_eq!(small_forks, 1);
    assert_eq!(forks, 1);
    assert_eq!(writes, small_writes, "index writes grow with the batch");
    assert!(
        writes <= 3,
        "{writes} index write transactions for one batch"
    );
}
