//! The dashboard's hands: acting on a task and following its log, each on a
//! thread of its own so that a slow host never freezes the screen.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use executor_core::{Config, Paths, TaskId, TaskManager, TaskRecord, error_chain};

use crate::commands::log_printer::LogPrinter;
use crate::exit::CliError;

/// What the user asked of a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Kill(String),
    Cleanup(String),
    Resume { task_id: String, prompt: String },
}

/// Grace between SIGTERM and SIGKILL, as `kill` and `cleanup` default to.
const GRACE: Duration = Duration::from_secs(10);

/// Starts the action thread; each outcome comes back as one line of text.
pub fn start_actions(config: &Config, paths: &Paths) -> (Sender<Action>, Receiver<String>) {
    let (actions, requests) = channel::<Action>();
    let (outcomes_tx, outcomes) = channel();
    let (config, paths) = (config.clone(), paths.clone());
    std::thread::spawn(move || {
        let mut manager = match super::data::manager(&config, &paths) {
            Ok(manager) => manager,
            Err(err) => {
                let _ = outcomes_tx.send(format!("error: {err}"));
                return;
            }
        };
        for action in requests {
            let text = match act(&mut manager, &action) {
                Ok(text) => text,
                Err(err) => format!("error: {}", err.one_line()),
            };
            if outcomes_tx.send(text).is_err() {
                return;
            }
        }
    });
    (actions, outcomes)
}

fn act(manager: &mut TaskManager, action: &Action) -> Result<String, CliError> {
    match action {
        Action::Kill(id) => {
            let task = manager.resolve(id)?;
            let killed = manager.kill(&task.id, GRACE)?;
            Ok(format!("{} {}", task.id.handle(), killed.record.status))
        }
        Action::Cleanup(id) => {
            let task = manager.resolve(id)?;
            manager.cleanup(&task.id, false, false, GRACE)?;
            Ok(format!("removed {}", task.id.handle()))
        }
        Action::Resume { task_id, prompt } => {
            let parent = manager.resolve(task_id)?;
            let spec = manager.resume_spec(&parent, prompt.clone(), None, None)?;
            let task = manager.dispatch(spec)?;
            Ok(format!(
                "started {} following {}",
                task.id.handle(),
                parent.id.handle()
            ))
        }
    }
}

/// Which log the detail pane follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Follow {
    pub task_id: String,
    pub raw: bool,
    /// The task's diff (read once its result is recorded) instead of its log.
    pub diff: bool,
}

/// New text of the followed log. `reset`: replaces what was shown.
#[derive(Debug)]
pub struct LogUpdate {
    pub follow: Follow,
    pub reset: bool,
    /// The first line goes on with the last line shown (a line that was
    /// still being written at the last read).
    pub continues: bool,
    pub lines: Vec<String>,
    pub error: Option<String>,
}

/// Lines of the log tail read when a task is first opened.
const TAIL_LINES: usize = 200;

/// Starts the log thread: send it what to follow (`None`: nothing).
pub fn start_logs(config: &Config, paths: &Paths) -> (Sender<Option<Follow>>, Receiver<LogUpdate>) {
    let (follow_tx, follow_rx) = channel::<Option<Follow>>();
    let (updates_tx, updates) = channel();
    let (config, paths) = (config.clone(), paths.clone());
    std::thread::spawn(move || {
        let Ok(mut manager) = super::data::manager(&config, &paths) else {
            return;
        };
        follow_loop(&mut manager, &follow_rx, &updates_tx);
    });
    (follow_tx, updates)
}

struct Followed {
    follow: Follow,
    record: TaskRecord,
    printer: LogPrinter,
    offset: Option<u64>,
    /// The last line shown had no newline yet.
    open_line: bool,
}

fn follow_loop(
    manager: &mut TaskManager,
    requests: &Receiver<Option<Follow>>,
    updates: &Sender<LogUpdate>,
) {
    let mut current: Option<Followed> = None;
    loop {
        // The newest request wins; older ones are stale by now.
        let mut next = match requests.recv_timeout(Duration::from_millis(400)) {
            Ok(request) => Some(request),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        while let Ok(request) = requests.try_recv() {
            next = Some(request);
        }
        if let Some(request) = next {
            current = request.and_then(|follow| {
                let id: TaskId = follow.task_id.parse().ok()?;
                let record = manager.store().get(&id).ok()??;
                Some(Followed {
                    printer: LogPrinter::new(record.task_type, follow.raw),
                    follow,
                    record,
                    offset: None,
                    open_line: false,
                })
            });
        }
        let Some(followed) = current.as_mut() else {
            continue;
        };
        let update = read_more(manager, followed);
        if updates.send(update).is_err() {
            return;
        }
    }
}

fn read_more(manager: &mut TaskManager, followed: &mut Followed) -> LogUpdate {
    if followed.follow.diff {
        return read_diff(manager, followed);
    }
    let reset = followed.offset.is_none();
    let mut update = LogUpdate {
        follow: followed.follow.clone(),
        reset,
        continues: followed.open_line && !reset,
        lines: Vec::new(),
        error: None,
    };
    // The record is re-read so that an ended task's last bytes are drained.
    if let Ok(Some(record)) = manager.store().get(&followed.record.id) {
        followed.record = record;
    }
    let chunk = manager
        .executor(&followed.record.executor)
        .map_err(|err| error_chain(&err))
        .and_then(|executor| {
            match followed.offset {
                None => executor.tail_log(&followed.record, TAIL_LINES),
                Some(offset) => executor.read_log(&followed.record, offset),
            }
            .map_err(|err| error_chain(&err))
        });
    match chunk {
        Ok(chunk) => {
            followed.offset = Some(chunk.next_offset);
            let mut text = Vec::new();
            let _ = followed.printer.write(&mut text, &chunk.bytes);
            let raw = followed.follow.raw || followed.record.task_type.agent().is_none();
            update.lines = lines_of(&text, raw);
            if !text.is_empty() {
                followed.open_line = !text.ends_with(b"\n");
            }
        }
        Err(err) => update.error = Some(err),
    }
    update
}

/// The task's patch, as `diff` prints it, once; until the task has a result,
/// why not (asked again at the next tick, so it appears when the task ends).
fn read_diff(manager: &mut TaskManager, followed: &mut Followed) -> LogUpdate {
    let mut update = LogUpdate {
        follow: followed.follow.clone(),
        reset: followed.offset.is_none(),
        continues: false,
        lines: Vec::new(),
        error: None,
    };
    if followed.offset.is_some() {
        return update;
    }
    if let Ok(Some(record)) = manager.store().get(&followed.record.id) {
        followed.record = record;
    }
    match manager.work_patch(&followed.record) {
        Ok(patch) => {
            followed.offset = Some(patch.len() as u64);
            update.lines = lines_of(&patch, true);
            if update.lines.is_empty() {
                update.lines.push("(no change)".to_owned());
            }
        }
        Err(err) => update.error = Some(error_chain(&err)),
    }
    update
}

/// Complete lines of `text`; raw output is shown escaped, like `logs` shows
/// text from a task.
fn lines_of(text: &[u8], raw: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(text);
    text.split_inclusive('\n')
        .map(|line| {
            let line = line.trim_end_matches('\n');
            if raw {
                crate::terminal::safe(line).into_owned()
            } else {
                crate::terminal::safe_lines(line).replace('\t', "    ")
            }
        })
        .collect()
}
