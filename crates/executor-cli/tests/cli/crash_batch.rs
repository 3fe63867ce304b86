//! Crash consistency of `run --batch`: the CLI is killed at every system call
//! between which a batch writes (its dirs, locks, files, the one index
//! transaction, the runners' forks, the launch records), and the next
//! commands must find every task recorded and run once, or unrecorded and
//! never run: a batch follows a single dispatch's order of writes, each step
//! for the whole batch.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use crate::crash::{WRITE_POINTS, age_dirs, lines_of, strace, traced};
use crate::helpers::{BIN, TestEnv};

/// Tasks per batch: enough for each step to be taken for several tasks.
const TASKS: usize = 3;

fn write_batch(env: &TestEnv, mark: &str) -> String {
    let ran = env.work.join("ran");
    let path = env.home().join(format!("batch-{mark}.jsonl"));
    let lines: String = (0..TASKS)
        .map(|i| {
            let cmd = format!("echo {mark}.{i} >> '{}'", ran.display());
            format!("{}\n", serde_json::json!({"cmd": cmd, "executor": "local"}))
        })
        .collect();
    std::fs::write(&path, lines).expect("batch file");
    path.display().to_string()
}

#[test]
fn sigkill_at_every_write_point_of_a_batch() {
    let Some(strace) = strace() else { return };
    let env = TestEnv::new();
    env.ok(&["list"]);

    // How often a batch makes each call (on the one thread that runs it).
    let trace = env.home().join("trace");
    let mut counted = Command::new(strace);
    crate::helpers::isolate(&mut counted, env.home());
    let file = write_batch(&env, "counting");
    let counted = counted
        .arg("-o")
        .arg(&trace)
        .arg("-qq")
        .arg(format!("-etrace={}", WRITE_POINTS.join(",")))
        .arg(BIN)
        .args(["run", "--batch", &file])
        .current_dir(&env.work)
        .output()
        .expect("strace");
    assert!(counted.status.success());
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in std::fs::read_to_string(&trace).expect("trace").lines() {
        if let Some((name, _)) = line.split_once('(') {
            *counts.entry(name.to_owned()).or_default() += 1;
        }
    }
    // The runners are forked by the traced thread itself.
    assert!(
        counts.get("clone").or(counts.get("clone3")).copied() >= Some(TASKS),
        "{counts:?}"
    );

    let mut acknowledged = Vec::new();
    let mut killed_points = 0;
    for syscall in WRITE_POINTS {
        for n in 1..=counts.get(*syscall).copied().unwrap_or(0) {
            let mark = format!("{syscall}-{n}");
            let file = write_batch(&env, &mark);
            let run = traced(
                &env,
                strace,
                &["-e", &format!("inject={syscall}:signal=KILL:when={n}")],
                &["run", "--batch", &file],
            );
            if run.code == 0 {
                acknowledged.push(mark.clone());
            } else {
                killed_points += 1;
            }
            let list = env.run(&["list", "--json"]);
            assert_eq!(
                list.code, 0,
                "list after killing at {mark}: {}",
                list.stderr
            );
        }
    }
    assert!(killed_points > 30, "only {killed_points} kill points");

    // Every recorded task ends, completed, having run once.
    env.wait_all_ended(Duration::from_secs(60));
    let list = env.json(&["list", "--json"]);
    let tasks: Vec<_> = list
        .as_array()
        .expect("list")
        .iter()
        .filter(|t| {
            !t["summary"]
                .as_str()
                .unwrap_or_default()
                .contains("counting")
        })
        .collect();
    let ran = lines_of(&env.work.join("ran"));
    for task in &tasks {
        assert_eq!(task["status"], "completed", "{task}");
        let command = task["summary"].as_str().unwrap_or_default();
        let mark = command.split_whitespace().nth(1).expect("mark");
        assert_eq!(
            ran.iter().filter(|m| *m == mark).count(),
            1,
            "{mark} ran {ran:?}"
        );
    }
    // What ran is exactly what was recorded: nothing unrecorded ran.
    let ran: Vec<_> = ran.iter().filter(|m| !m.starts_with("counting")).collect();
    assert_eq!(ran.len(), tasks.len(), "ran: {ran:?}");
    for mark in &acknowledged {
        for i in 0..TASKS {
            let line = format!("{mark}.{i}");
            assert!(
                ran.contains(&&line),
                "{line} was acknowledged but never ran"
            );
        }
    }
    env.ok(&["reindex"]);

    // The dirs of batches killed before their transaction are orphans.
    age_dirs(&env.tasks_dir());
    env.ok(&["cleanup", "--orphans"]);
    let ids: Vec<&str> = list
        .as_array()
        .expect("list")
        .iter()
        .map(|t| t["task_id"].as_str().expect("id"))
        .collect();
    for entry in std::fs::read_dir(env.tasks_dir()).expect("tasks dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf-8");
        assert!(
            ids.contains(&name.as_str()),
            "dir {name} left without a task"
        );
    }
}
