//! `logs` of several tasks: each line prefixed with its task's short id, the
//! tasks followed together until all have ended, with one read per host
//! each time round.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use executor_core::{TaskManager, TaskRecord};

use super::log_printer::{LogPrinter, renderer};
use crate::app::App;
use crate::cli::LogsArgs;
use crate::exit::{CliError, code};
use crate::terminal;

/// One task's output on its way to the terminal.
struct Stream {
    task: TaskRecord,
    prefix: String,
    printer: LogPrinter,
    /// Printed by `printer`, not yet a whole line.
    pending: Vec<u8>,
    offset: u64,
    done: bool,
}

impl Stream {
    fn write(&mut self, out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
        self.printer.write(&mut self.pending, bytes)?;
        self.emit(out, false)
    }

    fn finish(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        self.printer.finish(&mut self.pending)?;
        self.emit(out, true)?;
        self.done = true;
        Ok(())
    }

    /// Writes the whole lines (and with `all`, the rest) behind the prefix.
    fn emit(&mut self, out: &mut impl Write, all: bool) -> std::io::Result<()> {
        let end = if all {
            self.pending.len()
        } else {
            match self.pending.iter().rposition(|b| *b == b'\n') {
                Some(end) => end + 1,
                None => return Ok(()),
            }
        };
        let lines: Vec<u8> = self.pending.drain(..end).collect();
        for line in lines.split_inclusive(|b| *b == b'\n') {
            out.write_all(self.prefix.as_bytes())?;
            out.write_all(line)?;
            if !line.ends_with(b"\n") {
                out.write_all(b"\n")?;
            }
        }
        Ok(())
    }
}

pub fn logs_many(
    app: &App,
    manager: &mut TaskManager,
    tasks: Vec<TaskRecord>,
    args: &LogsArgs,
) -> Result<u8, CliError> {
    let mut out = std::io::stdout().lock();
    if tasks.is_empty() {
        eprintln!("no tasks match the selection");
        return Ok(code::OK);
    }
    let mut streams = Vec::with_capacity(tasks.len());
    for task in tasks {
        let tail = manager
            .executor(&task.executor)?
            .tail_log(&task, args.lines)?;
        let mut stream = Stream {
            prefix: format!("[{}] ", &task.id.to_string()[..8]),
            printer: LogPrinter {
                render: renderer(task.task_type, args.raw),
                partial: Vec::new(),
            },
            pending: Vec::new(),
            offset: tail.next_offset,
            task,
            done: false,
        };
        stream.write(&mut out, &tail.bytes)?;
        streams.push(stream);
    }
    let Some(follow_secs) = args.follow else {
        for stream in &mut streams {
            stream.finish(&mut out)?;
        }
        out.flush()?;
        return Ok(code::OK);
    };
    out.flush()?;

    let deadline = (follow_secs > 0).then(|| Instant::now() + Duration::from_secs(follow_secs));
    let mut warned = false;
    loop {
        // Learn which tasks ended *before* reading, so their last read drains everything.
        let open: Vec<_> = streams
            .iter()
            .filter(|s| !s.done)
            .map(|s| s.task.id)
            .collect();
        let report = manager.reconcile_ids(&open)?;
        app.settle(manager, &report);
        let mut read_any = false;
        // The open tasks as they are now, by executor: one read per host.
        let mut by_executor: BTreeMap<String, Vec<(usize, TaskRecord)>> = BTreeMap::new();
        for (index, stream) in streams.iter_mut().enumerate().filter(|(_, s)| !s.done) {
            match manager.store().get(&stream.task.id)? {
                Some(current) => by_executor
                    .entry(current.executor.clone())
                    .or_default()
                    .push((index, current)),
                None => stream.finish(&mut out)?,
            }
        }
        for (name, tasks) in by_executor {
            let reads: Vec<(&TaskRecord, u64)> = tasks
                .iter()
                .map(|(index, task)| (task, streams[*index].offset))
                .collect();
            let chunks = match manager.executor(&name)?.read_logs(&reads) {
                Ok(chunks) => chunks,
                // A dropped link is ridden out: the next round reads from the same offsets.
                Err(err) if err.is_transient() => {
                    if !warned {
                        eprintln!(
                            "warning: {}; retrying",
                            terminal::safe(&executor_core::error_chain(&err))
                        );
                        warned = true;
                    }
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
            for ((index, current), chunk) in tasks.iter().zip(chunks) {
                let stream = &mut streams[*index];
                if !chunk.bytes.is_empty() {
                    read_any = true;
                    stream.offset = chunk.next_offset;
                    stream.write(&mut out, &chunk.bytes)?;
                } else if current.status.is_terminal() {
                    stream.finish(&mut out)?;
                }
            }
        }
        out.flush()?;
        let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
        if streams.iter().all(|s| s.done) || timed_out {
            for stream in streams.iter_mut().filter(|s| !s.done) {
                stream.finish(&mut out)?;
            }
            out.flush()?;
            return Ok(code::OK);
        }
        if !read_any {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
