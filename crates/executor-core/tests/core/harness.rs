//! A data dir in a temp dir, a config from YAML text, and a fake executor host
//! shared by every manager a test opens (several managers = several processes).

use std::path::{Path, PathBuf};

use executor_core::agent::{AgentKind, AgentSession};
use executor_core::{
    Config, Paths, Payload, Store, TaskId, TaskManager, TaskRecord, TaskSpec, TaskStatus,
};
use test_support::Fake;

pub struct Harness {
    _dir: tempfile::TempDir,
    pub paths: Paths,
    pub fake: Fake,
    pub config: Config,
}

impl Harness {
    pub fn new(yaml: &str) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir for the data dir");
        let paths = Paths::new(dir.path().join("data"), dir.path().join("completions"));
        Self {
            paths,
            fake: Fake::new(),
            config: config(yaml),
            _dir: dir,
        }
    }

    /// A manager on its own store handle, as a separate command would open one.
    pub fn manager(&self) -> TaskManager {
        self.manager_with(self.config.clone())
    }

    pub fn manager_with(&self, config: Config) -> TaskManager {
        TaskManager::new(self.store(), config, self.fake.factory())
    }

    pub fn store(&self) -> Store {
        Store::open(&self.paths).expect("the store opens in the temp data dir")
    }

    pub fn record(&self, id: &TaskId) -> TaskRecord {
        self.store()
            .get(id)
            .expect("the index reads")
            .expect("the task is in the index")
    }

    pub fn status(&self, id: &TaskId) -> TaskStatus {
        self.record(id).status
    }

    pub fn mirror(&self, id: &TaskId) -> PathBuf {
        self.paths.task_dir(id)
    }

    /// The mirror's `.meta.json`.
    pub fn meta(&self, id: &TaskId) -> serde_json::Value {
        read_json(&self.mirror(id).join(".meta.json"))
    }

    /// The completion record of `id`, if one was written.
    pub fn completion(&self, id: &TaskId) -> Option<serde_json::Value> {
        let path = self.paths.completion_path(id);
        path.exists().then(|| read_json(&path))
    }

    /// Every completion record file (the ids they are named after).
    pub fn completion_files(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.paths.completions_dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .map(|e| {
                e.expect("completions dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Turns a launched task into one whose dispatching process died between
    /// claiming the slot and launching: `pending`, no runner pid, claimed
    /// `claimed_secs_ago`, nothing on the executing side, files in the mirror.
    pub fn interrupt_dispatch(&self, id: &TaskId, claimed_secs_ago: i64) {
        let store = self.store();
        let mut record = self.record(id);
        record.status = TaskStatus::Pending;
        record.runner_pid = None;
        record.runner_start = None;
        record.started_at = None;
        record.pid = None;
        record.claimed_at = Some(ago(claimed_secs_ago).into());
        store.delete(id).expect("delete the row");
        store.insert(&record).expect("insert the interrupted row");
        self.fake.host().tasks.remove(id);
    }
}

pub fn config(yaml: &str) -> Config {
    Config::parse::<crate::AllBackends>(yaml, Path::new("/test/coding-agent.yaml"))
        .expect("the test config parses")
}

pub fn read_json(path: &Path) -> serde_json::Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// An RFC 3339 time `secs` seconds ago.
pub fn ago(secs: i64) -> String {
    let then = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(secs);
    format!("{then:.3}")
}

pub fn shell(executor: &str, command: &str) -> TaskSpec {
    TaskSpec {
        executor: executor.to_owned(),
        priority: 0,
        workspace: "/work/repo".to_owned(),
        payload: Payload::ShellCommand {
            command: command.to_owned(),
        },
        parent: None,
        worktree: None,
        group: None,
    }
}

pub fn prioritized(executor: &str, command: &str, priority: i32) -> TaskSpec {
    TaskSpec {
        priority,
        ..shell(executor, command)
    }
}

pub fn agent(executor: &str, prompt: &str) -> TaskSpec {
    TaskSpec {
        executor: executor.to_owned(),
        priority: 0,
        workspace: "/work/repo".to_owned(),
        payload: Payload::Agent {
            agent: AgentKind::Claude,
            prompt: prompt.to_owned(),
            max_turns: 7,
            program: "/opt/claude".to_owned(),
            session: AgentSession::New(uuid::Uuid::new_v4()),
            model: None,
            max_budget_usd: None,
        },
        parent: None,
        worktree: None,
        group: None,
    }
}

/// Dispatches `spec` and returns its id, expecting the dispatch to succeed.
pub fn dispatch(manager: &mut TaskManager, spec: TaskSpec) -> TaskId {
    manager.dispatch(spec).expect("dispatch succeeds").id
}
