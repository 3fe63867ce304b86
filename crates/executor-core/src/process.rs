//! Running a helper program to completion: the one child-process loop of every
//! backend that shells out (`ssh`, `sh -s` for Slurm, `docker`/`podman`).
//!
//! The child gets its stdin from a byte buffer (written on a thread: a child
//! may read it only as fast as it works), may be bounded in time, and what it
//! prints is captured up to [`OUTPUT_CAP`] bytes per stream, so that a runaway
//! host or engine cannot make this process allocate without bound.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The most bytes kept of one stream (stdout or stderr) of one child: 128 MiB.
/// Far above any answer a backend expects (a log read is one
/// `executor::LOG_READ_CHUNK`; the largest reads are
/// Claude Code transcripts and `tail` windows), low enough to be survivable.
pub const OUTPUT_CAP: usize = 128 << 20;

/// Where the child's stdout and stderr go while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capture {
    /// Pipes, read as the child writes.
    Pipes,
    /// Anonymous temporary files, read once the child has exited: for a child
    /// that leaves a daemon behind holding its stdout/stderr (ssh's
    /// ControlPersist master), which would keep a pipe open for minutes.
    Files,
}

/// How to run one child.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    /// Written to stdin, which is then closed; `None`: stdin is `/dev/null`.
    pub input: Option<&'a [u8]>,
    /// Killed (SIGKILL) once it runs longer; `None`: waited for as long as it takes.
    pub timeout: Option<Duration>,
    /// Start the child in a process group of its own, and on timeout kill the
    /// whole group (the child and whatever it started). Otherwise the child
    /// stays in ours (a terminal's Ctrl-C reaches it too) and only it is killed.
    pub own_group: bool,
    pub capture: Capture,
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            input: None,
            timeout: None,
            own_group: false,
            capture: Capture::Pipes,
        }
    }
}

/// A child that ran to its end.
#[derive(Debug)]
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The program could not be started (`NotFound`: not installed).
    #[error("cannot start the program")]
    Spawn(#[source] std::io::Error),
    #[error("cannot collect the program's output")]
    Io(#[source] std::io::Error),
    /// Killed after running longer than the timeout.
    #[error("no answer within {} s", .0.as_secs())]
    TimedOut(Duration),
    /// It printed more than [`OUTPUT_CAP`] bytes on one stream.
    #[error("the program printed more than {} MiB", OUTPUT_CAP >> 20)]
    TooMuchOutput,
}

/// Runs `command` to its end. `started` is called once the child runs, with
/// it (ssh waits there for the shared connection it opens); the command itself
/// is dropped before the wait, so that only the child holds what it was given.
pub fn run(
    mut command: Command,
    options: Options<'_>,
    started: impl FnOnce(&mut Child),
) -> Result<Finished, ProcessError> {
    command.stdin(if options.input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    if options.own_group {
        command.process_group(0);
    }
    let files = match options.capture {
        Capture::Pipes => {
            command.stdout(Stdio::piped()).stderr(Stdio::piped());
            None
        }
        Capture::Files => {
            let stdout = tempfile::tempfile().map_err(ProcessError::Io)?;
            let stderr = tempfile::tempfile().map_err(ProcessError::Io)?;
            command
                .stdout(stdout.try_clone().map_err(ProcessError::Io)?)
                .stderr(stderr.try_clone().map_err(ProcessError::Io)?);
            Some((stdout, stderr))
        }
    };
    let mut child = command.spawn().map_err(ProcessError::Spawn)?;
    drop(command);
    started(&mut child);
    let writer = match (options.input, child.stdin.take()) {
        (Some(input), Some(mut stdin)) => {
            let input = input.to_vec();
            Some(std::thread::spawn(move || {
                // The child may exit without reading all of it: a broken pipe is its answer.
                let _ = stdin.write_all(&input);
            }))
        }
        _ => None,
    };
    let pipes = (drain(child.stdout.take()), drain(child.stderr.take()));
    // On a timeout the threads are left to end with the pipes: a process the
    // kill did not reach may hold them open.
    let status = wait(&mut child, options)?;
    if let Some(writer) = writer {
        let _ = writer.join();
    }
    let piped = (join(pipes.0), join(pipes.1));
    let (stdout, stderr) = match files {
        Some((mut stdout, mut stderr)) => (read_capped(&mut stdout)?, read_capped(&mut stderr)?),
        None => (piped.0?, piped.1?),
    };
    Ok(Finished {
        status,
        stdout,
        stderr,
    })
}

fn wait(child: &mut Child, options: Options<'_>) -> Result<ExitStatus, ProcessError> {
    let Some(timeout) = options.timeout else {
        return child.wait().map_err(ProcessError::Io);
    };
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait().map_err(ProcessError::Io)? {
            return Ok(status);
        }
        if started.elapsed() > timeout {
            match libc::pid_t::try_from(child.id()) {
                // Our own child's group, which it leads: nothing else is signalled.
                // SAFETY: kill has no memory-safety preconditions.
                Ok(pgid) if options.own_group => unsafe {
                    libc::kill(-pgid, libc::SIGKILL);
                },
                // Our own child, by its handle.
                _ => {
                    let _ = child.kill();
                }
            }
            let _ = child.wait();
            return Err(ProcessError::TimedOut(timeout));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// Reads a pipe to its end on a thread, keeping at most [`OUTPUT_CAP`] bytes.
/// Past the cap it stops reading and closes the pipe: a child that goes on
/// writing gets SIGPIPE instead of being drained for ever.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> JoinHandle<Result<Vec<u8>, ProcessError>> {
    std::thread::spawn(move || match pipe {
        Some(pipe) => read_limited(pipe),
        None => Ok(Vec::new()),
    })
}

fn join(reader: JoinHandle<Result<Vec<u8>, ProcessError>>) -> Result<Vec<u8>, ProcessError> {
    reader.join().unwrap_or_else(|_| Ok(Vec::new()))
}

fn read_capped(file: &mut File) -> Result<Vec<u8>, ProcessError> {
    file.seek(SeekFrom::Start(0)).map_err(ProcessError::Io)?;
    read_limited(file)
}

fn read_limited(reader: impl Read) -> Result<Vec<u8>, ProcessError> {
    let mut bytes = Vec::new();
    let limit = u64::try_from(OUTPUT_CAP).unwrap_or(u64::MAX) + 1;
    reader
        .take(limit)
        .read_to_end(&mut bytes)
        .map_err(ProcessError::Io)?;
    if bytes.len() > OUTPUT_CAP {
        return Err(ProcessError::TooMuchOutput);
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("/bin/sh");
        command.arg("-c").arg(script);
        command
    }

    #[test]
    fn input_reaches_the_child_and_both_streams_come_back() {
        for capture in [Capture::Pipes, Capture::Files] {
            let done = run(
                sh("cat; echo oops >&2; exit 3"),
                Options {
                    input: Some(b"hello\n"),
                    capture,
                    ..Options::default()
                },
                |_| {},
            )
            .expect("sh runs");
            assert_eq!(done.status.code(), Some(3));
            assert_eq!(done.stdout, b"hello\n");
            assert_eq!(done.stderr, b"oops\n");
        }
    }

    #[test]
    fn a_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().expect("temp dir");
        let pid_file = dir.path().join("grandchild");
        let script = format!(
            "sleep 60 & echo $! > '{}'; wait",
            pid_file.to_str().expect("utf-8 path")
        );
        let started = Instant::now();
        let err = run(
            sh(&script),
            Options {
                timeout: Some(Duration::from_millis(300)),
                own_group: true,
                ..Options::default()
            },
            |_| {},
        )
        .expect_err("runs past its timeout");
        assert!(matches!(err, ProcessError::TimedOut(_)), "{err}");
        // The reader threads did not wait for the grandchild's copy of the pipes.
        assert!(started.elapsed() < Duration::from_secs(10));
        let pid: i32 = std::fs::read_to_string(&pid_file)
            .expect("pid file")
            .trim()
            .parse()
            .expect("a pid");
        let deadline = Instant::now() + Duration::from_secs(5);
        // SAFETY: kill with signal 0 only checks for the process.
        while unsafe { libc::kill(pid, 0) } == 0 {
            // Killed but not yet reaped by init counts as gone.
            let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if state.split_whitespace().nth(2) == Some("Z") {
                break;
            }
            assert!(Instant::now() < deadline, "grandchild {pid} still runs");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn output_past_the_cap_is_refused_not_kept() {
        for capture in [Capture::Pipes, Capture::Files] {
            let err = run(
                sh(&format!("head -c {} /dev/zero", OUTPUT_CAP + 1)),
                Options {
                    capture,
                    ..Options::default()
                },
                |_| {},
            )
            .expect_err("too much output");
            assert!(matches!(err, ProcessError::TooMuchOutput), "{err}");
        }
    }

    #[test]
    fn a_missing_program_is_a_spawn_error() {
        let err = run(
            Command::new("/nonexistent/openclaw-no-such-program"),
            Options::default(),
            |_| {},
        )
        .expect_err("not there");
        assert!(
            matches!(&err, ProcessError::Spawn(e) if e.kind() == std::io::ErrorKind::NotFound),
            "{err}"
        );
    }
}
