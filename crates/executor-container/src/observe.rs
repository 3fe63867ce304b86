//! What the engine says about the task containers, merged with what their task
//! dirs say into the runner's observation.

use std::collections::HashMap;
use std::ffi::OsString;

use executor_core::TaskRecord;
use executor_core::executor::ExecutorError;
use executor_core::runner::{ExitRecord, RunnerObservation};

use crate::ContainerExecutor;
use crate::config::ContainerRuntime;
use crate::engine::{self, Call};
use crate::state::{ContainerState, INSPECT_FORMAT};

/// Containers per `inspect` call, to stay far below the argv limit.
const INSPECT_BATCH: usize = 200;
/// The file conmon (Podman's monitor) creates in its working directory when the
/// kernel OOM-kills a process of the container; `start` runs in the task dir.
const PODMAN_OOM_FILE: &str = "oom";

impl ContainerExecutor {
    /// Reads the engine's state of the given containers, in one call per batch;
    /// containers that do not exist are simply absent from the answer.
    pub(crate) fn inspect(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, ContainerState>, ExecutorError> {
        let mut states = HashMap::new();
        for batch in names.chunks(INSPECT_BATCH) {
            let mut args: Vec<OsString> = vec![
                "container".into(),
                "inspect".into(),
                "--format".into(),
                INSPECT_FORMAT.into(),
            ];
            args.extend(batch.iter().map(OsString::from));
            let answer = self.engine.call(Call {
                timeout: engine::INSPECT,
                ..Call::new(args)
            })?;
            if !answer.success {
                // Missing containers make the call fail; anything else is a real error.
                let other = answer
                    .stderr
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty() && !l.starts_with("WARN["))
                    .find(|l| !engine::is_no_such_container(l));
                if other.is_some() {
                    return Err(self.engine.error(&answer.message()));
                }
            }
            for state in answer.text().lines().filter_map(ContainerState::parse) {
                states.insert(state.name.clone(), state);
            }
        }
        Ok(states)
    }

    pub(crate) fn observe_one(
        &self,
        task: &TaskRecord,
        state: Option<&ContainerState>,
    ) -> RunnerObservation {
        let dir = self.dir(&task.id);
        // A container of that name that is not the one launched is not this task's.
        let state = state.filter(|s| {
            task.runner_start
                .as_deref()
                .is_none_or(|launched| s.id.starts_with(launched) || launched.starts_with(&s.id))
        });
        // Liveness (asked of the engine before this call) first, records second.
        let runner_alive = state.is_some_and(ContainerState::runner_alive);
        let mut observation = RunnerObservation::read_task_dir(&dir, runner_alive);
        if task.task_type.agent().is_some() {
            observation.read_agent_usage(&dir);
        }
        if runner_alive {
            // The runner has written its record and is about to exit: the task ends
            // with its container, once the engine's verdict (OOM) is in.
            observation.exit = None;
        }
        let Some(state) = state.filter(|s| s.has_stopped()) else {
            return observation;
        };
        // The runner could not write its record (killed with the container, out of
        // memory): the engine's exit code is the best truth there is.
        if observation.exit.is_none() {
            observation.exit = Some(ExitRecord {
                exit_code: state.exit_code,
                ended_at: state.finished_at.clone(),
            });
        }
        let oom = state.oom_killed
            || (self.settings.runtime == ContainerRuntime::Podman
                && dir.join(PODMAN_OOM_FILE).exists());
        if oom && observation.kill_reason.is_none() {
            // RunnerObservation has no failure reason yet; the kill reason is the
            // one way to say why the task ended (it then shows as `killed`).
            observation.kill_reason = Some(format!(
                "out of memory: {} OOM-killed the task's container",
                self.engine.program()
            ));
        }
        observation
    }
}
