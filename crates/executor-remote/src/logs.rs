//! Reading a task's log and Claude Code transcript through a [`Shell`].

use std::time::Duration;

use executor_core::ExecutorError;
use executor_core::executor::LogChunk;

use crate::Shell;
use crate::scripts;

/// First window read from the end of a log for [`tail`]; grown until it holds
/// enough lines.
pub const TAIL_WINDOW: u64 = 256 * 1024;

/// How long a log read may take here (over SSH, ssh bounds itself).
const READ_LIMIT: Duration = Duration::from_secs(120);

/// The last `lines` lines of the log in `task_dir`.
pub fn tail(
    shell: &Shell,
    executor: &str,
    task_dir: &str,
    lines: usize,
) -> Result<LogChunk, ExecutorError> {
    let mut window = TAIL_WINDOW;
    loop {
        let stdout = shell.stdout(
            executor,
            &scripts::log_window(task_dir, window),
            true,
            READ_LIMIT,
        )?;
        let split = stdout
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(stdout.len());
        let size: u64 = String::from_utf8_lossy(&stdout[..split])
            .trim()
            .parse()
            .unwrap_or(0);
        let bytes = stdout.get(split + 1..).unwrap_or_default();
        let whole_file = size <= window;
        if let Some(tail) = last_lines(bytes, lines, whole_file) {
            return Ok(LogChunk {
                bytes: tail.to_vec(),
                next_offset: size,
            });
        }
        window = grow_window(window);
    }
}

/// The log's bytes from `offset`, at most one chunk.
pub fn read(
    shell: &Shell,
    executor: &str,
    task_dir: &str,
    offset: u64,
) -> Result<LogChunk, ExecutorError> {
    let bytes = shell.stdout(
        executor,
        &scripts::read_log(task_dir, offset),
        true,
        READ_LIMIT,
    )?;
    Ok(LogChunk {
        next_offset: offset + bytes.len() as u64,
        bytes,
    })
}

/// An agent's transcript, at `home_relative` below the home of the user the
/// shell runs as.
pub fn transcript(
    shell: &Shell,
    executor: &str,
    home_relative: &str,
) -> Result<Vec<u8>, ExecutorError> {
    shell.stdout(
        executor,
        &scripts::transcript(home_relative),
        true,
        READ_LIMIT,
    )
}

/// The next, larger window of [`tail`]. Saturating: the size comes from the
/// host, and at `u64::MAX` the window covers any file, which ends the loop.
pub(crate) fn grow_window(window: u64) -> u64 {
    window.saturating_mul(4)
}

/// The last `lines` lines of `window`; `None` when the window may have cut them
/// short (it does not start at the beginning of the file and holds too few lines).
fn last_lines(window: &[u8], lines: usize, whole_file: bool) -> Option<&[u8]> {
    if lines == 0 {
        return Some(&[]);
    }
    let body = window.strip_suffix(b"\n").unwrap_or(window);
    let mut seen = 0;
    for (index, byte) in body.iter().enumerate().rev() {
        if *byte == b'\n' {
            seen += 1;
            if seen == lines {
                return Some(&window[index + 1..]);
            }
        }
    }
    whole_file.then_some(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_needs_a_full_window() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2, false), Some(&b"b\nc\n"[..]));
        assert_eq!(last_lines(b"b\nc\n", 5, false), None);
        assert_eq!(last_lines(b"b\nc\n", 5, true), Some(&b"b\nc\n"[..]));
    }
}
