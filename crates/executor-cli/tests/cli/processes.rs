//! Process-level guarantees: kill ends the whole tree, tasks outlive the CLI,
//! a vanished runner is `lost`, cleanup removes everything.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use crate::helpers::{TestEnv, eventually, kill_pid, process_alive, read_pids};

#[test]
fn kill_ends_the_whole_tree() {
    let env = TestEnv::new();
    // A child, a grandchild in its own session, and one that ignores SIGTERM.
    let command = r#"
echo $$ >> pids
sleep 300 & echo $! >> pids
setsid sh -c 'echo $$ >> pids; sleep 301' &
sh -c 'trap "" TERM; echo $$ >> pids; while :; do sleep 1; done' &
sh -c 'sleep 302 & echo $! >> pids; wait' &
wait
"#;
    let id = env.run_task(command);
    let pids_file = env.work.join("pids");
    assert!(
        eventually(Duration::from_secs(10), || read_pids(&pids_file).len() >= 5),
        "tree did not start"
    );
    let pids = read_pids(&pids_file);
    assert!(pids.iter().all(|p| process_alive(*p)));

    let out = env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
    assert_eq!(out, format!("{id} killed\n"));
    for pid in &pids {
        assert!(
            eventually(Duration::from_secs(5), || !process_alive(*pid)),
            "pid {pid} of the task tree survived kill"
        );
    }
    let status = env.status(&id);
    assert_eq!(status["status"], "killed");
    let record = env.completion(&id).expect("completion record");
    assert_eq!(record["status"], "failure");
    assert_eq!(record["task_status"], "killed");

    // Killing it again is a state error, not a crash.
    env.run(&["kill", "--task-id", &id])
        .assert_error(7, "already ended");
}

#[test]
fn task_survives_the_cli_being_sigkilled() {
    let env = TestEnv::new();
    let mut command = env.command(&[
        "run",
        "--executor",
        "local",
        "--cmd",
        "sleep 1; echo done > finished",
    ]);
    // The CLI gets a process group of its own; killing that group models a closed
    // terminal or a supervisor's SIGKILL of the CLI and everything it left behind.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command.spawn().unwrap();
    let cli_pid = child.id();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut id = String::new();
    stdout.read_line(&mut id).unwrap();
    let id = id.trim().to_owned();
    kill_pid(cli_pid, libc::SIGKILL);
    // SAFETY: signalling the process group this test created.
    unsafe { libc::kill(-(cli_pid as i32), libc::SIGKILL) };
    let _ = child.wait();

    assert!(
        eventually(Duration::from_secs(10), || env
            .work
            .join("finished")
            .exists()),
        "the task did not finish after the CLI was killed"
    );
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed");
    assert_eq!(status["exit_code"], 0);
    assert!(env.completion(&id).is_some());
}

/// A payload that records its pid and starts two children in its process group.
const PAYLOAD_WITH_CHILDREN: &str = "echo $$ >> pids; sleep 300 & echo $! >> pids; \
    sh -c 'echo $$ >> pids; sleep 301' & wait";

/// Starts `command` on the local executor and waits for the `count` pids it writes to `pids`.
fn started_with_pids(env: &TestEnv, command: &str, count: usize) -> (String, Vec<u32>) {
    let id = env.run_task(command);
    let pids_file = env.work.join("pids");
    assert!(
        eventually(Duration::from_secs(10), || read_pids(&pids_file).len()
            >= count),
        "the payload did not start its processes"
    );
    let pids = read_pids(&pids_file);
    assert!(pids.iter().all(|p| process_alive(*p)), "{pids:?}");
    (id, pids)
}

fn assert_all_gone(pids: &[u32], what: &str) {
    for pid in pids {
        assert!(
            eventually(Duration::from_secs(10), || !process_alive(*pid)),
            "pid {pid} survived: {what}"
        );
    }
}

#[test]
fn sigkilled_runner_makes_the_task_lost_and_ends_its_payload() {
    let env = TestEnv::new();
    let (id, pids) = started_with_pids(&env, PAYLOAD_WITH_CHILDREN, 3);
    let status = env.status(&id);
    assert_eq!(status["status"], "running");
    let runner = status["runner_pid"].as_u64().unwrap() as u32;
    kill_pid(runner, libc::SIGKILL);
    assert!(eventually(Duration::from_secs(5), || !process_alive(
        runner
    )));

    let status = env.status(&id);
    assert_eq!(status["status"], "lost", "{status}");
    assert!(status["reason"].as_str().unwrap().contains("runner"));
    assert_eq!(env.completion(&id).unwrap()["task_status"], "lost");
    // Found lost, the task's payload and its children end with it.
    assert_all_gone(&pids, "the task was found lost");
    // Nothing of it runs any more: `kill` says it has ended, `cleanup` removes it.
    env.run(&["kill", "--task-id", &id])
        .assert_error(7, "already ended");
    env.ok(&["cleanup", "--task-id", &id]);
    assert!(!env.task_dir(&id).exists());
}

#[test]
fn sigkilled_payload_takes_its_children_along() {
    let env = TestEnv::new();
    let (id, pids) = started_with_pids(&env, PAYLOAD_WITH_CHILDREN, 3);
    kill_pid(pids[0], libc::SIGKILL);
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["exit_code"], 137);
    // The runner ended the payload's group before recording the exit.
    for pid in &pids[1..] {
        assert!(!process_alive(*pid), "child {pid} outlived the task");
    }
}

#[test]
fn background_jobs_end_with_the_task_unless_kept() {
    let env = TestEnv::new();
    let (id, pids) = started_with_pids(
        &env,
        "sleep 300 & echo $! > pids; trap '' TERM; sh -c 'trap \"\" TERM; echo $$ >> pids; exec sleep 301' & sleep 0.5; exit 0",
        2,
    );
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed", "{status}");
    // Even the one that ignores SIGTERM: it gets SIGKILL after the grace.
    for pid in &pids {
        assert!(
            !process_alive(*pid),
            "background job {pid} outlived the task"
        );
    }

    // With `keep_background`, the user asked for them to outlive it.
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: local\n    type: local\n    keep_background: true\n");
    let (id, pids) = started_with_pids(&env, "sleep 300 & echo $! > pids; exit 0", 1);
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed", "{status}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(process_alive(pids[0]), "the kept background job ended");
    // A dir with live processes is not removed from under them.
    env.run(&["cleanup", "--task-id", &id])
        .assert_error(7, "still run");
    assert!(env.task_dir(&id).exists());
    let finished = env.run(&["cleanup", "--finished"]);
    assert_eq!(finished.code, 0, "{}", finished.stderr);
    assert!(
        finished.stderr.contains("warning: skipped"),
        "{}",
        finished.stderr
    );
    assert!(env.task_dir(&id).exists());
    // `kill` works on it although it has ended, and keeps its recorded state.
    let out = env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
    assert_eq!(
        out,
        format!("{id} completed; ended the processes it had left running\n")
    );
    assert!(!process_alive(pids[0]));
    assert_eq!(env.status(&id)["status"], "completed");
    env.run(&["kill", "--task-id", &id])
        .assert_error(7, "already ended");

    // `cleanup --force` ends them first.
    let (id, pids) = {
        std::fs::remove_file(env.work.join("pids")).unwrap();
        started_with_pids(&env, "sleep 300 & echo $! > pids; exit 0", 1)
    };
    env.wait_done(&id);
    env.ok(&["cleanup", "--task-id", &id, "--force", "--grace", "1"]);
    assert!(!process_alive(pids[0]));
    assert!(!env.task_dir(&id).exists());
}

#[test]
fn kill_ends_the_processes_of_a_task_recorded_as_lost() {
    let env = TestEnv::new();
    let (id, mut pids) = started_with_pids(&env, PAYLOAD_WITH_CHILDREN, 3);
    let runner = env.status(&id)["runner_pid"].as_u64().unwrap() as u32;
    // Recorded lost while all of it still runs: a crash between recording the
    // loss and ending what was left, or a record from an older version.
    let index = env.home().join(".local/share/openclaw/index.sqlite");
    let db = rusqlite::Connection::open(&index).expect("open the index");
    let changed = db
        .execute(
            "UPDATE tasks SET status = 'lost', ended_at = created_at WHERE id = ?1",
            [&id],
        )
        .expect("mark lost");
    assert_eq!(changed, 1);
    drop(db);
    assert_eq!(env.status(&id)["status"], "lost");

    env.run(&["cleanup", "--task-id", &id])
        .assert_error(7, "still run");
    assert!(env.task_dir(&id).exists());
    let out = env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
    assert_eq!(
        out,
        format!("{id} lost; ended the processes it had left running\n")
    );
    // The runner, spared, records the payload's end and exits.
    pids.push(runner);
    assert_all_gone(&pids, "kill of a lost task");
    env.ok(&["cleanup", "--task-id", &id]);
}

#[test]
fn payload_runs_with_the_callers_umask_and_task_files_stay_private() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new();
    for mask in [0o022, 0o027] {
        let mut command =
            env.command(&["run", "--executor", "local", "--cmd", "umask; : > created"]);
        // SAFETY: umask is async-signal-safe and only changes the child's mask.
        unsafe {
            command.pre_exec(move || {
                libc::umask(mask);
                Ok(())
            });
        }
        let run = crate::helpers::run_bounded(command);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let id = run.stdout.lines().next().unwrap().to_owned();
        assert_eq!(env.wait_done(&id)["status"], "completed");
        let log = env.ok(&["logs", "--task-id", &id]);
        assert_eq!(log.trim(), format!("{mask:04o}"), "{log}");
        let created = std::fs::metadata(env.work.join("created")).unwrap();
        assert_eq!(created.permissions().mode() & 0o777, 0o666 & !mask);
        std::fs::remove_file(env.work.join("created")).unwrap();
        for entry in std::fs::read_dir(env.task_dir(&id)).unwrap() {
            let entry = entry.unwrap();
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{:?} is {mode:o}", entry.file_name());
        }
    }
}

#[test]
fn cleanup_removes_task_dir_and_index_entry() {
    let env = TestEnv::new();
    let running = env.run_task("sleep 300");
    env.run(&["cleanup", "--task-id", &running])
        .assert_error(7, "still running");
    assert!(env.task_dir(&running).exists());

    let done = env.run_task("true");
    env.wait_done(&done);
    assert_eq!(
        env.ok(&["cleanup", "--task-id", &done]),
        format!("removed {done}\n")
    );
    assert!(!env.task_dir(&done).exists());
    env.run(&["status", "--task-id", &done])
        .assert_error(4, "no task matches");
    // The completion record stays: it is the task's announcement, not its data.
    assert!(env.completion(&done).is_some());

    // --force kills first, then removes.
    let status = env.status(&running);
    let pid = status["pid"].as_u64().unwrap() as u32;
    env.ok(&["cleanup", "--task-id", &running, "--force", "--grace", "1"]);
    assert!(!env.task_dir(&running).exists());
    assert!(eventually(Duration::from_secs(5), || !process_alive(pid)));
    assert_eq!(env.completion(&running).unwrap()["task_status"], "killed");

    // --finished removes every ended task and leaves live ones.
    let a = env.run_task("true");
    let b = env.run_task("exit 3");
    let live = env.run_task("sleep 300");
    env.wait_done(&a);
    env.wait_done(&b);
    let out = env.ok(&["cleanup", "--finished"]);
    assert!(
        out.contains(&a) && out.contains(&b) && !out.contains(&live),
        "{out}"
    );
    let left = env.json(&["list", "--json"]);
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["task_id"], live.as_str());
    env.ok(&["kill", "--task-id", &live, "--grace", "1"]);
}
