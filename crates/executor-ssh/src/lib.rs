//! The SSH executor: tasks run on a remote host under the core task runner,
//! detached from the SSH session, in `task_root/<task-id>/` on the host.
//!
//! The scripts, the observe parser and the transport are the shared task-dir
//! protocol of `executor-remote` (see its `ssh::transport` for why the system
//! `ssh` client is used); this crate is the backend around them.

use std::time::Duration;

use executor_core::backend::Backend;
use executor_core::executor::{Executor, ExecutorError, LaunchSpec, Launched, LogChunk};
use executor_core::runner::RunnerObservation;
use executor_core::{AgentCheck, AgentLaunch, ExecutorCheck};
use executor_core::{ExecutorConfig, Paths, TaskId, TaskRecord};
use executor_remote::observe::read_observe;
use executor_remote::ssh::Transport;
use executor_remote::{Shell, bulk, launch, logs, scripts};

/// The `type: ssh` section and its settings: the connection keys live with
/// the transport, which Slurm's login node uses too.
pub use executor_remote::ssh::config;
/// The supervisor keeps a shell open per host (see `executor_remote::ssh`).
pub use executor_remote::ssh::keep_shells;

use crate::config::SshSettings;

/// A script's own limit here; over SSH ssh bounds every run itself.
const NO_LIMIT: Duration = Duration::MAX;

/// The SSH backend, `type: ssh`.
pub struct Ssh;

impl Backend for Ssh {
    type Section = config::SshSection;

    fn executor(
        config: &ExecutorConfig,
        settings: &SshSettings,
        _paths: &Paths,
        claude_default: &str,
    ) -> Result<Box<dyn Executor>, ExecutorError> {
        let mut executor = SshExecutor::new(config.clone(), settings.clone());
        executor.claude_default = claude_default.to_owned();
        Ok(Box::new(executor))
    }
}

pub struct SshExecutor {
    config: ExecutorConfig,
    /// The claude binary when the executor names none (`defaults.claude_path`).
    claude_default: String,
    task_root: String,
    /// Always over SSH.
    shell: Shell,
}

impl SshExecutor {
    pub fn new(config: ExecutorConfig, settings: SshSettings) -> Self {
        Self {
            claude_default: "claude".to_owned(),
            task_root: settings.task_root.clone(),
            shell: Shell::Ssh(Box::new(Transport::new(&config.name, settings))),
            config,
        }
    }

    fn dir(&self, id: &TaskId) -> String {
        format!("{}/{id}", self.task_root)
    }

    /// Runs a script and turns a non-zero exit into the script's own one-line error.
    fn run(&self, script: &str, idempotent: bool) -> Result<Vec<u8>, ExecutorError> {
        self.shell
            .stdout(&self.config.name, script, idempotent, NO_LIMIT)
    }

    /// The runner's pid and identity, from the fields of a `LAUNCHED` line.
    fn launched(&self, fields: &str) -> Result<Launched, ExecutorError> {
        let mut fields = fields.split_whitespace();
        let runner_pid = fields.next().and_then(|p| p.parse().ok()).ok_or_else(|| {
            ExecutorError::failed(&self.config.name, "the host reported no runner pid")
        })?;
        let runner_start = fields.next().filter(|s| s.len() > 2).map(str::to_owned);
        Ok(Launched {
            runner_pid,
            runner_start,
        })
    }

    fn procs<'a>(&self, tasks: &[&'a TaskRecord]) -> Vec<bulk::TaskProcs<'a>> {
        tasks
            .iter()
            .map(|task| bulk::TaskProcs {
                dir: self.dir(&task.id),
                runner_pid: task.runner_pid,
                runner_start: task.runner_start.as_deref(),
            })
            .collect()
    }

    fn target(&self) -> String {
        self.shell.target().unwrap_or_default()
    }
}

impl Executor for SshExecutor {
    fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    fn resolve_workspace(&self, workspace: &str) -> Result<String, ExecutorError> {
        // Empty: the remote user's home. Anything else must name a path on the host.
        if workspace.is_empty() || workspace.starts_with('/') {
            return Ok(workspace.trim_end_matches('/').to_owned());
        }
        Err(ExecutorError::failed(
            &self.config.name,
            format!("workspace `{workspace}` must be an absolute path on the host"),
        ))
    }

    fn task_dir(&self, id: &TaskId) -> String {
        self.dir(id)
    }

    fn run_script(
        &self,
        script: &str,
        args: &[&str],
    ) -> Result<executor_core::ScriptOutput, ExecutorError> {
        self.shell
            .run_with_args(&self.config.name, script, args, NO_LIMIT)
    }

    fn place(&self) -> String {
        format!("host {}", self.target())
    }

    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Launched, ExecutorError> {
        self.launch_many(std::slice::from_ref(spec))
            .pop()
            .unwrap_or_else(|| Err(ExecutorError::failed(&self.config.name, "no launch")))
    }

    /// Every launch in one script: one round trip for the whole batch.
    fn launch_many(&self, specs: &[LaunchSpec<'_>]) -> Vec<Result<Launched, ExecutorError>> {
        if specs.is_empty() {
            return Vec::new();
        }
        let script = launch::script(&self.task_root, specs, self.config.keep_background);
        let stdout = match self.run(&script, true) {
            Ok(stdout) => stdout,
            Err(err) => return specs.iter().map(|_| Err(err.duplicate())).collect(),
        };
        launch::parse(&String::from_utf8_lossy(&stdout), specs.len())
            .into_iter()
            .map(|answer| match answer {
                Ok(fields) => self.launched(&fields),
                Err(message) => Err(ExecutorError::failed(&self.config.name, message)),
            })
            .collect()
    }

    fn observe(&self, tasks: &[&TaskRecord]) -> Result<Vec<RunnerObservation>, ExecutorError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = tasks.iter().map(|t| t.id.to_string()).collect();
        let probes: Vec<scripts::Probe> = tasks
            .iter()
            .zip(&ids)
            .map(|(task, id)| scripts::Probe {
                id: id.clone(),
                runner_pid: task.runner_pid,
                payload_pid: task.pid,
                // Agent logs come back in the same round trip, for the stats.
                log_offset: task
                    .task_type
                    .agent()
                    .is_some()
                    .then(|| task.agent.as_ref().map_or(0, |a| a.parsed_offset)),
            })
            .collect();
        let stdout = self.shell.read_stdout(
            &self.config.name,
            &scripts::observe(&self.task_root, &probes),
            NO_LIMIT,
        )?;
        let text = String::from_utf8_lossy(&stdout);
        let mut observations: Vec<RunnerObservation> = tasks
            .iter()
            .map(|task| RunnerObservation {
                // A runner recorded at launch has started.
                runner_started: task.runner_pid.is_some(),
                ..RunnerObservation::default()
            })
            .collect();
        read_observe(&text, &ids, &mut observations, &self.target());
        Ok(observations)
    }

    fn kill(&self, task: &TaskRecord, grace: Duration, reason: &str) -> Result<(), ExecutorError> {
        let script = scripts::kill(
            &self.dir(&task.id),
            task.runner_pid,
            task.runner_start.as_deref(),
            grace.as_secs().max(1),
            reason,
        );
        self.run(&script, true).map(|_| ())
    }

    fn kill_many(
        &self,
        tasks: &[&TaskRecord],
        grace: Duration,
        reason: &str,
    ) -> Result<(), ExecutorError> {
        if tasks.is_empty() {
            return Ok(());
        }
        let script = bulk::kill(&self.procs(tasks), grace.as_secs().max(1), reason);
        self.run(&script, true).map(|_| ())
    }

    fn live_many(&self, tasks: &[&TaskRecord]) -> Result<Vec<bool>, ExecutorError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let stdout = self.run(&bulk::live(&self.procs(tasks)), true)?;
        Ok(bulk::parse_live(
            &String::from_utf8_lossy(&stdout),
            tasks.len(),
        ))
    }

    fn remove_many(&self, tasks: &[&TaskRecord]) -> Result<(), ExecutorError> {
        if tasks.is_empty() {
            return Ok(());
        }
        let dirs: Vec<String> = tasks.iter().map(|t| self.dir(&t.id)).collect();
        self.run(&bulk::remove(&dirs), true).map(|_| ())
    }

    fn has_live_processes(&self, task: &TaskRecord) -> Result<bool, ExecutorError> {
        let script = scripts::live(
            &self.dir(&task.id),
            task.runner_pid,
            task.runner_start.as_deref(),
        );
        let stdout = self.run(&script, true)?;
        Ok(String::from_utf8_lossy(&stdout)
            .lines()
            .any(|l| l.trim() == "live"))
    }

    fn tail_log(&self, task: &TaskRecord, lines: usize) -> Result<LogChunk, ExecutorError> {
        logs::tail(&self.shell, &self.config.name, &self.dir(&task.id), lines)
    }

    fn read_log(&self, task: &TaskRecord, offset: u64) -> Result<LogChunk, ExecutorError> {
        logs::read(&self.shell, &self.config.name, &self.dir(&task.id), offset)
    }

    fn read_logs(&self, reads: &[(&TaskRecord, u64)]) -> Result<Vec<LogChunk>, ExecutorError> {
        if reads.is_empty() {
            return Ok(Vec::new());
        }
        let dirs: Vec<(String, u64)> = reads
            .iter()
            .map(|(task, offset)| (self.dir(&task.id), *offset))
            .collect();
        let stdout = self.run(&bulk::read_logs(&dirs), true)?;
        Ok(bulk::parse_logs(&stdout, reads.len())
            .into_iter()
            .zip(reads)
            .map(|(bytes, (_, offset))| LogChunk {
                next_offset: offset + bytes.len() as u64,
                bytes,
            })
            .collect())
    }

    fn check(&self, agents: &[AgentLaunch]) -> Result<ExecutorCheck, ExecutorError> {
        let programs: Vec<&str> = agents.iter().map(|a| a.program.as_str()).collect();
        // `true` first: a host with no agent to probe is still asked.
        let stdout = self.run(
            &format!("true\n{}", scripts::agent_versions(&programs)),
            true,
        )?;
        let versions =
            scripts::parse_agent_versions(&String::from_utf8_lossy(&stdout), agents.len());
        Ok(ExecutorCheck {
            summary: format!("{} reachable", self.target()),
            agents: agents
                .iter()
                .zip(versions)
                .map(|(launch, version)| AgentCheck {
                    launch: launch.clone(),
                    version,
                    probed: true,
                })
                .collect(),
        })
    }

    fn read_transcript(&self, task: &TaskRecord, path: &str) -> Result<Vec<u8>, ExecutorError> {
        let _ = task;
        logs::transcript(&self.shell, &self.config.name, path)
    }

    fn remove(&self, task: &TaskRecord) -> Result<(), ExecutorError> {
        self.run(&scripts::remove(&self.dir(&task.id)), true)
            .map(|_| ())
    }
}
