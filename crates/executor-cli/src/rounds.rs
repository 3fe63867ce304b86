//! Rounds asked of the supervisor: `list` and `dashboard` read every live
//! task back before they print, and when a supervisor runs on the store they
//! ask it for that round instead of making it themselves.
//!
//! The supervisor keeps a shell open on every host (see
//! `executor_remote::ssh::keep_shells`) and a pidfd on every local runner, so
//! its round costs what the hosts' scripts cost, where a CLI process would
//! start an `ssh` per host and read `/proc` for every local runner.
//!
//! The protocol, on `daemon.sock` in the data dir (private to its owner like
//! the rest of it): the client sends one line, `round <config fingerprint>`;
//! the supervisor answers after a round that began after the line came, with
//! `warning <text>` lines for what it could not reach, then `done`. It answers
//! `refused` when it runs with another configuration (another executor set),
//! and the client then makes its own round, as it does when no supervisor
//! answers at all. A `dispatch` request is a `run` handed over (see
//! [`crate::handoff`]).

use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use executor_core::TaskManager;

use crate::app::App;
use crate::exit::CliError;
use crate::supervisor_socket;

/// How long a client waits for the supervisor's round before making its own:
/// longer than a round with a host timing out takes.
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// A round asked of the supervisor, not yet answered.
pub struct Asked(UnixStream);

/// Asks the store's supervisor for a round, as the first thing a listing
/// does: the supervisor reads the hosts while this process loads its
/// configuration and opens the index. `None` when there is no supervisor to
/// ask (or no store yet).
pub fn ask(explicit_config: Option<&Path>) -> Option<Asked> {
    supervisor_socket::connect(explicit_config, "round", ANSWER_WAIT, Vec::new)?
        .ok()
        .map(Asked)
}

impl Asked {
    /// Waits for the answer: the warnings the round reported, or `None`
    /// when it was refused or did not come (the caller makes its own round).
    fn answer(self) -> Option<Vec<String>> {
        let mut warnings = Vec::new();
        for line in BufReader::new(self.0).lines() {
            let line = line.ok()?;
            match line.split_once(' ') {
                Some(("warning", text)) => warnings.push(text.to_owned()),
                _ if line == "done" => return Some(warnings),
                _ => return None,
            }
        }
        None
    }
}

/// Reads every live task back before a listing: through the supervisor's
/// round when one answers (`asked` early, or asked now), else here.
pub fn refresh(app: &App, manager: &mut TaskManager, asked: Option<Asked>) -> Result<(), CliError> {
    let asked = asked.or_else(|| ask(Some(&app.config_path)));
    if let Some(warnings) = asked.and_then(Asked::answer) {
        for warning in &warnings {
            eprintln!("warning: {}", crate::terminal::safe(warning));
        }
        return Ok(());
    }
    let report = manager.reconcile(None)?;
    app.settle(manager, &report);
    Ok(())
}

/// The supervisor's end: requests taken by a thread of their own, which
/// wakes the main loop through a pipe.
pub struct Listener {
    pending: Arc<Mutex<Vec<UnixStream>>>,
    wake: OwnedFd,
    path: PathBuf,
}

/// Requests taken for one round, answered once it is made.
pub struct Requests(Vec<UnixStream>);

impl Listener {
    /// Listens on the store's socket. The caller holds the supervisor lock,
    /// so a socket left there is a dead supervisor's and is replaced.
    pub fn start(app: &App) -> std::io::Result<Self> {
        let path = app.paths.data_dir.join(supervisor_socket::SOCKET);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        let (wake, waker) = nonblocking_pipe()?;
        let pending = Arc::new(Mutex::new(Vec::new()));
        let queue = Arc::clone(&pending);
        let print = supervisor_socket::fingerprint(&app.config_path);
        let app = app.clone();
        std::thread::spawn(move || {
            let mut dispatches = crate::handoff::Server::new(app);
            accept(&listener, &queue, &waker, &print, &mut dispatches);
        });
        Ok(Self {
            pending,
            wake,
            path,
        })
    }

    /// Readable when a request is waiting.
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake.as_fd()
    }

    /// Takes the requests that came so far (a round begun after this serves them).
    pub fn take(&self) -> Requests {
        let mut drained = [0u8; 256];
        // SAFETY: reads into a local buffer from a descriptor this process owns.
        while unsafe {
            libc::read(
                self.wake.as_raw_fd(),
                drained.as_mut_ptr().cast(),
                drained.len(),
            )
        } > 0
        {}
        let taken = self
            .pending
            .lock()
            .map(|mut p| std::mem::take(&mut *p))
            .unwrap_or_default();
        Requests(taken)
    }

    /// Answers `requests` after a round; `warnings` are what it could not reach.
    pub fn answer(requests: Requests, warnings: &[String]) {
        let mut reply = String::new();
        for warning in warnings {
            // One line each: a host's words may hold newlines.
            reply.push_str(&format!("warning {}\n", warning.replace('\n', " ")));
        }
        reply.push_str("done\n");
        for mut stream in requests.0 {
            let _ = stream.write_all(reply.as_bytes());
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Reads each request's header: a round for this configuration waits for
/// the next round, a dispatch is made at once (see [`crate::handoff`]),
/// anything else is refused.
fn accept(
    listener: &UnixListener,
    queue: &Mutex<Vec<UnixStream>>,
    waker: &OwnedFd,
    print: &str,
    dispatches: &mut crate::handoff::Server,
) {
    for stream in listener.incoming().flatten() {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let read = reader.read_line(&mut line);
        let header = line.trim_end().split_once(' ');
        let verb = match header {
            Some((verb, theirs)) if read.is_ok() && theirs == print => verb,
            _ => "",
        };
        match verb {
            "round" => {}
            "dispatch" => {
                dispatches.take(reader);
                continue;
            }
            _ => {
                let _ = reader.get_mut().write_all(b"refused\n");
                continue;
            }
        }
        if let Ok(mut pending) = queue.lock() {
            pending.push(reader.into_inner());
        }
        // Nonblocking: a full pipe already wakes the loop.
        // SAFETY: writes one byte from a local to a descriptor this process owns.
        unsafe { libc::write(waker.as_raw_fd(), [1u8].as_ptr().cast(), 1) };
    }
}

/// A pipe whose both ends are nonblocking and closed on exec.
fn nonblocking_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just made by pipe2 and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}
