//! The task directory's records (`.meta.json`, `exit.json`, pid files, the
//! kill marker), `stat` and `/proc/<pid>/stat` lines and task ids, as read
//! from disk or from a host: never a panic, errors with a line and column.

use executor_core::model::{TaskId, TaskIdPrefix, TaskMeta, TaskRecord, created_ms, summarize};
use executor_core::procstat;
use executor_core::runner::{ExitRecord, FileStat, parse_kill_marker, parse_pid_file};
use proptest::prelude::*;
use test_support::fuzz;

const META_SHELL: &str = r#"{
  "schema_version": 1,
  "task_id": "019ac4a1-6a9e-7c31-8d1e-2f3a4b5c6d7e",
  "executor": "local",
  "executor_type": "local",
  "task_type": "shell_command",
  "status": "completed",
  "pid": 4242,
  "runner_pid": 4241,
  "created_at": "2026-11-27T06:30:00.000Z",
  "started_at": "2026-11-27T06:30:00.100Z",
  "ended_at": "2026-11-27T06:30:01.000Z",
  "workspace": "/home/u/w",
  "command": "echo hi",
  "exit_code": 0
}"#;

const META_AGENT: &str = r#"{"schema_version":1,"task_id":"019ac4a1-6a9e-7c31-8d1e-2f3a4b5c6d7f","executor":"crib","executor_type":"ssh","task_type":"claude_code","status":"failed","reason":"agent error: x","pid":null,"runner_pid":null,"created_at":"2026-11-27T06:30:00.000Z","started_at":null,"ended_at":null,"workspace":"/w","prompt":"fix the \u001b bug","max_turns":100,"session_id":"s1","parent_task_id":"019ac4a1-6a9e-7c31-8d1e-2f3a4b5c6d7e","exit_code":1}"#;

const META_VOCABULARY: &[&str] = &[
    "\"status\": \"lost\"",
    "\"status\": \"queued\"",
    "\"task_type\": \"claude_code\"",
    "\"exit_code\": ",
    "\"pid\": ",
    "\"max_turns\": ",
    "\"task_id\": \"not-a-uuid\"",
    "\"prompt\": ",
    ",\"extra\": {\"deep\": [1, 2, {}]}",
];

const EXIT_RECORDS: &[&str] = &[
    "{\"exit_code\":0}",
    "{\"exit_code\":137}\n",
    "{\"exit_code\":-1,\"ended_at\":\"2026-11-27T06:30:01Z\"}",
    "{\"exit_code\": 2, \"ended_at\": null}",
];

const STAT_LINES: &[&str] = &[
    "42 (sleep) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 0 0",
    "7 (a) b (c)) Z 1 7 7 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 1 0 0",
    "1 (sh) R 0 1 1 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 18446744073709551615 0 0",
];

const FILE_STATS: &[&str] = &[
    "12 1764225001 /tmp/openclaw-tasks/019ac4a1-6a9e-7c31-8d1e-2f3a4b5c6d7e/task.log",
    "0 1764225001 019ac4a1-6a9e-7c31-8d1e-2f3a4b5c6d7e/exit.json",
    "? ? a/b",
];

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn meta_files_never_panic(bytes in fuzz::mutated(
        vec![META_SHELL.as_bytes().to_vec(), META_AGENT.as_bytes().to_vec()],
        META_VOCABULARY,
    )) {
        let parsed = fuzz::bounded(|| serde_json::from_slice::<TaskMeta>(&bytes))?;
        match parsed {
            Ok(meta) => {
                let text = meta.prompt.clone().or_else(|| meta.command.clone()).unwrap_or_default();
                let summary = summarize(&text);
                prop_assert!(summary.chars().count() <= executor_core::model::SUMMARY_CHARS);
                prop_assert!(!summary.chars().any(char::is_control));
                let record = TaskRecord::from_meta(meta, &summary);
                let _ = record.to_meta(Some(text));
            }
            // What reindex reports about a bad `.meta.json` says where it broke.
            Err(err) => prop_assert!(err.line() >= 1, "no line in `{err}`"),
        }
    }

    #[test]
    fn exit_records_never_panic(bytes in fuzz::mutated(
        EXIT_RECORDS.iter().map(|r| r.as_bytes().to_vec()).collect(),
        &["\"exit_code\"", "\"ended_at\"", "4294967296", "-2147483648"],
    )) {
        if let Some(record) = fuzz::bounded(|| ExitRecord::parse(&bytes))? {
            let back = serde_json::to_vec(&record).expect("an exit record serializes");
            prop_assert_eq!(ExitRecord::parse(&back), Some(record));
        }
    }

    #[test]
    fn pid_files_and_kill_markers_never_panic(bytes in fuzz::mutated(
        vec![b"4242\n".to_vec(), b"1\n".to_vec(), b"stalled for 10m 0s\n".to_vec(), Vec::new()],
        &["\n", " ", "+", "-"],
    )) {
        let pid = fuzz::bounded(|| parse_pid_file(&bytes))?;
        // Only a whole line counts: the runner writes these in place.
        prop_assert!(pid.is_none() || bytes.ends_with(b"\n"));
        let reason = fuzz::bounded(|| parse_kill_marker(&bytes))?;
        prop_assert!(!reason.is_empty());
    }

    #[test]
    fn proc_stat_lines_never_panic(line in fuzz::mutated_text(STAT_LINES, &["(", ")", " Z ", ") "])) {
        fuzz::bounded(|| procstat::parse(&line))?;
    }

    #[test]
    fn stat_lines_never_panic(line in fuzz::mutated_text(FILE_STATS, &["/", "task.log", "exit.json", "-1"])) {
        if let Some(stat) = fuzz::bounded(|| FileStat::parse(&line))? {
            prop_assert!(!stat.file.contains('/'));
        }
    }

    #[test]
    fn task_ids_never_panic(text in fuzz::mutated_text(
        &["019ac4a1-6a9e-7c31-8d1e-2f3a4b5c6d7e", "019ac4a1", "019A", "../../etc"],
        &["-", "g", "é", "/", "."],
    )) {
        fuzz::bounded(|| {
            let _ = text.parse::<TaskId>();
            let _ = created_ms(&text);
        })?;
        if let Ok(prefix) = TaskIdPrefix::parse(&text) {
            prop_assert!(prefix.as_str().chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
        }
    }
}
