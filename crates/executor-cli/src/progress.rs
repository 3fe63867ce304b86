//! Progress bars for operations over many tasks or hosts (`cleanup
//! --finished`, `executors --check`; any command that loops over remote work
//! can use one). Drawn on standard error only when it is a terminal: piped or
//! redirected, a command prints exactly what it printed before.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps, or nothing at all when standard error is not a terminal.
pub struct Progress(Option<ProgressBar>);

impl Progress {
    /// `what` names the work ("removing", "checking"); fewer than two steps
    /// show no bar, as they end before one would help.
    pub fn new(len: usize, what: &str) -> Self {
        Self::to_terminal(len, what, std::io::stderr().is_terminal())
    }

    fn to_terminal(len: usize, what: &str, terminal: bool) -> Self {
        if !terminal || len < 2 {
            return Self(None);
        }
        let bar = ProgressBar::with_draw_target(Some(len as u64), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        Self(Some(bar))
    }

    /// One long step of unknown length (a bundle over SSH): a spinner with
    /// the time spent, on a terminal only.
    pub fn spinner(what: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self(None);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {prefix} {elapsed} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        bar.set_style(style);
        bar.set_prefix(crate::terminal::safe(what).into_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(Some(bar))
    }

    #[cfg(test)]
    fn is_drawn(&self) -> bool {
        self.0.is_some()
    }

    /// Shows what the current step is about (a task id, an executor name).
    pub fn set_message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.0 {
            bar.set_message(crate::terminal::safe(&message.into()).into_owned());
        }
    }

    pub fn inc(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn no_bar_unless_a_terminal_and_several_steps() {
        assert!(!Progress::to_terminal(10, "x", false).is_drawn());
        assert!(!Progress::to_terminal(1, "x", true).is_drawn());
        let bar = Progress::to_terminal(3, "x", true);
        assert!(bar.is_drawn());
    }
}
