//! Many CLI processes at once must not corrupt or lose anything.

use std::collections::HashSet;
use std::time::Duration;

use crate::helpers::{TestEnv, eventually, run_bounded};

#[test]
fn fifty_concurrent_runs() {
    let env = TestEnv::new();
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let command = env.command(&[
                "run",
                "--executor",
                "local",
                "--cmd",
                &format!("echo task-{i}; sleep 0.{}", i % 5),
            ]);
            std::thread::spawn(move || run_bounded(command))
        })
        .collect();
    let mut ids = HashSet::new();
    for handle in handles {
        let run = handle.join().unwrap();
        assert_eq!(run.code, 0, "{}", run.stderr);
        ids.insert(run.stdout.lines().next().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 50, "50 distinct task ids");

    // Several readers reconcile at once while the tasks end.
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let command = env.command(&["list", "--json"]);
            std::thread::spawn(move || run_bounded(command))
        })
        .collect();
    for reader in readers {
        let run = reader.join().unwrap();
        assert_eq!(run.code, 0, "{}", run.stderr);
        serde_json::from_str::<serde_json::Value>(&run.stdout).expect("list output is JSON");
    }

    assert!(
        eventually(Duration::from_secs(30), || {
            let list = env.json(&["list", "--json"]);
            list.as_array()
                .unwrap()
                .iter()
                .all(|t| t["status"] == "completed")
        }),
        "not every task completed"
    );
    let list = env.json(&["list", "--json"]);
    let listed: HashSet<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["task_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, ids);

    let records: Vec<_> = std::fs::read_dir(env.completions_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(records.len(), 50, "one completion record per task");
    for id in &ids {
        let record = env.completion(id).expect("record");
        assert_eq!(record["task_id"], id.as_str());
        assert_eq!(record["status"], "success");
        let meta: serde_json::Value =
            serde_json::from_slice(&std::fs::read(env.task_dir(id).join(".meta.json")).unwrap())
                .expect("meta is valid JSON");
        assert_eq!(meta["status"], "completed");
        let log = std::fs::read_to_string(env.task_dir(id).join("task.log")).unwrap();
        assert!(log.starts_with("task-"), "{log}");
    }
}
