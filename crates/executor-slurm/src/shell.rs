//! Where the scripts run: here (`/bin/sh -s`) or on the login node over SSH
//! (the SSH executor's transport), and how their failures become errors.

use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use executor_core::ExecutorError;
use executor_ssh::transport::Transport;

use crate::scripts::{SLURM_COMMAND_SECS, SLURM_FAILED};

/// Prefix of the one-line errors the scripts print themselves.
const ERROR_PREFIX: &str = "openclaw-agent: ";

/// What a script printed and how it exited.
pub struct Output {
    pub status: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
}

pub enum Shell {
    /// `/bin/sh -s` on this machine.
    Here,
    /// `sh -s` on the login node.
    Login(Box<Transport>),
}

impl Shell {
    /// ` on the login node user@host` (empty here), for messages.
    pub fn place(&self) -> String {
        match self {
            Self::Here => String::new(),
            Self::Login(transport) => format!(" on the login node {}", transport.target()),
        }
    }

    /// Runs `script`; a script that exits non-zero becomes the error it reports.
    /// `limit` bounds a local run (the scripts bound each Slurm command too).
    pub fn call(
        &self,
        executor: &str,
        script: &str,
        idempotent: bool,
        limit: Duration,
    ) -> Result<Vec<u8>, ExecutorError> {
        let output = match self {
            Self::Here => run_here(executor, script, limit)?,
            Self::Login(transport) => {
                let output = transport.run(script, idempotent)?;
                Output {
                    status: output.status,
                    stdout: output.stdout,
                    stderr: output.stderr,
                }
            }
        };
        if output.status == 0 {
            return Ok(output.stdout);
        }
        Err(self.error(executor, &output))
    }

    fn error(&self, executor: &str, output: &Output) -> ExecutorError {
        let lines: Vec<&str> = output
            .stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        if let Some(failed) = lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(SLURM_FAILED))
        {
            let (command, status) = failed.split_once(' ').unwrap_or((failed, ""));
            let messages: Vec<&str> = lines
                .iter()
                .copied()
                .filter(|l| !l.starts_with(SLURM_FAILED))
                .collect();
            return slurm_error(
                executor,
                &self.place(),
                command,
                status.trim().parse().unwrap_or(1),
                &messages,
            );
        }
        if let Some(message) = lines
            .iter()
            .rev()
            .find_map(|l| l.strip_prefix(ERROR_PREFIX))
        {
            return ExecutorError::failed(executor, message);
        }
        ExecutorError::failed(
            executor,
            format!(
                "a script{} failed with status {}: {}",
                self.place(),
                output.status,
                lines.last().copied().unwrap_or("no message")
            ),
        )
    }
}

/// The error for a Slurm command that failed with `status`, from its messages.
pub fn slurm_error(
    executor: &str,
    place: &str,
    command: &str,
    status: i32,
    messages: &[&str],
) -> ExecutorError {
    let unreachable = |message: String| ExecutorError::Unreachable {
        executor: executor.to_owned(),
        message,
    };
    if status == 124 {
        return unreachable(format!(
            "`{command}`{place} did not answer within {SLURM_COMMAND_SECS} s (is the Slurm controller up?)"
        ));
    }
    let all = messages.join("\n").to_ascii_lowercase();
    let find = |needle: &str| {
        messages
            .iter()
            .find(|l| l.to_ascii_lowercase().contains(needle))
            .map(|l| strip_prefixes(l))
    };
    let detail = messages
        .iter()
        .rev()
        .find(|l| {
            let l = l.to_ascii_lowercase();
            l.contains("error") || l.contains("fatal") || l.contains("failed")
        })
        .or(messages.last())
        .map(|l| strip_prefixes(l))
        .unwrap_or_else(|| format!("exit status {status}"));
    if all.contains("munge") || all.contains("authentication error") {
        let munge = find("munge encode failed")
            .or_else(|| find("munge"))
            .unwrap_or(detail);
        return unreachable(format!(
            "Slurm authentication failed{place} (is munged running?): {munge}"
        ));
    }
    if all.contains("unable to contact slurm controller")
        || all.contains("socket timed out")
        || all.contains("connection refused")
        || all.contains("zero bytes were transmitted")
        || all.contains("slurmctld not responding")
    {
        return unreachable(format!(
            "cannot reach the Slurm controller{place}: {detail}"
        ));
    }
    if all.contains("could not establish a configuration source")
        || all.contains("unable to process configuration file")
        || all.contains("s_p_parse_file")
    {
        return ExecutorError::failed(
            executor,
            format!(
                "Slurm is not configured{place}: {detail} (no slurm.conf: set SLURM_CONF or create /etc/slurm/slurm.conf)"
            ),
        );
    }
    ExecutorError::failed(executor, format!("{command}{place}: {detail}"))
}

/// `sbatch: error: Batch job submission failed: X` → `Batch job submission failed: X`.
fn strip_prefixes(line: &str) -> String {
    let mut rest = line.trim();
    for _ in 0..2 {
        if let Some((head, tail)) = rest.split_once(": ")
            && (head.ends_with("error")
                || head.ends_with("fatal")
                || head.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
        {
            rest = tail.trim();
        }
    }
    rest.to_owned()
}

/// Runs `script` with `/bin/sh -s` here, in a process group of its own that is
/// ended if it runs longer than `limit`.
fn run_here(executor: &str, script: &str, limit: Duration) -> Result<Output, ExecutorError> {
    let io_err = |action: &'static str| {
        let executor = executor.to_owned();
        move |source| ExecutorError::io(&executor, action, source)
    };
    let mut child = Command::new("/bin/sh")
        .arg("-s")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(io_err("cannot start /bin/sh"))?;
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let input = script.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(io_err("cannot wait for /bin/sh"))?
        {
            break status;
        }
        if started.elapsed() > limit {
            // Our own child's group: the script and the Slurm commands it runs.
            if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
            }
            let _ = child.wait();
            return Err(ExecutorError::Unreachable {
                executor: executor.to_owned(),
                message: format!("Slurm did not answer within {} s", limit.as_secs()),
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    let _ = writer.join();
    Ok(Output {
        status: status.code().unwrap_or(-1),
        stdout: stdout.join().unwrap_or_default(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap_or_default()).into_owned(),
    })
}

fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_end(&mut bytes);
        }
        bytes
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(err: ExecutorError) -> (bool, String) {
        (err.is_transient(), err.to_string())
    }

    #[test]
    fn slurm_failures_are_classified() {
        let (transient, text) = message(slurm_error(
            "hpc",
            "",
            "sbatch",
            1,
            &[
                "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)",
            ],
        ));
        assert!(transient);
        assert_eq!(
            text,
            "executor `hpc`: cannot reach the Slurm controller: Batch job submission failed: Unable to contact slurm controller (connect failure)"
        );
        let (transient, text) = message(slurm_error(
            "hpc",
            "",
            "squeue",
            1,
            &[
                "squeue: error: If munged is up, restart with --num-threads=10",
                "squeue: error: Munge encode failed: Failed to access \"/x.sock\": No such file or directory (Did you start munged?)",
                "slurm_load_jobs error: Protocol authentication error",
            ],
        ));
        assert!(transient);
        assert!(text.contains("is munged running?"), "{text}");
        assert!(text.contains("Munge encode failed"), "{text}");
        let (transient, text) = message(slurm_error(
            "hpc",
            " on the login node u@h",
            "sbatch",
            1,
            &["sbatch: error: Batch job submission failed: Invalid partition name specified"],
        ));
        assert!(!transient);
        assert_eq!(
            text,
            "executor `hpc`: sbatch on the login node u@h: Batch job submission failed: Invalid partition name specified"
        );
        let (_, text) = message(slurm_error(
            "hpc",
            "",
            "squeue",
            1,
            &["squeue: fatal: Could not establish a configuration source"],
        ));
        assert!(text.contains("Slurm is not configured"), "{text}");
    }
}
