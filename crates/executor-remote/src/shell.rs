//! Where a script of the protocol runs: here (`/bin/sh -s`) or on a host over
//! the shared SSH connection, always with the script on stdin.

use std::process::Command;
use std::time::Duration;

use executor_core::ExecutorError;
use executor_core::process::{self, ProcessError};

use crate::scripts::ERROR_PREFIX;
use crate::ssh::Transport;
pub use crate::ssh::transport::Output;

pub enum Shell {
    /// `/bin/sh -s` on this machine, in a process group of its own that is
    /// killed when the script runs past its limit.
    Here,
    /// `sh -s` on a host, over the shared SSH connection (ssh bounds itself:
    /// a dead link ends the connection).
    Ssh(Box<Transport>),
}

/// Why a script did not run to its end.
#[derive(Debug, thiserror::Error)]
pub enum ShellError {
    /// A script here ran longer than its limit and was killed, with everything it started.
    #[error("no answer within {} s", .0.as_secs())]
    TimedOut(Duration),
    #[error(transparent)]
    Executor(#[from] ExecutorError),
}

impl ShellError {
    /// The executor's error; `what` names who did not answer in time (`Slurm`).
    pub fn into_error(self, executor: &str, what: &str) -> ExecutorError {
        match self {
            Self::TimedOut(limit) => ExecutorError::Unreachable {
                executor: executor.to_owned(),
                message: format!("{what} did not answer within {} s", limit.as_secs()),
            },
            Self::Executor(err) => err,
        }
    }
}

impl Shell {
    /// ` on the login node user@host` style suffix for messages: empty here,
    /// ` on <role> user@host` over SSH.
    pub fn place(&self, role: &str) -> String {
        match self {
            Self::Here => String::new(),
            Self::Ssh(transport) => format!(" on {role} {}", transport.target()),
        }
    }

    /// `user@host:port` over SSH; `None` here.
    pub fn target(&self) -> Option<String> {
        match self {
            Self::Here => None,
            Self::Ssh(transport) => Some(transport.target()),
        }
    }

    /// Runs `script` to its end, whatever its exit status. `idempotent` scripts
    /// are retried over SSH when the link drops midway; `limit` bounds a run here.
    pub fn run(
        &self,
        executor: &str,
        script: &str,
        idempotent: bool,
        limit: Duration,
    ) -> Result<Output, ShellError> {
        match self {
            Self::Here => run_here(executor, script, limit),
            Self::Ssh(transport) => Ok(transport.run(script, idempotent)?),
        }
    }

    /// Runs `script` and returns its stdout; a non-zero exit becomes the
    /// script's own one-line error (`openclaw-agent: …` on stderr).
    pub fn stdout(
        &self,
        executor: &str,
        script: &str,
        idempotent: bool,
        limit: Duration,
    ) -> Result<Vec<u8>, ExecutorError> {
        let output = self.run(executor, script, idempotent, limit);
        self.stdout_of(executor, output)
    }

    /// As [`stdout`](Self::stdout), for a script that only reads (it may run
    /// twice): over SSH in the host's kept shell when this process keeps
    /// them.
    pub fn read_stdout(
        &self,
        executor: &str,
        script: &str,
        limit: Duration,
    ) -> Result<Vec<u8>, ExecutorError> {
        let output = match self {
            Self::Here => run_here(executor, script, limit),
            Self::Ssh(transport) => transport.run_read(script).map_err(ShellError::from),
        };
        self.stdout_of(executor, output)
    }

    fn stdout_of(
        &self,
        executor: &str,
        output: Result<Output, ShellError>,
    ) -> Result<Vec<u8>, ExecutorError> {
        let output = output.map_err(|err| err.into_error(executor, "the shell"))?;
        if output.status == 0 {
            return Ok(output.stdout);
        }
        Err(ExecutorError::failed(
            executor,
            script_message(&output).unwrap_or_else(|| {
                format!(
                    "remote command on {} failed with status {}: {}",
                    self.target().unwrap_or_else(|| "this machine".to_owned()),
                    output.status,
                    output.stderr.lines().last().unwrap_or("no message").trim()
                )
            }),
        ))
    }
}

impl Shell {
    /// Runs `script` with `args` as its positional parameters, whatever its
    /// exit status (the executor's `run_script`).
    pub fn run_with_args(
        &self,
        executor: &str,
        script: &str,
        args: &[&str],
        limit: Duration,
    ) -> Result<executor_core::ScriptOutput, ExecutorError> {
        let mut full = String::from("set --");
        for arg in args {
            full.push(' ');
            full.push_str(&executor_core::sh::sh_quote(arg));
        }
        full.push('\n');
        full.push_str(script);
        let output = self
            .run(executor, &full, false, limit)
            .map_err(|err| err.into_error(executor, "the shell"))?;
        Ok(executor_core::ScriptOutput {
            code: Some(output.status),
            stdout: output.stdout,
            stderr: output.stderr.into_bytes(),
        })
    }
}

/// The last one-line error a script printed itself, without its prefix.
pub fn script_message(output: &Output) -> Option<String> {
    output
        .stderr
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix(ERROR_PREFIX))
        .map(str::to_owned)
}

fn run_here(executor: &str, script: &str, limit: Duration) -> Result<Output, ShellError> {
    let mut command = Command::new("/bin/sh");
    command.arg("-s");
    let options = process::Options {
        input: Some(script.as_bytes()),
        timeout: Some(limit),
        // On timeout the script's group goes: the commands it started too.
        own_group: true,
        capture: process::Capture::Pipes,
    };
    match process::run(command, options, |_| {}) {
        Ok(finished) => Ok(Output {
            status: finished.status.code().unwrap_or(-1),
            stdout: finished.stdout,
            stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
        }),
        Err(ProcessError::TimedOut(limit)) => Err(ShellError::TimedOut(limit)),
        Err(ProcessError::Spawn(source)) => {
            Err(ExecutorError::io(executor, "cannot start /bin/sh", source).into())
        }
        Err(ProcessError::Io(source)) => {
            Err(ExecutorError::io(executor, "cannot wait for /bin/sh", source).into())
        }
        Err(err @ ProcessError::TooMuchOutput) => {
            Err(ExecutorError::failed(executor, format!("/bin/sh: {err}")).into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripts::{FAIL_FN, export_env, put_file, put_fn, write_kill_marker};
    use executor_core::runner::{KILL_MARKER, sh_quote};

    const LIMIT: Duration = Duration::from_secs(30);

    /// The shared fragments, run here: files arrive byte for byte, the
    /// environment is exported, the kill marker is written whole.
    #[test]
    fn fragments_write_files_env_and_the_kill_marker() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().to_str().expect("utf-8 path");
        let bytes: Vec<u8> = (0..=255u8).chain(*b"'$(x)`\n").collect();
        let mut script = format!("{FAIL_FN}dir={}\nd=\"$dir\"\n", sh_quote(path));
        script.push_str(&put_fn("fail \"cannot write $1\""));
        put_file(&mut script, "blob", &bytes);
        export_env(
            &mut script,
            &[("OC_SECRET".to_owned(), "it's $HOME".to_owned())],
        );
        script.push_str("printf '%s' \"$OC_SECRET\" > \"$dir/env\"\n");
        script.push_str(&write_kill_marker("stalled\nfor 10m"));
        script.push('\n');
        let out = Shell::Here
            .stdout("t", &script, true, LIMIT)
            .expect("the script runs");
        assert!(out.is_empty());
        assert_eq!(std::fs::read(dir.path().join("blob")).expect("blob"), bytes);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("env")).expect("env"),
            "it's $HOME"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join(KILL_MARKER)).expect("marker"),
            "stalled for 10m\n"
        );
    }

    #[test]
    fn a_failed_write_runs_its_handler_and_the_error_is_the_scripts() {
        let mut script = format!("{FAIL_FN}dir=/nonexistent/openclaw-no-such-dir\n");
        script.push_str(&put_fn("fail \"cannot write $1\""));
        put_file(&mut script, "blob", b"x");
        let err = Shell::Here
            .stdout("t", &script, true, LIMIT)
            .expect_err("the write fails");
        assert_eq!(err.to_string(), "executor `t`: cannot write blob");
    }

    #[test]
    fn a_script_past_its_limit_is_killed_and_says_who_did_not_answer() {
        let err = Shell::Here
            .run("t", "sleep 30\n", true, Duration::from_millis(200))
            .expect_err("runs too long");
        assert!(matches!(err, ShellError::TimedOut(_)), "{err}");
        let err = err.into_error("t", "Slurm");
        assert!(err.is_transient());
        assert_eq!(
            err.to_string(),
            "executor `t`: Slurm did not answer within 0 s"
        );
    }
}
