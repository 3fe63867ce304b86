//! Test harness shared by the executor test suites: a fake in-memory executor
//! for tests of the task logic, a mock Anthropic Messages API on loopback that
//! the real Claude Code CLI talks to, and the location of that CLI (installed
//! by `scripts/test`).

pub mod accounts;
pub mod claude;
pub mod fake_executor;
pub mod fuzz;
pub mod mock_anthropic;
pub mod netns;
pub mod slurm;
pub mod sshd;
pub mod tmux;
pub mod webdriver;

pub use fake_executor::{Failure, Fake, FakeExecutor, FakeHost, FakeTask};
pub use mock_anthropic::{MockAnthropic, Reply, Script, Usage};

/// Reports a missing component: a failure in CI (`CI=true`), a skip elsewhere.
pub fn missing(what: &str) {
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("missing test component: {what}");
    }
    eprintln!("skipping: missing {what}");
}
