//! Crash consistency of `run --batch`: the CLI is killed at every system call
//! between which a batch writes (its dirs, locks, files, the one index
//! transaction, the runners' forker, the launch records), and the next
//! commands must find every task recorded and run once, or unrecorded and
//! never run: a batch follows a single dispatch's order of writes, each step
//! for the whole batch.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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
    // The runners' forker is spawned by the traced thread itself.
    assert!(
        counts.get("clone").or(counts.get("clone3")).copied() >= Some(1),
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

/// The batch's process killed while its forker is still forking the runners:
/// the rows were committed as claimed before, so every task runs exactly once
/// (those forked by then once the dead dispatcher's gate opens, the others
/// started again by the next look). The forker is stopped as soon as it has
/// forked, so that the kill lands there whatever the machine's speed; a
/// batch whose forker was done before it was seen is tried again (its kill
/// is still checked).
#[test]
fn sigkill_while_the_forker_forks_the_runners() {
    const MANY: usize = 500;
    const ATTEMPTS: usize = 5;
    let env = TestEnv::new();
    env.ok(&["list"]);
    let ran = env.work.join("ran");
    let mut caught = None;
    let mut batches = 0;
    while caught.is_none() && batches < ATTEMPTS {
        caught = kill_mid_forker(&env, &ran, &format!("b{batches}"), MANY);
        batches += 1;
    }
    let forked = caught.expect("the forker was never caught forking");
    assert!(
        (1..MANY).contains(&forked),
        "{forked} runners forked when the forker was stopped"
    );

    env.wait_all_ended(Duration::from_secs(120));
    let list = env.json(&["list", "--json"]);
    let tasks = list.as_array().expect("list");
    assert_eq!(
        tasks.len(),
        MANY * batches,
        "the rows were committed before the forker"
    );
    for task in tasks {
        assert_eq!(task["status"], "completed", "{task}");
    }
    let ran = lines_of(&ran);
    for batch in 0..batches {
        for i in 0..MANY {
            let mark = format!("b{batch}.{i}");
            assert_eq!(
                ran.iter().filter(|m| **m == mark).count(),
                1,
                "{mark} ran {ran:?}"
            );
        }
    }
    assert_eq!(ran.len(), MANY * batches);
}

/// Dispatches a batch of `many` tasks appending `mark.N` to `ran`, and
/// SIGKILLs the dispatcher: with its forker stopped mid-way when it is seen
/// forking (how many it had forked is returned), else wherever it is.
fn kill_mid_forker(env: &TestEnv, ran: &Path, mark: &str, many: usize) -> Option<usize> {
    let lines: String = (0..many)
        .map(|i| {
            let cmd = format!("echo {mark}.{i} >> '{}'", ran.display());
            format!("{}\n", serde_json::json!({"cmd": cmd, "executor": "local"}))
        })
        .collect();
    let file = env.home().join(format!("batch-{mark}.jsonl"));
    std::fs::write(&file, lines).expect("batch file");
    let mut child = env
        .command(&["run", "--batch", file.to_str().expect("utf-8")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let dispatcher = child.id();
    let started = Instant::now();
    let forker = loop {
        if let Some(forker) = children(dispatcher).into_iter().find(|c| is_forker(*c)) {
            break Some(forker);
        }
        if child.try_wait().expect("try_wait").is_some()
            || started.elapsed() > Duration::from_secs(60)
        {
            break None;
        }
    };
    // Stopped at once, then let go a little at a time until it has forked.
    let forked = forker.and_then(|forker| {
        loop {
            // SAFETY: a signal to this test's grandchild, still unreaped.
            unsafe { libc::kill(forker as libc::pid_t, libc::SIGSTOP) };
            let state = loop {
                match state(forker) {
                    Some('T') => break Some('T'),
                    Some('Z') | None => break None,
                    Some(_) => std::thread::yield_now(),
                }
            };
            state?;
            let forked = children(forker).len();
            if forked > 0 {
                return Some(forked);
            }
            unsafe { libc::kill(forker as libc::pid_t, libc::SIGCONT) };
            std::thread::sleep(Duration::from_micros(200));
        }
    });
    // SAFETY: a signal to this test's own child.
    unsafe { libc::kill(dispatcher as libc::pid_t, libc::SIGKILL) };
    let output = child.wait_with_output().expect("wait");
    if let Some(forker) = forker {
        unsafe { libc::kill(forker as libc::pid_t, libc::SIGCONT) };
    }
    if forked.is_some() {
        assert!(output.stdout.is_empty(), "the batch was acknowledged");
    }
    forked
}

/// The children of `pid` (`/proc/PID/task/PID/children`).
fn children(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|c| c.parse().ok())
        .collect()
}

/// Whether `pid` runs the runners' forker (its command line names it).
fn is_forker(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|b| *b == 0)
        .any(|arg| arg == b"openclaw-agent-forker")
}

/// The state letter of `pid` (`None` once it is gone).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}
