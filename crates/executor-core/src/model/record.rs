//! One task as the index knows it, and the changes and queries made of it.

use std::time::Duration;

use super::agent_stats::AgentStats;
use super::id::TaskId;
use super::kinds::{ExecutorType, TaskStatus, TaskType, WebhookState};
use super::spec::{Payload, TaskSpec};
use super::timestamp::Timestamp;
use super::worktree::Worktree;

/// Characters of a prompt or command kept in the index for listings.
pub const SUMMARY_CHARS: usize = 120;

/// One task as the index knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRecord {
    pub id: TaskId,
    pub executor: String,
    pub executor_type: ExecutorType,
    pub task_type: TaskType,
    pub status: TaskStatus,
    pub reason: Option<String>,
    pub pid: Option<u32>,
    pub runner_pid: Option<u32>,
    /// Identity of the runner process beyond its pid (boot id and start time), against pid reuse.
    pub runner_start: Option<String>,
    pub created_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    pub exit_code: Option<i32>,
    pub workspace: String,
    /// The first characters of the prompt or command.
    pub summary: String,
    pub max_turns: Option<u32>,
    pub session_id: Option<String>,
    pub webhook_state: Option<WebhookState>,
    pub webhook_attempts: u32,
    pub webhook_error: Option<String>,
    /// What an agent has done, parsed from its stream.
    pub agent: Option<AgentStats>,
    /// The task this one follows up (`start --resume`).
    pub parent_id: Option<TaskId>,
    /// Higher runs first when tasks wait for a slot.
    pub priority: i32,
    /// When the task got its slot (its launch began).
    pub claimed_at: Option<Timestamp>,
    /// The model asked for (`--model`); the stream's own word is in the stats.
    pub model: Option<String>,
    /// An agent task is killed once its cost passes this (USD).
    pub max_budget_usd: Option<f64>,
    /// The task's own git worktree and branch (`--worktree`), with its result once ended.
    pub worktree: Option<Worktree>,
    /// The fan-out group the task belongs to (`start --fanout`).
    pub group_id: Option<String>,
}

impl TaskRecord {
    /// A task about to be dispatched: queued, nothing run yet.
    pub fn new(id: TaskId, spec: &TaskSpec, executor_type: ExecutorType) -> Self {
        let (max_turns, session_id) = match &spec.payload {
            Payload::Agent {
                max_turns, session, ..
            } => (Some(*max_turns), Some(session.id())),
            Payload::ShellCommand { .. } => (None, None),
        };
        Self {
            id,
            executor: spec.executor.clone(),
            executor_type,
            task_type: spec.payload.task_type(),
            status: TaskStatus::Queued,
            reason: None,
            pid: None,
            runner_pid: None,
            runner_start: None,
            created_at: Timestamp::now(),
            started_at: None,
            ended_at: None,
            exit_code: None,
            workspace: spec.workspace.clone(),
            summary: summarize(spec.payload.text()),
            max_turns,
            session_id,
            webhook_state: None,
            webhook_attempts: 0,
            webhook_error: None,
            agent: None,
            parent_id: spec.parent,
            priority: spec.priority,
            claimed_at: None,
            model: spec.payload.model().map(str::to_owned),
            max_budget_usd: spec.payload.max_budget_usd(),
            worktree: None,
            group_id: spec.group.clone(),
        }
    }

    /// Agent stats of an agent task (empty for one that has said nothing yet);
    /// `None` for a shell task.
    pub fn agent_stats(&self) -> Option<std::borrow::Cow<'_, AgentStats>> {
        self.task_type.agent()?;
        Some(match &self.agent {
            Some(stats) => std::borrow::Cow::Borrowed(stats),
            None => std::borrow::Cow::Owned(AgentStats::default()),
        })
    }

    /// How long the task has been silent at `now`, if it counts as stalled.
    pub fn stalled_for(&self, timeout: Duration, now: jiff::Timestamp) -> Option<Duration> {
        let stats = self.agent_stats()?;
        stalled_for(
            self.task_type,
            self.status,
            self.started_at.as_ref().map(Timestamp::as_str),
            &stats,
            timeout,
            now,
        )
    }

    /// Applies a terminal (or live) status change to this copy.
    pub fn apply(&mut self, update: &StatusUpdate) {
        self.status = update.status;
        self.pid = update.pid.or(self.pid);
        self.exit_code = update.exit_code;
        self.ended_at = update.ended_at.clone();
        self.reason = update.reason.clone();
        if let (Some(worktree), Some(result)) = (self.worktree.as_mut(), &update.result) {
            worktree.result = Some(result.clone());
        }
    }
}

/// How long a live agent task has been silent at `now`, if at least `timeout`.
/// Silence counts from the agent's last output, or from its start.
pub fn stalled_for(
    task_type: TaskType,
    status: TaskStatus,
    started_at: Option<&str>,
    stats: &AgentStats,
    timeout: Duration,
    now: jiff::Timestamp,
) -> Option<Duration> {
    // Only a running agent can stall: time in a scheduler's queue is no silence.
    if task_type.agent().is_none() || status != TaskStatus::Running {
        return None;
    }
    let since: jiff::Timestamp = stats
        .last_activity
        .as_deref()
        .or(started_at)?
        .parse()
        .ok()?;
    let quiet = Duration::from_secs((now.as_second() - since.as_second()).max(0) as u64);
    (quiet >= timeout).then_some(quiet)
}

/// Shortens a prompt or command to one line for the index.
pub fn summarize(text: &str) -> String {
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(SUMMARY_CHARS)
        .collect();
    one_line.trim().to_owned()
}

/// Which tasks a listing shows.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<TaskStatus>,
    pub executor: Option<String>,
    /// Only the tasks of one fan-out group.
    pub group: Option<String>,
}

/// The fields a status change writes.
#[derive(Debug, Clone)]
pub struct StatusUpdate {
    pub status: TaskStatus,
    pub pid: Option<u32>,
    pub exit_code: Option<i32>,
    pub ended_at: Option<Timestamp>,
    pub reason: Option<String>,
    /// What the runner recorded of a worktree task's work (`result.json`).
    pub result: Option<super::worktree::WorkResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn stall_counts_from_the_last_output_of_a_running_agent() {
        let stats = AgentStats {
            last_activity: Some("2026-01-01T00:01:00Z".into()),
            ..AgentStats::default()
        };
        let rule = |status, now| {
            stalled_for(
                TaskType::ClaudeCode,
                status,
                Some("2026-01-01T00:00:00Z"),
                &stats,
                Duration::from_secs(60),
                at(now),
            )
        };
        assert_eq!(
            rule(TaskStatus::Running, "2026-01-01T00:02:30Z"),
            Some(Duration::from_secs(90))
        );
        assert_eq!(rule(TaskStatus::Running, "2026-01-01T00:01:30Z"), None);
        assert_eq!(rule(TaskStatus::Pending, "2026-01-01T00:09:00Z"), None);
        let shell = stalled_for(
            TaskType::ShellCommand,
            TaskStatus::Running,
            Some("2026-01-01T00:00:00Z"),
            &AgentStats::default(),
            Duration::ZERO,
            at("2026-01-01T01:00:00Z"),
        );
        assert_eq!(shell, None);
    }
}
