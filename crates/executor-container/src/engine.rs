//! Running the engine's own CLI (`docker` or `podman`): bounded in time, with
//! secrets passed through a pipe or the child's environment, never in argv, and
//! the engine's complaints turned into one-line errors.

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::config::ContainerRuntime;
use executor_core::ExecutorError;
use executor_core::process::{self, ProcessError};

/// How long a quick engine call (inspect, start, rm) may take before it counts as hung.
pub const QUICK: Duration = Duration::from_secs(120);
/// `inspect` runs before every status: a hung engine must not hang it for long.
pub const INSPECT: Duration = Duration::from_secs(30);
/// `create` may pull the image when `run_args` allow it.
pub const CREATE: Duration = Duration::from_secs(900);

/// The engine CLI of one executor.
#[derive(Debug, Clone)]
pub struct Engine {
    pub runtime: ContainerRuntime,
    /// Docker context (`docker --context`); podman has none.
    pub context: Option<String>,
    /// The executor's name, for error messages.
    pub executor: String,
}

/// One engine call to make.
pub struct Call<'a> {
    pub args: Vec<OsString>,
    /// Written to the CLI's stdin, then stdin is closed (`--env-file /dev/stdin`).
    pub input: Option<Vec<u8>>,
    /// Added to the CLI's environment (values of `-e NAME` flags).
    pub env: &'a [(String, String)],
    pub cwd: Option<&'a Path>,
    pub timeout: Duration,
}

impl<'a> Call<'a> {
    pub fn new<I, S>(args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        Self {
            args: args.into_iter().map(Into::into).collect(),
            input: None,
            env: &[],
            cwd: None,
            timeout: QUICK,
        }
    }
}

/// What the engine CLI answered.
#[derive(Debug)]
pub struct Answer {
    pub success: bool,
    /// The CLI's exit code (of the command it ran, for `exec` and `run`).
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The engine's error, without its prefixes and warnings, on one line.
    pub fn message(&self) -> String {
        engine_message(&self.stderr)
    }
}

impl Engine {
    pub fn program(&self) -> &'static str {
        self.runtime.as_str()
    }

    /// Runs one engine call. Only a failure to run the CLI at all (not installed,
    /// hung) is an error here; the caller judges the engine's answer.
    pub fn call(&self, call: Call<'_>) -> Result<Answer, ExecutorError> {
        let mut command = Command::new(self.program());
        if let (ContainerRuntime::Docker, Some(context)) = (self.runtime, &self.context) {
            command.arg("--context").arg(context);
        }
        command
            .args(&call.args)
            .envs(call.env.iter().map(|(k, v)| (k, v)));
        if let Some(cwd) = call.cwd {
            command.current_dir(cwd);
        }
        let options = process::Options {
            input: call.input.as_deref(),
            timeout: Some(call.timeout),
            // The CLI stays in our process group: a Ctrl-C reaches it as before.
            own_group: false,
            capture: process::Capture::Pipes,
        };
        let finished = process::run(command, options, |_| {}).map_err(|err| match err {
            ProcessError::Spawn(err) if err.kind() == std::io::ErrorKind::NotFound => {
                ExecutorError::failed(
                    &self.executor,
                    format!(
                        "{} is not installed: no `{}` on PATH",
                        self.display_name(),
                        self.program()
                    ),
                )
            }
            ProcessError::Spawn(err) => ExecutorError::io(
                &self.executor,
                format!("cannot run `{}`", self.program()),
                err,
            ),
            ProcessError::Io(err) => ExecutorError::io(
                &self.executor,
                format!("cannot wait for `{}`", self.program()),
                err,
            ),
            ProcessError::TimedOut(timeout) => ExecutorError::Unreachable {
                executor: self.executor.clone(),
                message: format!(
                    "{}: no answer within {}s",
                    self.program(),
                    timeout.as_secs()
                ),
            },
            err @ ProcessError::TooMuchOutput => {
                ExecutorError::failed(&self.executor, format!("{}: {err}", self.program()))
            }
        })?;
        Ok(Answer {
            success: finished.status.success(),
            code: finished.status.code(),
            stdout: finished.stdout,
            stderr: String::from_utf8_lossy(&finished.stderr).into_owned(),
        })
    }

    /// The error for an engine complaint: `unreachable` when the engine could not
    /// be reached at all (a retry may work), plain failure otherwise.
    pub fn error(&self, message: &str) -> ExecutorError {
        let message = format!("{}: {message}", self.program());
        if is_unreachable(&message) {
            ExecutorError::Unreachable {
                executor: self.executor.clone(),
                message,
            }
        } else {
            ExecutorError::failed(&self.executor, message)
        }
    }

    fn display_name(&self) -> &'static str {
        match self.runtime {
            ContainerRuntime::Docker => "Docker",
            ContainerRuntime::Podman => "Podman",
        }
    }
}

/// Whether the engine itself could not be reached (daemon down, socket gone).
fn is_unreachable(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    [
        "cannot connect to the docker daemon",
        "is the docker daemon running",
        "error during connect",
        "connection refused",
        "no answer within",
        "unable to connect to podman",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

/// Whether a complaint says that a container does not exist.
pub fn is_no_such_container(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    lower.contains("no such container") || lower.contains("no such object")
}

/// Whether a complaint says that the image is not there.
pub fn is_missing_image(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("no such image")
        || lower.contains("image not known")
        || lower.contains("unable to find image")
        || lower.contains("image not found")
}

/// The engine's error on one line: the last line that says "Error", without the
/// engine's prefixes; warnings and progress lines are dropped.
pub fn engine_message(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !l.starts_with("WARN[") && !l.starts_with("WARNING:"))
        .collect();
    let line = lines
        .iter()
        .rev()
        .find(|l| l.to_ascii_lowercase().starts_with("error"))
        .or(lines.last())
        .copied()
        .unwrap_or("failed without a message");
    let mut message = line;
    for prefix in ["Error response from daemon: ", "Error: ", "error: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            message = rest;
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_messages_are_one_clean_line() {
        assert_eq!(
            engine_message("Error response from daemon: No such image: x:latest\n"),
            "No such image: x:latest"
        );
        assert_eq!(
            engine_message(
                "WARN[0000] some warning\nError: openclaw-test/nope:latest: image not known\n"
            ),
            "openclaw-test/nope:latest: image not known"
        );
        assert_eq!(
            engine_message(
                "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?\n"
            ),
            "Cannot connect to the Docker daemon at unix:///x.sock. Is the docker daemon running?"
        );
        assert_eq!(engine_message(""), "failed without a message");
    }

    #[test]
    fn complaints_are_classified() {
        assert!(is_unreachable(
            "docker: Cannot connect to the Docker daemon at unix:///x. Is the docker daemon running?"
        ));
        assert!(!is_unreachable("docker: No such image: x"));
        assert!(is_missing_image("No such image: x:latest"));
        assert!(is_missing_image("x: image not known"));
        assert!(is_no_such_container(
            "Error response from daemon: No such container: openclaw-1"
        ));
        assert!(is_no_such_container(
            "Error: inspecting object: no such container openclaw-1"
        ));
        assert!(is_no_such_container("Error: No such object: openclaw-1"));
    }
}
