//! Bulk operations: `kill`, `cleanup`, `wait` and `logs` on several ids and on
//! selectors, on the local executor.

use std::time::{Duration, Instant};

use crate::helpers::{TestEnv, eventually};

fn status_of(env: &TestEnv, id: &str) -> String {
    env.status(id)["status"].as_str().unwrap().to_owned()
}

/// Two local executors, `alpha` (label `cpu`) and `beta` (label `gpu`).
fn two_executors() -> TestEnv {
    let env = TestEnv::new();
    env.write_config(
        "executors:\n  - name: alpha\n    type: local\n    labels: [cpu]\n  - name: beta\n    type: local\n    labels: [gpu]\n",
    );
    env
}

fn run_on(env: &TestEnv, executor: &str, cmd: &str) -> String {
    let out = env.ok(&["run", "--executor", executor, "--cmd", cmd]);
    out.lines().next().unwrap().to_owned()
}

#[test]
fn kill_all_ends_every_live_task_together_and_then_matches_nothing() {
    let env = TestEnv::new();
    let done = env.run_task("true");
    env.wait_done(&done);
    // Each ignores SIGTERM: one at a time, six grace periods would add up.
    let live: Vec<String> = (0..6)
        .map(|_| env.run_task("trap '' TERM; sleep 300"))
        .collect();
    let started = Instant::now();
    let out = env.ok(&["kill", "--all", "--grace", "1"]);
    let took = started.elapsed();
    for id in &live {
        assert!(out.contains(&format!("{id} killed")), "{out}");
        assert_eq!(status_of(&env, id), "killed");
    }
    assert!(!out.contains(&done), "an ended task is not selected: {out}");
    assert!(
        took < Duration::from_secs(5),
        "one grace period, not six: {took:?}"
    );
    assert_eq!(status_of(&env, &done), "completed");

    env.run(&["kill", "--all"])
        .assert_error(4, "no task matches the selection");
}

#[test]
fn kill_takes_several_ids_and_leaves_the_others() {
    let env = TestEnv::new();
    let ids: Vec<String> = (0..3).map(|_| env.run_task("sleep 300")).collect();
    let out = env.ok(&["kill", "-t", &ids[0], "-t", &ids[1], "--grace", "1"]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert_eq!(status_of(&env, &ids[0]), "killed");
    assert_eq!(status_of(&env, &ids[1]), "killed");
    assert_eq!(status_of(&env, &ids[2]), "running");
    // One of them already ended: the others are still killed, the exit code says so.
    let run = env.run(&["kill", "-t", &ids[0], "-t", &ids[2], "--grace", "1"]);
    assert_eq!(run.code, 7, "{}", run.stderr);
    assert!(run.stderr.contains("already ended"), "{}", run.stderr);
    assert_eq!(status_of(&env, &ids[2]), "killed");
}

#[test]
fn kill_selects_by_executor_label_and_status() {
    let env = two_executors();
    let a = run_on(&env, "alpha", "sleep 300");
    let b = run_on(&env, "beta", "sleep 300");
    env.ok(&["kill", "--label", "gpu", "--grace", "1"]);
    assert_eq!(status_of(&env, &b), "killed");
    assert_eq!(status_of(&env, &a), "running");
    env.run(&["kill", "--executor", "beta"])
        .assert_error(4, "no task matches");
    env.ok(&[
        "kill",
        "--status",
        "running",
        "--executor",
        "alpha",
        "--grace",
        "1",
    ]);
    assert_eq!(status_of(&env, &a), "killed");
    // A group no task belongs to matches nothing.
    env.run(&["kill", "--group", "nope"])
        .assert_error(4, "no task matches");
}

#[test]
fn selectors_need_no_ids_and_ids_exclude_selectors() {
    let env = TestEnv::new();
    env.run(&["kill"]).assert_error(2, "name the tasks");
    let run = env.run(&["kill", "-t", "abcd", "--all"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    env.run(&["cleanup", "--older-than", "soon"])
        .assert_error(2, "--older-than");
}

#[test]
fn cleanup_selections_remove_ended_tasks_only_and_may_match_nothing() {
    let env = two_executors();
    let ok = run_on(&env, "alpha", "true");
    let failed = run_on(&env, "alpha", "exit 3");
    let other = run_on(&env, "beta", "true");
    let live = run_on(&env, "alpha", "sleep 300");
    for id in [&ok, &failed, &other] {
        env.wait_done(id);
    }
    // Nothing is that old: not an error.
    let out = env.ok(&["cleanup", "--all", "--older-than", "1h"]);
    assert!(out.contains("no finished tasks"), "{out}");

    let out = env.ok(&["cleanup", "--status", "failed"]);
    assert_eq!(out.trim(), format!("removed {failed}"));
    assert!(!env.task_dir(&failed).exists());

    let out = env.ok(&["cleanup", "--executor", "alpha"]);
    assert_eq!(out.trim(), format!("removed {ok}"), "the live task stays");
    assert_eq!(status_of(&env, &live), "running");
    assert_eq!(status_of(&env, &other), "completed");

    // --force selects live tasks too, and kills them first.
    let out = env.ok(&["cleanup", "--all", "--force", "--grace", "1"]);
    assert!(out.contains(&format!("removed {live}")), "{out}");
    assert!(out.contains(&format!("removed {other}")), "{out}");
    assert_eq!(env.json(&["list", "--json"]), serde_json::json!([]));
    assert!(!env.task_dir(&live).exists());
}

#[test]
fn wait_on_several_returns_when_all_ended_and_fails_if_any_failed() {
    let env = TestEnv::new();
    let good = env.run_task("sleep 0.3");
    let bad = env.run_task("sleep 0.6; exit 3");
    let run = env.run(&["wait", "-t", &good, "-t", &bad, "--timeout", "30"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("{good} completed")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("{bad} failed (exit code 3)")),
        "{}",
        run.stdout
    );

    let a = env.run_task("sleep 0.3");
    let b = env.run_task("sleep 0.3");
    let out = env.ok(&["wait", "-t", &a, "-t", &b]);
    assert_eq!(out.lines().count(), 2, "{out}");
}

#[test]
fn wait_any_returns_with_the_first_to_end() {
    let env = TestEnv::new();
    let slow = env.run_task("sleep 300");
    let quick = env.run_task("sleep 0.3; exit 4");
    let started = Instant::now();
    let run = env.run(&["wait", "--any", "--all", "--timeout", "30"]);
    assert_eq!(run.code, 4, "the first task's exit code: {}", run.stdout);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(
        run.stdout.contains(&format!("{quick} failed")),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!("{slow} running")),
        "{}",
        run.stdout
    );

    let run = env.run(&["wait", "--all", "--timeout", "0.3"]);
    assert_eq!(run.code, 124, "{}", run.stderr);
    env.ok(&["kill", "--all", "--grace", "1"]);
}

#[test]
fn wait_returns_soon_after_a_local_task_ends() {
    let env = TestEnv::new();
    let marker = env.home().join("ended");
    let id = env.run_task(&format!("sleep 1; date +%s.%N > {}", marker.display()));
    env.ok(&["wait", "-t", &id]);
    let returned = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let ended: f64 = std::fs::read_to_string(&marker)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The runner records the exit, then `wait` sees it on its next look.
    assert!(
        returned - ended < 0.5,
        "wait returned {:.3}s after the end",
        returned - ended
    );
}

#[test]
fn logs_of_several_tasks_are_prefixed_and_followed_to_their_ends() {
    let env = TestEnv::new();
    let a = env.run_task("echo one; sleep 0.5; echo two");
    let b = env.run_task("printf 'x\\ny'; sleep 0.8; echo z");
    let out = env.ok(&["logs", "-t", &a, "-t", &b, "--follow", "30"]);
    let lines: Vec<&str> = out.lines().collect();
    let pa = format!("[{}] ", &a[..8]);
    let pb = format!("[{}] ", &b[..8]);
    for want in [
        format!("{pa}one"),
        format!("{pa}two"),
        format!("{pb}x"),
        format!("{pb}yz"),
    ] {
        assert!(lines.contains(&want.as_str()), "{want} in {out}");
    }
    assert!(eventually(Duration::from_secs(5), || {
        status_of(&env, &a) == "completed" && status_of(&env, &b) == "completed"
    }));
    // Not following: the tails of every selected task.
    let out = env.ok(&["logs", "--all"]);
    assert_eq!(out.lines().count(), 4, "{out}");
}

/// Over SSH a bulk kill and a bulk cleanup cost a few round trips to the host,
/// however many tasks they act on.
#[test]
fn ssh_bulk_kill_and_cleanup_take_one_batch_per_host() {
    use test_support::sshd::TEST_USER;
    let Some(mut t) = crate::ssh::SshTest::new(TEST_USER) else {
        return;
    };
    let ids: Vec<String> = (0..8)
        .map(|_| t.run_task("trap '' TERM; sleep 300"))
        .collect();
    let calls = crate::helpers::count_calls(&mut t.env, "ssh");
    let started = Instant::now();
    let out = t.env.ok(&["kill", "--executor", "box", "--grace", "1"]);
    let took = started.elapsed();
    for id in &ids {
        assert!(out.contains(&format!("{id} killed")), "{out}");
    }
    let kill_calls = crate::helpers::calls(&calls);
    // Look, kill, and a look or two until the runners have recorded their ends.
    assert!(
        kill_calls <= 4,
        "{kill_calls} ssh runs for 8 tasks in {took:?}"
    );
    assert!(took < Duration::from_secs(8), "one grace period: {took:?}");

    let out = t.env.ok(&["cleanup", "--all"]);
    assert_eq!(out.lines().count(), 8, "{out}");
    // One liveness check, one removal.
    assert_eq!(crate::helpers::calls(&calls) - kill_calls, 2);
    for id in &ids {
        assert!(!t.remote_dir(id).exists());
    }
}

/// `logs -f` of several SSH tasks reads them all in one script per look.
#[test]
fn ssh_logs_of_several_tasks_are_followed_together() {
    use test_support::sshd::TEST_USER;
    let Some(t) = crate::ssh::SshTest::new(TEST_USER) else {
        return;
    };
    let a = t.run_task("echo a1; sleep 0.5; printf 'a2\\001\\n'");
    let b = t.run_task("printf 'b1'; sleep 0.8; echo b2");
    let out = t.env.ok(&["logs", "-e", "box", "--follow", "30"]);
    let pa = format!("[{}] ", &a[..8]);
    let pb = format!("[{}] ", &b[..8]);
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        format!("{pa}a1"),
        format!("{pa}a2\u{1}"),
        format!("{pb}b1b2"),
    ] {
        assert!(lines.contains(&want.as_str()), "{want:?} in {out:?}");
    }
    assert_eq!(t.env.status(&a)["status"], "completed");
    assert_eq!(t.env.status(&b)["status"], "completed");
}
