//! What `start` and `run` ask for, checked and turned into a [`TaskSpec`]:
//! one code path for the CLI and the HTTP API, so both validate alike.

use std::collections::HashMap;

use super::{TaskError, TaskManager};
use crate::config::Isolation;
use crate::executor::AgentLaunch;
use crate::model::{AgentKind, AgentSession, Payload, TaskSpec, WorktreeRequest};

/// Where a new task runs: a named executor, or one carrying every label.
#[derive(Debug, Clone, Default)]
pub struct Placement {
    pub executor: Option<String>,
    pub labels: Vec<String>,
    /// Empty: the executor's default workspace.
    pub workspace: Option<String>,
    pub priority: i32,
}

/// A task to dispatch, as a user asked for it.
#[derive(Debug, Clone)]
pub enum DispatchRequest {
    /// `start`: an agent task (or, with `resume`, a follow-up of one).
    Agent {
        prompt: String,
        max_turns: Option<u32>,
        resume: Option<String>,
        placement: Placement,
        /// The agent CLI; `None`: the executor's `agent:`, else `defaults.agent`.
        /// With labels, only executors that have it are chosen.
        agent: Option<AgentKind>,
        model: Option<String>,
        /// `None`: the executor's `max_budget_usd`, else the defaults'.
        max_budget_usd: Option<f64>,
    },
    /// `run`: a shell command.
    Shell {
        command: String,
        placement: Placement,
    },
}

impl TaskManager {
    /// Checks `request` and builds the spec to [`dispatch`](Self::dispatch).
    pub fn spec_for(&self, request: DispatchRequest) -> Result<TaskSpec, TaskError> {
        self.spec_for_planned(request, &HashMap::new())
    }

    /// [`spec_for`](Self::spec_for) for a task of a batch: routing by labels
    /// counts `planned` tasks (the batch's, routed before) as live where they go.
    pub fn spec_for_planned(
        &self,
        request: DispatchRequest,
        planned: &HashMap<String, u64>,
    ) -> Result<TaskSpec, TaskError> {
        let invalid = |message: &str| Err(TaskError::InvalidRequest(message.to_owned()));
        match request {
            DispatchRequest::Agent {
                prompt,
                max_turns,
                resume,
                placement,
                agent,
                model,
                max_budget_usd,
            } => {
                if prompt.trim().is_empty() {
                    return invalid("the prompt is empty");
                }
                if max_turns == Some(0) {
                    return invalid("max_turns must be at least 1");
                }
                if max_budget_usd.is_some_and(|b| !(b.is_finite() && b > 0.0)) {
                    return invalid("max_budget_usd must be a number of USD above 0");
                }
                if let Some(parent) = resume {
                    if placement.executor.is_some()
                        || placement.workspace.is_some()
                        || !placement.labels.is_empty()
                    {
                        return invalid(
                            "a resumed task runs where its parent ran: give no executor, workspace or label",
                        );
                    }
                    if agent.is_some() || model.is_some() {
                        return invalid(
                            "a resumed task continues its parent's agent and model: give neither",
                        );
                    }
                    let parent = self.resolve(&parent)?;
                    return self.resume_spec(&parent, prompt, max_turns, max_budget_usd);
                }
                let name = self.place(&placement, agent, planned)?;
                let executor = self
                    .config
                    .executor(&name)
                    .ok_or_else(|| self.unknown_executor(&name))?;
                let agent = agent.unwrap_or_else(|| self.config.agent_of(executor));
                if !self.config.has_agent(executor, agent) {
                    return Err(TaskError::InvalidRequest(format!(
                        "executor `{name}` does not have the agent `{agent}` (see its `agents:`)"
                    )));
                }
                let payload = Payload::Agent {
                    agent,
                    prompt,
                    max_turns: max_turns.unwrap_or(self.config.defaults.max_turns),
                    program: AgentLaunch::new(&self.config, executor, agent).program,
                    session: AgentSession::New(uuid::Uuid::new_v4()),
                    model,
                    max_budget_usd: max_budget_usd.or_else(|| self.config.budget_of(executor)),
                };
                Ok(spec(name, placement, payload))
            }
            DispatchRequest::Shell { command, placement } => {
                if command.trim().is_empty() {
                    return invalid("the command is empty");
                }
                let name = self.place(&placement, None, planned)?;
                Ok(spec(name, placement, Payload::ShellCommand { command }))
            }
        }
    }

    /// The executor named, or the one the labels route to (among those that
    /// have `agent`, when one is asked for).
    fn place(
        &self,
        placement: &Placement,
        agent: Option<AgentKind>,
        planned: &HashMap<String, u64>,
    ) -> Result<String, TaskError> {
        match (&placement.executor, placement.labels.is_empty()) {
            (Some(_), false) => Err(TaskError::InvalidRequest(
                "give an executor or labels, not both".to_owned(),
            )),
            (Some(name), true) => Ok(name.clone()),
            (None, false) => self.route_with(&placement.labels, agent, planned),
            (None, true) => Err(TaskError::InvalidRequest(
                "give an executor or labels".to_owned(),
            )),
        }
    }
}

/// An empty workspace means the executor's default: the current directory for
/// `local`, the remote home for `ssh`, the image's working directory for containers.
fn spec(executor: String, placement: Placement, payload: Payload) -> TaskSpec {
    TaskSpec {
        executor,
        priority: placement.priority,
        workspace: placement.workspace.unwrap_or_default(),
        payload,
        parent: None,
        worktree: None,
        group: None,
    }
}

/// How a user asked for isolation (`--worktree`, `--no-worktree`, `--sync`,
/// `--base`); what is not asked comes from the executor's `isolation` and `sync`.
#[derive(Debug, Clone, Default)]
pub struct IsolationChoice {
    pub worktree: bool,
    pub no_worktree: bool,
    pub sync: bool,
    pub base: Option<String>,
}

impl TaskManager {
    /// The worktree `spec` gets: asked for, forced (a fan-out), or else the
    /// executor's `isolation`, then the defaults'. `sync_here` is the
    /// repository a `--sync` ships from when the executor is not local (the
    /// CLI's current directory); without one such a sync is refused, as a
    /// server has no checkout of the user's to ship.
    pub fn worktree_for(
        &self,
        spec: &TaskSpec,
        choice: &IsolationChoice,
        forced: bool,
        sync_here: Option<&std::path::Path>,
    ) -> Result<Option<WorktreeRequest>, TaskError> {
        let config = self
            .config
            .executor(&spec.executor)
            .ok_or_else(|| TaskError::unknown_executor(&self.config, &spec.executor))?;
        let wanted = if choice.worktree || choice.sync || forced {
            true
        } else if choice.no_worktree {
            false
        } else {
            self.config.isolation(config) == Isolation::Worktree
        };
        if !wanted && choice.base.is_some() {
            return Err(TaskError::InvalidRequest(
                "--base needs --worktree (or `isolation: worktree` in the config)".to_owned(),
            ));
        }
        if !wanted {
            return Ok(None);
        }
        let sync_from = match choice.sync || config.sync {
            false => None,
            true if config.settings.is_local() && !spec.workspace.is_empty() => {
                Some(spec.workspace.clone().into())
            }
            true => Some(sync_here.map(std::path::Path::to_path_buf).ok_or_else(|| {
                TaskError::InvalidRequest(format!(
                    "--sync to `{}` ships the repository from the dispatching machine: \
                     dispatch it with the CLI from the checkout",
                    spec.executor
                ))
            })?),
        };
        Ok(Some(WorktreeRequest {
            base: choice.base.clone(),
            sync_from,
        }))
    }
}
