//! Kill, cleanup, wait and follow-up chains.

use std::time::Duration;

use executor_core::agent::{AgentKind, AgentSession};
use executor_core::{Payload, TaskError, TaskStatus};
use test_support::Failure;

use crate::harness::{Harness, agent, dispatch, shell};

const ONE: &str = "
executors:
  - name: a
    type: local
    max_concurrent: 1
defaults:
  max_turns: 42
";

const GRACE: Duration = Duration::from_secs(3);

#[test]
fn kill_of_a_live_task_signals_it_and_ends_killed() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "sleep 9"));

    let executor_core::manager::KillOutcome { record, report, .. } =
        manager.kill(&id, GRACE).expect("kill");
    let kills = h.fake.kills();
    assert_eq!(kills.len(), 1);
    assert_eq!(
        (kills[0].id, kills[0].grace, kills[0].reason.as_str()),
        (id, GRACE, "killed by request")
    );
    assert_eq!(record.status, TaskStatus::Killed);
    assert_eq!(record.reason.as_deref(), Some("killed by request"));
    assert_eq!(
        report.finished.iter().map(|t| t.id).collect::<Vec<_>>(),
        [id]
    );
    assert_eq!(h.status(&id), TaskStatus::Killed);
    assert_eq!(
        h.completion(&id).expect("completion")["task_status"],
        "killed"
    );
}

#[test]
fn kill_of_an_ended_task_is_an_error_and_signals_nothing() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "true"));
    h.fake.exit(&id, 0);

    let err = manager.kill(&id, GRACE).expect_err("already ended");
    assert!(
        matches!(err, TaskError::AlreadyFinished { status: TaskStatus::Completed, id: e } if e == id),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("task {id} already ended (completed)")
    );
    assert_eq!(h.fake.kills(), []);
    assert_eq!(h.status(&id), TaskStatus::Completed);
}

#[test]
fn kill_of_a_queued_task_ends_it_before_it_ever_starts() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let running = dispatch(&mut manager, shell("a", "sleep 9"));
    let queued = dispatch(&mut manager, shell("a", "never"));

    let executor_core::manager::KillOutcome { record, report, .. } =
        manager.kill(&queued, GRACE).expect("kill");
    assert_eq!(record.status, TaskStatus::Killed);
    assert_eq!(record.reason.as_deref(), Some("killed while queued"));
    assert_eq!(report.finished.len(), 1);
    assert_eq!(h.fake.kills(), [], "nothing to signal");
    assert!(h.completion(&queued).is_some());

    h.fake.exit(&running, 0);
    manager.reconcile(None).expect("reconcile");
    assert_eq!(
        h.fake.launched_ids(),
        [running],
        "the killed task never starts"
    );
}

#[test]
fn a_failing_kill_leaves_the_task_live_and_says_why() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "sleep 9"));
    h.fake
        .fail_kill("a", Some(Failure::Fatal("permission denied".into())));

    let err = manager.kill(&id, GRACE).expect_err("kill fails");
    assert!(matches!(err, TaskError::Executor(_)), "{err:?}");
    assert!(err.to_string().contains("permission denied"), "{err}");
    assert_eq!(h.status(&id), TaskStatus::Running);
    assert!(h.completion(&id).is_none());
}

#[test]
fn cleanup_of_a_live_task_without_force_refuses() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "sleep 9"));

    let err = manager
        .cleanup(&id, false, false, GRACE)
        .expect_err("refused");
    assert!(
        matches!(
            err,
            TaskError::StillLive {
                status: TaskStatus::Running,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(h.fake.removes(), []);
    assert_eq!(h.fake.kills(), []);
    assert!(h.mirror(&id).exists());
    assert_eq!(h.status(&id), TaskStatus::Running);
}

#[test]
fn cleanup_removes_both_dirs_and_the_row() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "true"));
    h.fake.exit(&id, 0);

    manager.cleanup(&id, false, false, GRACE).expect("cleanup");
    assert_eq!(h.fake.removes(), [id]);
    assert!(h.fake.task(&id).is_none());
    assert!(!h.mirror(&id).exists());
    assert_eq!(h.store().get(&id).expect("index reads"), None);
    // The completion record is the user's: it stays.
    assert!(h.completion(&id).is_some());
}

#[test]
fn cleanup_with_force_kills_first() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "sleep 9"));

    let report = manager.cleanup(&id, true, false, GRACE).expect("cleanup");
    assert_eq!(h.fake.kills().len(), 1);
    assert_eq!(h.fake.removes(), [id]);
    assert_eq!(
        report.finished.iter().map(|t| t.id).collect::<Vec<_>>(),
        [id]
    );
    assert_eq!(h.store().get(&id).expect("index reads"), None);
    assert_eq!(
        h.completion(&id).expect("completion")["task_status"],
        "killed"
    );
}

#[test]
fn wait_returns_the_end_or_times_out() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let id = dispatch(&mut manager, shell("a", "sleep 9"));

    let err = manager
        .wait(&id, Some(Duration::ZERO))
        .expect_err("still running");
    assert!(matches!(err, TaskError::Timeout { .. }), "{err:?}");

    h.fake.exit(&id, 3);
    let (record, report) = manager.wait(&id, None).expect("wait");
    assert_eq!(
        (record.status, record.exit_code),
        (TaskStatus::Failed, Some(3))
    );
    assert_eq!(report.finished.len(), 1);
}

#[test]
fn resume_of_an_agent_task_continues_its_session_where_it_ran() {
    let h = Harness::new(ONE);
    let mut manager = h.manager();
    let mut spec = agent("a", "first");
    spec.priority = 4;
    let Payload::Agent {
        session: AgentSession::New(session_id),
        model: None,
        max_budget_usd: None,
        ..
    } = spec.payload
    else {
        unreachable!("an agent spec")
    };
    let parent = dispatch(&mut manager, spec);
    h.fake.exit(&parent, 0);
    manager.reconcile(None).expect("reconcile");
    let parent = h.record(&parent);

    let follow_up = manager
        .resume_spec(&parent, "and then?".into(), None, None)
        .expect("resumable");
    assert_eq!(follow_up.executor, "a");
    assert_eq!(follow_up.workspace, "/work/repo");
    assert_eq!(follow_up.priority, 4);
    assert_eq!(follow_up.parent, Some(parent.id));
    assert_eq!(
        follow_up.payload,
        Payload::Agent {
            agent: AgentKind::Claude,
            prompt: "and then?".into(),
            max_turns: 7,
            program: "claude".into(),
            session: AgentSession::Resume(session_id.to_string()),
            model: None,
            max_budget_usd: None,
        }
    );
    let child = dispatch(&mut manager, follow_up);
    let launch = h.fake.launches().pop().expect("launched");
    assert_eq!(launch.id, child);
    let payload = launch.file("payload.sh").expect("payload.sh");
    assert!(
        payload.contains(&format!("--resume {session_id}")),
        "{payload}"
    );
    assert_eq!(h.record(&child).parent_id, Some(parent.id));

    // An explicit turn limit wins over the parent's.
    let spec = manager
        .resume_spec(&parent, "more".into(), Some(3), None)
        .expect("resumable");
    assert!(matches!(spec.payload, Payload::Agent { max_turns: 3, .. }));
}

#[test]
fn resume_refuses_shell_tasks_and_live_agents() {
    let h = Harness::new(
        "
executors:
  - name: a
    type: local
",
    );
    let mut manager = h.manager();
    let shell_task = dispatch(&mut manager, shell("a", "true"));
    h.fake.exit(&shell_task, 0);
    manager.reconcile(None).expect("reconcile");
    let err = manager
        .resume_spec(&h.record(&shell_task), "x".into(), None, None)
        .expect_err("not resumable");
    assert!(
        matches!(
            err,
            TaskError::NotResumable {
                task_type: "shell_command",
                ..
            }
        ),
        "{err:?}"
    );

    // Two claude processes must never write one session.
    let live = dispatch(&mut manager, agent("a", "busy"));
    let err = manager
        .resume_spec(&h.record(&live), "x".into(), None, None)
        .expect_err("still live");
    assert!(matches!(err, TaskError::StillLive { .. }), "{err:?}");
}

#[test]
fn chain_lists_ancestors_oldest_first_and_all_descendants() {
    let h = Harness::new(
        "
executors:
  - name: a
    type: local
",
    );
    let mut manager = h.manager();
    let resumed = |manager: &mut executor_core::TaskManager, parent| {
        h.fake.exit(&parent, 0);
        manager.reconcile(None).expect("reconcile");
        let spec = manager
            .resume_spec(&h.record(&parent), "next".into(), None, None)
            .expect("resumable");
        dispatch(manager, spec)
    };
    let root = dispatch(&mut manager, agent("a", "root"));
    let child = resumed(&mut manager, root);
    let grandchild = resumed(&mut manager, child);
    let unrelated = dispatch(&mut manager, agent("a", "other"));

    let ids =
        |tasks: Vec<executor_core::TaskRecord>| tasks.into_iter().map(|t| t.id).collect::<Vec<_>>();
    let (before, after) = manager.chain(&h.record(&grandchild)).expect("chain");
    assert_eq!((ids(before), ids(after)), (vec![root, child], vec![]));
    let (before, after) = manager.chain(&h.record(&child)).expect("chain");
    assert_eq!((ids(before), ids(after)), (vec![root], vec![grandchild]));
    let (before, after) = manager.chain(&h.record(&root)).expect("chain");
    assert_eq!((ids(before), ids(after)), (vec![], vec![child, grandchild]));
    let (before, after) = manager.chain(&h.record(&unrelated)).expect("chain");
    assert!(before.is_empty() && after.is_empty());
}
