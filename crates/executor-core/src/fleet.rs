//! The executors as `executors --json` and the HTTP API show them: each with
//! its load from the index and, on request, its health.

use std::collections::HashMap;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::{Config, ExecutorConfig};
use crate::executor::{AgentLaunch, ExecutorCheck};
use crate::model::TaskStatus;
use crate::store::{Store, StoreError};

/// How many of an executor's tasks are in the index, and how many of them
/// run or wait.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ExecutorLoad {
    /// Pending or running.
    pub running: u64,
    pub queued: u64,
    /// Every task the index holds, ended ones included.
    pub tasks: u64,
}

/// The load of every executor that has tasks, by name.
pub fn loads(store: &Store) -> Result<HashMap<String, ExecutorLoad>, StoreError> {
    let mut load: HashMap<String, ExecutorLoad> = HashMap::new();
    for (executor, status, n) in store.counts()? {
        let entry = load.entry(executor).or_default();
        entry.tasks += n;
        match status {
            TaskStatus::Pending | TaskStatus::Running => entry.running += n,
            TaskStatus::Queued => entry.queued += n,
            _ => {}
        }
    }
    Ok(load)
}

/// One executor's object in `executors --json` and `GET /api/executors`.
pub fn executor_json(
    config: &Config,
    executor: &ExecutorConfig,
    load: ExecutorLoad,
    check: Option<&Result<ExecutorCheck, String>>,
) -> Value {
    let agents: Vec<&str> = AgentLaunch::required(config, executor)
        .iter()
        .map(|a| a.kind.as_str())
        .collect();
    let mut value = json!({
        "name": executor.name,
        "type": executor.executor_type().as_str(),
        "target": executor.target(),
        "labels": executor.labels,
        "claude_path": config.claude_path(executor),
        "agents": agents,
        "builtin": executor.builtin,
        "max_concurrent": config.capacity(executor),
        "running": load.running,
        "queued": load.queued,
        "tasks": load.tasks,
    });
    if let Some(check) = check {
        value["check"] = match check {
            Ok(check) => check.to_json(),
            Err(problem) => json!({"ok": false, "detail": problem}),
        };
    }
    value
}

/// Runs `probe(i)` for every executor `i` of `names` at once, each on its own
/// thread, for at most `timeout` in all; `answered(i)` is called as each
/// answer comes in. A probe stuck past the deadline is reported as not
/// answering and left to finish on its own.
pub fn probe_all<P>(
    names: &[String],
    timeout: Duration,
    probe: P,
    mut answered: impl FnMut(usize),
) -> Vec<Result<ExecutorCheck, String>>
where
    P: Fn(usize) -> Result<ExecutorCheck, String> + Send + Sync + 'static,
{
    let probe = Arc::new(probe);
    let (sender, receiver) = mpsc::channel();
    for index in 0..names.len() {
        let sender = sender.clone();
        let probe = Arc::clone(&probe);
        std::thread::spawn(move || {
            let _ = sender.send((index, probe(index)));
        });
    }
    drop(sender);
    let mut results: Vec<Result<ExecutorCheck, String>> = names
        .iter()
        .map(|name| {
            Err(format!(
                "executor `{name}`: no answer within {:.0}s",
                timeout.as_secs_f64()
            ))
        })
        .collect();
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match receiver.recv_timeout(left) {
            Ok((index, result)) => {
                results[index] = result;
                answered(index);
            }
            Err(_) => break,
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_past_the_deadline_is_reported_as_not_answering() {
        let names = vec!["quick".to_owned(), "stuck".to_owned()];
        let mut answers = Vec::new();
        let results = probe_all(
            &names,
            Duration::from_millis(300),
            |index| {
                if index == 1 {
                    std::thread::sleep(Duration::from_secs(5));
                }
                Ok(ExecutorCheck {
                    summary: format!("probe {index}"),
                    agents: Vec::new(),
                })
            },
            |index| answers.push(index),
        );
        assert_eq!(answers, vec![0]);
        assert_eq!(results[0].as_ref().unwrap().summary, "probe 0");
        assert_eq!(
            results[1].as_ref().unwrap_err(),
            "executor `stuck`: no answer within 0s"
        );
    }
}
