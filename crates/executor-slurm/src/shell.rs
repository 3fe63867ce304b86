//! How the scripts' failures become errors. Where they run (here or on the
//! login node) is `executor_remote::Shell`.

use std::time::Duration;

use executor_core::ExecutorError;
use executor_remote::shell::script_message;
use executor_remote::{Output, Shell};

use crate::scripts::{SLURM_COMMAND_SECS, SLURM_FAILED};

/// Where messages say a script ran: ` on the login node user@host`, or `""` here.
pub fn place(shell: &Shell) -> String {
    shell.place("the login node")
}

/// Runs `script`; a script that exits non-zero becomes the error it reports.
/// `limit` bounds a local run (the scripts bound each Slurm command too).
pub fn call(
    shell: &Shell,
    executor: &str,
    script: &str,
    idempotent: bool,
    limit: Duration,
) -> Result<Vec<u8>, ExecutorError> {
    let output = shell
        .run(executor, script, idempotent, limit)
        .map_err(|err| err.into_error(executor, "Slurm"))?;
    if output.status == 0 {
        return Ok(output.stdout);
    }
    Err(error(executor, &place(shell), &output))
}

/// The error a failed script reports: a Slurm command's, or its own one-line error.
fn error(executor: &str, place: &str, output: &Output) -> ExecutorError {
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
            place,
            command,
            status.trim().parse().unwrap_or(1),
            &messages,
        );
    }
    if let Some(message) = script_message(output) {
        return ExecutorError::failed(executor, message);
    }
    ExecutorError::failed(
        executor,
        format!(
            "a script{place} failed with status {}: {}",
            output.status,
            lines.last().copied().unwrap_or("no message")
        ),
    )
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
