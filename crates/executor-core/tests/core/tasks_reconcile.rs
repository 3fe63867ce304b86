//! Reconcile: how what the executor reports becomes the recorded state.

use executor_core::TaskStatus;
use test_support::Failure;

use crate::harness::{Harness, agent, ago, dispatch, shell};

const ONE: &str = "
executors:
  - name: a
    type: local
";

#[test]
fn an_exit_ends_the_task_once_with_its_completion_record() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "true"));
    let ended_at = {
        h.fake.exit(&id, 0);
        h.fake.task(&id).and_then(|t| t.exit?.ended_at)
    };

    let report = manager.reconcile(None).expect("reconcile");
    assert_eq!(report.finished.len(), 1);
    let record = h.record(&id);
    assert_eq!(record.status, TaskStatus::Completed);
    assert_eq!(record.exit_code, Some(0));
    assert_eq!(
        record.ended_at,
        ended_at.map(Into::into),
        "the end time is the runner's"
    );
    assert_eq!(record.reason, None);
    let completion = h.completion(&id).expect("completion record");
    assert_eq!(completion["status"], "success");
    assert_eq!(completion["exit_code"], 0);
    assert_eq!(h.meta(&id)["status"], "completed");

    // Ended tasks are not looked at again.
    let observed = h.fake.observed_ids().len();
    let report = manager.reconcile(None).expect("reconcile");
    assert!(report.finished.is_empty());
    assert_eq!(h.fake.observed_ids().len(), observed);
}

#[test]
fn a_nonzero_exit_fails_with_a_readable_reason() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let missing = dispatch(&mut manager, shell("a", "nope"));
    let signalled = dispatch(&mut manager, shell("a", "sleep 9"));
    h.fake.exit(&missing, 127);
    h.fake.exit(&signalled, 137);
    manager.reconcile(None).expect("reconcile");

    let missing = h.record(&missing);
    assert_eq!(missing.status, TaskStatus::Failed);
    assert_eq!(
        missing.reason.as_deref(),
        Some("exit code 127 (command not found)")
    );
    let signalled = h.record(&signalled);
    assert_eq!(signalled.exit_code, Some(137));
    assert_eq!(
        signalled.reason.as_deref(),
        Some("exit code 137 (signal 9)")
    );
}

#[test]
fn a_running_payload_pid_is_recorded_without_ending_anything() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "sleep 9"));
    // Runner up, payload not yet started: still running, not back to pending.
    h.fake.update(&id, |t| t.payload_pid = None);
    manager.reconcile(None).expect("reconcile");
    assert_eq!(h.status(&id), TaskStatus::Running);
    assert_eq!(h.record(&id).pid, None);

    h.fake.update(&id, |t| t.payload_pid = Some(4321));
    let report = manager.reconcile(None).expect("reconcile");
    assert!(report.finished.is_empty());
    let record = h.record(&id);
    assert_eq!(
        (record.status, record.pid),
        (TaskStatus::Running, Some(4321))
    );
    assert_eq!(h.meta(&id)["pid"], 4321);
    assert!(h.completion(&id).is_none());
}

#[test]
fn a_dead_runner_without_exit_record_is_lost_once() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "sleep 9"));
    h.fake.vanish(&id);

    let report = manager.reconcile(None).expect("reconcile");
    assert_eq!(report.finished.len(), 1);
    let record = h.record(&id);
    assert_eq!(record.status, TaskStatus::Lost);
    assert_eq!(
        record.reason.as_deref(),
        Some("the task runner is gone without an exit record")
    );
    assert_eq!(record.exit_code, None);
    assert_eq!(
        h.completion(&id).expect("completion")["task_status"],
        "lost"
    );

    // Also from another process: nothing more to finish.
    let report = h.manager().reconcile(None).expect("reconcile");
    assert!(report.finished.is_empty());
    assert_eq!(h.completion_files().len(), 1);
}

#[test]
fn a_reused_runner_pid_is_not_the_runner() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let alive = dispatch(&mut manager, shell("a", "sleep 9"));
    let reused = dispatch(&mut manager, shell("a", "sleep 9"));
    let pid = h.record(&reused).runner_pid;
    h.fake.reuse_pid(&reused);

    manager.reconcile(None).expect("reconcile");
    assert_eq!(h.status(&alive), TaskStatus::Running);
    let record = h.record(&reused);
    assert_eq!(record.status, TaskStatus::Lost, "same pid, other process");
    assert_eq!(record.runner_pid, pid);
    assert!(
        h.fake
            .host()
            .is_same_live_process(pid.expect("runner pid"), None),
        "the pid is alive (someone else's)"
    );
}

#[test]
fn a_kill_marker_with_a_dead_runner_ends_killed_with_its_reason() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "sleep 9"));
    h.fake
        .update(&id, |t| t.kill_reason = Some("killed by request".into()));
    h.fake.vanish(&id);
    manager.reconcile(None).expect("reconcile");
    let record = h.record(&id);
    assert_eq!(record.status, TaskStatus::Killed);
    assert_eq!(record.reason.as_deref(), Some("killed by request"));
}

#[test]
fn a_row_without_runner_pid_is_left_alone_for_the_dispatch_window() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "sleep 9"));
    let launches = h.fake.launches().len();
    // Another process claimed the slot 5 s ago and may be launching right now.
    h.interrupt_dispatch(&id, 5);

    let report = manager.reconcile(None).expect("reconcile");
    assert!(report.finished.is_empty());
    assert_eq!(h.fake.observed_ids(), [], "not even looked at");
    assert_eq!(h.status(&id), TaskStatus::Pending);
    assert_eq!(h.fake.launches().len(), launches);
}

#[test]
fn an_interrupted_dispatch_is_requeued_and_started_once() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "echo once"));
    h.interrupt_dispatch(&id, 60);

    let report = manager.reconcile(None).expect("reconcile");
    assert!(report.finished.is_empty());
    assert_eq!(h.fake.launched_ids(), [id, id], "launched again, once");
    let launch = h.fake.launches().pop().expect("relaunch");
    assert_eq!(launch.file("command.sh").as_deref(), Some("echo once"));
    let record = h.record(&id);
    assert_eq!(record.status, TaskStatus::Running);
    assert_eq!(
        record.runner_pid,
        h.fake.task(&id).and_then(|t| t.runner_pid)
    );

    // A second manager finds it running: no third launch.
    h.manager().reconcile(None).expect("reconcile");
    assert_eq!(h.fake.launched_ids().len(), 2);
}

#[test]
fn an_interrupted_dispatch_whose_runner_started_is_not_launched_again() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "echo once"));
    h.interrupt_dispatch(&id, 60);
    // The launcher died after the runner wrote runner.pid.
    let runner = h.fake.start_orphan_runner(&id, "a");

    manager.reconcile(None).expect("reconcile");
    assert_eq!(h.fake.launched_ids(), [id], "no second launch");
    let record = h.record(&id);
    assert_eq!(record.status, TaskStatus::Running);
    assert_eq!(record.pid, Some(runner + 1));

    // Its end is still seen, through runner.pid.
    h.fake.exit(&id, 0);
    manager.reconcile(None).expect("reconcile");
    assert_eq!(h.status(&id), TaskStatus::Completed);
}

#[test]
fn an_unreachable_executor_leaves_its_tasks_and_is_reported() {
    let h = Harness::new(
        "
executors:
  - name: a
    type: local
  - name: b
    type: local
",
    );
    let mut manager = h.manager();
    let on_a = dispatch(&mut manager, shell("a", "sleep 9"));
    let on_b = dispatch(&mut manager, shell("b", "true"));
    h.fake.vanish(&on_a);
    h.fake.exit(&on_b, 0);
    h.fake
        .fail_observe("a", Some(Failure::Unreachable("no route to host".into())));

    let report = manager.reconcile(None).expect("reconcile");
    assert_eq!(report.unreachable.len(), 1);
    let err = report.unreachable[0].to_string();
    assert!(
        err.contains("`a`") && err.contains("no route to host"),
        "{err}"
    );
    assert!(report.unreachable[0].is_transient());
    assert_eq!(h.status(&on_a), TaskStatus::Running, "not lost: unknown");
    assert_eq!(h.status(&on_b), TaskStatus::Completed, "b is unaffected");

    // Back online: the truth lands.
    h.fake.fail_observe("a", None);
    let report = manager.reconcile(None).expect("reconcile");
    assert!(report.unreachable.is_empty());
    assert_eq!(h.status(&on_a), TaskStatus::Lost);
}

#[test]
fn an_executor_removed_from_the_config_leaves_its_tasks_untouched() {
    let h = Harness::new(
        "
executors:
  - name: gone
    type: local
",
    );
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("gone", "sleep 9"));
    h.fake.vanish(&id);
    let before = h.record(&id);

    let mut config = h.config.clone();
    config.executors.retain(|e| e.name != "gone");
    let mut manager = h.manager_with(config);
    let report = manager.reconcile(None).expect("reconcile");
    assert!(report.finished.is_empty() && report.unreachable.is_empty());
    assert_eq!(h.fake.observe_calls("gone"), 0);
    assert_eq!(h.record(&id), before);
}

#[test]
fn two_managers_finish_the_same_end_exactly_once() {
    let h = Harness::new(ONE);
    let ids: Vec<_> = {
        let mut manager = h.manager();
        (0..8)
            .map(|i| dispatch(&mut manager, shell("a", &format!("t{i}"))))
            .collect()
    };
    for (i, id) in ids.iter().enumerate() {
        if i % 2 == 0 {
            h.fake.exit(id, 0);
        } else {
            h.fake.vanish(id);
        }
    }
    // Two processes look at once; each end is claimed by one of them.
    let barrier = std::sync::Barrier::new(2);
    let finished: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut manager = h.manager();
                    barrier.wait();
                    manager.reconcile(None).expect("reconcile").finished
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("reconciler thread"))
            .map(|t| t.id)
            .collect()
    });
    let mut sorted = finished.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), finished.len(), "a task finished twice");
    assert_eq!(sorted, ids);
    assert_eq!(h.completion_files().len(), ids.len());
}

/// A stream-json log of an agent that did one turn and ended with `subtype`.
fn agent_log(subtype: &str) -> Vec<u8> {
    format!(
        "{}\n{}\n{}\n",
        r#"{"type":"system","subtype":"init","cwd":"/work/repo","session_id":"s1","model":"m"}"#,
        r#"{"type":"assistant","message":{"id":"m1","content":[{"type":"tool_use","name":"Bash","input":{"command":"ls"}}],"usage":{"input_tokens":10,"output_tokens":2}}}"#,
        format_args!(
            r#"{{"type":"result","subtype":"{subtype}","is_error":false,"total_cost_usd":0.5,"result":"done"}}"#
        ),
    )
    .into_bytes()
}

#[test]
fn agent_stats_come_from_the_log_and_its_verdict_overrides_exit_0() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let ok = dispatch(&mut manager, agent("a", "fine"));
    let capped = dispatch(&mut manager, agent("a", "long"));
    h.fake.append_log(&ok, &agent_log("success"), &ago(1));
    h.fake
        .append_log(&capped, &agent_log("error_max_turns"), &ago(1));
    h.fake.exit(&ok, 0);
    h.fake.exit(&capped, 0);
    manager.reconcile(None).expect("reconcile");

    let ok = h.record(&ok);
    assert_eq!(ok.status, TaskStatus::Completed);
    let stats = ok.agent.expect("agent stats");
    assert_eq!((stats.turns, stats.tool_calls), (1, 1));
    assert_eq!(stats.total_cost_usd, Some(0.5));
    assert_eq!(stats.parsed_offset, agent_log("success").len() as u64);
    let capped = h.record(&capped);
    assert_eq!(capped.status, TaskStatus::Failed);
    assert_eq!(capped.reason.as_deref(), Some("error_max_turns"));
}

/// The first record of Claude Code's stream: an agent event.
const INIT: &[u8] = b"{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"s\"}\n";

const STALLING: &str = "
executors:
  - name: a
    type: local
defaults:
  stall_timeout: 1m
  kill_on_stall: true
";

#[test]
fn a_stalled_agent_is_killed_and_ends_killed_with_the_stall_reason() {
    let h = Harness::new(STALLING);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, agent("a", "think"));
    h.fake.append_log(&id, INIT, &ago(3600));

    // The kill is asked for; the end is seen when the runner records it.
    let report = manager.reconcile(None).expect("reconcile");
    assert!(report.finished.is_empty());
    let kills = h.fake.kills();
    assert_eq!(kills.len(), 1);
    assert_eq!(kills[0].id, id);
    assert!(
        kills[0]
            .reason
            .starts_with("stalled: no agent activity for 36"),
        "{}",
        kills[0].reason
    );
    assert_eq!(kills[0].grace, std::time::Duration::from_secs(5));

    let report = manager.reconcile(None).expect("reconcile");
    assert_eq!(report.finished.len(), 1);
    let record = h.record(&id);
    assert_eq!(record.status, TaskStatus::Killed);
    assert_eq!(record.reason.as_deref(), Some(kills[0].reason.as_str()));
    assert_eq!(h.fake.kills().len(), 1, "killed once");
}

#[test]
fn bytes_that_are_no_agent_events_do_not_hide_a_stall() {
    let h = Harness::new(STALLING);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, agent("a", "think"));
    h.fake.append_log(&id, INIT, &ago(1));
    manager.reconcile(None).expect("reconcile");
    assert_eq!(h.fake.kills(), [], "the event is fresh");
    // An hour later: keep-alives and a spinner on stderr keep the log
    // growing, to no avail.
    let record = h.record(&id);
    let mut stats = record.agent.clone().expect("stats");
    stats.last_activity = Some(ago(3600));
    h.store()
        .set_agent(&id, &stats)
        .expect("backdate the event");
    for _ in 0..2 {
        h.fake
            .append_log(&id, b": keep-alive\n\r|/-\\ working\n", &ago(0));
    }
    manager.reconcile(None).expect("reconcile");
    let kills = h.fake.kills();
    assert_eq!(kills.len(), 1, "stalled although the log grew");
    assert!(
        kills[0]
            .reason
            .starts_with("stalled: no agent activity for 36"),
        "{}",
        kills[0].reason
    );
}

#[test]
fn a_budget_kill_whose_killer_died_still_ends_failed() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, agent("a", "spend"));
    // The CLI that killed the task for its budget died before recording the
    // end: the runner's records say killed, with the reason.
    h.fake.update(&id, |t| {
        t.kill_reason = Some("budget exceeded ($0.5)".into());
    });
    h.fake.exit(&id, 143);
    manager.reconcile(None).expect("reconcile");
    let record = h.record(&id);
    assert_eq!(record.status, TaskStatus::Failed);
    assert_eq!(record.reason.as_deref(), Some("budget exceeded ($0.5)"));
}

#[test]
fn only_silent_running_agents_count_as_stalled() {
    let h = Harness::new(STALLING);
    let mut manager = h.manager();
    let active = dispatch(&mut manager, agent("a", "busy"));
    h.fake
        .append_log(&active, b"{\"type\":\"system\"}\n", &ago(2));
    let shell_task = dispatch(&mut manager, shell("a", "sleep 9999"));
    h.fake
        .update(&shell_task, |t| t.log_modified = Some(ago(3600)));

    manager.reconcile(None).expect("reconcile");
    assert_eq!(h.fake.kills(), []);
    assert_eq!(h.status(&active), TaskStatus::Running);
    assert_eq!(h.status(&shell_task), TaskStatus::Running);

    // Without kill_on_stall a stall is only shown.
    let mut config = h.config.clone();
    config.defaults.kill_on_stall = false;
    h.fake.update(&active, |t| t.log_modified = Some(ago(3600)));
    h.manager_with(config).reconcile(None).expect("reconcile");
    assert_eq!(h.fake.kills(), []);
    assert_eq!(h.status(&active), TaskStatus::Running);
}

#[test]
fn refresh_looks_at_one_task_only() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let one = dispatch(&mut manager, shell("a", "true"));
    let other = dispatch(&mut manager, shell("a", "true"));
    h.fake.exit(&one, 0);
    h.fake.exit(&other, 0);

    let (record, report) = manager.refresh(&one).expect("refresh");
    assert_eq!(record.status, TaskStatus::Completed);
    assert_eq!(report.finished.len(), 1);
    assert_eq!(h.fake.observed_ids(), [one]);
    assert_eq!(h.status(&other), TaskStatus::Running);
}

#[test]
fn a_stall_kill_that_cannot_reach_the_host_is_reported_not_fatal() {
    let h = Harness::new(
        "
executors:
  - name: a
    type: local
  - name: b
    type: local
defaults:
  stall_timeout: 1m
  kill_on_stall: true
",
    );
    let mut manager = h.manager();
    let stalled = dispatch(&mut manager, agent("a", "think"));
    let other = dispatch(&mut manager, shell("b", "true"));
    h.fake.append_log(&stalled, INIT, &ago(3600));
    h.fake.exit(&other, 0);
    h.fake
        .fail_kill("a", Some(Failure::Unreachable("link down".into())));

    // Like an unreachable observe: reported, retried next time; the rest goes on.
    let report = manager
        .reconcile(None)
        .expect("a transient kill failure must not fail the reconcile");
    assert_eq!(report.unreachable.len(), 1);
    assert_eq!(h.status(&stalled), TaskStatus::Running);
    assert_eq!(h.status(&other), TaskStatus::Completed);
}

/// Claude Code reports its cost only in its final record: until then its
/// tokens are priced from the table, and a budget passed mid-run kills it.
#[test]
fn a_claude_task_is_killed_when_its_running_cost_passes_the_budget() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let mut spec = agent("a", "spend");
    if let executor_core::model::Payload::Agent { max_budget_usd, .. } = &mut spec.payload {
        *max_budget_usd = Some(0.0015);
    }
    let id = dispatch(&mut manager, spec);
    let init = br#"{"type":"system","subtype":"init","session_id":"s","model":"claude-opus-4-8"}"#;
    // One response split over two records (one per content block): counted once.
    let turn = br#"{"type":"assistant","message":{"id":"m1","content":[],"usage":{"input_tokens":100,"output_tokens":20,"cache_read_input_tokens":30,"cache_creation_input_tokens":10}}}"#;
    let mut log = [&init[..], b"\n", turn, b"\n", turn, b"\n"].concat();
    h.fake.append_log(&id, &log, &ago(0));
    manager.reconcile(None).expect("reconcile");
    // Counted twice, the response would pass the budget.
    assert_eq!(h.fake.kills(), [], "one response costs $0.0010775");
    let stats = h.record(&id).agent.expect("stats");
    assert!(stats.cost_estimated, "{stats:?}");
    assert!((stats.total_cost_usd.unwrap() - 0.0010775).abs() < 1e-12);
    log = br#"{"type":"assistant","message":{"id":"m2","content":[],"usage":{"input_tokens":100,"output_tokens":20}}}"#.to_vec();
    log.push(b'\n');
    h.fake.append_log(&id, &log, &ago(0));
    manager.reconcile(None).expect("reconcile");
    let kills = h.fake.kills();
    assert_eq!(kills.len(), 1);
    assert_eq!(kills[0].reason, "budget exceeded ($0.0015)");
    let record = h.record(&id);
    assert_eq!(record.status, TaskStatus::Failed);
    assert_eq!(record.reason.as_deref(), Some("budget exceeded ($0.0015)"));
}

/// Claude Code stopped at its own `--max-budget-usd`: the same reason, also
/// when its price for the model differs from the table's.
#[test]
fn claude_stopping_at_its_own_budget_ends_with_the_budget_reason() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let mut spec = agent("a", "spend");
    if let executor_core::model::Payload::Agent { max_budget_usd, .. } = &mut spec.payload {
        *max_budget_usd = Some(5.0);
    }
    let id = dispatch(&mut manager, spec);
    h.fake.append_log(
        &id,
        b"{\"type\":\"result\",\"subtype\":\"error_max_budget_usd\",\"is_error\":true,\"total_cost_usd\":0.001}\n",
        &ago(0),
    );
    h.fake.exit(&id, 1);
    manager.reconcile(None).expect("reconcile");
    let record = h.record(&id);
    assert_eq!(record.status, TaskStatus::Failed);
    assert_eq!(record.reason.as_deref(), Some("budget exceeded ($5)"));
}

/// What another process sees of the index: its `data_version` moves when
/// any other connection commits a change.
fn data_version(conn: &rusqlite::Connection) -> i64 {
    conn.query_row("PRAGMA data_version", [], |row| row.get(0))
        .expect("data_version reads")
}

#[test]
fn a_round_over_unchanged_live_tasks_writes_nothing_and_ends_are_recorded_together() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let ids: Vec<_> = (0..40)
        .map(|i| dispatch(&mut manager, shell("a", &format!("sleep {i}"))))
        .collect();
    // The first look records what changed since the dispatch (nothing here,
    // or the payloads' pids): then every look finds them as they were.
    manager.reconcile(None).expect("reconcile");
    let watcher = rusqlite::Connection::open(h.paths.index_path()).expect("the index opens");
    let before = data_version(&watcher);
    for _ in 0..3 {
        let report = manager.reconcile(None).expect("reconcile");
        assert!(report.finished.is_empty());
    }
    assert_eq!(
        data_version(&watcher),
        before,
        "a round that found nothing changed wrote to the index"
    );

    // Forty ends seen in one round are all recorded by it.
    for id in &ids {
        h.fake.exit(id, 0);
    }
    let report = manager.reconcile(None).expect("reconcile");
    assert_eq!(report.finished.len(), ids.len());
    for id in &ids {
        assert_eq!(h.status(id), TaskStatus::Completed);
        assert!(h.completion(id).is_some(), "completion record of {id}");
        assert_eq!(h.meta(id)["status"], "completed");
    }
    assert_ne!(data_version(&watcher), before);
}
