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

#[test]
fn sigkilled_runner_makes_the_task_lost() {
    let env = TestEnv::new();
    let id = env.run_task("echo $$ > payload-pid; sleep 300");
    let payload_pid_file = env.work.join("payload-pid");
    assert!(eventually(Duration::from_secs(10), || !read_pids(
        &payload_pid_file
    )
    .is_empty()));
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
    // The orphaned payload is ours to end.
    for pid in read_pids(&payload_pid_file) {
        kill_pid(pid, libc::SIGKILL);
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
