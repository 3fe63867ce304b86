//! The transport: the system `ssh` client, one multiplexed connection per host
//! reused across CLI invocations (ControlMaster), scripts sent on stdin.
//!
//! Using the system client means the user's ssh_config (Host aliases,
//! ProxyJump, agent, certificates) and known_hosts work exactly as for `ssh`.
//! Scripts travel on stdin to `sh -s`, so nothing of a task (prompt, command,
//! secrets) ever appears in argv on either side.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::config::{HostKeyPolicy, SshSettings};
use super::kept::{self, KeptShell};
use executor_core::ExecutorError;
use executor_core::process::{self, ProcessError};

/// How long a new connection may take before ssh gives up.
const CONNECT_TIMEOUT_SECS: u32 = 10;
/// How long an idle master connection stays up for the next invocation.
const CONTROL_PERSIST_SECS: u32 = 300;
/// Attempts for a connection that fails before the remote side ran anything.
const CONNECT_ATTEMPTS: u32 = 5;
/// No new attempt starts this long after the first one began: a host whose
/// link is down must be reported unreachable in bounded time (a timed-out
/// connect alone takes `CONNECT_TIMEOUT_SECS`), not after five of them.
const RETRY_BUDGET: Duration = Duration::from_secs(12);
/// Keep-alive probes of an idle connection, and how many may go unanswered:
/// a dead link (packets vanish, nothing is told) ends the connection, and
/// every command multiplexed on it, within about 10 s instead of hanging.
const SERVER_ALIVE_INTERVAL_SECS: u32 = 3;
const SERVER_ALIVE_COUNT_MAX: u32 = 3;
/// How long a process waits for another one that is opening the shared
/// connection before it connects on its own.
const CONNECT_LOCK_WAIT: Duration = Duration::from_secs(CONNECT_TIMEOUT_SECS as u64 + 5);

/// Sessions this client opens at once on one shared connection. sshd refuses
/// sessions beyond its `MaxSessions` (default 10) on one connection, and ssh
/// then quietly logs in anew for that invocation; a burst of such logins meets
/// `MaxStartups`. Kept below the default so a session still closing on the
/// server side leaves room.
const SESSION_SLOTS: u32 = 8;
/// How long a process waits for a free session slot before it goes ahead
/// anyway (sessions are short: scripts, not streams).
const SESSION_SLOT_WAIT: Duration = Duration::from_secs(60);

/// ssh's own exit status for connection and authentication failures.
const SSH_FAILURE: i32 = 255;

/// How long a kept shell may take to answer before it is given up on: a host
/// that stops answering ends it (ServerAlive ends a dead link sooner).
const KEPT_SHELL_LIMIT: Duration = Duration::from_secs(15);

pub struct Transport {
    executor: String,
    settings: SshSettings,
    control_dir: Option<PathBuf>,
    /// The host's kept shell, when this process keeps them (see [`kept`]).
    kept: Mutex<Option<KeptShell>>,
}

/// What a remote script printed and how it exited.
#[derive(Debug)]
pub struct Output {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Transport {
    pub fn new(executor: &str, settings: SshSettings) -> Self {
        Self {
            executor: executor.to_owned(),
            settings,
            control_dir: control_dir(),
            kept: Mutex::new(None),
        }
    }

    /// `user@host:port` for messages.
    pub fn target(&self) -> String {
        let user = self
            .settings
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let port = self
            .settings
            .port
            .map(|p| format!(":{p}"))
            .unwrap_or_default();
        format!("{user}{}{port}", self.settings.host)
    }

    /// Names the shared connection: everything that decides where and how ssh
    /// connects, so executors differing in user, key, options or host-key
    /// policy never share a master. FNV-1a: stable across runs and builds,
    /// unlike the std hasher, and short enough for a socket path.
    fn connection_hash(&self) -> u64 {
        let s = &self.settings;
        let text = format!(
            "{}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}|{:?}",
            s.host,
            s.port,
            s.user,
            s.identity_file,
            s.ssh_config,
            s.known_hosts_file,
            s.ssh_options,
            s.host_key_policy
        );
        text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    }

    fn control_path(&self) -> Option<PathBuf> {
        let dir = self.control_dir.as_ref()?;
        Some(dir.join(format!("{:016x}", self.connection_hash())))
    }

    fn command(&self) -> Command {
        self.command_as("auto")
    }

    /// The ssh command, as `ControlMaster=<master>` of the shared connection.
    fn command_as(&self, master: &str) -> Command {
        let mut command = Command::new("ssh");
        // ssh keeps the first value given for an option: the user's come first.
        for option in &self.settings.ssh_options {
            command.arg("-o").arg(option);
        }
        let options = [
            // Never prompt: a password or passphrase prompt would hang a script.
            "BatchMode=yes".to_owned(),
            format!("ConnectTimeout={CONNECT_TIMEOUT_SECS}"),
            format!("ServerAliveInterval={SERVER_ALIVE_INTERVAL_SECS}"),
            format!("ServerAliveCountMax={SERVER_ALIVE_COUNT_MAX}"),
            format!(
                "StrictHostKeyChecking={}",
                match self.settings.host_key_policy {
                    HostKeyPolicy::Strict => "yes",
                    HostKeyPolicy::AcceptNew => "accept-new",
                }
            ),
            "LogLevel=ERROR".to_owned(),
        ];
        for option in options {
            command.arg("-o").arg(option);
        }
        if let Some(path) = self.control_path() {
            command
                .arg("-o")
                .arg(format!("ControlMaster={master}"))
                .arg("-o")
                .arg(format!("ControlPath={}", path.display()))
                .arg("-o")
                .arg(format!("ControlPersist={CONTROL_PERSIST_SECS}"));
        }
        if let Some(config) = &self.settings.ssh_config {
            command.arg("-F").arg(config);
        }
        if let Some(identity) = &self.settings.identity_file {
            command.arg("-i").arg(identity);
        }
        if let Some(known_hosts) = &self.settings.known_hosts_file {
            command
                .arg("-o")
                .arg(format!("UserKnownHostsFile={known_hosts}"));
        }
        if let Some(port) = self.settings.port {
            command.arg("-p").arg(port.to_string());
        }
        if let Some(user) = &self.settings.user {
            command.arg("-l").arg(user);
        }
        command.arg("--").arg(&self.settings.host).arg("sh -s");
        command
    }

    /// Runs `script` with `sh -s` on the host. Connection failures that happen
    /// before the script runs are retried; `idempotent` scripts are also retried
    /// when the link drops midway.
    pub fn run(&self, script: &str, idempotent: bool) -> Result<Output, ExecutorError> {
        let mut attempt = 0;
        let started = Instant::now();
        loop {
            attempt += 1;
            let output = self.run_once(script)?;
            if output.status != SSH_FAILURE {
                return Ok(output);
            }
            let failure = classify(&output.stderr);
            let retry = match failure {
                Failure::Connection => true,
                Failure::Dropped => idempotent,
                Failure::Auth | Failure::HostKey | Failure::Other => false,
            };
            if !retry || attempt >= CONNECT_ATTEMPTS || started.elapsed() >= RETRY_BUDGET {
                return Err(self.error(failure, &output.stderr));
            }
            // Back off exponentially, spread out across concurrent invocations.
            let jitter = u64::from(std::process::id() % 97) * 2;
            std::thread::sleep(Duration::from_millis((100 << attempt) + jitter));
        }
    }

    /// Runs a read-only `script` (one that changes nothing on the host, so
    /// it may run twice): in the host's kept shell when this process keeps
    /// them (see [`kept`]), else as [`run`](Self::run) does.
    pub fn run_read(&self, script: &str) -> Result<Output, ExecutorError> {
        if kept::shells_kept()
            && let Some(output) = self.run_kept(script)?
        {
            return Ok(output);
        }
        self.run(script, true)
    }

    /// Runs `script` in the host's kept shell, started on the shared
    /// connection once that is up (a kept shell that opened the connection
    /// itself would leave the master holding its pipes). `None` when the
    /// script is to be run the ordinary way: no kept shell yet, it ended, or
    /// the script failed (run again, its stderr is kept).
    fn run_kept(&self, script: &str) -> Result<Option<Output>, ExecutorError> {
        let Ok(mut slot) = self.kept.lock() else {
            return Ok(None);
        };
        if slot.is_none() {
            if !self.control_path().is_some_and(|path| path.exists()) {
                return Ok(None);
            }
            // Never the master: only a client of the one that is up.
            *slot = KeptShell::start(self.command_as("no")).ok();
        }
        let Some(shell) = slot.as_mut() else {
            return Ok(None);
        };
        match shell.run(script, KEPT_SHELL_LIMIT) {
            Ok(answer) if answer.status == 0 => Ok(Some(Output {
                status: 0,
                stdout: answer.stdout,
                stderr: String::new(),
            })),
            Ok(_) => Ok(None),
            Err(err) => {
                *slot = None;
                if err.kind() == std::io::ErrorKind::TimedOut {
                    return Err(ExecutorError::Unreachable {
                        executor: self.executor.clone(),
                        message: format!(
                            "{} did not answer within {} s",
                            self.target(),
                            KEPT_SHELL_LIMIT.as_secs()
                        ),
                    });
                }
                Ok(None)
            }
        }
    }

    fn run_once(&self, script: &str) -> Result<Output, ExecutorError> {
        let control_path = self.control_path();
        let opening = control_path.as_deref().and_then(claim_connection);
        let _session = control_path.as_deref().and_then(take_session_slot);
        let options = process::Options {
            input: Some(script.as_bytes()),
            // ssh bounds itself: ConnectTimeout and ServerAlive end a dead link.
            timeout: None,
            own_group: false,
            // Files, not pipes: a ControlPersist master forked by this ssh
            // inherits its stdout/stderr and would hold a pipe open for minutes.
            capture: process::Capture::Files,
        };
        let finished = process::run(self.command(), options, |child| {
            if let (Some(claim), Some(socket)) = (opening, &control_path) {
                // The others may go as soon as the connection can be shared.
                while !socket.exists() && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                drop(claim);
            }
        })
        .map_err(|err| match err {
            ProcessError::Spawn(source) if source.kind() == std::io::ErrorKind::NotFound => {
                ExecutorError::failed(
                    &self.executor,
                    "the ssh client is not installed (openssh-client)",
                )
            }
            ProcessError::Spawn(source) => {
                ExecutorError::failed(&self.executor, format!("cannot start ssh: {source}"))
            }
            ProcessError::Io(source) => {
                ExecutorError::io(&self.executor, "cannot read ssh output", source)
            }
            other => {
                ExecutorError::failed(&self.executor, format!("ssh to {}: {other}", self.target()))
            }
        })?;
        Ok(Output {
            status: finished.status.code().unwrap_or(SSH_FAILURE),
            stdout: finished.stdout,
            stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
        })
    }

    fn error(&self, failure: Failure, stderr: &str) -> ExecutorError {
        let detail = match failure {
            // A mux client whose master died says nothing at all.
            Failure::Dropped if stderr.trim().is_empty() => "the connection was lost".to_owned(),
            _ => last_line(stderr),
        };
        let target = self.target();
        let message = match failure {
            Failure::HostKey if stderr.contains("CHANGED") || stderr.contains("changed") => {
                format!(
                    "the host key of {target} has changed; if that is expected, remove the old key \
                 (ssh-keygen -R) and trust the new one"
                )
            }
            Failure::HostKey => format!(
                "the host key of {target} is not known; trust it with `ssh-keyscan` into \
                 known_hosts (or connect once with ssh), or set `host_key_policy: accept-new`"
            ),
            Failure::Auth => format!("authentication to {target} failed: {detail}"),
            Failure::Connection => {
                return ExecutorError::Unreachable {
                    executor: self.executor.clone(),
                    message: format!("cannot reach {target}: {detail}"),
                };
            }
            Failure::Dropped => {
                return ExecutorError::InDoubt {
                    executor: self.executor.clone(),
                    message: format!(
                        "cannot reach {target}: {detail} (the link broke after the request \
                         was sent; it may have been carried out)"
                    ),
                };
            }
            Failure::Other => format!("ssh to {target} failed: {detail}"),
        };
        ExecutorError::failed(&self.executor, message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// No connection was made (refused, timed out, reset before auth): safe to retry.
    Connection,
    /// The connection broke after it was made.
    Dropped,
    Auth,
    HostKey,
    Other,
}

fn classify(stderr: &str) -> Failure {
    let s = stderr.to_ascii_lowercase();
    if s.contains("host key verification failed")
        || s.contains("no ed25519 host key is known")
        || s.contains("host key is known")
        || s.contains("remote host identification has changed")
        || s.contains("host key for")
    {
        Failure::HostKey
    } else if s.contains("permission denied") || s.contains("too many authentication failures") {
        Failure::Auth
    } else if s.contains("connection refused")
        || s.contains("connection timed out")
        || s.contains("no route to host")
        || s.contains("could not resolve hostname")
        || s.contains("kex_exchange_identification")
        || s.contains("connection reset")
        || s.contains("network is unreachable")
        // sshd's MaxSessions: the shared connection is full, nothing ran.
        || s.contains("session open refused")
    {
        Failure::Connection
    } else if s.contains("broken pipe")
        || s.contains("closed by remote host")
        || s.contains("connection closed")
        || s.contains("timeout, server")
        || s.contains("mux_client")
        || s.trim().is_empty()
    {
        Failure::Dropped
    } else {
        Failure::Other
    }
}

fn last_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("no message")
        .to_owned()
}

/// Makes this process the one that opens the shared connection behind
/// `socket`, when there is none yet. Many CLI processes started at once would
/// otherwise all connect, and sshd drops unauthenticated connections beyond
/// its `MaxStartups`; instead one connects and the rest wait for its socket
/// and multiplex. Returns the held lock, or `None` when the connection exists
/// (or locking is impossible, or another opener takes too long: then connect
/// on our own, as plain ssh would).
fn claim_connection(socket: &Path) -> Option<File> {
    if socket.exists() {
        return None;
    }
    let lock = file_beside(socket, ".lock")?;
    let deadline = Instant::now() + CONNECT_LOCK_WAIT;
    loop {
        match lock.try_lock() {
            Ok(()) => break,
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return None,
        }
    }
    // Whoever held the lock may have opened the connection meanwhile.
    (!socket.exists()).then_some(lock)
}

/// Holds one of the [`SESSION_SLOTS`] session slots of the connection behind
/// `socket` (an `flock`ed file each) until dropped, waiting while all are
/// taken. `None` when slots cannot be locked or the wait runs out: then ssh
/// goes ahead and falls back to a login of its own if the master is full.
fn take_session_slot(socket: &Path) -> Option<File> {
    let deadline = Instant::now() + SESSION_SLOT_WAIT;
    // Start at a different slot per process so a burst spreads out at once.
    let first = std::process::id() % SESSION_SLOTS;
    loop {
        for i in (0..SESSION_SLOTS).map(|n| (first + n) % SESSION_SLOTS) {
            let slot = file_beside(socket, &format!(".session{i}"))?;
            match slot.try_lock() {
                Ok(()) => return Some(slot),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(_)) => return None,
            }
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Opens (creating) the lock file `<socket><suffix>`.
fn file_beside(socket: &Path, suffix: &str) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut path = socket.as_os_str().to_owned();
    path.push(suffix);
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .ok()
}

/// A private directory for ControlMaster sockets. Socket paths are limited to
/// ~100 bytes, so it lives under the runtime dir or /tmp rather than the data dir.
fn control_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("OPENCLAW_SSH_CONTROL_DIR") {
        return prepare(PathBuf::from(dir));
    }
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    let base = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    prepare(base.join(format!("openclaw-ssh-{uid}")))
}

/// Creates the socket dir, or gives up multiplexing if it is not safely ours.
fn prepare(dir: PathBuf) -> Option<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt};
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    // SAFETY: getuid has no preconditions.
    let mine = meta.uid() == unsafe { libc::getuid() };
    (meta.is_dir() && mine && meta.mode() & 0o077 == 0).then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_are_classified() {
        assert_eq!(
            classify("ssh: connect to host 127.0.0.1 port 1: Connection refused"),
            Failure::Connection
        );
        assert_eq!(
            classify(
                "No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.\r\nHost key verification failed."
            ),
            Failure::HostKey
        );
        assert_eq!(
            classify("u@127.0.0.1: Permission denied (publickey)."),
            Failure::Auth
        );
        assert_eq!(
            classify("Connection to 127.0.0.1 closed by remote host."),
            Failure::Dropped
        );
        assert_eq!(
            classify(
                "mux_client_request_session: session request failed: Session open refused by peer"
            ),
            Failure::Connection
        );
        assert_eq!(
            classify("kex_exchange_identification: read: Connection reset by peer"),
            Failure::Connection
        );
    }
}
