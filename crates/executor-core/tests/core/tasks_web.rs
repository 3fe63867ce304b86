//! What the web view reads and asks: dispatch requests checked as the CLI
//! checks them, pages of tasks, the rows a change watcher compares, cost totals.

use executor_core::agent::AgentStats;
use executor_core::manager::page_json;
use executor_core::{DispatchRequest, ListFilter, Payload, Placement, TaskError, TaskStatus};

use crate::harness::{Harness, dispatch, shell};

const EXECUTORS: &str = "
executors:
  - name: a
    type: local
    labels: [gpu]
  - name: b
    type: local
defaults:
  max_turns: 7
";

fn placed(executor: Option<&str>, labels: &[&str]) -> Placement {
    Placement {
        executor: executor.map(str::to_owned),
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        workspace: None,
        priority: 3,
    }
}

fn invalid(result: Result<executor_core::TaskSpec, TaskError>) -> String {
    match result {
        Err(TaskError::InvalidRequest(message)) => message,
        other => panic!("not an invalid request: {other:?}"),
    }
}

#[test]
fn dispatch_requests_are_checked_and_placed() {
    let h = Harness::new(EXECUTORS);
    let manager = h.manager();
    let shell_request = |command: &str, placement| DispatchRequest::Shell {
        command: command.to_owned(),
        placement,
    };
    assert_eq!(
        invalid(manager.spec_for(shell_request(" \n", placed(Some("a"), &[])))),
        "the command is empty"
    );
    assert_eq!(
        invalid(manager.spec_for(shell_request("true", placed(Some("a"), &["gpu"])))),
        "give an executor or labels, not both"
    );
    assert_eq!(
        invalid(manager.spec_for(shell_request("true", placed(None, &[])))),
        "give an executor or labels"
    );
    let routed = manager
        .spec_for(shell_request("true", placed(None, &["gpu"])))
        .expect("routed by label");
    assert_eq!((routed.executor.as_str(), routed.priority), ("a", 3));
    assert_eq!(routed.workspace, "");

    let agent = |prompt: &str, max_turns, resume: Option<&str>, placement| DispatchRequest::Agent {
        prompt: prompt.to_owned(),
        max_turns,
        resume: resume.map(str::to_owned),
        placement,
    };
    assert_eq!(
        invalid(manager.spec_for(agent("", None, None, placed(Some("a"), &[])))),
        "the prompt is empty"
    );
    assert!(
        invalid(manager.spec_for(agent("x", Some(0), None, placed(Some("a"), &[]))))
            .contains("max_turns")
    );
    assert!(
        invalid(manager.spec_for(agent("x", None, Some("0123"), placed(Some("a"), &[]))))
            .contains("runs where its parent ran")
    );
    assert!(matches!(
        manager.spec_for(agent("x", None, None, placed(Some("nowhere"), &[]))),
        Err(TaskError::UnknownExecutor { .. })
    ));
    let spec = manager
        .spec_for(agent("fix it", None, None, placed(Some("b"), &[])))
        .expect("an agent spec");
    match spec.payload {
        Payload::Agent {
            prompt, max_turns, ..
        } => assert_eq!((prompt.as_str(), max_turns), ("fix it", 7)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn pages_watched_rows_and_cost_totals() {
    let h = Harness::new(EXECUTORS);
    let mut manager = h.manager();
    let ids: Vec<_> = (0..5)
        .map(|n| dispatch(&mut manager, shell(if n < 3 { "a" } else { "b" }, "true")))
        .collect();
    let store = h.store();
    let stall = std::time::Duration::from_secs(60);
    let all = ListFilter::default();
    let ids_of = |jsons: Vec<String>| -> Vec<String> {
        jsons
            .iter()
            .map(|j| {
                serde_json::from_str::<serde_json::Value>(j).unwrap()["task_id"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let first = ids_of(page_json(&store, &all, None, 2, stall).unwrap());
    assert_eq!(first, [ids[4].to_string(), ids[3].to_string()]);
    let second = ids_of(page_json(&store, &all, Some(&ids[3]), 2, stall).unwrap());
    assert_eq!(second, [ids[2].to_string(), ids[1].to_string()]);
    let of_a = ListFilter {
        status: Some(TaskStatus::Running),
        executor: Some("a".into()),
    };
    assert_eq!(store.count(&of_a).unwrap(), 3);
    assert_eq!(store.count(&all).unwrap(), 5);
    assert_eq!(store.newest_id().unwrap(), Some(ids[4]));

    // The watcher's rows: every unfinished task, and any newer than the newest seen.
    let watched: Vec<_> = store
        .watched(Some(&ids[4]))
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(watched, ids);
    manager
        .kill(&ids[0], std::time::Duration::ZERO)
        .expect("kill");
    let watched: Vec<_> = store
        .watched(Some(&ids[4]))
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(watched, ids[1..]);
    let watched: Vec<_> = store
        .watched(Some(&ids[3]))
        .unwrap()
        .iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(watched, ids[1..], "a newer task shows even when ended");

    store
        .set_agent(
            &ids[1],
            &AgentStats {
                total_cost_usd: Some(0.25),
                ..Default::default()
            },
        )
        .unwrap();
    store
        .set_agent(
            &ids[3],
            &AgentStats {
                total_cost_usd: Some(1.5),
                ..Default::default()
            },
        )
        .unwrap();
    let totals = store.cost_totals().unwrap();
    let per_executor: Vec<(&str, f64, u64)> = totals
        .iter()
        .map(|t| (t.executor.as_str(), t.cost_usd, t.tasks))
        .collect();
    assert_eq!(per_executor, [("a", 0.25, 3), ("b", 1.5, 2)]);
    assert!(totals.iter().all(|t| t.day.len() == 10), "{totals:?}");
}
