//! The task model: identifiers, payloads, statuses and the `.meta.json` document.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::agent::{AgentKind, AgentSession};

/// Version of the `.meta.json` schema; bump it when a field changes meaning.
pub const META_SCHEMA_VERSION: u32 = 1;

/// Shortest prefix accepted in place of a full task id.
pub const MIN_ID_PREFIX: usize = 4;

/// A task identifier: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(uuid::Uuid);

impl TaskId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for TaskId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::try_parse(s).map(Self)
    }
}

/// A user-supplied task id or id prefix, checked to hold only characters of a
/// hyphenated UUID so that it can never name a path outside the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskIdPrefix(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TaskIdPrefixError {
    #[error("task id `{0}` is too short: give at least {MIN_ID_PREFIX} characters")]
    TooShort(String),
    #[error("`{0}` is not a task id: ids hold only hex digits and hyphens")]
    InvalidCharacters(String),
}

impl TaskIdPrefix {
    pub fn parse(input: &str) -> Result<Self, TaskIdPrefixError> {
        let normalized = input.trim().to_ascii_lowercase();
        let shown = || input.chars().take(64).collect::<String>();
        if normalized.len() > 36
            || !normalized
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            return Err(TaskIdPrefixError::InvalidCharacters(shown()));
        }
        if normalized.len() < MIN_ID_PREFIX {
            return Err(TaskIdPrefixError::TooShort(shown()));
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Which kind of work a task runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskType {
    ClaudeCode,
    ShellCommand,
}

impl TaskType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClaudeCode => "claude_code",
            Self::ShellCommand => "shell_command",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "claude_code" => Some(Self::ClaudeCode),
            "shell_command" => Some(Self::ShellCommand),
            _ => None,
        }
    }

    /// The agent CLI a task of this type runs; `None` for shell commands.
    pub fn agent(self) -> Option<AgentKind> {
        match self {
            Self::ClaudeCode => Some(AgentKind::Claude),
            Self::ShellCommand => None,
        }
    }

    /// The task type of tasks that run `agent`.
    pub fn of_agent(agent: AgentKind) -> Self {
        match agent {
            AgentKind::Claude => Self::ClaudeCode,
        }
    }
}

/// What a task runs, with everything needed to start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A run of an agent CLI.
    Agent {
        agent: AgentKind,
        prompt: String,
        max_turns: u32,
        /// The CLI's binary on the executing side (`claude_path` for Claude Code).
        program: String,
        session: AgentSession,
    },
    ShellCommand {
        command: String,
    },
}

impl Payload {
    pub fn task_type(&self) -> TaskType {
        match self {
            Self::Agent { agent, .. } => TaskType::of_agent(*agent),
            Self::ShellCommand { .. } => TaskType::ShellCommand,
        }
    }

    /// The agent CLI the payload runs; `None` for a shell command.
    pub fn agent(&self) -> Option<AgentKind> {
        match self {
            Self::Agent { agent, .. } => Some(*agent),
            Self::ShellCommand { .. } => None,
        }
    }

    /// The prompt or command, as the user gave it.
    pub fn text(&self) -> &str {
        match self {
            Self::Agent { prompt, .. } => prompt,
            Self::ShellCommand { command } => command,
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

/// A request to run something somewhere, before it has an id.
#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub executor: String,
    /// Higher runs first when tasks wait for a slot.
    pub priority: i32,
    pub workspace: String,
    pub payload: Payload,
    /// The task this one follows up (`start --resume`).
    pub parent: Option<TaskId>,
}

/// The `.meta.json` document of a task (documented in `docs/task-files.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskMeta {
    pub schema_version: u32,
    pub task_id: TaskId,
    pub executor: String,
    pub executor_type: String,
    pub task_type: TaskType,
    pub status: TaskStatus,
    /// Why a task failed or was lost, when the exit code alone does not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Process id of the payload, which is also its process group and session id.
    pub pid: Option<u32>,
    /// Process id of the task runner that supervises the payload.
    pub runner_pid: Option<u32>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub ended_at: Option<String>,
    pub workspace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_turns: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_task_id: Option<TaskId>,
    pub exit_code: Option<i32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_reject_path_tricks() {
        assert!(matches!(
            TaskIdPrefix::parse("../../x"),
            Err(TaskIdPrefixError::InvalidCharacters(_))
        ));
        assert!(matches!(
            TaskIdPrefix::parse("ab"),
            Err(TaskIdPrefixError::TooShort(_))
        ));
        assert_eq!(TaskIdPrefix::parse("ABCD").unwrap().as_str(), "abcd");
    }

    #[test]
    fn ids_sort_by_creation() {
        let first = TaskId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = TaskId::new();
        assert!(first.to_string() < second.to_string());
    }

    #[test]
    fn statuses_round_trip() {
        for status in TaskStatus::ALL {
            assert_eq!(TaskStatus::parse(status.as_str()), Some(status));
        }
    }
}
