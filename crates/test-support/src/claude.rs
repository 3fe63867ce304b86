//! Where the pinned Claude Code CLI is, and what a test needs to run it.

use std::path::PathBuf;

/// The version `scripts/test` installs.
pub const PINNED_VERSION: &str = "2.1.197";

/// The real `claude` binary, from `OPENCLAW_TEST_CLAUDE` (set by `scripts/test`).
///
/// In CI (`CI=true`) a missing binary fails the test; elsewhere the test is
/// skipped with a message saying how to get it.
pub fn claude_binary() -> Option<PathBuf> {
    let found = std::env::var_os("OPENCLAW_TEST_CLAUDE")
        .map(PathBuf::from)
        .filter(|p| p.is_file());
    if found.is_none() {
        let message = format!(
            "the real Claude Code CLI is missing: run `scripts/test` (it installs \
             @anthropic-ai/claude-code@{PINNED_VERSION}) or set OPENCLAW_TEST_CLAUDE"
        );
        crate::missing(&message);
    }
    found
}

/// Environment that points claude at `mock` and keeps it off the network.
pub fn claude_env(mock_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("ANTHROPIC_BASE_URL", mock_url.to_owned()),
        ("ANTHROPIC_API_KEY", "sk-test-dummy".to_owned()),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
        ("DISABLE_TELEMETRY", "1".to_owned()),
        ("DISABLE_AUTOUPDATER", "1".to_owned()),
    ]
}
