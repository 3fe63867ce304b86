//! Crash consistency of dispatch: the CLI is interrupted or killed at chosen
//! system calls (real `strace` fault injection against the built binary), and
//! whatever it left must be recovered at once by the next commands, with no
//! task stuck, lost from the queue or run twice. Also the recovery commands
//! for what a crash leaves: `cleanup --orphans` and `reindex`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::helpers::{BIN, Run, TestEnv, eventually, run_bounded};

/// System calls between which dispatch writes something (dir, lock, files,
/// the index, the runner, the meta).
pub(crate) const WRITE_POINTS: &[&str] = &[
    "mkdir", "openat", "flock", "write", "pwrite64", "clone", "clone3", "rename", "fsync",
];

/// `strace`, or `None` outside CI when it is not installed (said out loud).
pub(crate) fn strace() -> Option<&'static str> {
    if Path::new("/usr/bin/strace").exists() {
        return Some("/usr/bin/strace");
    }
    test_support::missing(
        "strace: run `scripts/test` as root (scripts/setup/faults.sh installs it)",
    );
    None
}

/// Runs the CLI under strace with `strace_args` (no `-f`: the runner it starts
/// is not traced).
pub(crate) fn traced(env: &TestEnv, strace: &str, strace_args: &[&str], args: &[&str]) -> Run {
    let mut command = under_strace(
        env,
        strace,
        &[&["-o", "/dev/null"], strace_args].concat(),
        args,
    );
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    run_bounded(command)
}

/// The CLI with `args`, as `env` runs it, under strace with `strace_args`.
pub(crate) fn under_strace(
    env: &TestEnv,
    strace: &str,
    strace_args: &[&str],
    args: &[&str],
) -> Command {
    let plain = env.command(args);
    let mut command = Command::new(strace);
    command.args(strace_args).arg(BIN).args(args);
    command.current_dir(&env.work);
    for (key, value) in plain.get_envs() {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
}

/// strace's arguments that trace `syscall` alone and kill the traced process
/// with SIGKILL at its `n`th call.
pub(crate) fn kill_at(syscall: &str, n: usize) -> [String; 4] {
    [
        "-e".to_owned(),
        format!("trace={syscall}"),
        "-e".to_owned(),
        format!("inject={syscall}:signal=KILL:when={n}"),
    ]
}

/// `run -c cmd` interrupted by SIGINT when it starts the runner (the Ctrl-C
/// of the issue), at its first step (the gate's pipe): the row exists,
/// pending, with no runner and no meta. (The spawn itself blocks signals
/// until the runner has exec'd: a Ctrl-C there leaves a runner that runs.)
fn interrupted_run(env: &TestEnv, strace: &str, cmd: &str) -> String {
    let run = traced(
        env,
        strace,
        &["-e", "inject=pipe2:signal=INT"],
        &["run", "-e", "local", "-c", cmd],
    );
    assert_ne!(run.code, 0, "the run was not interrupted: {}", run.stdout);
    assert!(
        run.stdout.is_empty(),
        "no id was acknowledged: {}",
        run.stdout
    );
    let rows = index_rows(env);
    let (id, status) = rows.last().expect("the interrupted dispatch left its row");
    assert_eq!(status, "pending");
    assert!(!env.task_dir(id).join(".meta.json").exists());
    id.clone()
}

/// The index rows (id, status) as the index holds them, without reconciling.
fn index_rows(env: &TestEnv) -> Vec<(String, String)> {
    let data = env.tasks_dir().parent().expect("data dir").to_owned();
    let paths = executor_core::Paths::new(data, env.completions_dir());
    let store = executor_core::Store::open(&paths).expect("open the index");
    let mut rows = Vec::new();
    store
        .for_each_table_row(&executor_core::ListFilter::default(), |row| {
            let id = String::from_utf8_lossy(row.id).into_owned();
            rows.push((id, row.status.as_str().to_owned()));
            Ok(())
        })
        .expect("query")
        .expect("visit");
    rows
}

pub(crate) fn lines_of(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_interrupted_dispatch_starts_once_without_blocking_others() {
    let Some(strace) = strace() else { return };
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: local\n    type: local\n    max_concurrent: 1\n");
    let ran = env.work.join("ran");
    let first = interrupted_run(&env, strace, &format!("echo A >> '{}'", ran.display()));

    // The next run is not blocked by the slot the interrupted one holds: the
    // interrupted dispatch is seen as abandoned at once (no 30 s window).
    let second = env.run_task(&format!("echo B >> '{}'", ran.display()));
    for command in [
        vec!["list", "--json"],
        vec!["status", "--task-id", &first, "--json"],
        vec!["reindex"],
    ] {
        let run = env.run(&command);
        assert_eq!(run.code, 0, "{command:?}: {}", run.stderr);
    }
    for id in [&first, &second] {
        let run = env.run(&["wait", "--task-id", id, "--timeout", "20"]);
        assert_eq!(run.code, 0, "wait {id}: {}", run.stderr);
        assert_eq!(env.status(id)["status"], "completed");
    }
    let mut ran = lines_of(&ran);
    ran.sort();
    assert_eq!(ran, ["A", "B"], "each task ran exactly once");
    assert!(env.task_dir(&first).join(".meta.json").exists());
    assert!(env.completion(&first).is_some());
}

#[test]
fn kill_and_cleanup_end_an_interrupted_dispatch_without_running_it() {
    let Some(strace) = strace() else { return };
    let env = TestEnv::new();
    let ran = env.work.join("ran");
    let id = interrupted_run(&env, strace, &format!("echo A >> '{}'", ran.display()));

    let out = env.ok(&["kill", "--task-id", &id]);
    assert_eq!(out.trim(), format!("{id} killed"));
    let status = env.status(&id);
    assert_eq!(status["status"], "killed");
    assert_eq!(status["reason"], "killed before it started");
    let completion = env.completion(&id).expect("completion record");
    assert_eq!(completion["task_status"], "killed");
    // Nothing starts it afterwards.
    env.ok(&["list"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(lines_of(&ran).is_empty(), "the killed task ran");

    env.ok(&["cleanup", "--task-id", &id]);
    assert!(!env.task_dir(&id).exists());
    env.run(&["status", "--task-id", &id])
        .assert_error(4, "no task");
}

/// One slot on `local`, held by a task that runs until `release` exists;
/// tasks dispatched after it wait in the queue and append to `ran` when they run.
fn one_slot_held(env: &TestEnv) -> (PathBuf, PathBuf, String) {
    env.write_config("executors:\n  - name: local\n    type: local\n    max_concurrent: 1\n");
    let release = env.work.join("release");
    let ran = env.work.join("ran");
    let blocker = env.run_task(&format!(
        "while [ ! -e '{}' ]; do sleep 0.05; done",
        release.display()
    ));
    (release, ran, blocker)
}

#[test]
fn a_queued_task_with_missing_files_fails_and_the_queue_goes_on() {
    let env = TestEnv::new();
    let (release, ran, blocker) = one_slot_held(&env);
    let broken = env.run_task(&format!("echo broken >> '{}'", ran.display()));
    let after = env.run_task(&format!("echo after >> '{}'", ran.display()));
    assert_eq!(env.status(&broken)["status"], "queued");
    std::fs::remove_dir_all(env.task_dir(&broken)).expect("remove the task dir");

    std::fs::write(&release, "").expect("release");
    assert_eq!(env.wait_done(&blocker)["status"], "completed");
    let status = env.wait_done(&broken);
    assert_eq!(status["status"], "failed", "{status}");
    let reason = status["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("task files missing: "), "{reason}");
    assert_eq!(
        env.completion(&broken).expect("completion")["task_status"],
        "failed"
    );
    assert_eq!(env.wait_done(&after)["status"], "completed");
    assert_eq!(lines_of(&ran), ["after"]);
    env.ok(&["list"]);
    env.ok(&["cleanup", "--task-id", &broken]);
}

/// Kills `run` with SIGKILL at each write point in turn (every call of every
/// syscall in [`WRITE_POINTS`] a dispatch makes), each time checking that the
/// next commands succeed, and at the end that every recorded task ran exactly
/// once, that no dispatched-but-unrecorded task ran, and that no dir is left.
#[test]
fn sigkill_at_every_write_point_of_a_dispatch() {
    let Some(strace) = strace() else { return };
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: local\n    type: local\n    max_concurrent: 2\n");
    env.ok(&["list"]);
    let ran = env.work.join("ran");

    // How often a dispatch makes each call.
    let trace = env.home().join("trace");
    let mut counted = Command::new(strace);
    crate::helpers::isolate(&mut counted, env.home());
    let counted = counted
        .arg("-o")
        .arg(&trace)
        .arg("-qq")
        .arg(format!("-etrace={}", WRITE_POINTS.join(",")))
        .arg(BIN)
        .args(["run", "-e", "local", "-c", "true"])
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
    assert!(counts.get("pwrite64").is_some_and(|n| *n > 0), "{counts:?}");

    let mut dispatched = Vec::new();
    let mut killed_points = 0;
    for syscall in WRITE_POINTS {
        for n in 1..=counts.get(*syscall).copied().unwrap_or(0) {
            let mark = format!("{syscall}-{n}");
            let run = traced(
                &env,
                strace,
                &["-e", &format!("inject={syscall}:signal=KILL:when={n}")],
                &[
                    "run",
                    "-e",
                    "local",
                    "-c",
                    &format!("echo {mark} >> '{}'", ran.display()),
                ],
            );
            if run.code == 0 {
                // Killed after the id was printed, or not at all.
                dispatched.push(mark.clone());
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
    assert!(killed_points > 20, "only {killed_points} kill points");

    // Every recorded task ends, completed, having run once.
    env.wait_all_ended(Duration::from_secs(30));
    let list = env.json(&["list", "--json"]);
    let tasks = list.as_array().expect("list");
    let ran = lines_of(&ran);
    let counting_run = tasks.iter().filter(|t| t["summary"] == "true").count();
    assert_eq!(counting_run, 1);
    for task in tasks.iter().filter(|t| t["summary"] != "true") {
        assert_eq!(task["status"], "completed", "{task}");
        let command = task["summary"].as_str().unwrap_or_default();
        let mark = command.split_whitespace().nth(1).expect("mark");
        assert_eq!(
            ran.iter().filter(|m| *m == mark).count(),
            1,
            "{mark} ran {:?}",
            ran
        );
    }
    // What ran is exactly what was recorded: nothing unrecorded ran.
    assert_eq!(ran.len(), tasks.len() - counting_run, "ran: {ran:?}");
    for mark in &dispatched {
        assert!(ran.contains(mark), "{mark} was acknowledged but never ran");
    }
    env.ok(&["reindex"]);

    // Dirs of dispatches killed before their row are orphans. Those killed
    // between creating the dir and its lock file are spared while young.
    age_dirs(&env.tasks_dir());
    let out = env.ok(&["cleanup", "--orphans"]);
    assert!(out.contains("removed orphan dir"), "{out}");
    let rows: Vec<String> = tasks
        .iter()
        .map(|t| t["task_id"].as_str().expect("id").to_owned())
        .collect();
    for entry in std::fs::read_dir(env.tasks_dir()).expect("tasks dir") {
        let name = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf-8");
        assert!(rows.contains(&name), "dir {name} left without a task");
    }
    let last = env.run_task("echo last");
    assert_eq!(env.wait_done(&last)["status"], "completed");
}

/// Makes every dir below `dir` look two minutes old.
pub(crate) fn age_dirs(dir: &Path) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let status = Command::new("touch")
            .args(["-d", "2 minutes ago"])
            .arg(entry.expect("entry").path())
            .status()
            .expect("touch");
        assert!(status.success());
    }
}

/// A task id that no task has.
fn stray_id(n: u8) -> String {
    format!("01a21ca8-0000-7000-8000-0000000000{n:02x}")
}

fn orphan_dir(env: &TestEnv, n: u8) -> PathBuf {
    let dir = env.tasks_dir().join(stray_id(n));
    std::fs::create_dir_all(&dir).expect("orphan dir");
    std::fs::write(dir.join("command.sh"), "echo never").expect("command.sh");
    dir
}

#[test]
fn cleanup_orphans_removes_dirs_no_task_or_process_owns() {
    let env = TestEnv::new();
    let task = env.run_task("true");
    env.wait_done(&task);
    let orphan = orphan_dir(&env, 1);
    let busy = orphan_dir(&env, 2);
    let mut sleeper = Command::new("sleep").arg("60").spawn().expect("sleep");
    std::fs::write(busy.join("runner.pid"), format!("{}\n", sleeper.id())).expect("runner.pid");
    // A young dir without a dispatch lock may be a dispatch that just began.
    let young = orphan_dir(&env, 3);
    age_dirs(&env.tasks_dir());
    std::fs::remove_file(young.join("command.sh")).expect("touch young");
    Command::new("touch").arg(&young).status().expect("touch");

    let out = env.ok(&["cleanup", "--orphans"]);
    assert_eq!(out, format!("removed orphan dir {}\n", orphan.display()));
    assert!(!orphan.exists());
    assert!(busy.exists(), "a dir whose runner lives was removed");
    assert!(young.exists());
    assert!(env.task_dir(&task).exists(), "a task's dir was removed");

    sleeper.kill().expect("kill sleep");
    sleeper.wait().expect("reap sleep");
    let out = env.ok(&["cleanup", "--orphans"]);
    assert_eq!(out, format!("removed orphan dir {}\n", busy.display()));
    assert_eq!(env.status(&task)["status"], "completed");
}

fn index_files(env: &TestEnv) -> PathBuf {
    let index = env
        .tasks_dir()
        .parent()
        .expect("data dir")
        .join("index.sqlite");
    for suffix in ["-wal", "-shm"] {
        let mut path = index.clone().into_os_string();
        path.push(suffix);
        let _ = std::fs::remove_file(path);
    }
    index
}

#[test]
fn reindex_moves_a_damaged_index_aside_and_rebuilds_it() {
    let env = TestEnv::new();
    let task = env.run_task("echo kept");
    env.wait_done(&task);
    let index = index_files(&env);
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(&index, &garbage).expect("damage the index");

    let run = env.run(&["list"]);
    run.assert_error(6, "run `openclaw-agent reindex` to rebuild it");
    let orphan = orphan_dir(&env, 9);
    age_dirs(&env.tasks_dir());

    let report = env.json(&["reindex", "--json"]);
    assert_eq!(report["added"][0], task.as_str(), "{report}");
    assert_eq!(
        report["added"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(
        report["removed_orphans"][0],
        orphan.to_str().expect("utf-8")
    );
    assert!(!orphan.exists());
    let copy = PathBuf::from(report["damaged_index_kept_at"].as_str().expect("copy path"));
    assert_eq!(std::fs::read(&copy).expect("damaged copy"), garbage);
    assert_eq!(env.status(&task)["status"], "completed");
    assert_eq!(env.ok(&["logs", "--task-id", &task]), "kept\n");
}

#[test]
fn an_empty_or_truncated_index_beside_tasks_points_to_reindex() {
    let env = TestEnv::new();
    let task = env.run_task("true");
    env.wait_done(&task);
    // Enough commits for SQLite to checkpoint the tasks into the main file.
    let index = env
        .tasks_dir()
        .parent()
        .expect("data dir")
        .join("index.sqlite");
    for _ in 0..40 {
        if std::fs::metadata(&index).expect("index").len() > 3 * 4096 {
            break;
        }
        env.run_task("true");
    }
    let bytes = std::fs::read(&index).expect("index");
    assert!(bytes.len() > 3 * 4096, "no checkpoint happened");
    let index = index_files(&env);

    // Truncated to its first pages: damaged.
    std::fs::write(&index, &bytes[..2 * 4096]).expect("truncate");
    env.run(&["list"])
        .assert_error(6, "run `openclaw-agent reindex` to rebuild it");

    std::fs::write(&index, b"").expect("empty the index");
    let run = env.run(&["list"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.starts_with("warning: the task index ")
            && run
                .stderr
                .contains("run `openclaw-agent reindex` to rebuild it"),
        "{}",
        run.stderr
    );
    // Once rebuilt, no warning.
    env.ok(&["reindex"]);
    let run = env.run(&["list"]);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    assert!(run.stdout.contains(&task[24..]));
}

/// A command killed while it launches a queued task (the claim path): the
/// claimed task is not stuck holding the slot; the next command starts it once.
#[test]
fn a_command_killed_while_starting_a_queued_task() {
    let Some(strace) = strace() else { return };
    let env = TestEnv::new();
    let (release, ran, blocker) = one_slot_held(&env);
    let queued = env.run_task(&format!("echo queued >> '{}'", ran.display()));
    assert_eq!(env.status(&queued)["status"], "queued");
    std::fs::write(&release, "").expect("release");
    assert!(eventually(Duration::from_secs(10), || {
        env.task_dir(&blocker).join("exit.json").exists()
    }));

    // `list` notices the blocker ended, claims the queued task, and dies as it
    // starts the runner.
    let run = traced(
        &env,
        strace,
        &["-e", "inject=clone,clone3,fork,vfork:signal=KILL"],
        &["list"],
    );
    assert_ne!(run.code, 0, "list was not killed: {}", run.stdout);
    let rows = index_rows(&env);
    assert!(
        rows.contains(&(queued.clone(), "pending".to_owned())),
        "{rows:?}"
    );

    let run = env.run(&["wait", "--task-id", &queued, "--timeout", "20"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(env.status(&queued)["status"], "completed");
    assert_eq!(lines_of(&ran), ["queued"]);
}

/// Dispatches and reconcilers SIGKILLed at staggered moments while they race
/// for three slots: nothing is left stuck, every acknowledged task runs, and
/// every recorded task runs exactly once.
#[test]
fn concurrent_dispatches_killed_at_random_moments() {
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: local\n    type: local\n    max_concurrent: 3\n");
    env.ok(&["list"]);
    let ran = env.work.join("ran");
    let handles: Vec<_> = (0..40u64)
        .map(|i| {
            let args: Vec<String> = if i % 5 == 4 {
                vec!["list".into()]
            } else {
                vec![
                    "run".into(),
                    "-e".into(),
                    "local".into(),
                    "-c".into(),
                    format!("echo t{i} >> '{}'; sleep 0.2", ran.display()),
                ]
            };
            let mut command = env.command(&args.iter().map(String::as_str).collect::<Vec<_>>());
            std::thread::spawn(move || {
                let mut child = command.spawn().expect("spawn");
                // Half of them die somewhere between 2 and 60 ms in.
                if i % 2 == 0 {
                    std::thread::sleep(Duration::from_millis(2 + (i * 37) % 59));
                    let _ = child.kill();
                }
                let output = child.wait_with_output().expect("wait");
                let out = String::from_utf8_lossy(&output.stdout).into_owned();
                (args[0] == "run" && output.status.success())
                    .then(|| out.lines().next().unwrap_or_default().to_owned())
            })
        })
        .collect();
    let acknowledged: Vec<String> = handles
        .into_iter()
        .filter_map(|h| h.join().expect("thread"))
        .collect();
    assert!(!acknowledged.is_empty());

    assert!(
        eventually(Duration::from_secs(60), || {
            env.json(&["list", "--json"])
                .as_array()
                .expect("list")
                .iter()
                .all(|t| t["ended_at"].is_string())
        }),
        "tasks left unfinished:\n{}",
        env.ok(&["list"])
    );
    let list = env.json(&["list", "--json"]);
    let tasks = list.as_array().expect("list");
    let ran = lines_of(&ran);
    for task in tasks {
        assert_eq!(task["status"], "completed", "{task}");
        let mark = task["summary"]
            .as_str()
            .and_then(|s| s.split_whitespace().nth(1))
            .expect("mark");
        assert_eq!(
            ran.iter().filter(|m| *m == mark).count(),
            1,
            "{mark}: {ran:?}"
        );
    }
    assert_eq!(ran.len(), tasks.len(), "something unrecorded ran: {ran:?}");
    for id in &acknowledged {
        assert!(
            tasks.iter().any(|t| t["task_id"] == id.as_str()),
            "{id} lost"
        );
    }
    age_dirs(&env.tasks_dir());
    env.ok(&["cleanup", "--orphans"]);
    assert_eq!(
        std::fs::read_dir(env.tasks_dir())
            .expect("tasks dir")
            .count(),
        tasks.len()
    );
}
