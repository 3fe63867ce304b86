//! Index migration fixtures: an `index.sqlite` of every earlier schema version
//! (in `tests/fixtures/`, made by `make_index_fixtures` below, see the README
//! there) opens migrated to the current version with every row as it was;
//! old `.meta.json` files and runner protocol-1 records still read.

use std::path::{Path, PathBuf};
use std::time::Duration;

use executor_core::agent::AgentStats;
use executor_core::model::{ExecutorType, WebhookState};
use executor_core::runner::{ExitRecord, RunnerObservation};
use executor_core::taskdir::TaskDirs;
use executor_core::view::TaskView;
use executor_core::{ListFilter, Store, TaskRecord};
use executor_core::{Paths, TaskIdPrefix};
use executor_core::{TaskId, TaskMeta, TaskStatus, TaskType};
use rusqlite::{Connection, params};

/// The current schema version (`PRAGMA user_version` of a migrated index).
const CURRENT_VERSION: u32 = 7;

/// The migrations as each earlier version shipped them (`git log -p
/// crates/executor-core/src/store.rs`): a fixture of version N has the first N.
/// Kept here, not taken from the store, so that the fixtures stay what the old
/// code wrote even if a later change touched the store's list by mistake.
const HISTORY: [&str; 4] = [
    // 1: the table (8dbcfd5).
    r#"
CREATE TABLE tasks (
    id               TEXT PRIMARY KEY NOT NULL,
    executor         TEXT NOT NULL,
    executor_type    TEXT NOT NULL,
    task_type        TEXT NOT NULL,
    status           TEXT NOT NULL,
    reason           TEXT,
    pid              INTEGER,
    runner_pid       INTEGER,
    runner_start     TEXT,
    created_at       TEXT NOT NULL,
    started_at       TEXT,
    ended_at         TEXT,
    exit_code        INTEGER,
    workspace        TEXT NOT NULL,
    summary          TEXT NOT NULL,
    max_turns        INTEGER,
    session_id       TEXT,
    webhook_state    TEXT,
    webhook_attempts INTEGER NOT NULL DEFAULT 0,
    webhook_next_at  INTEGER,
    webhook_error    TEXT
) WITHOUT ROWID;
CREATE INDEX tasks_by_status ON tasks(status, id);
CREATE INDEX tasks_by_executor ON tasks(executor, id);
CREATE INDEX tasks_webhooks_due ON tasks(webhook_next_at) WHERE webhook_state = 'pending';
"#,
    // 2: agent stats and resume chains (a93ff46).
    r#"
ALTER TABLE tasks ADD COLUMN agent TEXT;
ALTER TABLE tasks ADD COLUMN parent_id TEXT;
CREATE INDEX tasks_by_parent ON tasks(parent_id) WHERE parent_id IS NOT NULL;
"#,
    // 3: the queue (b5788a3).
    r#"
ALTER TABLE tasks ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_queue ON tasks(priority DESC, id) WHERE status = 'queued';
CREATE INDEX tasks_slots ON tasks(executor, status);
ALTER TABLE tasks ADD COLUMN claimed_at TEXT;
"#,
    // 4: stored views of ended tasks (12218e9).
    r#"
ALTER TABLE tasks ADD COLUMN view_json TEXT;
ALTER TABLE tasks ADD COLUMN cost_usd REAL;
"#,
];

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn id(n: u8) -> TaskId {
    format!("019ac4a1-6a9e-7c31-8d1e-2f3a4b5c6d{n:02x}")
        .parse()
        .expect("a fixture id")
}

/// Agent stats as versions 2 and 3 stored them (no `cwd` yet) and as version
/// 4 did.
const AGENT_V2: &str = r#"{"session_id":"5f0c7e52-6d8a-4c43-9a8e-0b6a3c2d1e0f","model":"claude-sonnet-4-5","turns":3,"tool_calls":2,"input_tokens":1200,"output_tokens":340,"cache_creation_input_tokens":10,"cache_read_input_tokens":800,"total_cost_usd":0.0123,"result_subtype":"success","is_error":false,"result":"Done.","last_activity":"2026-11-27T06:31:00.000Z","parsed_offset":4096,"last_message_id":"msg_2"}"#;
const AGENT_V4: &str = r#"{"session_id":"5f0c7e52-6d8a-4c43-9a8e-0b6a3c2d1e0f","cwd":"/home/u/w","model":"claude-sonnet-4-5","turns":3,"tool_calls":2,"input_tokens":1200,"output_tokens":340,"cache_creation_input_tokens":10,"cache_read_input_tokens":800,"total_cost_usd":0.0123,"result_subtype":"success","is_error":false,"result":"Done.","last_activity":"2026-11-27T06:31:00.000Z","parsed_offset":4096,"last_message_id":"msg_2"}"#;

/// The rows of the fixture of `version`: every status that version knew, for
/// both task types, with webhook states, a resume chain and priorities where
/// the version had them.
fn rows(version: u32) -> Vec<TaskRecord> {
    let mut statuses = vec![
        TaskStatus::Pending,
        TaskStatus::Running,
        TaskStatus::Completed,
        TaskStatus::Failed,
        TaskStatus::Killed,
        TaskStatus::Lost,
    ];
    if version >= 3 {
        statuses.insert(0, TaskStatus::Queued);
    }
    let agent: Option<AgentStats> = match version {
        1 => None,
        2 | 3 => Some(serde_json::from_str(AGENT_V2).expect("v2 agent stats")),
        _ => Some(serde_json::from_str(AGENT_V4).expect("v4 agent stats")),
    };
    let mut records = Vec::new();
    let mut n = 0u8;
    for task_type in [TaskType::ShellCommand, TaskType::ClaudeCode] {
        for status in &statuses {
            n += 1;
            let status = *status;
            let claude = task_type == TaskType::ClaudeCode;
            let launched = !matches!(status, TaskStatus::Queued);
            let started = !matches!(status, TaskStatus::Queued | TaskStatus::Pending);
            let ended = status.is_terminal();
            let (exit_code, reason) = match status {
                TaskStatus::Completed => (Some(0), None),
                TaskStatus::Failed => (Some(2), Some("exit code 2".to_owned())),
                TaskStatus::Killed => (Some(143), Some("killed by request".to_owned())),
                TaskStatus::Lost => (None, Some("runner process disappeared".to_owned())),
                _ => (None, None),
            };
            let (webhook_state, webhook_attempts, webhook_error) = match status {
                TaskStatus::Completed => (Some("delivered"), 1, None),
                TaskStatus::Failed => (
                    Some("failed"),
                    8,
                    Some("http 500 from https://hooks.example/x"),
                ),
                TaskStatus::Killed => (Some("pending"), 2, Some("connection refused")),
                _ => (None, 0, None),
            };
            records.push(TaskRecord {
                id: id(n),
                // Queued tasks wait for an executor the CLI tests leave
                // unconfigured: opening the index must not launch them.
                executor: if claude || !launched { "crib" } else { "local" }.to_owned(),
                executor_type: ExecutorType::from(
                    if claude || !launched { "ssh" } else { "local" }.to_owned(),
                ),
                task_type,
                status,
                reason,
                pid: started.then_some(40_000 + u32::from(n)),
                runner_pid: launched.then_some(30_000 + u32::from(n)),
                runner_start: launched.then(|| format!("boot-{n}:{}", 1000 + u32::from(n))),
                created_at: format!("2026-11-27T06:30:{n:02}.000Z").into(),
                started_at: started.then(|| format!("2026-11-27T06:30:{n:02}.100Z").into()),
                ended_at: ended.then(|| format!("2026-11-27T06:31:{n:02}.000Z").into()),
                exit_code,
                workspace: "/home/u/w".to_owned(),
                summary: if claude {
                    format!("fix the tests, part {n}")
                } else {
                    format!("echo task {n}")
                },
                max_turns: claude.then_some(100),
                session_id: (claude && started)
                    .then(|| "5f0c7e52-6d8a-4c43-9a8e-0b6a3c2d1e0f".to_owned()),
                webhook_state: webhook_state.and_then(WebhookState::parse),
                webhook_attempts,
                webhook_error: webhook_error.map(str::to_owned),
                agent: if claude && started {
                    agent.clone()
                } else {
                    None
                },
                // A resume chain: the last agent task follows up the first ended one.
                parent_id: (version >= 2 && claude && status == TaskStatus::Lost)
                    .then(|| id(n - 3)),
                priority: if version >= 3 && status == TaskStatus::Queued {
                    5
                } else {
                    0
                },
                claimed_at: (version >= 3 && launched)
                    .then(|| format!("2026-11-27T06:30:{n:02}.050Z").into()),
            });
        }
    }
    records
}

fn open_fixture(version: u32) -> (tempfile::TempDir, Paths) {
    let temp = tempfile::tempdir().expect("temp dir");
    let data = temp.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    let paths = Paths::new(data, temp.path().join("completions"));
    std::fs::copy(
        fixtures().join(format!("index-v{version}.sqlite")),
        paths.index_path(),
    )
    .expect("the fixture is checked in (see tests/fixtures/README.md)");
    (temp, paths)
}

#[test]
fn every_earlier_index_opens_migrated_with_its_rows() {
    for version in 1..=4 {
        let (_temp, paths) = open_fixture(version);
        let before: u32 = Connection::open(paths.index_path())
            .expect("open fixture")
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("user_version");
        assert_eq!(before, version, "fixture index-v{version}.sqlite");

        let store = Store::open(&paths).expect("an old index opens");
        let expected = rows(version);
        for record in &expected {
            let got = store
                .get(&record.id)
                .expect("read a row")
                .unwrap_or_else(|| panic!("v{version}: row {} is gone", record.id));
            assert_eq!(&got, record, "v{version}: row {}", record.id);
            let prefix = TaskIdPrefix::parse(&record.id.to_string()).expect("an id");
            assert_eq!(store.resolve(&prefix).expect("resolve").id, record.id);
        }

        let mut listed = Vec::new();
        let mut costs = Vec::new();
        store
            .for_each_table_row(&ListFilter::default(), |row| {
                listed.push((
                    String::from_utf8_lossy(row.id).into_owned(),
                    row.status,
                    row.exit_code,
                ));
                costs.push(row.cost_usd);
                Ok(())
            })
            .expect("list")
            .expect("visit");
        let wanted: Vec<_> = expected
            .iter()
            .map(|r| (r.id.to_string(), r.status, r.exit_code))
            .collect();
        assert_eq!(listed, wanted, "v{version}: listing");
        // The listing's cost column holds what the stats say, whatever version
        // stored them (versions 2-3 kept it only in the stats JSON).
        let wanted_costs: Vec<_> = expected
            .iter()
            .map(|r| r.agent.as_ref().and_then(|a| a.total_cost_usd))
            .collect();
        assert_eq!(costs, wanted_costs, "v{version}: listed costs");

        let mut json = Vec::new();
        executor_core::manager::for_each_json(
            &store,
            &ListFilter::default(),
            Duration::from_secs(600),
            |line| {
                json.push(serde_json::from_str::<serde_json::Value>(line).expect("json"));
                Ok(())
            },
        )
        .expect("list --json")
        .expect("visit");
        assert_eq!(json.len(), expected.len(), "v{version}: json listing");
        for (value, record) in json.iter().zip(&expected) {
            assert_eq!(value["task_id"], record.id.to_string());
            assert_eq!(value["status"], record.status.as_str());
            assert_eq!(value["summary"], record.summary.as_str());
        }

        assert_eq!(
            store.has_queued().expect("queue"),
            version >= 3,
            "v{version}: queue"
        );
        let live = store.live_tasks().expect("live tasks");
        assert!(
            live.iter().all(|t| !t.status.is_terminal()) && live.len() >= 2,
            "v{version}: live tasks {live:?}"
        );
        drop(store);

        let after: u32 = Connection::open(paths.index_path())
            .expect("reopen")
            .pragma_query_value(None, "user_version", |row| row.get(0))
            .expect("user_version");
        assert_eq!(after, CURRENT_VERSION, "v{version} was migrated");
        // Opening again is a no-op on a current index.
        Store::open(&paths).expect("a migrated index opens again");
    }
}

/// `.meta.json` as every earlier version wrote it (`meta-*.json`): the
/// reindex path reads them.
#[test]
fn old_meta_files_still_read() {
    let dir = fixtures();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !(name.starts_with("meta-") && name.ends_with(".json")) {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read meta");
        let meta: TaskMeta =
            serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
        assert_eq!(meta.schema_version, 1, "{name}");
        let record = TaskRecord::from_meta(meta.clone(), "s");
        assert_eq!(record.id, meta.task_id);
        assert_eq!(record.status, meta.status);
        seen += 1;
    }
    assert!(seen >= 3, "only {seen} meta fixtures");
}

/// Task dirs as the runner of protocol 1 left them: the end time inside
/// `exit.json`, which wins over the file's mtime.
#[test]
fn protocol_one_runner_records_still_read() {
    let dir = fixtures().join("runner-protocol-1");
    let exit = std::fs::read(dir.join("exit.json")).expect("exit.json");
    assert_eq!(
        ExitRecord::parse(&exit),
        Some(ExitRecord {
            exit_code: 3,
            ended_at: Some("2026-11-27T06:31:05Z".to_owned()),
        })
    );
    let observed = RunnerObservation::read_task_dir(&dir, false);
    assert!(observed.runner_started);
    assert_eq!(observed.payload_pid, Some(4242));
    let state = observed.state();
    assert_eq!(state.status, TaskStatus::Killed);
    assert_eq!(state.exit_code, Some(3));
    assert_eq!(state.ended_at.as_deref(), Some("2026-11-27T06:31:05Z"));
    // Before kill reasons, the marker was empty.
    assert_eq!(state.reason.as_deref(), Some("killed by request"));
}

/// Writes `tests/fixtures/index-v{1..4}.sqlite`. Run by hand after changing
/// `rows` (the files are checked in):
/// `cargo test -p executor-core --test core make_index_fixtures -- --ignored`.
#[test]
#[ignore = "writes the checked-in fixtures"]
fn make_index_fixtures() {
    for version in 1..=4u32 {
        let path = fixtures().join(format!("index-v{version}.sqlite"));
        let _ = std::fs::remove_file(&path);
        let conn = Connection::open(&path).expect("create fixture");
        for migration in &HISTORY[..version as usize] {
            conn.execute_batch(migration).expect("migration");
        }
        conn.pragma_update(None, "user_version", version)
            .expect("user_version");
        for record in rows(version) {
            insert_as(&conn, version, &record);
        }
        conn.execute_batch("VACUUM").expect("vacuum");
    }
}

/// The row as the store of `version` inserted and then updated it: its
/// column list of that time, the agent stats as JSON, and (version 4) the
/// stored view of an ended task.
fn insert_as(conn: &Connection, version: u32, r: &TaskRecord) {
    conn.execute(
        "INSERT INTO tasks (id, executor, executor_type, task_type, status, reason, pid, \
         runner_pid, runner_start, created_at, started_at, ended_at, exit_code, workspace, \
         summary, max_turns, session_id, webhook_state, webhook_attempts, webhook_error) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
         ?18, ?19, ?20)",
        params![
            r.id.to_string(),
            r.executor,
            r.executor_type.as_str(),
            r.task_type.as_str(),
            r.status.as_str(),
            r.reason,
            r.pid,
            r.runner_pid,
            r.runner_start,
            r.created_at.as_str(),
            r.started_at.as_ref().map(|t| t.as_str()),
            r.ended_at.as_ref().map(|t| t.as_str()),
            r.exit_code,
            r.workspace,
            r.summary,
            r.max_turns,
            r.session_id,
            r.webhook_state.map(|s| s.as_str()),
            r.webhook_attempts,
            r.webhook_error,
        ],
    )
    .expect("insert");
    let id = r.id.to_string();
    if r.webhook_state == Some(WebhookState::Pending) {
        conn.execute(
            "UPDATE tasks SET webhook_next_at = 0 WHERE id = ?1",
            params![id],
        )
        .expect("webhook due");
    }
    if version >= 2 {
        // The JSON as that version's `AgentStats` serialized it.
        let agent = r
            .agent
            .as_ref()
            .map(|_| if version < 4 { AGENT_V2 } else { AGENT_V4 });
        conn.execute(
            "UPDATE tasks SET agent = ?2, parent_id = ?3 WHERE id = ?1",
            params![id, agent, r.parent_id.map(|p| p.to_string())],
        )
        .expect("agent");
    }
    if version >= 3 {
        conn.execute(
            "UPDATE tasks SET priority = ?2, claimed_at = ?3 WHERE id = ?1",
            params![id, r.priority, r.claimed_at.as_ref().map(|t| t.as_str())],
        )
        .expect("queue columns");
    }
    if version >= 4 && r.status.is_terminal() {
        // view.rs is unchanged since version 4: today's rendering is that version's.
        let view = TaskView::ended(r).to_json();
        let cost = r.agent.as_ref().and_then(|a| a.total_cost_usd);
        conn.execute(
            "UPDATE tasks SET view_json = ?2, cost_usd = ?3 WHERE id = ?1",
            params![id, view, cost],
        )
        .expect("view");
    }
}

/// Old and damaged `.meta.json` files side by side: reindex takes the old
/// ones and names the damaged one's file, line and column.
#[test]
fn reindex_reads_old_meta_and_names_where_a_damaged_one_breaks() {
    let temp = tempfile::tempdir().expect("temp dir");
    let paths = Paths::new(temp.path().join("data"), temp.path().join("completions"));
    let mut store = Store::open(&paths).expect("a new index");
    let old = std::fs::read(fixtures().join("meta-v1-shell.json")).expect("fixture");
    let meta: TaskMeta = serde_json::from_slice(&old).expect("old meta");
    let dir = paths.task_dir(&meta.task_id);
    std::fs::create_dir_all(&dir).expect("task dir");
    std::fs::write(dir.join(".meta.json"), &old).expect("write meta");
    let broken = id(0x77);
    let broken_dir = paths.task_dir(&broken);
    std::fs::create_dir_all(&broken_dir).expect("task dir");
    // Cut short mid-write, after its second line.
    std::fs::write(broken_dir.join(".meta.json"), &old[..40]).expect("write meta");

    let report =
        executor_core::manager::reindex::reindex(&mut store, &TaskDirs::new(paths.clone()))
            .expect("reindex");
    assert_eq!(report.added, vec![meta.task_id]);
    let [(path, reason)] = report.skipped.as_slice() else {
        panic!("skipped: {:?}", report.skipped);
    };
    assert_eq!(path, &broken_dir);
    assert!(
        reason.starts_with(".meta.json does not parse") && reason.contains("line 3"),
        "{reason}"
    );
    let record = store.get(&meta.task_id).expect("get").expect("added");
    assert_eq!(record.summary, "echo task 1");
}

/// The JSON of an ended task that version 4 stored (`view_json`) is, byte for
/// byte, what the task view renders today: listings mix stored and fresh
/// renderings, and scripts compare them.
#[test]
fn stored_renderings_are_todays_byte_for_byte() {
    let (_temp, paths) = open_fixture(4);
    let store = Store::open(&paths).expect("the v4 index opens");
    let conn = Connection::open(paths.index_path()).expect("open the index");
    let mut compared = 0;
    for record in rows(4).iter().filter(|r| r.status.is_terminal()) {
        let stored: String = conn
            .query_row(
                "SELECT view_json FROM tasks WHERE id = ?1",
                [record.id.to_string()],
                |row| row.get(0),
            )
            .expect("an ended row keeps its rendering");
        let read = store.get(&record.id).expect("read").expect("the row");
        assert_eq!(TaskView::ended(&read).to_json(), stored, "{}", record.id);
        compared += 1;
    }
    assert!(compared >= 4, "only {compared} ended rows");
}
