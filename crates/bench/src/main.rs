//! Fills a store with finished tasks for the benchmark suite (`scripts/bench`):
//! `openclaw-bench-fixture populate N` under the current `HOME`/`XDG_DATA_HOME`.
//! The tasks are index entries of ended shell tasks, as `list` and `status` see
//! them after real runs; their task dirs are not created.

use std::process::ExitCode;

use executor_core::view::TaskView;
use executor_core::{
    ExecutorType, Paths, Store, TaskId, TaskRecord, TaskStatus, TaskType, Timestamp,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let count = match args.as_slice() {
        [_, command, n] if command == "populate" => n.parse::<usize>().ok(),
        _ => None,
    };
    let Some(count) = count else {
        eprintln!("usage: openclaw-bench-fixture populate N");
        return ExitCode::from(2);
    };
    match populate(count) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn populate(count: usize) -> Result<(), Box<dyn std::error::Error>> {
    let paths = Paths::from_env()?;
    let mut store = Store::open(&paths)?;
    let now = Timestamp::now();
    let batch: Vec<TaskRecord> = (0..count)
        .map(|i| {
            let exit_code = i32::from(i % 10 == 0);
            TaskRecord {
                id: TaskId::new(),
                executor: "local".into(),
                executor_type: ExecutorType::LOCAL,
                task_type: TaskType::ShellCommand,
                status: if exit_code == 0 {
                    TaskStatus::Completed
                } else {
                    TaskStatus::Failed
                },
                reason: (exit_code != 0).then(|| "exit code 1".to_owned()),
                pid: Some(10_000 + i as u32),
                runner_pid: Some(9_999 + i as u32),
                runner_start: Some(format!("boot:{i}")),
                created_at: now.clone(),
                started_at: Some(now.clone()),
                ended_at: Some(now.clone()),
                exit_code: Some(exit_code),
                workspace: "/srv/work/project".into(),
                summary: format!("cargo test --workspace -- shard {i}"),
                max_turns: None,
                session_id: None,
                webhook_state: None,
                webhook_attempts: 0,
                webhook_error: None,
                agent: None,
                parent_id: None,
                priority: 0,
                claimed_at: None,
                model: None,
                max_budget_usd: None,
                worktree: None,
                group_id: None,
            }
        })
        .collect();
    for chunk in batch.chunks(10_000) {
        let rows: Vec<(TaskRecord, Option<String>)> = chunk
            .iter()
            .map(|record| (record.clone(), Some(TaskView::ended(record).to_json())))
            .collect();
        store.insert_batch(&rows)?;
    }
    Ok(())
}
