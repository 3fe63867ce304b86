//! Starting a task's runner: `fork` and `exec`, without waiting for the exec.
//!
//! `Command::spawn` blocks until the child has exec'd (to report an exec
//! error). On two CPUs busy with the runners already started, that wait is the
//! scheduler's: a batch of 300 local tasks spent 14 ms per task in it (median;
//! `strace -f`), most of its time. The runner is `/bin/sh` with a script the
//! dispatch just wrote, in a dir that exists: an exec that fails leaves a
//! runner pid that never records itself, which reconciliation ends as lost.
//! What is awaited is the child's `setsid` ([`Detach`]), before a dispatch
//! is acknowledged.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The runner's command line and environment, made ready before the fork:
/// the child may only make async-signal-safe calls.
pub struct Runner {
    argv: Vec<CString>,
    envp: Vec<CString>,
    dir: CString,
}

fn c_string(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte"))
}

impl Runner {
    /// `program args…` in `dir`, with this process's environment plus `env`.
    pub fn new<'a>(
        program: &Path,
        args: impl IntoIterator<Item = &'a OsStr>,
        dir: &Path,
        env: &[(String, String)],
    ) -> io::Result<Self> {
        let mut argv = vec![c_string(program.as_os_str().as_bytes())?];
        for arg in args {
            argv.push(c_string(arg.as_bytes())?);
        }
        let mut envp = Vec::new();
        for (key, value) in std::env::vars_os() {
            if env.iter().any(|(k, _)| OsStr::new(k) == key) {
                continue;
            }
            let mut entry = key.as_bytes().to_vec();
            entry.push(b'=');
            entry.extend_from_slice(value.as_bytes());
            envp.push(c_string(&entry)?);
        }
        for (key, value) in env {
            envp.push(c_string(format!("{key}={value}").as_bytes())?);
        }
        Ok(Self {
            argv,
            envp,
            dir: c_string(dir.as_os_str().as_bytes())?,
        })
    }

    /// Starts the runner in a session of its own, stdin from `/dev/null` and
    /// stdout and stderr to `log`; returns its pid as soon as it is forked.
    /// [`Detach::wait`] on `detach` tells when it has its session.
    /// The runner execs only once `gate` is opened (or its holder is gone).
    pub fn spawn(&self, log: &File, detach: &Detach, gate: &Gate) -> io::Result<u32> {
        // Above 0-2: the child's dup2 onto 0-2 must not clobber them.
        let null = high_fd(&File::open("/dev/null")?)?;
        let log = high_fd(log)?;
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.envp.iter().map(|e| e.as_ptr()).collect();
        envp.push(std::ptr::null());
        let (null, log) = (null.as_raw_fd(), log.as_raw_fd());
        let detached = detach.write.as_raw_fd();
        let gate = (gate.read.as_raw_fd(), gate.write.as_raw_fd());
        // SAFETY: after fork the child makes only async-signal-safe calls on
        // memory prepared before it (no allocation, no lock), then execs or
        // exits with _exit.
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => unsafe { self.child(null, log, detached, gate, &argv, &envp) },
            pid => Ok(pid as u32),
        }
    }

    /// The child's side of [`Runner::spawn`]: never returns.
    ///
    /// # Safety
    /// Only in the child of a fork; the pointers are NUL-terminated arrays of
    /// valid C strings.
    unsafe fn child(
        &self,
        null: libc::c_int,
        log: libc::c_int,
        detached: libc::c_int,
        (gate, gate_holder): (libc::c_int, libc::c_int),
        argv: &[*const libc::c_char],
        envp: &[*const libc::c_char],
    ) -> ! {
        // SAFETY: async-signal-safe calls on fds and strings that are valid here.
        unsafe {
            // As `Command` does: the runner's shell cannot undo a signal
            // ignored at its start (this process ignores SIGPIPE), and the
            // payload must see a broken pipe.
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::pthread_sigmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            let session = libc::setsid();
            libc::close(detached);
            if session == -1
                || libc::dup2(null, 0) == -1
                || libc::dup2(log, 1) == -1
                || libc::dup2(log, 2) == -1
                || libc::chdir(self.dir.as_ptr()) == -1
            {
                libc::_exit(126);
            }
            // Only the dispatcher may hold the gate shut: its end, closed or
            // gone with it, is the one left. Parked, the child keeps its other
            // inherited fds until its exec, the tasks' dispatch locks among
            // them (see [`Gate`]); the caller's stdout is no longer held.
            libc::close(gate_holder);
            let mut byte = 0u8;
            while libc::read(gate, (&raw mut byte).cast(), 1) == -1
                && *libc::__errno_location() == libc::EINTR
            {}
            libc::execve(argv[0], argv.as_ptr(), envp.as_ptr());
            libc::_exit(127)
        }
    }
}

/// Tells when forked runners have sessions of their own (their first act),
/// so that a signal to this process's group (Ctrl-C, a closed terminal) can
/// no longer reach them: each child closes its copy of a pipe's write end
/// right after `setsid`, and [`Detach::wait`] reads until no copy is left.
/// Only that act is awaited, not the exec, and one pipe serves a whole batch:
/// by the time the last runner is forked, most have long done it.
pub struct Detach {
    read: OwnedFd,
    write: OwnedFd,
}

impl Detach {
    pub fn new() -> io::Result<Self> {
        let (read, write) = pipe()?;
        Ok(Self { read, write })
    }

    /// Blocks until every runner forked with this pipe has left this
    /// process's session (or ended).
    #[cfg(test)]
    pub fn wait(self) {
        self.forked().wait();
    }

    /// Closes this process's write end once the runners are forked, so that
    /// the wait can come later: the children of a later launch, parked until
    /// their own gate opens, then hold no copy that would keep it waiting.
    pub fn forked(self) -> Detaching {
        Detaching { read: self.read }
    }
}

/// A [`Detach`] whose runners are all forked.
pub struct Detaching {
    read: OwnedFd,
}

impl Detaching {
    /// Blocks until every runner forked with this pipe has left this
    /// process's session (or ended).
    pub fn wait(self) {
        let mut byte = [0u8; 1];
        loop {
            // SAFETY: reading into a buffer of the length given.
            let n = unsafe { libc::read(self.read.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
            if n == 0
                || (n == -1 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted)
            {
                return;
            }
        }
    }
}

/// Serialises the launches of this process: a child parked at its gate
/// holds every fd open at its fork, and the pipes of a launch in another
/// thread (its [`Detach`], its gate) would then wait on that child's exec,
/// which waits on its own launch's return. One after the other, a later
/// launch's children hold only the gates of earlier ones, which open first.
pub static LAUNCHES: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds forked runners before their exec until the dispatch has recorded
/// them: they take no CPU from the forks and the index writes still to come
/// (on two CPUs, the runners' three execs each were half a batch's CPU), and
/// no payload starts before the index names its runner. Each child, in its
/// own session already, blocks reading the pipe; [`Gate::open`] closes the
/// only write end, and so does the dispatcher's death: a runner whose
/// dispatcher died runs, as it would have had the gate been open. Its row was
/// committed as claimed before the fork, and until its exec the child holds
/// the task's dispatch lock (an inherited fd, closed on exec), so a look at
/// the task waits for it and then finds the runner's script running.
///
/// Forks that park children must not overlap (see [`LAUNCHES`]).
pub struct Gate {
    read: OwnedFd,
    write: OwnedFd,
}

impl Gate {
    pub fn new() -> io::Result<Self> {
        let (read, write) = pipe()?;
        Ok(Self { read, write })
    }

    /// Lets every runner forked with this gate exec.
    pub fn open(self) {
        drop(self);
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array on success.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just opened and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A close-on-exec duplicate of `file` numbered 3 or above.
fn high_fd(file: &File) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd this process owns.
    let fd = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if fd == -1 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just opened and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runner that prints `ran` into the log it returns.
    fn echo_runner(dir: &Path) -> (File, Runner) {
        let log = File::create(dir.join("log")).expect("log");
        let runner = Runner::new(
            Path::new("/bin/sh"),
            ["-c", "echo ran"].map(OsStr::new),
            dir,
            &[],
        )
        .expect("runner");
        (log, runner)
    }

    #[test]
    fn a_runner_whose_dispatcher_dies_before_opening_the_gate_runs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, runner) = echo_runner(dir.path());
        let _serial = LAUNCHES.lock().unwrap_or_else(|e| e.into_inner());
        let detach = Detach::new().expect("pipe");
        let gate = Gate::new().expect("pipe");
        // The dispatcher's death closes its end as dropping it does; a second
        // runner forked meanwhile holds no copy that would keep the first shut.
        let first = runner.spawn(&log, &detach, &gate).expect("spawn");
        let second = runner.spawn(&log, &detach, &gate).expect("spawn");
        detach.wait();
        drop(gate);
        for pid in [first, second] {
            let mut status = 0;
            // SAFETY: waitpid on this test's own child.
            unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
            assert_eq!(libc::WEXITSTATUS(status), 0);
        }
        let text = std::fs::read_to_string(dir.path().join("log")).expect("read log");
        assert_eq!(text, "ran\nran\n");
    }

    #[test]
    fn a_launch_awaited_after_a_later_one_is_not_held_by_its_parked_runners() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (log, runner) = echo_runner(dir.path());
        let _serial = LAUNCHES.lock().unwrap_or_else(|e| e.into_inner());
        let (first_detach, first_gate) = (Detach::new().expect("pipe"), Gate::new().expect("pipe"));
        let first = runner
            .spawn(&log, &first_detach, &first_gate)
            .expect("spawn");
        let first_detach = first_detach.forked();
        // Forked while the first launch is not yet awaited: parked until its
        // own gate opens, it must hold no write end of the first's pipe.
        let (second_detach, second_gate) =
            (Detach::new().expect("pipe"), Gate::new().expect("pipe"));
        let second = runner
            .spawn(&log, &second_detach, &second_gate)
            .expect("spawn");
        let second_detach = second_detach.forked();
        let (done, waited) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            first_detach.wait();
            let _ = done.send(());
        });
        assert!(
            waited
                .recv_timeout(std::time::Duration::from_secs(5))
                .is_ok(),
            "the first launch's wait hung on the second's parked runner"
        );
        first_gate.open();
        second_detach.wait();
        second_gate.open();
        for pid in [first, second] {
            let mut status = 0;
            // SAFETY: waitpid on this test's own child.
            unsafe { libc::waitpid(pid as libc::pid_t, &mut status, 0) };
            assert_eq!(libc::WEXITSTATUS(status), 0);
        }
    }

    #[test]
    fn the_runner_gets_its_args_env_dir_session_and_output() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = File::create(dir.path().join("log")).expect("log");
        let script = "echo \"$1 $OC_X $(pwd)\"; read x; echo \"read $?\"; \
                      cat /proc/$$/stat; grep SigIgn /proc/$$/status";
        let runner = Runner::new(
            Path::new("/bin/sh"),
            ["-c", script, "sh", "it's"].map(OsStr::new),
            dir.path(),
            &[("OC_X".to_owned(), "a b".to_owned())],
        )
        .expect("runner");
        let _serial = LAUNCHES.lock().unwrap_or_else(|e| e.into_inner());
        let detach = Detach::new().expect("pipe");
        let gate = Gate::new().expect("pipe");
        let pid = runner.spawn(&log, &detach, &gate).expect("spawn");
        detach.wait();
        let info = crate::process::read_process(pid).expect("alive or a zombie");
        assert_eq!(info.session, pid, "setsid is done once the wait is over");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let held = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
        assert!(
            !held.starts_with(b"/bin/sh"),
            "no exec before the gate opens"
        );
        assert_eq!(
            std::fs::metadata(dir.path().join("log"))
                .expect("log")
                .len(),
            0
        );
        gate.open();
        // SAFETY: waitpid on this test's own child.
        unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
        let text = std::fs::read_to_string(dir.path().join("log")).expect("read log");
        let mut lines = text.lines();
        let cwd = std::fs::canonicalize(dir.path()).expect("canonical");
        assert_eq!(
            lines.next(),
            Some(format!("it's a b {}", cwd.display()).as_str())
        );
        // stdin is /dev/null: `read` meets its end at once.
        assert_eq!(lines.next(), Some("read 1"), "{text}");
        // A session of its own: its session id is its pid.
        let stat = lines.next().expect("stat");
        let fields: Vec<&str> = stat.rsplit_once(") ").expect("stat").1.split(' ').collect();
        assert_eq!(fields[3], pid.to_string(), "{text}");
        // SIGPIPE (bit 13) is not ignored, as it is in this process.
        let ignored = lines
            .next()
            .and_then(|l| l.strip_prefix("SigIgn:"))
            .expect("SigIgn");
        let mask = u64::from_str_radix(ignored.trim(), 16).expect("hex mask");
        assert_eq!(mask & (1 << 12), 0, "{text}");
    }
}
