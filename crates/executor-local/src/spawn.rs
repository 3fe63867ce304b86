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
    pub fn spawn(&self, log: &File, detach: &Detach) -> io::Result<u32> {
        // Above 0-2: the child's dup2 onto 0-2 must not clobber them.
        let null = high_fd(&File::open("/dev/null")?)?;
        let log = high_fd(log)?;
        let mut argv: Vec<*const libc::c_char> = self.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> = self.envp.iter().map(|e| e.as_ptr()).collect();
        envp.push(std::ptr::null());
        let (null, log) = (null.as_raw_fd(), log.as_raw_fd());
        let detached = detach.write.as_raw_fd();
        // SAFETY: after fork the child makes only async-signal-safe calls on
        // memory prepared before it (no allocation, no lock), then execs or
        // exits with _exit.
        match unsafe { libc::fork() } {
            -1 => Err(io::Error::last_os_error()),
            0 => unsafe { self.child(null, log, detached, &argv, &envp) },
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
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two fds into the array on success.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both fds were just opened and nothing else owns them.
        Ok(unsafe {
            Self {
                read: OwnedFd::from_raw_fd(fds[0]),
                write: OwnedFd::from_raw_fd(fds[1]),
            }
        })
    }

    /// Blocks until every runner forked with this pipe has left this
    /// process's session (or ended).
    pub fn wait(self) {
        drop(self.write);
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
        let detach = Detach::new().expect("pipe");
        let pid = runner.spawn(&log, &detach).expect("spawn");
        detach.wait();
        let info = crate::process::read_process(pid).expect("alive or a zombie");
        assert_eq!(info.session, pid, "setsid is done once the wait is over");
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
