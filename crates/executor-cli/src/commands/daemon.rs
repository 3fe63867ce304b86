//! `daemon`: the supervisor. Reconciles every live task on an interval (one
//! round trip per host), starts queued tasks as slots free, and writes
//! completion records and sends webhooks within seconds of a task ending,
//! with no other command being run. Between rounds it waits on the runners
//! of local tasks (pidfds), so a local task's end is recorded and its webhook
//! sent within milliseconds, not at the next round.
//!
//! One supervisor per store: a second one refuses to start (an exclusive lock
//! on `daemon.lock` in the data dir). Correctness does not depend on it: every
//! completion, webhook and dispatch is claimed in the index, so CLI commands
//! racing the supervisor never repeat one.
//!
//! With `--listen` (or as `serve`) it also serves the web page and the HTTP
//! API (executor-web) on threads of its own, told after every round.

use std::collections::HashSet;
use std::io::{Read, Seek, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use executor_core::store::IndexFile;
use executor_core::{ExecutorType, TaskId, TaskManager, error_chain};
use executor_local::ExitWatch;

use crate::app::App;
use crate::cli::DaemonArgs;
use crate::exit::{CliError, code};
use crate::rounds;

/// Longest a round may spend sending webhooks before reconciling again.
const WEBHOOK_BUDGET: Duration = Duration::from_secs(30);
/// How often the supervisor copies the index's WAL back: its own commits and
/// those of the dispatches handed to it leave that to it (see
/// [`executor_core::Store::defer_checkpoints`]), so the WAL holds at most
/// this long's writes.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn request_stop(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

pub fn daemon(app: &App, args: DaemonArgs) -> Result<u8, CliError> {
    let interval = Duration::try_from_secs_f64(args.interval)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            CliError::new(code::USAGE, "--interval needs a positive number of seconds")
        })?;
    one_malloc_arena();
    let mut manager = app.manager()?;
    defer_checkpoints(&manager);
    let mut lock = app.lock_file("daemon.lock")?;
    if lock.try_lock().is_err() {
        let mut holder = String::new();
        let _ = lock.read_to_string(&mut holder);
        return Err(CliError::new(
            code::TASK_STATE,
            format!(
                "another supervisor (pid {}) is already running on {}",
                holder.trim(),
                app.paths.data_dir.display()
            ),
        ));
    }
    let _ = lock.set_len(0);
    let _ = lock.rewind();
    let _ = write!(lock, "{}", std::process::id());
    let _ = lock.flush();

    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            request_stop as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            request_stop as *const () as libc::sighandler_t,
        );
    }
    let server = match &args.listen {
        Some(addr) => Some(crate::commands::serve::start(app, addr)?),
        None => None,
    };
    eprintln!(
        "openclaw-agent daemon {}: supervising {} every {:.1}s",
        std::process::id(),
        app.paths.data_dir.display(),
        interval.as_secs_f64()
    );
    executor_local::raise_fd_limit();
    executor_ssh::keep_shells();
    let listener = match rounds::Listener::start(app) {
        Ok(listener) => Some(listener),
        Err(err) => {
            eprintln!(
                "warning: cannot listen for round requests in {}: {err} (list and dashboard make their own rounds)",
                app.paths.data_dir.display()
            );
            None
        }
    };
    let webhooks = app.config.defaults.webhook_url.is_some();
    let mut index_missing = false;
    let mut watch = ExitWatch::new();
    let mut watched_shell: Vec<TaskId> = Vec::new();
    let mut runners_read_at = None;
    let mut checkpointed = Instant::now();
    while !STOP.load(Ordering::SeqCst) {
        let round = Instant::now();
        // Whoever asked before this round began is answered by it.
        let asked = listener.as_ref().map(rounds::Listener::take);
        follow_index(&mut manager, app, &mut index_missing);
        // Runners that exited since the last look are recorded first: the
        // round below skips the watched ones.
        let exited = watch.wait(Duration::ZERO);
        if !exited.is_empty()
            && let Err(err) = manager.reconcile_ids(&exited)
        {
            eprintln!("warning: {}", error_chain(&err));
        }
        // Local shell tasks whose runners are watched need no look: their
        // ends wake the wait below, and nothing else of them is learnt.
        let watched: HashSet<TaskId> = watched_shell
            .iter()
            .filter(|id| watch.is_watching(id))
            .copied()
            .collect();
        let warnings = match manager.reconcile_skipping(&watched) {
            Ok(report) => report
                .unreachable
                .iter()
                .map(|err| crate::terminal::safe(&error_chain(err)).into_owned())
                .collect(),
            // The supervisor outlives a busy or briefly broken store.
            Err(err) => vec![error_chain(&err)],
        };
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
        if let Some(asked) = asked {
            rounds::Listener::answer(asked, &warnings);
        }
        if let Some(server) = &server {
            server.round_done();
        }
        if webhooks && let Err(err) = manager.deliver_webhooks(WEBHOOK_BUDGET, false) {
            eprintln!("warning: {}", error_chain(&err));
        }
        // Between rounds, a local task's end is noticed as its runner exits
        // (the runners of tasks started meanwhile are picked up as they come);
        // a request for a round starts one at once.
        while !STOP.load(Ordering::SeqCst) && round.elapsed() < interval {
            // The runners change only with the index: read again when it moved.
            let mark = manager.store().change_mark();
            if mark.is_none() || mark != runners_read_at {
                watched_shell = watch_local_runners(&manager, &mut watch);
                runners_read_at = mark;
            }
            if checkpointed.elapsed() >= CHECKPOINT_EVERY {
                manager.store().checkpoint();
                checkpointed = Instant::now();
            }
            let left = interval.saturating_sub(round.elapsed());
            let slice = if watch.is_empty() { 50 } else { 250 };
            let woken = watch.wait_or(
                left.min(Duration::from_millis(slice)),
                listener.as_ref().map(rounds::Listener::wake_fd),
            );
            if !woken.exited.is_empty() {
                if let Err(err) = manager.reconcile_ids(&woken.exited) {
                    eprintln!("warning: {}", error_chain(&err));
                }
                if let Some(server) = &server {
                    server.round_done();
                }
                if webhooks && let Err(err) = manager.deliver_webhooks(WEBHOOK_BUDGET, false) {
                    eprintln!("warning: {}", error_chain(&err));
                }
            }
            if woken.asked {
                break;
            }
        }
    }
    eprintln!("openclaw-agent daemon {}: stopped", std::process::id());
    Ok(code::OK)
}

/// The supervisor runs for days and reads its hosts from a thread per host
/// each round: glibc would give those threads arenas of their own, each
/// keeping what its thread freed, and the process would grow by arenas for
/// its first hours. One arena keeps it at what it uses.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt sets an allocator parameter under the allocator's lock.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Watches the runners of the live local tasks (see [`ExitWatch`]); returns
/// the shell-command tasks among them.
fn watch_local_runners(manager: &TaskManager, watch: &mut ExitWatch) -> Vec<TaskId> {
    let Ok(runners) = manager.store().live_runners(ExecutorType::LOCAL.as_str()) else {
        return Vec::new();
    };
    let watched: Vec<_> = runners
        .iter()
        .map(|r| (r.id, r.pid, r.start.as_deref()))
        .collect();
    watch.watch(&watched);
    runners.iter().filter(|r| r.shell).map(|r| r.id).collect()
}

/// Reopens the index when the file at its path is no longer the one open:
/// after it was moved aside and rebuilt (`reindex`), this process would
/// otherwise go on reading and writing a file nobody else sees. A missing
/// index is not recreated here (a stale WAL beside it could be replayed into
/// a fresh one); the first command or `reindex` that creates it is followed.
fn follow_index(manager: &mut TaskManager, app: &App, missing: &mut bool) {
    let index = app.paths.index_path();
    match manager.store().index_file() {
        IndexFile::Same => *missing = false,
        IndexFile::Missing => {
            if !*missing {
                eprintln!(
                    "warning: task index {} is missing; waiting for it to be rebuilt (openclaw-agent reindex)",
                    index.display()
                );
                *missing = true;
            }
        }
        IndexFile::Replaced => match manager.reopen_store() {
            Ok(()) => {
                defer_checkpoints(manager);
                *missing = false;
                eprintln!(
                    "openclaw-agent daemon {}: task index {} was replaced; reopened it",
                    std::process::id(),
                    index.display()
                );
            }
            Err(err) => eprintln!("warning: {}", error_chain(&err)),
        },
    }
}

/// The supervisor's commits leave the WAL to its loop's checkpoints (see
/// [`CHECKPOINT_EVERY`]); best effort: a connection that still checkpoints
/// on commit only costs its own writes time.
fn defer_checkpoints(manager: &TaskManager) {
    if let Err(err) = manager.store().defer_checkpoints() {
        eprintln!("warning: {}", error_chain(&err));
    }
}
