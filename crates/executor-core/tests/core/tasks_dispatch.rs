//! Dispatch, slots and the queue: what starts at once, what waits, in which order.

use executor_core::agent::AgentKind;
use executor_core::{AgentLaunch, ReconcileReport, TaskError, TaskStatus, TaskType};
use test_support::Failure;

use crate::harness::{Harness, agent, dispatch, prioritized, shell};

const TWO_EXECUTORS: &str = "
executors:
  - name: a
    type: local
    max_concurrent: 1
    labels: [gpu]
    env: [FOO=bar]
  - name: b
    type: local
    max_concurrent: 1
    labels: [gpu]
";

#[test]
fn free_slot_launches_at_once_with_files_env_and_meta() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    let record = manager
        .dispatch(shell("a", "echo hi"))
        .expect("dispatch succeeds");

    assert_eq!(record.status, TaskStatus::Running);
    let launches = h.fake.launches();
    assert_eq!(launches.len(), 1);
    let launch = &launches[0];
    assert_eq!((launch.executor.as_str(), launch.id), ("a", record.id));
    assert_eq!(
        launch.file_names(),
        [".meta.json", "command.sh", "payload.sh", "runner.sh"]
    );
    assert_eq!(launch.file("command.sh").as_deref(), Some("echo hi"));
    assert!(
        launch
            .file("payload.sh")
            .is_some_and(|p| p.starts_with("cd -- '/work/repo'")),
        "the payload enters the workspace"
    );
    assert_eq!(launch.env, [("FOO".to_owned(), "bar".to_owned())]);

    // The index holds what the executor reported, and the mirror says the same.
    let stored = h.record(&record.id);
    let fake_task = h.fake.task(&record.id).expect("the fake has the task dir");
    assert_eq!(stored.status, TaskStatus::Running);
    assert_eq!(stored.runner_pid, fake_task.runner_pid);
    assert!(stored.runner_start.is_some() && stored.started_at.is_some());
    assert_eq!(h.meta(&record.id)["status"], "running");
    assert_eq!(
        std::fs::read_to_string(h.mirror(&record.id).join("command.sh")).expect("mirror command"),
        "echo hi"
    );
}

#[test]
fn full_executor_queues_without_launching() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    let first = dispatch(&mut manager, shell("a", "first"));
    let second = manager
        .dispatch(shell("a", "second"))
        .expect("dispatch succeeds");

    assert_eq!(second.status, TaskStatus::Queued);
    assert_eq!(h.fake.launched_ids(), [first]);
    assert_eq!(h.status(&second.id), TaskStatus::Queued);
    assert!(h.record(&second.id).claimed_at.is_none());
    // A queued task must be startable later from its mirror alone.
    assert_eq!(h.meta(&second.id)["status"], "queued");
    for file in ["command.sh", "payload.sh", "runner.sh"] {
        assert!(h.mirror(&second.id).join(file).exists(), "{file} mirrored");
    }
}

#[test]
fn an_ended_task_frees_its_slot_for_the_next() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    let first = dispatch(&mut manager, shell("a", "first"));
    let second = dispatch(&mut manager, shell("a", "second"));

    h.fake.exit(&first, 0);
    let report = manager.reconcile(None).expect("reconcile");

    assert_eq!(
        report.finished.iter().map(|t| t.id).collect::<Vec<_>>(),
        [first]
    );
    assert_eq!(h.status(&first), TaskStatus::Completed);
    assert_eq!(h.status(&second), TaskStatus::Running);
    assert_eq!(h.fake.launched_ids(), [first, second]);
    // Started from the mirror: the same command, the meta as dispatched.
    let launch = h.fake.launches().pop().expect("second launch");
    assert_eq!(launch.file("command.sh").as_deref(), Some("second"));
    assert_eq!(
        launch.file_names(),
        [".meta.json", "command.sh", "payload.sh", "runner.sh"]
    );
}

#[test]
fn queue_starts_by_priority_then_age() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    let blocker = dispatch(&mut manager, shell("a", "blocker"));
    let low_old = dispatch(&mut manager, prioritized("a", "low-old", 0));
    let high_old = dispatch(&mut manager, prioritized("a", "high-old", 5));
    let high_new = dispatch(&mut manager, prioritized("a", "high-new", 5));
    let low_new = dispatch(&mut manager, prioritized("a", "low-new", 0));
    let negative = dispatch(&mut manager, prioritized("a", "negative", -3));

    let mut running = blocker;
    for _ in 0..5 {
        h.fake.exit(&running, 0);
        manager.reconcile(None).expect("reconcile");
        running = *h.fake.launched_ids().last().expect("a launch");
    }
    assert_eq!(
        h.fake.launched_ids(),
        [blocker, high_old, high_new, low_old, low_new, negative]
    );
}

#[test]
fn dispatch_queued_fills_every_free_slot_and_no_more() {
    let h = Harness::new(
        "
executors:
  - name: a
    type: local
defaults:
  max_concurrent: 2
",
    );
    let mut manager = h.manager();
    let ids: Vec<_> = (0..5)
        .map(|i| dispatch(&mut manager, shell("a", &format!("t{i}"))))
        .collect();
    assert_eq!(h.fake.launched_ids(), ids[..2]);

    h.fake.exit(&ids[0], 0);
    h.fake.exit(&ids[1], 0);
    // Two slots free: one pass starts two tasks.
    let report = manager.reconcile(None).expect("reconcile");
    assert_eq!(report.finished.len(), 2);
    assert_eq!(h.fake.launched_ids(), ids[..4]);
    assert_eq!(h.status(&ids[4]), TaskStatus::Queued);

    // Nothing freed: dispatch_queued starts nothing.
    let mut report = ReconcileReport::default();
    assert_eq!(manager.dispatch_queued(&mut report).expect("queue"), 0);
    assert_eq!(h.fake.launched_ids().len(), 4);
}

#[test]
fn a_full_executor_does_not_hold_back_another_ones_queue() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    let _a1 = dispatch(&mut manager, shell("a", "a1"));
    let a2 = dispatch(&mut manager, prioritized("a", "a2", 9));
    let b1 = dispatch(&mut manager, shell("b", "b1"));
    let b2 = dispatch(&mut manager, shell("b", "b2"));

    h.fake.exit(&b1, 0);
    manager.reconcile(None).expect("reconcile");

    assert_eq!(h.status(&b2), TaskStatus::Running);
    assert_eq!(h.status(&a2), TaskStatus::Queued, "a is still full");
}

#[test]
fn a_queued_task_of_a_removed_executor_stays_queued() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    dispatch(&mut manager, shell("a", "a1"));
    let waiting = dispatch(&mut manager, shell("a", "a2"));

    let mut without_a = h.config.clone();
    without_a.executors.retain(|e| e.name != "a");
    let mut manager = h.manager_with(without_a);
    let mut report = ReconcileReport::default();
    assert_eq!(manager.dispatch_queued(&mut report).expect("queue"), 0);
    assert_eq!(h.status(&waiting), TaskStatus::Queued);
    assert_eq!(h.fake.launches().len(), 1);
}

#[test]
fn a_failing_launch_ends_failed_with_one_completion_record() {
    let h = Harness::new(TWO_EXECUTORS);
    h.fake
        .fail_launch("a", Some(Failure::Fatal("setsid: not found".into())));
    let mut manager = h.manager();
    let err = manager
        .dispatch(shell("a", "echo hi"))
        .expect_err("the launch fails");
    assert!(matches!(err, TaskError::Executor(_)), "{err:?}");

    let launch = h.fake.launches().pop().expect("the launch was attempted");
    assert!(!launch.ok);
    let record = h.record(&launch.id);
    assert_eq!(record.status, TaskStatus::Failed);
    let reason = record.reason.clone().unwrap_or_default();
    assert!(reason.starts_with("launch failed: "), "{reason}");
    assert!(reason.contains("setsid: not found"), "{reason}");
    assert!(record.ended_at.is_some());

    let completion = h.completion(&launch.id).expect("a completion record");
    assert_eq!(completion["status"], "failure");
    assert_eq!(completion["task_status"], "failed");
    assert_eq!(completion["reason"], reason.as_str());
    assert_eq!(h.completion_files().len(), 1);
    assert_eq!(h.meta(&launch.id)["status"], "failed");

    // A later look changes nothing and writes nothing again.
    h.fake.fail_launch("a", None);
    let report = manager.reconcile(None).expect("reconcile");
    assert!(report.finished.is_empty());
    assert_eq!(h.fake.observed_ids(), []);
}

#[test]
fn a_failing_launch_from_the_queue_is_reported_and_frees_the_slot() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    let first = dispatch(&mut manager, shell("a", "first"));
    let doomed = dispatch(&mut manager, shell("a", "doomed"));
    let next = dispatch(&mut manager, shell("a", "next"));

    h.fake.exit(&first, 0);
    h.fake
        .fail_launch("a", Some(Failure::Unreachable("connection reset".into())));
    let report = manager.reconcile(None).expect("reconcile");

    // Every queued task met the same failure: each is failed and reported.
    assert_eq!(h.status(&doomed), TaskStatus::Failed);
    assert_eq!(h.status(&next), TaskStatus::Failed);
    let finished: Vec<_> = report.finished.iter().map(|t| t.id).collect();
    assert_eq!(finished, [first, doomed, next]);
    assert_eq!(report.unreachable.len(), 2);
    assert!(
        report.unreachable[0]
            .to_string()
            .contains("connection reset")
    );
    assert_eq!(h.completion_files().len(), 3);
}

#[test]
fn an_agent_task_on_a_root_executor_needs_allow_root() {
    let h = Harness::new(
        "
executors:
  - name: rooted
    type: local
  - name: sandbox
    type: local
    allow_root: true
",
    );
    h.fake.set_root("rooted", true);
    h.fake.set_root("sandbox", true);
    let mut manager = h.manager();

    // The check also honours IS_SANDBOX=1 in the dispatching environment.
    if std::env::var("IS_SANDBOX").is_ok_and(|v| v == "1") {
        eprintln!("IS_SANDBOX=1 here: the refusal cannot be observed");
    } else {
        let err = manager
            .dispatch(agent("rooted", "hi"))
            .expect_err("refused as root");
        assert!(matches!(err, TaskError::Refused { .. }), "{err:?}");
        assert!(h.fake.launches().is_empty());
        assert_eq!(h.store().counts().expect("counts"), []);
    }
    // A shell task is not claude: it runs as root.
    dispatch(&mut manager, shell("rooted", "id -u"));

    let id = dispatch(&mut manager, agent("sandbox", "hi"));
    let launch = h.fake.launches().pop().expect("launched");
    assert_eq!(launch.id, id);
    assert!(
        launch
            .env
            .contains(&("IS_SANDBOX".to_owned(), "1".to_owned()))
    );
    assert!(
        launch
            .file("payload.sh")
            .is_some_and(|p| p.contains("--session-id"))
    );
}

#[test]
fn routing_by_labels_prefers_a_free_then_the_least_loaded_executor() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    let gpu = ["gpu".to_owned()];
    assert_eq!(
        manager.route(&gpu, None).expect("route"),
        "a",
        "config order on ties"
    );
    dispatch(&mut manager, shell("a", "busy"));
    assert_eq!(manager.route(&gpu, None).expect("route"), "b");
    dispatch(&mut manager, shell("b", "busy"));
    dispatch(&mut manager, shell("a", "waits"));
    // Both full: the one with the shorter queue.
    assert_eq!(manager.route(&gpu, None).expect("route"), "b");
    let err = manager
        .route(&["tpu".to_owned()], None)
        .expect_err("no executor has it");
    assert!(
        matches!(&err, TaskError::NoExecutorForLabels { known, .. } if known == &["gpu"]),
        "{err:?}"
    );
}

#[test]
fn a_bad_workspace_is_refused_before_anything_is_recorded() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    let mut spec = shell("a", "true");
    spec.workspace = "relative/dir".into();
    let err = manager.dispatch(spec).expect_err("refused");
    assert!(err.to_string().contains("not an absolute path"), "{err}");
    assert!(h.fake.launches().is_empty());
    assert_eq!(h.store().counts().expect("counts"), []);
    assert_eq!(
        std::fs::read_dir(h.paths.tasks_dir())
            .expect("tasks dir")
            .count(),
        0
    );

    // No workspace: the executor's home.
    let mut spec = shell("a", "true");
    spec.workspace = String::new();
    let record = manager.dispatch(spec).expect("dispatch");
    assert_eq!(record.workspace, test_support::fake_executor::FAKE_HOME);
}

#[test]
fn a_queued_task_whose_mirror_is_gone_fails_alone() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    let first = dispatch(&mut manager, shell("a", "first"));
    let broken = dispatch(&mut manager, shell("a", "broken"));
    let next = dispatch(&mut manager, shell("a", "next"));
    std::fs::remove_dir_all(h.mirror(&broken)).expect("remove the mirror");
    h.fake.exit(&first, 0);

    let report = manager
        .reconcile(None)
        .expect("one broken task must not fail the reconcile");
    let record = h.record(&broken);
    assert_eq!(record.status, TaskStatus::Failed);
    assert!(
        record
            .reason
            .as_deref()
            .is_some_and(|r| r.starts_with("task files missing: ")),
        "{record:?}"
    );
    assert!(report.finished.iter().any(|t| t.id == broken));
    // Its slot goes to the next task.
    assert_eq!(h.status(&next), TaskStatus::Running);
}

#[test]
fn concurrent_dispatches_never_overfill_a_slot() {
    let h = Harness::new(TWO_EXECUTORS);
    let barrier = std::sync::Barrier::new(4);
    let statuses: Vec<TaskStatus> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|i| {
                let (h, barrier) = (&h, &barrier);
                scope.spawn(move || {
                    let mut manager = h.manager();
                    barrier.wait();
                    manager
                        .dispatch(shell("a", &format!("t{i}")))
                        .expect("dispatch")
                        .status
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|t| t.join().expect("dispatcher thread"))
            .collect()
    });
    let running = statuses
        .iter()
        .filter(|s| **s == TaskStatus::Running)
        .count();
    assert_eq!(running, 1, "{statuses:?}");
    assert_eq!(h.fake.launched_ids().len(), 1);
}

#[test]
fn concurrent_queue_runners_start_each_queued_task_once() {
    let h = Harness::new(TWO_EXECUTORS);
    let mut manager = h.manager();
    let first = dispatch(&mut manager, shell("a", "first"));
    let waiting: Vec<_> = (0..3)
        .map(|i| dispatch(&mut manager, shell("a", &format!("w{i}"))))
        .collect();

    // One more slot opens (the config grew); three processes race for it.
    let mut wider = h.config.clone();
    wider
        .executors
        .iter_mut()
        .filter(|e| e.name == "a")
        .for_each(|e| e.max_concurrent = Some(2));
    let barrier = std::sync::Barrier::new(3);
    let started: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                scope.spawn(|| {
                    let mut manager = h.manager_with(wider.clone());
                    barrier.wait();
                    let mut report = ReconcileReport::default();
                    manager.dispatch_queued(&mut report).expect("queue")
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|t| t.join().expect("queue thread"))
            .sum()
    });
    assert_eq!(started, 1);
    assert_eq!(h.fake.launched_ids(), [first, waiting[0]]);
    assert_eq!(h.status(&waiting[1]), TaskStatus::Queued);
    assert_eq!(h.status(&waiting[2]), TaskStatus::Queued);
}

#[test]
fn the_launch_spec_names_workspace_task_type_and_agent_also_from_the_queue() {
    let h = Harness::new(
        "
executors:
  - name: a
    type: local
    max_concurrent: 1
    claude_path: /opt/a/claude
",
    );
    let mut manager = h.manager();
    let first = dispatch(&mut manager, agent("a", "first"));
    let mut queued = agent("a", "second");
    queued.workspace = "/work/other".into();
    let queued = manager.dispatch(queued).expect("dispatch succeeds");
    assert_eq!(queued.status, TaskStatus::Queued);
    h.fake.exit(&first, 0);
    manager.reconcile(None).expect("reconcile");
    let launches = h.fake.launches();
    assert_eq!(launches.len(), 2);
    let claude = Some(AgentLaunch {
        kind: AgentKind::Claude,
        program: "/opt/a/claude".into(),
    });
    for (launch, id, workspace) in [
        (&launches[0], first, "/work/repo"),
        (&launches[1], queued.id, "/work/other"),
    ] {
        assert_eq!(launch.id, id);
        assert_eq!(launch.workspace, workspace);
        assert_eq!(launch.task_type, TaskType::ClaudeCode);
        assert_eq!(launch.agent, claude);
    }

    let shell_task = dispatch(&mut manager, shell("a", "true"));
    h.fake.exit(&queued.id, 0);
    manager.reconcile(None).expect("reconcile");
    let launch = h.fake.launches().pop().expect("launched");
    assert_eq!(launch.id, shell_task);
    assert_eq!(launch.task_type, TaskType::ShellCommand);
    assert_eq!(launch.agent, None);
}
