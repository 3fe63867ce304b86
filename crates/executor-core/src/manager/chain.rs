//! Follow-ups: resuming an agent's session in a new task, and the chain of
//! tasks that one session runs through.

use super::{TaskError, TaskManager};
use crate::executor::AgentLaunch;
use crate::model::{AgentSession, Payload, TaskRecord, TaskSpec, WorktreeRequest};

/// Longest chain walked either way (a guard against a cycle in a damaged index).
const MAX_CHAIN: usize = 1000;

impl TaskManager {
    /// A follow-up of an agent task: the same session, executor and workspace.
    pub fn resume_spec(
        &self,
        parent: &TaskRecord,
        prompt: String,
        max_turns: Option<u32>,
        max_budget_usd: Option<f64>,
    ) -> Result<TaskSpec, TaskError> {
        let session = parent.task_type.agent().and_then(|agent| {
            let reported = parent.agent.as_ref().and_then(|s| s.session_id.as_deref());
            let session = agent
                .cli()
                .resume_session(parent.session_id.as_deref(), reported)?;
            Some((agent, session))
        });
        if !parent.status.is_terminal() {
            // Two agent processes must not write the same session.
            return Err(TaskError::StillLive {
                id: parent.id,
                status: parent.status,
            });
        }
        let Some((agent, session_id)) = session else {
            return Err(TaskError::NotResumable {
                id: parent.id,
                task_type: parent.task_type.as_str(),
            });
        };
        let executor = self
            .config
            .executor(&parent.executor)
            .ok_or_else(|| self.unknown_executor(&parent.executor))?;
        Ok(TaskSpec {
            priority: parent.priority,
            executor: parent.executor.clone(),
            workspace: parent.workspace.clone(),
            payload: Payload::Agent {
                agent,
                prompt,
                max_turns: max_turns
                    .or(parent.max_turns)
                    .unwrap_or(self.config.defaults.max_turns),
                program: AgentLaunch::new(&self.config, executor, agent).program,
                session: AgentSession::Resume(session_id),
                model: parent.model.clone(),
                max_budget_usd: max_budget_usd
                    .or(parent.max_budget_usd)
                    .or_else(|| self.config.budget_of(executor)),
            },
            parent: Some(parent.id),
            // A follow-up of a worktree task continues its work in a worktree
            // of its own, from where the parent's branch ended: never in the
            // user's checkout.
            worktree: parent.worktree.as_ref().map(|w| WorktreeRequest {
                base: Some(w.result.as_ref().map_or(&w.base, |r| &r.head).clone()),
                sync_from: None,
            }),
            group: None,
        })
    }

    /// The tasks before `task` in its follow-up chain (oldest first) and those after it.
    pub fn chain(
        &self,
        task: &TaskRecord,
    ) -> Result<(Vec<TaskRecord>, Vec<TaskRecord>), TaskError> {
        let mut ancestors = Vec::new();
        let mut parent = task.parent_id;
        while let Some(id) = parent {
            let Some(record) = self.store.get(&id)? else {
                break;
            };
            parent = record.parent_id;
            ancestors.insert(0, record);
            if ancestors.len() > MAX_CHAIN {
                break;
            }
        }
        let mut descendants = Vec::new();
        let mut frontier = vec![task.id];
        while let Some(id) = frontier.pop() {
            for child in self.store.children(&id)? {
                frontier.push(child.id);
                descendants.push(child);
            }
            if descendants.len() > MAX_CHAIN {
                break;
            }
        }
        Ok((ancestors, descendants))
    }
}
