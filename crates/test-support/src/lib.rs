//! Test harness shared by the executor test suites: a mock Anthropic Messages
//! API on loopback that the real Claude Code CLI talks to, and the location of
//! that CLI (installed by `scripts/test`).

pub mod claude;
pub mod mock_anthropic;

pub use mock_anthropic::{MockAnthropic, Reply, Script, Usage};
