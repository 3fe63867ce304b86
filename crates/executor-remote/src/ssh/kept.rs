//! A shell kept open on a host for a long-lived process (the supervisor).
//!
//! A script sent by a new `ssh` each time pays for the client's start and a
//! new session on the shared connection (a fork and exec on the host) before
//! the first byte runs; on a fleet, ten of those per round are most of the
//! round. A kept `sh -s` on the shared connection is sent each script and
//! answers with its output and exit status after a marker line, so a round
//! costs what the scripts themselves do.
//!
//! Only read-only scripts that may run twice go through it: any failure ends
//! the kept shell and the caller runs the script the ordinary way.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

static KEEP: AtomicBool = AtomicBool::new(false);
static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Makes every transport in this process keep a shell per host for its
/// read-only scripts (the supervisor; a one-shot CLI process would only pay
/// for a shell it uses once).
pub fn keep_shells() {
    KEEP.store(true, Ordering::Relaxed);
}

pub(super) fn shells_kept() -> bool {
    KEEP.load(Ordering::Relaxed)
}

pub(super) struct KeptShell {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
}

/// What one script printed on stdout, and its exit status.
pub(super) struct Answer {
    pub status: i32,
    pub stdout: Vec<u8>,
}

impl KeptShell {
    /// Starts `command` (an `ssh … sh -s` through an existing shared
    /// connection) with its stdin and stdout piped; its stderr is dropped (a
    /// script whose status is not 0 is run again the ordinary way, which
    /// keeps its stderr).
    pub(super) fn start(mut command: Command) -> io::Result<Self> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("no pipes to the kept shell"));
        };
        for fd in [stdin.as_raw_fd(), stdout.as_raw_fd()] {
            set_nonblocking(fd)?;
        }
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    /// Runs `script` in a subshell of the kept shell, with no stdin (it must
    /// not read the scripts that follow) and no stderr, and waits up to
    /// `limit` for its end marker.
    pub(super) fn run(&mut self, script: &str, limit: Duration) -> io::Result<Answer> {
        let marker = format!(
            "@@openclaw-end-{}-{}",
            std::process::id(),
            REQUESTS.fetch_add(1, Ordering::Relaxed)
        );
        // The subshell is read whole before it runs, so nothing of the script
        // is left for the kept shell to run on its own; its `exit` ends only
        // the subshell. The newline before the marker ends a last line the
        // script left open, and is taken off again below.
        let request = format!(
            "(\n{script}\n) </dev/null 2>/dev/null; printf '\\n%s %s\\n' '{marker}' \"$?\"\n"
        );
        let deadline = Instant::now() + limit;
        let mut to_send = request.as_bytes();
        let mut received = Vec::new();
        let end = format!("\n{marker} ");
        loop {
            if let Some(at) = find(&received, end.as_bytes()) {
                let tail = &received[at + end.len()..];
                if let Some(newline) = tail.iter().position(|b| *b == b'\n') {
                    let status = std::str::from_utf8(&tail[..newline])
                        .ok()
                        .and_then(|s| s.trim().parse().ok())
                        .ok_or_else(|| io::Error::other("a garbled end marker"))?;
                    received.truncate(at);
                    return Ok(Answer {
                        status,
                        stdout: received,
                    });
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "no answer in time"));
            }
            self.exchange(&mut to_send, &mut received, left)?;
        }
    }

    /// Sends what is left of the request and reads what has come, waiting at
    /// most `left` for either to be possible.
    fn exchange(
        &mut self,
        to_send: &mut &[u8],
        received: &mut Vec<u8>,
        left: Duration,
    ) -> io::Result<()> {
        let mut fds = vec![libc::pollfd {
            fd: self.stdout.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if !to_send.is_empty() {
            fds.push(libc::pollfd {
                fd: self.stdin.as_raw_fd(),
                events: libc::POLLOUT,
                revents: 0,
            });
        }
        let millis = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        // SAFETY: `fds` is a valid array of `fds.len()` pollfds for the call.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, millis) };
        if ready < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(err)
            };
        }
        if fds.get(1).is_some_and(|fd| fd.revents != 0) {
            match self.stdin.write(to_send) {
                Ok(n) => *to_send = &to_send[n..],
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
        if fds[0].revents != 0 {
            let mut chunk = [0u8; 64 * 1024];
            match self.stdout.read(&mut chunk) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the kept shell ended",
                    ));
                }
                Ok(n) => received.extend_from_slice(&chunk[..n]),
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                Err(err) => return Err(err),
            }
        }
        Ok(())
    }
}

impl Drop for KeptShell {
    fn drop(&mut self) {
        // Its end of the session goes with it: the host's shell reads EOF.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn set_nonblocking(fd: libc::c_int) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor this process owns, with integer arguments.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn here() -> KeptShell {
        let mut command = Command::new("/bin/sh");
        command.arg("-s");
        KeptShell::start(command).expect("a shell")
    }

    #[test]
    fn scripts_run_one_after_another_with_their_output_and_status() {
        let mut shell = here();
        let first = shell
            .run("echo one; printf 'no newline'", Duration::from_secs(10))
            .unwrap();
        assert_eq!(first.status, 0);
        assert_eq!(first.stdout, b"one\nno newline");
        let second = shell
            .run("echo two; exit 3", Duration::from_secs(10))
            .unwrap();
        assert_eq!(
            (second.status, second.stdout.as_slice()),
            (3, &b"two\n"[..])
        );
        // A script that reads stdin gets nothing, not the scripts after it.
        let third = shell
            .run("cat; echo after", Duration::from_secs(10))
            .unwrap();
        assert_eq!(third.stdout, b"after\n");
        // Output larger than a pipe while the script is larger than one too.
        let big = format!(": '{}'\nhead -c 300000 /dev/zero", "x".repeat(200_000));
        let fourth = shell.run(&big, Duration::from_secs(10)).unwrap();
        assert_eq!(fourth.stdout.len(), 300_000);
    }

    #[test]
    fn a_script_past_its_limit_and_a_dead_shell_are_errors() {
        let mut shell = here();
        let slow = shell.run("sleep 5", Duration::from_millis(200));
        assert_eq!(slow.err().map(|e| e.kind()), Some(io::ErrorKind::TimedOut));
        let mut shell = here();
        // A script that ends the kept shell itself: no marker ever comes.
        let gone = shell.run(") ; exit 0 ; (", Duration::from_secs(10));
        assert!(gone.is_err());
    }
}
