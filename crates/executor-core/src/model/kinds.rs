//! What a task is described by: its kind, its lifecycle state, the type of
//! executor it runs on and the delivery state of its webhook. Each is stored
//! and shown as the same lowercase text it always was.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::agent_kind::AgentKind;

/// Which kind of work a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    ClaudeCode,
    Codex,
    Gemini,
    Opencode,
    ShellCommand,
}

impl TaskType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude_code",
            Self::Codex => "codex",
            Self::Gemini => "gemini",
            Self::Opencode => "opencode",
            Self::ShellCommand => "shell_command",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "claude_code" => Some(Self::ClaudeCode),
            "codex" => Some(Self::Codex),
            "gemini" => Some(Self::Gemini),
            "opencode" => Some(Self::Opencode),
            "shell_command" => Some(Self::ShellCommand),
            _ => None,
        }
    }

    /// The agent CLI a task of this type runs; `None` for shell commands.
    pub fn agent(self) -> Option<AgentKind> {
        match self {
            Self::ClaudeCode => Some(AgentKind::Claude),
            Self::Codex => Some(AgentKind::Codex),
            Self::Gemini => Some(AgentKind::Gemini),
            Self::Opencode => Some(AgentKind::Opencode),
            Self::ShellCommand => None,
        }
    }

    /// The task type of tasks that run `agent`.
    pub fn of_agent(agent: AgentKind) -> Self {
        match agent {
            AgentKind::Claude => Self::ClaudeCode,
            AgentKind::Codex => Self::Codex,
            AgentKind::Gemini => Self::Gemini,
            AgentKind::Opencode => Self::Opencode,
        }
    }

    /// The name of the file (and `.meta.json` key) holding the task's text.
    pub fn text_key(self) -> &'static str {
        match self {
            Self::ShellCommand => "command",
            _ => "prompt",
        }
    }
}

/// Lifecycle state of a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Waiting for a free slot on its executor (`max_concurrent`).
    Queued,
    Pending,
    Running,
    Completed,
    Failed,
    Killed,
    Lost,
}

impl TaskStatus {
    pub const ALL: [TaskStatus; 7] = [
        Self::Queued,
        Self::Pending,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Killed,
        Self::Lost,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Killed => "killed",
            Self::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }

    pub fn is_terminal(self) -> bool {
        !matches!(self, Self::Queued | Self::Pending | Self::Running)
    }

    /// Whether a terminal status counts as success in completion records.
    pub fn is_success(self) -> bool {
        self == Self::Completed
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The type of executor a task runs on (`type:` in the config): `local`, or
/// the type a backend crate declares for its settings. An open set: the core
/// knows `local` only, backends add theirs, and a task keeps the type it was
/// dispatched with even when that backend is no longer built in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ExecutorType(Cow<'static, str>);

impl ExecutorType {
    pub const LOCAL: Self = Self::from_static("local");

    /// A type a backend declares.
    pub const fn from_static(kind: &'static str) -> Self {
        Self(Cow::Borrowed(kind))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for ExecutorType {
    fn from(kind: String) -> Self {
        Self(Cow::Owned(kind))
    }
}

impl fmt::Display for ExecutorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where the announcement of an ended task stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookState {
    /// Waiting for (another) delivery attempt.
    Pending,
    Delivered,
    /// Given up after the last attempt.
    Failed,
}

impl WebhookState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed]
            .into_iter()
            .find(|state| state.as_str() == s)
    }
}

impl fmt::Display for WebhookState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
        }
        for kind in [ExecutorType::LOCAL, ExecutorType::from("slurm".to_owned())] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ExecutorType>(&json).unwrap(), kind);
        }
        for state in [
            WebhookState::Pending,
            WebhookState::Delivered,
            WebhookState::Failed,
        ] {
            assert_eq!(WebhookState::parse(state.as_str()), Some(state));
        }
    }
}
