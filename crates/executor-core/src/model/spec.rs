//! What a task runs, before it has an id.

use super::id::TaskId;
use super::kinds::TaskType;

/// What a task runs, with everything needed to start it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    ClaudeCode {
        prompt: String,
        max_turns: u32,
        claude_path: String,
        session_id: uuid::Uuid,
        /// Continue the existing session `session_id` instead of starting it.
        resume: bool,
    },
    ShellCommand {
        command: String,
    },
}

impl Payload {
    pub fn task_type(&self) -> TaskType {
        match self {
            Self::ClaudeCode { .. } => TaskType::ClaudeCode,
            Self::ShellCommand { .. } => TaskType::ShellCommand,
        }
    }

    /// The prompt or command, as the user gave it.
    pub fn text(&self) -> &str {
        match self {
            Self::ClaudeCode { prompt, .. } => prompt,
            Self::ShellCommand { command } => command,
        }
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
