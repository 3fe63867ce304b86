//! What a task runs, before it has an id.

use super::agent_kind::{AgentKind, AgentSession};
use super::id::TaskId;
use super::kinds::TaskType;
use super::worktree::WorktreeRequest;

/// What a task runs, with everything needed to start it.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A run of an agent CLI.
    Agent {
        agent: AgentKind,
        prompt: String,
        max_turns: u32,
        /// The CLI's binary on the executing side (`claude_path` for Claude Code).
        program: String,
        session: AgentSession,
        /// `--model`; `None`: the CLI's own default.
        model: Option<String>,
        /// The task is killed once its cost passes this (USD).
        max_budget_usd: Option<f64>,
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

    /// The model asked for (`--model`), for agent tasks that name one.
    pub fn model(&self) -> Option<&str> {
        match self {
            Self::Agent { model, .. } => model.as_deref(),
            Self::ShellCommand { .. } => None,
        }
    }

    /// The budget of an agent task (USD).
    pub fn max_budget_usd(&self) -> Option<f64> {
        match self {
            Self::Agent { max_budget_usd, .. } => *max_budget_usd,
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
    /// Run in a git worktree of its own (`--worktree`).
    pub worktree: Option<WorktreeRequest>,
    /// The fan-out group the task belongs to (`start --fanout`).
    pub group: Option<String>,
}
