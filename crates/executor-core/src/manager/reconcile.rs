//! Reconciliation: reading the truth of live tasks from their executors and
//! bringing the index up to date (status, agent stats, stalls, ends).

use std::collections::HashMap;
use std::time::Duration;

use super::{ReconcileReport, TaskError, TaskManager};
use crate::executor::LOG_READ_CHUNK;
use crate::model::{
    AgentKind, AgentStats, StatusUpdate, TaskId, TaskRecord, TaskStatus, Timestamp, stalled_for,
};
use crate::runner::RunnerObservation;
use crate::taskdir::{DispatchLock, Probe};

/// A task recorded as pending without a runner, whose dispatcher is gone, is
/// left alone this long when its executor cannot see a runner that started but
/// has not recorded itself yet (a remote one), or when it has no dispatch lock
/// (dispatched by an older version): the runner may still come up.
const DISPATCH_WINDOW_SECS: i64 = 30;

/// Grace period when a stalled agent is killed (`kill_on_stall`).
const STALL_KILL_GRACE: Duration = Duration::from_secs(5);

/// How the kill reasons of a passed budget and turn limit begin: such a task
/// ends `failed`, also when the CLI that killed it died before it said so.
const BUDGET_EXCEEDED: &str = "budget exceeded";
const TURNS_EXCEEDED: &str = "max turns exceeded";

/// Grace period when an agent passed its budget or turn limit.
const LIMIT_KILL_GRACE: Duration = Duration::from_secs(2);

/// Grace period for what a lost task left running (its runner is gone).
const LEFTOVER_KILL_GRACE: Duration = Duration::from_secs(2);

/// Claude Code's end when it stopped at its own `--max-budget-usd`.
const CLI_BUDGET_REACHED: &str = "error_max_budget_usd";

/// What one observation of a live task led to.
enum Applied {
    /// Still live (its changes, if any, are recorded).
    Live,
    /// Ended here and now (killed for passing a limit).
    Finished(Box<TaskRecord>),
    /// Ended: to be recorded with the round's other ends.
    Ends(StatusUpdate),
}

impl TaskManager {
    /// Reads the truth of live tasks (all, or just `only`) and updates the store.
    pub fn reconcile(&mut self, only: Option<&TaskId>) -> Result<ReconcileReport, TaskError> {
        let one = match only {
            Some(id) => self.store.get(id)?,
            None => None,
        };
        let live = match one {
            Some(task) if matches!(task.status, TaskStatus::Pending | TaskStatus::Running) => {
                vec![task]
            }
            // A queued task waits for others to end: they are what must be looked at.
            Some(task) if task.status == TaskStatus::Queued => self.store.live_tasks()?,
            Some(_) => Vec::new(),
            None if only.is_some() => Vec::new(),
            None => self.store.live_tasks()?,
        };
        self.reconcile_live(live)
    }

    /// Reconciles every live task but those in `skip` (whose ends the caller
    /// learns of otherwise: the supervisor's watched local runners).
    pub fn reconcile_skipping(
        &mut self,
        skip: &std::collections::HashSet<TaskId>,
    ) -> Result<ReconcileReport, TaskError> {
        // The live tasks are read again only when the index moved since the
        // last read (the mark is taken first: a write in between moves it
        // past the read): rounds over unchanged tasks write nothing, so a
        // supervisor's rounds need not read a thousand rows each.
        let mark = self.store.change_mark();
        let wanted = |task: &&TaskRecord| !skip.contains(&task.id);
        let live = match &self.live_cache {
            Some((cached, tasks)) if Some(*cached) == mark => {
                tasks.iter().filter(wanted).cloned().collect()
            }
            _ => {
                let tasks = self.store.live_tasks()?;
                let live = tasks.iter().filter(wanted).cloned().collect();
                self.live_cache = mark.map(|mark| (mark, tasks));
                live
            }
        };
        self.reconcile_live(live)
    }

    /// Reconciles the tasks of `ids` that are live (all live tasks when one of
    /// them is queued: what it waits for must be looked at).
    pub fn reconcile_ids(&mut self, ids: &[TaskId]) -> Result<ReconcileReport, TaskError> {
        let mut live = Vec::new();
        for id in ids {
            match self.store.get(id)? {
                Some(task) if task.status == TaskStatus::Queued => {
                    return self.reconcile(None);
                }
                Some(task) if !task.status.is_terminal() => live.push(task),
                _ => {}
            }
        }
        self.reconcile_live(live)
    }

    /// Reconciles the live tasks of the executor `name` only (one round trip
    /// to it), so that a caller can ask each host on its own: a slow host then
    /// holds up none but its own tasks (the dashboard does this).
    pub fn reconcile_executor(&mut self, name: &str) -> Result<ReconcileReport, TaskError> {
        let live = self
            .store
            .live_tasks()?
            .into_iter()
            .filter(|task| task.executor == name)
            .collect();
        self.reconcile_live(live)
    }

    /// Observes `live` (one round trip per executor) and applies what was seen.
    fn reconcile_live(&mut self, live: Vec<TaskRecord>) -> Result<ReconcileReport, TaskError> {
        let mut report = ReconcileReport::default();
        let mut by_executor: HashMap<String, Vec<TaskRecord>> = HashMap::new();
        // Dispatch locks of abandoned launches, held until they are requeued.
        let mut locks = Vec::new();
        for task in live {
            if task.runner_pid.is_none() {
                match self.abandoned_dispatch(&task) {
                    Some(lock) => locks.extend(lock),
                    None => continue,
                }
            }
            by_executor
                .entry(task.executor.clone())
                .or_default()
                .push(task);
        }
        let mut observable = Vec::new();
        for (name, tasks) in by_executor {
            match self.executor(&name) {
                Ok(_) => observable.extend(tasks),
                // An executor removed from the config can no longer be asked; keep its tasks as they are.
                Err(TaskError::UnknownExecutor { .. }) => continue,
                Err(err) => return Err(err),
            }
        }
        // Every host at once: a round over the fleet lasts one round trip.
        let observed =
            self.on_each_executor(&observable, |executor, tasks| executor.observe(tasks));
        // The ends seen, recorded together after the loop.
        let mut ends: Vec<(&TaskRecord, StatusUpdate)> = Vec::new();
        for (tasks, observations) in observed {
            let observations = match observations {
                Ok(observations) => observations,
                Err(TaskError::Executor(err)) => {
                    report.unreachable.push(err);
                    continue;
                }
                Err(err) => return Err(err),
            };
            for (task, observation) in tasks.iter().zip(observations) {
                // A launch interrupted before its runner started (the dispatching
                // process died): the task goes back to the queue, to start once.
                if task.runner_pid.is_none()
                    && !observation.runner_started
                    && !observation.runner_alive
                    && observation.exit.is_none()
                    && self.store.requeue(&task.id)?
                {
                    continue;
                }
                match self.apply(task, &observation) {
                    Ok(Applied::Finished(done)) => report.finished.push(*done),
                    Ok(Applied::Ends(update)) => ends.push((*task, update)),
                    Ok(Applied::Live) => {}
                    // A host that cannot be reached for one task's step (a stall
                    // kill, say) is retried next time, like a failed observe;
                    // the other tasks are served meanwhile.
                    Err(TaskError::Executor(err)) if err.is_transient() => {
                        report.unreachable.push(err);
                    }
                    Err(err) => return Err(err),
                }
            }
        }
        let ids: Vec<(TaskId, StatusUpdate)> = ends
            .iter()
            .map(|(task, update)| (task.id, update.clone()))
            .collect();
        for finished in self.finish_many(&ids)? {
            if finished.status == TaskStatus::Lost
                && let Some((task, _)) = ends.iter().find(|(task, _)| task.id == finished.id)
            {
                self.end_leftovers(task);
            }
            report.finished.push(finished);
        }
        drop(locks);
        // Slots may have freed: start what waits for them.
        if self.store.has_queued()? {
            self.dispatch_queued(&mut report)?;
        }
        Ok(report)
    }

    /// For a task `pending` without a recorded runner: `None` while its
    /// dispatch may still be under way; else the task's dispatch lock (when it
    /// has one), held so that nobody launches it while it is looked at.
    pub(super) fn abandoned_dispatch(&mut self, task: &TaskRecord) -> Option<Option<DispatchLock>> {
        let claimed = task.claimed_at.as_ref().unwrap_or(&task.created_at);
        let window_passed = claimed.seconds_since().unwrap_or(0) >= DISPATCH_WINDOW_SECS;
        // With its dispatcher gone, a runner it started just before dying is
        // seen by executors that see runners before they record themselves.
        let sees_runners = self
            .executor(&task.executor)
            .is_ok_and(|e| e.sees_unrecorded_runners());
        match self.dirs.try_lock(&task.id, false) {
            Ok(Probe::Held) => None,
            Ok(Probe::Taken(lock)) => (sees_runners || window_passed).then_some(Some(lock)),
            Ok(Probe::Absent) if !self.dirs.exists(&task.id) => {
                (sees_runners || window_passed).then_some(None)
            }
            Ok(Probe::Absent) | Err(_) => window_passed.then_some(None),
        }
    }

    /// A lost task's payload may run on without its runner: once the task is
    /// recorded as lost, whatever of it still runs is ended. Best effort: a
    /// host that cannot be reached now leaves them to `kill` and `cleanup`,
    /// which look again.
    fn end_leftovers(&mut self, task: &TaskRecord) {
        let Ok(executor) = self.executor(&task.executor) else {
            return;
        };
        if executor.has_live_processes(task).unwrap_or(false) {
            let _ = executor.kill(
                task,
                LEFTOVER_KILL_GRACE,
                "the task runner was gone; its remaining processes were ended",
            );
        }
    }

    fn apply(
        &mut self,
        task: &TaskRecord,
        observation: &RunnerObservation,
    ) -> Result<Applied, TaskError> {
        let mut state = observation.state();
        if state.status == TaskStatus::Killed
            && state
                .reason
                .as_deref()
                .is_some_and(|r| r.starts_with(BUDGET_EXCEEDED) || r.starts_with(TURNS_EXCEEDED))
        {
            state.status = TaskStatus::Failed;
        }
        if let Some(agent) = task.task_type.agent() {
            let stats = match self.update_agent(task, agent, observation) {
                Ok(stats) => stats,
                // Stats are a view of the log; a link drop only delays them.
                Err(TaskError::Executor(err)) if err.is_transient() => {
                    task.agent.clone().unwrap_or_default()
                }
                Err(err) => return Err(err),
            };
            // The agent's own verdict (e.g. error_max_turns) says more than its
            // exit code; a budget passed says more than that (CLIs that report
            // usage only at the end of their run are judged then).
            if matches!(state.status, TaskStatus::Completed | TaskStatus::Failed)
                && let Some(reason) = self
                    .budget_passed(task, &stats)
                    .or_else(|| stats.failure_reason())
            {
                state.status = TaskStatus::Failed;
                state.reason = Some(reason);
            }
            if state.status == TaskStatus::Running
                && let Some(reason) = self.limit_passed(task, agent, &stats)
            {
                // Killed with a reason that makes the task end `failed`.
                self.executor(&task.executor)?
                    .kill(task, LIMIT_KILL_GRACE, &reason)?;
                let update = StatusUpdate {
                    status: TaskStatus::Failed,
                    pid: None,
                    exit_code: None,
                    ended_at: Some(Timestamp::now()),
                    reason: Some(reason),
                    result: observation.result.clone(),
                };
                return Ok(self
                    .finish(&task.id, &update)?
                    .map_or(Applied::Live, |done| Applied::Finished(Box::new(done))));
            }
            if state.status == TaskStatus::Running
                && self.config.defaults.kill_on_stall
                && let Some(quiet) = self.stalled_for(task, &stats)
            {
                let reason = format!("stalled: no agent activity for {}s", quiet.as_secs());
                self.executor(&task.executor)?
                    .kill(task, STALL_KILL_GRACE, &reason)?;
                return Ok(Applied::Live);
            }
        }
        let update = StatusUpdate {
            status: state.status,
            pid: state.pid,
            exit_code: state.exit_code,
            ended_at: state.ended_at.map(Timestamp::from),
            reason: state.reason,
            result: observation.result.clone(),
        };
        let mut update = update;
        if update.status.is_terminal() && update.result.is_none() && task.worktree.is_some() {
            update.result = self.read_work_result(task);
        }
        if update.status.is_terminal() {
            return Ok(Applied::Ends(update));
        }
        // A launched runner that has not yet written task.pid is still running,
        // unless it waits in a scheduler's queue.
        if update.status == TaskStatus::Pending
            && task.status == TaskStatus::Running
            && !observation.queued
        {
            return Ok(Applied::Live);
        }
        // Most refreshes find live tasks as they were: no write at all then.
        let unchanged =
            update.status == task.status && update.pid.is_none_or(|p| task.pid == Some(p));
        if !unchanged && self.store.update_live(&task.id, &update)? {
            self.write_meta(&task.id)?;
        }
        Ok(Applied::Live)
    }

    /// Counts the agent's new log lines into its stats, stored in the index.
    fn update_agent(
        &mut self,
        task: &TaskRecord,
        agent: AgentKind,
        observation: &RunnerObservation,
    ) -> Result<AgentStats, TaskError> {
        let agent = agent.cli();
        let mut stats = task.agent.clone().unwrap_or_default();
        let before = stats.clone();
        let mut seen = 0;
        if let Some(delta) = &observation.log_delta {
            seen += stats.feed(agent, delta);
        }
        if observation
            .log_size
            .is_some_and(|size| size > stats.parsed_offset)
        {
            let executor = self.executor(&task.executor)?;
            loop {
                let chunk = executor.read_log(task, stats.parsed_offset)?;
                let consumed = stats.parsed_offset;
                seen += stats.feed(agent, &chunk.bytes);
                if stats.parsed_offset == consumed {
                    if chunk.bytes.len() < LOG_READ_CHUNK {
                        break;
                    }
                    // A single line longer than a chunk cannot be a record worth counting.
                    stats.parsed_offset += chunk.bytes.len() as u64;
                }
            }
        }
        // Only records of the agent's stream are signs of life: bytes that
        // are none (keep-alives, spinners, stderr noise) cannot hide a hang.
        // Events are timed by the log's last write when they were read (at
        // most one refresh late), or by now when the executor cannot say.
        if seen > 0 {
            stats.last_activity = Some(
                observation
                    .log_modified
                    .clone()
                    .unwrap_or_else(|| Timestamp::now().as_str().to_owned()),
            );
        }
        if let Some(usage) = observation
            .agent_usage
            .as_deref()
            .and_then(|watched| agent.running_usage(watched))
        {
            stats.raise_to(usage);
        }
        // A CLI that reports its cost only at the end (Claude Code) is
        // priced from the table until then: its budget holds mid-run too.
        if !agent.reports_cost() || stats.cost_estimated || stats.total_cost_usd.is_none() {
            let model = stats.model.as_deref().or(task.model.as_deref());
            if let Some(cost) = model.and_then(|m| self.config.prices.estimate(m, &stats)) {
                stats.total_cost_usd = Some(cost);
                stats.cost_estimated = true;
            }
        }
        if stats != before {
            self.store.set_agent(&task.id, &stats)?;
        }
        Ok(stats)
    }

    /// Why a running agent must be ended now: its cost passed the task's
    /// budget, or (for CLIs with no turn limit of their own) its tool calls
    /// passed the task's `--max-turns`.
    fn limit_passed(
        &self,
        task: &TaskRecord,
        agent: AgentKind,
        stats: &AgentStats,
    ) -> Option<String> {
        if let Some(reason) = self.budget_passed(task, stats) {
            return Some(reason);
        }
        match task.max_turns {
            Some(limit) if !agent.cli().limits_turns() && stats.tool_calls > u64::from(limit) => {
                Some(format!("{TURNS_EXCEEDED} ({limit})"))
            }
            _ => None,
        }
    }

    /// The cost passed the budget, or the CLI stopped at the budget itself
    /// (Claude Code's `error_max_budget_usd`, from its own price table).
    fn budget_passed(&self, task: &TaskRecord, stats: &AgentStats) -> Option<String> {
        let budget = task.max_budget_usd?;
        let passed = stats.total_cost_usd.is_some_and(|cost| cost > budget)
            || stats.result_subtype.as_deref() == Some(CLI_BUDGET_REACHED);
        passed.then(|| format!("{BUDGET_EXCEEDED} (${budget})"))
    }

    fn stalled_for(&self, task: &TaskRecord, stats: &AgentStats) -> Option<Duration> {
        stalled_for(
            task.task_type,
            task.status,
            task.started_at.as_ref().map(Timestamp::as_str),
            stats,
            self.config.defaults.stall_timeout,
            jiff::Timestamp::now(),
        )
    }
}
