//! `run` handed to the supervisor: when one runs on the store, a command's
//! local dispatch is made by it, warm (its configuration loaded, its index
//! open and parsed), while the command only connects, sends and prints the
//! answer, as a `pueue add` does with `pueued`.
//!
//! The protocol, on the supervisor's `daemon.sock` (see [`crate::supervisor_socket`]):
//! the client sends `dispatch <config fingerprint>` and one line of JSON, a
//! [`Handed`] request naming the task's id; the supervisor answers one line,
//! `ok <what run prints>`, `error <exit code> <message>` or `refused <why>`.
//!
//! Refused means nothing was written: another configuration, a task that is
//! not a local one (remote executors' links, worktrees and their git are the
//! command's own), a caller in another mount namespace or root, or of another
//! user. The command then dispatches itself, as it does with no supervisor.
//!
//! The runner the supervisor starts inherits the caller's environment, umask
//! and working directory (for the workspace), not the supervisor's; its
//! resource limits and cgroup are the supervisor's.
//!
//! Because the client names the task, a hand-off that breaks off (the
//! supervisor dies before answering) is recovered by the command without
//! losing or doubling it: a row with that id means the task was recorded (the
//! next look starts it if its runner never did); no row means nothing runs,
//! and the command dispatches under the same id itself, first clearing a dir
//! the supervisor left (see [`recover`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use executor_core::store::IndexFile;
use executor_core::{Caller, DispatchRequest, ExecutorType, Placement, TaskId, TaskManager};
use serde::{Deserialize, Serialize};

use crate::app::App;
use crate::cli::{Isolation, RunArgs};
use crate::exit::{CliError, code};
use crate::supervisor_socket;

/// How long a command waits for the supervisor's answer: a dispatch waits at
/// most for the index's busy timeout.
const ANSWER_WAIT: Duration = Duration::from_secs(60);
/// The largest request the supervisor reads (a command and an environment).
const BODY_LIMIT: u64 = 64 << 20;

/// A `run` as the command hands it over.
#[derive(Debug, Serialize, Deserialize)]
struct Handed {
    id: TaskId,
    command: String,
    executor: Option<String>,
    labels: Vec<String>,
    priority: i32,
    workspace: Option<String>,
    no_worktree: bool,
    json: bool,
    cwd: String,
    umask: String,
    env: Vec<(String, String)>,
}

/// What became of a `run` offered to the supervisor.
pub enum Outcome {
    /// Done by the supervisor: the exit code, its output printed.
    Done(u8),
    /// No supervisor took it and nothing was written: dispatch here.
    Direct,
    /// The supervisor broke off after being asked: see [`recover`].
    Recover(TaskId),
}

/// Offers `args` to the store's supervisor, if one listens.
pub fn offer(explicit_config: Option<&Path>, args: &RunArgs) -> Result<Outcome, CliError> {
    if !offerable(args) {
        return Ok(Outcome::Direct);
    }
    let mut id = None;
    let body = || {
        let Some(request) = handed(args) else {
            return Vec::new();
        };
        id = Some(request.id);
        let mut body = serde_json::to_vec(&request).unwrap_or_default();
        body.push(b'\n');
        body
    };
    let sent = supervisor_socket::connect(explicit_config, "dispatch", ANSWER_WAIT, body);
    let (stream, Some(id)) = (sent, id) else {
        // No supervisor, or a caller it could not stand in for (the header
        // alone is refused).
        return Ok(Outcome::Direct);
    };
    let stream = match stream {
        Some(Ok(stream)) => stream,
        // Part of it may have reached the supervisor.
        _ => return Ok(Outcome::Recover(id)),
    };
    let mut answer = String::new();
    match BufReader::new(&stream).read_line(&mut answer) {
        Ok(0) => return Ok(Outcome::Recover(id)),
        Ok(_) => {}
        Err(err)
            if matches!(
                err.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return Err(CliError::new(
                code::TASK_STATE,
                format!(
                    "the supervisor took task {id} but did not answer in {} s; \
                     see `openclaw-agent status -t {id}`",
                    ANSWER_WAIT.as_secs()
                ),
            ));
        }
        Err(_) => return Ok(Outcome::Recover(id)),
    }
    // Cut short, it may have been an "ok" the supervisor died writing.
    let Some(answer) = answer.strip_suffix('\n') else {
        return Ok(Outcome::Recover(id));
    };
    match answer.split_once(' ') {
        Some(("ok", line)) => {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{line}")?;
            out.flush()?;
            Ok(Outcome::Done(code::OK))
        }
        Some(("error", rest)) => {
            let (exit, message) = rest.split_once(' ').unwrap_or((rest, ""));
            Err(CliError::new(
                exit.parse().unwrap_or(code::TASK_STATE),
                message,
            ))
        }
        // Refused: nothing was done.
        _ if answer.starts_with("refused") => Ok(Outcome::Direct),
        // An answer this version does not know: whatever was done is found.
        _ => Ok(Outcome::Recover(id)),
    }
}

/// Whether a supervisor could make `args`: a single command with no
/// worktree asked for.
fn offerable(args: &RunArgs) -> bool {
    let isolation = &args.isolation;
    args.cmd.is_some()
        && args.batch.is_none()
        && !isolation.worktree
        && !isolation.sync
        && isolation.base.is_none()
}

/// The request for `args`, from a caller whose environment and working
/// directory are text.
fn handed(args: &RunArgs) -> Option<Handed> {
    let command = args.cmd.clone()?;
    let no_worktree = &args.isolation.no_worktree;
    let env = std::env::vars_os()
        .map(|(key, value)| Some((key.into_string().ok()?, value.into_string().ok()?)))
        .collect::<Option<Vec<_>>>()?;
    Some(Handed {
        id: TaskId::new(),
        command,
        executor: args.executor.clone(),
        labels: args.routing.label.clone(),
        priority: args.routing.priority,
        workspace: args.workspace.clone(),
        no_worktree: *no_worktree,
        json: args.json,
        cwd: std::env::current_dir()
            .ok()?
            .into_os_string()
            .into_string()
            .ok()?,
        umask: executor_local::own_umask()?,
        env,
    })
}

/// Finishes a `run` whose hand-off broke off, under the id it was offered
/// with. The supervisor's work on it has stopped (the connection closes only
/// when it answers or dies), so what it left is all there is: a row (the
/// task was recorded: its id is printed, and the next look starts a runner
/// that never started), a dir without one (cleared, then dispatched here), or
/// nothing (dispatched here).
pub fn recover(app: &App, args: RunArgs, id: TaskId) -> Result<u8, CliError> {
    let mut manager = app.manager()?;
    if let Some(task) = manager.store().get(&id)? {
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{}",
            crate::commands::dispatched_line(&manager, &task, args.json)
        )?;
        out.flush()?;
        return Ok(code::OK);
    }
    if !manager.clear_unrecorded(&id)? {
        return Err(CliError::new(
            code::TASK_STATE,
            format!("task {id} is still being dispatched by another process"),
        ));
    }
    crate::commands::dispatch::run_as(app, &mut manager, args, id)
}

/// The supervisor's side: makes the dispatches handed to it one at a time,
/// on the thread that takes the requests (a hop to another thread costs a
/// wake-up, dearer than the dispatch), with a manager of its own kept open
/// between them.
pub struct Server {
    app: App,
    manager: Option<TaskManager>,
}

impl Server {
    pub fn new(app: App) -> Self {
        Self { app, manager: None }
    }

    /// Makes the dispatch `request` (its header read) asks for, and answers.
    pub fn take(&mut self, mut request: BufReader<UnixStream>) {
        let mut answered = false;
        let served = serve(&self.app, &mut self.manager, &mut request, &mut answered);
        let answer = match served {
            Ok(_) | Err(_) if answered => {
                // Answered once recorded: a launch that failed after that
                // ended the task (failed, with its reason).
                if let Err(Answer::Failed(err)) = served {
                    eprintln!("warning: {}", crate::terminal::safe(&err.one_line()));
                }
                return;
            }
            Ok(line) => format!("ok {line}\n"),
            Err(Answer::Refused(why)) => format!("refused {why}\n"),
            Err(Answer::Failed(err)) => format!("error {} {}\n", err.code, err.one_line()),
        };
        let _ = request.get_mut().write_all(answer.as_bytes());
    }
}

enum Answer {
    Refused(String),
    Failed(CliError),
}

impl From<CliError> for Answer {
    fn from(err: CliError) -> Self {
        Self::Failed(err)
    }
}

impl From<executor_core::TaskError> for Answer {
    fn from(err: executor_core::TaskError) -> Self {
        Self::Failed(err.into())
    }
}

fn refused<T>(why: impl Into<String>) -> Result<T, Answer> {
    Err(Answer::Refused(why.into()))
}

/// Makes one handed dispatch; returns what the command prints.
fn serve(
    app: &App,
    manager: &mut Option<TaskManager>,
    request: &mut BufReader<UnixStream>,
    answered: &mut bool,
) -> Result<String, Answer> {
    let mut body = Vec::new();
    if request
        .by_ref()
        .take(BODY_LIMIT)
        .read_until(b'\n', &mut body)
        .is_err()
    {
        return refused("unreadable request");
    }
    let Ok(handed) = serde_json::from_slice::<Handed>(&body) else {
        return refused("malformed request");
    };
    if let Some(why) = other_world(request.get_ref()) {
        return refused(why);
    }
    // The index may have been rebuilt (`reindex`) since it was opened; a
    // missing one is for the command to create, as it would without us.
    match manager.as_ref().map(|m| m.store().index_file()) {
        Some(IndexFile::Same) => {}
        Some(IndexFile::Missing) => return refused("the task index is missing"),
        _ => {
            let opened = app.manager()?;
            // The supervisor's main loop checkpoints (`daemon`): a dispatch
            // someone waits on never does.
            opened.store().defer_checkpoints().map_err(CliError::from)?;
            *manager = Some(opened);
        }
    }
    let Some(manager) = manager.as_mut() else {
        return refused("no task index");
    };
    let asked = DispatchRequest::Shell {
        command: handed.command,
        placement: Placement {
            executor: handed.executor,
            labels: handed.labels,
            workspace: handed.workspace,
            priority: handed.priority,
        },
    };
    let mut spec = manager.spec_for(asked)?;
    let local = app
        .config
        .executor(&spec.executor)
        .is_some_and(|e| e.executor_type() == ExecutorType::LOCAL);
    if !local {
        return refused("not a local task");
    }
    let isolation = Isolation {
        worktree: false,
        no_worktree: handed.no_worktree,
        sync: false,
        base: None,
    };
    if crate::commands::worktree_request(manager, &spec, &isolation, false)?.is_some() {
        return refused("a worktree task");
    }
    // The caller's workspace: relative to where it was run.
    spec.workspace = Path::new(&handed.cwd)
        .join(&spec.workspace)
        .to_string_lossy()
        .into_owned();
    manager.set_caller(Some(Caller {
        env: handed
            .env
            .into_iter()
            .map(|(key, value)| (key.into(), value.into()))
            .collect(),
        umask: handed.umask,
    }));
    // The id is all `run` prints: it is told once the task is recorded, as
    // `pueue add` is, while the runner starts. `--json` shows the started
    // task, so it waits for that.
    let stream = request.get_mut();
    let dispatched = manager.dispatch_telling(handed.id, spec, |task| {
        if !handed.json {
            *answered = stream
                .write_all(format!("ok {}\n", task.id).as_bytes())
                .is_ok();
        }
    });
    manager.set_caller(None);
    let task = dispatched?;
    Ok(crate::commands::dispatched_line(
        manager,
        &task,
        handed.json,
    ))
}

/// Why a caller cannot have its runner started here as if by itself: another
/// user, or paths that mean other files (another mount namespace or root).
fn other_world(stream: &UnixStream) -> Option<&'static str> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: SO_PEERCRED fills the ucred of the size given.
    let rc = unsafe {
        libc::getsockopt(
            std::os::fd::AsRawFd::as_raw_fd(stream),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::from_mut(&mut cred).cast(),
            &mut len,
        )
    };
    // SAFETY: getuid cannot fail.
    if rc != 0 || cred.uid != unsafe { libc::getuid() } {
        return Some("another user");
    }
    // This process's own, read once: they do not change under it.
    static OURS: OnceLock<[Option<PathBuf>; 2]> = OnceLock::new();
    let ours = OURS
        .get_or_init(|| WORLD.map(|what| std::fs::read_link(format!("/proc/self/{what}")).ok()));
    let same = WORLD.iter().zip(ours).all(|(what, ours)| {
        let theirs = std::fs::read_link(format!("/proc/{}/{what}", cred.pid)).ok();
        ours.is_some() && theirs == *ours
    });
    (!same).then_some("another mount namespace or root")
}

/// What makes a path mean the same file to two processes.
const WORLD: [&str; 2] = ["ns/mnt", "root"];
