//! What the dashboard shows, read off the UI thread.
//!
//! Tasks are read through the same listing as `list --json` (the one JSON
//! view of a task), so the dashboard shows what the CLI shows. One thread per
//! executor reconciles it every interval (one batched round trip to its host):
//! a slow or unreachable host holds up only its own thread, and its tasks are
//! shown from the cache with the host marked stale.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use executor_core::{Config, ListFilter, Paths, Store, TaskManager, TaskStatus, error_chain};
use serde::Deserialize;

/// One task, as `list --json` gives it; unknown fields are kept in `extra`.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskLine {
    pub task_id: String,
    pub executor: String,
    pub task_type: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    pub created_at: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub stalled: Option<bool>,
    #[serde(default)]
    pub agent: Option<AgentLine>,
    /// Fields this version does not show in a column of their own.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AgentLine {
    #[serde(default)]
    pub turns: u64,
    #[serde(default)]
    pub total_cost_usd: Option<f64>,
    #[serde(default)]
    pub last_activity: Option<String>,
}

impl TaskLine {
    pub fn handle(&self) -> &str {
        executor_core::model::handle(&self.task_id)
    }

    pub fn is_agent(&self) -> bool {
        self.task_type != "shell_command"
    }

    pub fn is_live(&self) -> bool {
        matches!(self.status.as_str(), "queued" | "pending" | "running")
    }

    pub fn cost(&self) -> Option<f64> {
        self.agent.as_ref().and_then(|a| a.total_cost_usd)
    }

    pub fn turns(&self) -> Option<u64> {
        self.agent.as_ref().map(|a| a.turns)
    }

    /// Lines added and removed by the task's result, when the view carries a
    /// diffstat (the work-product fields of the task view: `diffstat` or
    /// `result.diffstat`, with `insertions`/`deletions`). The hook where the
    /// +/- column reads them; nothing else needs to change when they appear.
    pub fn diff_counts(&self) -> Option<(u64, u64)> {
        let stat = self.extra.get("diffstat").or_else(|| {
            self.extra
                .get("result")
                .and_then(|result| result.get("diffstat"))
        })?;
        let number = |keys: &[&str]| {
            keys.iter()
                .find_map(|key| stat.get(*key).and_then(serde_json::Value::as_u64))
        };
        Some((
            number(&["insertions", "added"]).unwrap_or(0),
            number(&["deletions", "removed"]).unwrap_or(0),
        ))
    }

    /// The task's result branch, when the view carries one (see [`Self::diff_counts`]).
    pub fn branch(&self) -> Option<&str> {
        self.extra
            .get("branch")
            .or_else(|| self.extra.get("result").and_then(|r| r.get("branch")))
            .and_then(serde_json::Value::as_str)
    }
}

/// How an executor's host answered its last reconciliation.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// When it last answered (or had nothing to answer for).
    pub last_ok: Option<Instant>,
    /// Why the last attempt failed, when it did.
    pub error: Option<String>,
    /// A reconciliation under way since then.
    pub busy_since: Option<Instant>,
}

pub type HealthMap = Arc<Mutex<HashMap<String, Health>>>;

/// One executor in the header.
#[derive(Debug, Clone)]
pub struct ExecutorLine {
    pub name: String,
    pub running: u64,
    pub queued: u64,
    pub max: Option<u32>,
    pub labels: Vec<String>,
    pub health: Health,
}

/// Everything one frame needs, read at one moment.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub tasks: Vec<TaskLine>,
    pub executors: Vec<ExecutorLine>,
    /// Cost of the agent tasks created today (UTC).
    pub cost_today: f64,
    pub error: Option<String>,
}

/// Reads a snapshot from the store (no host is asked).
pub fn read_snapshot(
    store: &Store,
    config: &Config,
    health: &HealthMap,
) -> Result<Snapshot, String> {
    let stall_timeout = config.defaults.stall_timeout;
    let mut tasks = Vec::new();
    let written = executor_core::manager::for_each_json(
        store,
        &ListFilter::default(),
        stall_timeout,
        |json| {
            if let Ok(line) = serde_json::from_str::<TaskLine>(json) {
                tasks.push(line);
            }
            Ok(())
        },
    );
    match written {
        Ok(Ok(())) => {}
        Ok(Err(err)) => return Err(err.to_string()),
        Err(err) => return Err(error_chain(&err)),
    }
    let today = executor_core::time::now_rfc3339();
    let today = today.get(..10).unwrap_or_default();
    let cost_today = tasks
        .iter()
        .filter(|t| t.created_at.starts_with(today))
        .filter_map(TaskLine::cost)
        .fold(0.0, |sum, cost| sum + cost);
    let mut load: HashMap<&str, (u64, u64)> = HashMap::new();
    for task in &tasks {
        let entry = load.entry(task.executor.as_str()).or_default();
        match TaskStatus::parse(&task.status) {
            Some(TaskStatus::Pending | TaskStatus::Running) => entry.0 += 1,
            Some(TaskStatus::Queued) => entry.1 += 1,
            _ => {}
        }
    }
    let health = health.lock().map(|h| h.clone()).unwrap_or_default();
    let executors = config
        .executors
        .iter()
        .map(|e| {
            let (running, queued) = load.get(e.name.as_str()).copied().unwrap_or_default();
            ExecutorLine {
                name: e.name.clone(),
                running,
                queued,
                max: config.capacity(e),
                labels: e.labels.clone(),
                health: health.get(&e.name).cloned().unwrap_or_default(),
            }
        })
        .collect();
    Ok(Snapshot {
        tasks,
        executors,
        cost_today,
        error: None,
    })
}

/// Builds a task manager of its own for a background thread.
pub fn manager(config: &Config, paths: &Paths) -> Result<TaskManager, String> {
    let store = Store::open(paths).map_err(|err| error_chain(&err))?;
    Ok(TaskManager::new(
        store,
        config.clone(),
        crate::app::executor_factory(&config.defaults.claude_path),
    ))
}

/// The background side: reconcilers per executor and the snapshot reader.
pub struct Feed {
    pub snapshots: Receiver<Snapshot>,
    /// Asks the reader for a fresh snapshot now (after an action).
    pub poke: Sender<()>,
}

/// Starts the threads; they end with the process.
/// `deliver`: the config path to start webhook delivery with, when webhooks are configured.
pub fn start(config: &Config, paths: &Paths, interval: Duration, deliver: Option<PathBuf>) -> Feed {
    let health: HealthMap = Arc::default();
    for executor in &config.executors {
        let (config, paths, health) = (config.clone(), paths.clone(), health.clone());
        let (name, deliver) = (executor.name.clone(), deliver.clone());
        std::thread::spawn(move || {
            reconcile_loop(
                &config,
                &paths,
                &name,
                interval,
                &health,
                deliver.as_deref(),
            );
        });
    }
    let (snapshots_tx, snapshots) = channel();
    let (poke, pokes) = channel::<()>();
    {
        let (config, paths, health) = (config.clone(), paths.clone(), health.clone());
        std::thread::spawn(move || {
            read_loop(&config, &paths, interval, &health, &snapshots_tx, &pokes)
        });
    }
    Feed { snapshots, poke }
}

fn reconcile_loop(
    config: &Config,
    paths: &Paths,
    name: &str,
    interval: Duration,
    health: &HealthMap,
    deliver: Option<&Path>,
) {
    let set = |update: &dyn Fn(&mut Health)| {
        if let Ok(mut map) = health.lock() {
            update(map.entry(name.to_owned()).or_default());
        }
    };
    let mut manager = match manager(config, paths) {
        Ok(manager) => manager,
        Err(err) => {
            set(&|h| h.error = Some(err.clone()));
            return;
        }
    };
    loop {
        let started = Instant::now();
        set(&|h| h.busy_since = Some(started));
        match manager.reconcile_executor(name) {
            Ok(report) => {
                let error = report.unreachable.first().map(|err| error_chain(err));
                set(&|h| {
                    h.busy_since = None;
                    if error.is_none() {
                        h.last_ok = Some(Instant::now());
                    }
                    h.error = error.clone();
                });
                if let Some(config_path) = deliver
                    && !report.finished.is_empty()
                {
                    // Nowhere to say it on the dashboard; the next command retries.
                    let _ = crate::app::spawn_deliverer(config_path);
                }
            }
            Err(err) => {
                let text = error_chain(&err);
                set(&|h| {
                    h.busy_since = None;
                    h.error = Some(text.clone());
                });
            }
        }
        std::thread::sleep(interval.saturating_sub(started.elapsed()));
    }
}

fn read_loop(
    config: &Config,
    paths: &Paths,
    interval: Duration,
    health: &HealthMap,
    out: &Sender<Snapshot>,
    pokes: &Receiver<()>,
) {
    let store = match Store::open(paths) {
        Ok(store) => store,
        Err(err) => {
            let _ = out.send(Snapshot {
                error: Some(error_chain(&err)),
                ..Snapshot::default()
            });
            return;
        }
    };
    // The table follows the store more often than hosts are asked, so what
    // the reconcilers learn shows within a fraction of the interval; a large
    // store, slow to read, is read less often (at most a fifth of the time).
    let base = interval.min(Duration::from_millis(500));
    loop {
        let started = Instant::now();
        let snapshot = read_snapshot(&store, config, health).unwrap_or_else(|error| Snapshot {
            error: Some(error),
            ..Snapshot::default()
        });
        if out.send(snapshot).is_err() {
            return;
        }
        let period = base.max(started.elapsed() * 4);
        match pokes.recv_timeout(period) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}
