//! The Slurm executor: each task is a batch job, submitted with `sbatch` on
//! this machine (a login node) or over SSH on a login node. The job runs the
//! core task runner in the task dir, on a file system the compute nodes share,
//! so `.meta.json`, `task.log`, `task.pid` and `exit.json` are the same as on
//! every other executor.
//!
//! - Task dir: the local mirror (local submission without `task_root`), else
//!   `<task_root>/<task id>` (here, or on the login node).
//! - Identity: `runner_start` is `slurm:<job id>`; `runner_pid` is 0 (the
//!   runner's pid belongs to a compute node). The job id is also written to
//!   `slurm-job` in the task dir, and the last state Slurm reported to
//!   `slurm-job.json` in the local mirror.
//! - Status: one script per observation, on the submitting side, asks `squeue`
//!   about every live task's job at once (`sacct` for jobs squeue forgot), then
//!   reads the runner's records; see [`jobs::observation`] for the mapping.
//! - Kill: `srun --overlap` runs the tree kill in the job, on its node; a job
//!   still queued is cancelled (`scancel`).
//! - Secrets: `env` is exported in the script on stdin before `sbatch`, which
//!   passes its environment to the job (`--export=ALL`); never in argv or files
//!   of openclaw-agent. (Slurm itself keeps a job's environment in the
//!   controller's state directory until the job ends.)

pub mod config;
pub mod jobs;
pub mod scripts;
mod shell;

#[cfg(test)]
mod parser_props;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use executor_core::backend::Backend;
use executor_core::executor::{Executor, ExecutorError, LaunchSpec, Launched, LogChunk};
use executor_core::runner::{FileStat, RunnerObservation};
use executor_core::{AgentCheck, AgentLaunch, ExecutorCheck};
use executor_core::{ExecutorConfig, Paths, TaskId, TaskRecord, fsutil};
use executor_remote::observe::read_record;
use executor_remote::ssh::Transport;
use executor_remote::{Shell, logs, skew};

use crate::config::SlurmSettings;
use crate::jobs::JobRow;

/// `runner_start` of a Slurm task: this prefix and the job id.
pub const RUNNER_START_PREFIX: &str = "slurm:";
/// The last state Slurm reported for a task's job, in the local mirror:
/// `{"job_id": "42", "state": "RUNNING", "reason": "None"}`.
pub const JOB_STATE_FILE: &str = "slurm-job.json";
/// `runner_pid` of a Slurm task: the runner's real pid is on a compute node.
pub const NO_RUNNER_PID: u32 = 0;

/// How long a script may run here, beyond the time its own steps take.
const SCRIPT_LIMIT: Duration = Duration::from_secs(3 * scripts::SLURM_COMMAND_SECS + 30);

/// The Slurm backend, `type: slurm`.
pub struct Slurm;

impl Backend for Slurm {
    type Section = config::SlurmSection;

    fn executor(
        config: &ExecutorConfig,
        settings: &SlurmSettings,
        paths: &Paths,
        // Agent binaries come with each launch and check (`AgentLaunch`).
        _: &str,
    ) -> Result<Box<dyn Executor>, ExecutorError> {
        Ok(Box::new(SlurmExecutor::new(
            config.clone(),
            settings.clone(),
            paths.clone(),
        )))
    }
}

pub struct SlurmExecutor {
    config: ExecutorConfig,
    settings: SlurmSettings,
    paths: Paths,
    /// Here, or the login node over SSH (where logs and transcripts are read
    /// exactly as on an SSH host).
    shell: Shell,
}

impl SlurmExecutor {
    pub fn new(config: ExecutorConfig, settings: SlurmSettings, paths: Paths) -> Self {
        let shell = match &settings.login {
            Some(ssh) => Shell::Ssh(Box::new(Transport::new(&config.name, ssh.clone()))),
            None => Shell::Here,
        };
        Self {
            config,
            settings,
            paths,
            shell,
        }
    }

    fn name(&self) -> &str {
        &self.config.name
    }

    /// Whether jobs are submitted on a login node over SSH.
    fn over_ssh(&self) -> bool {
        matches!(self.shell, Shell::Ssh(_))
    }

    /// Where task dirs are created (`None`: the local mirror is the task dir).
    fn task_root(&self) -> Option<&str> {
        match &self.settings.login {
            Some(login) => Some(&login.task_root),
            None => self.settings.task_root.as_deref(),
        }
    }

    fn dir(&self, id: &TaskId) -> String {
        match self.task_root() {
            Some(root) => format!("{root}/{id}"),
            None => self.paths.task_dir(id).to_string_lossy().into_owned(),
        }
    }

    fn call(
        &self,
        script: &str,
        idempotent: bool,
        extra: Duration,
    ) -> Result<Vec<u8>, ExecutorError> {
        shell::call(
            &self.shell,
            self.name(),
            script,
            idempotent,
            SCRIPT_LIMIT + extra,
        )
    }

    fn io_err(&self, action: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExecutorError {
        let name = self.config.name.clone();
        let action = action.into();
        move |source| ExecutorError::io(&name, action, source)
    }

    /// The `sbatch` arguments of task `id` (the batch script's path follows).
    pub fn sbatch_args(&self, id: &TaskId) -> Vec<String> {
        let dir = self.dir(id);
        let s = &self.settings;
        let mut args = vec![
            "--parsable".to_owned(),
            format!("--job-name=openclaw-{id}"),
            // `%` starts a file name pattern for Slurm.
            format!(
                "--output={}/{}",
                dir.replace('%', "%%"),
                scripts::OUTPUT_FILE
            ),
            "--open-mode=append".to_owned(),
            format!("--chdir={dir}"),
            // A requeued job would run the runner a second time in the same dir.
            "--no-requeue".to_owned(),
            // The payload's env reaches the job through sbatch's environment,
            // whatever SBATCH_EXPORT says.
            "--export=ALL".to_owned(),
        ];
        let options = [
            ("--partition", s.partition.as_deref()),
            ("--account", s.account.as_deref()),
            ("--qos", s.qos.as_deref()),
            ("--time", s.time_limit.as_deref()),
            ("--mem", s.mem.as_deref()),
            ("--gres", s.gres.as_deref()),
        ];
        for (flag, value) in options {
            if let Some(value) = value {
                args.push(format!("{flag}={value}"));
            }
        }
        if let Some(cpus) = s.cpus {
            args.push(format!("--cpus-per-task={cpus}"));
        }
        // Last, so that for single-valued options they win over the executor's own.
        args.extend(s.sbatch_args.iter().cloned());
        args
    }

    /// Records Slurm's view of the job in the local mirror, for `status`.
    fn note_job_state(&self, id: &TaskId, job: &JobRow) {
        let mirror = self.paths.task_dir(id);
        if !mirror.is_dir() {
            return;
        }
        let value = serde_json::json!({
            "job_id": job.job_id,
            "state": job.state,
            "reason": job.reason,
        });
        let mut bytes = serde_json::to_vec(&value).unwrap_or_default();
        bytes.push(b'\n');
        let path = mirror.join(JOB_STATE_FILE);
        if std::fs::read(&path).ok().as_deref() != Some(&bytes[..]) {
            let _ = fsutil::write_atomic(&path, &bytes);
        }
    }
}

/// The Slurm job id of a task, from its `runner_start`.
pub fn job_id(task: &TaskRecord) -> Option<&str> {
    task.runner_start
        .as_deref()
        .and_then(|s| s.strip_prefix(RUNNER_START_PREFIX))
        .filter(|s| !s.is_empty())
}

impl Executor for SlurmExecutor {
    fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// Here: like the local executor (the current directory when none is given,
    /// canonicalised; it must be on a file system the compute nodes share). Over
    /// SSH: like an SSH host (absolute; empty is the login user's home), checked
    /// on the login node at launch.
    fn resolve_workspace(&self, workspace: &str) -> Result<String, ExecutorError> {
        if self.over_ssh() {
            if workspace.is_empty() || workspace.starts_with('/') {
                return Ok(workspace.trim_end_matches('/').to_owned());
            }
            return Err(ExecutorError::failed(
                self.name(),
                format!("workspace `{workspace}` must be an absolute path on the login node"),
            ));
        }
        let workspace = if workspace.is_empty() { "." } else { workspace };
        let path = std::fs::canonicalize(workspace)
            .map_err(self.io_err(format!("workspace `{workspace}` is not usable")))?;
        if !path.is_dir() {
            return Err(ExecutorError::failed(
                self.name(),
                format!("workspace `{workspace}` is not a directory"),
            ));
        }
        path.into_os_string().into_string().map_err(|_| {
            ExecutorError::failed(
                self.name(),
                format!("workspace `{workspace}` is not valid UTF-8"),
            )
        })
    }

    fn task_dir(&self, id: &TaskId) -> String {
        self.dir(id)
    }

    /// Jobs run as the submitting user: known here, not over SSH.
    fn runs_as_root(&self) -> Option<bool> {
        // SAFETY: geteuid has no preconditions.
        (!self.over_ssh()).then(|| unsafe { libc::geteuid() } == 0)
    }

    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Launched, ExecutorError> {
        let id = &spec.id;
        // Here it was checked by resolve_workspace already.
        let workspace = if self.over_ssh() { spec.workspace } else { "" };
        let dir = self.dir(id);
        let place = shell::place(&self.shell);
        let sbatch_args = self.sbatch_args(id);
        let script = scripts::launch(&scripts::Submission {
            place: &place,
            task_root: self.task_root(),
            task_dir: &dir,
            workspace,
            files: spec.files,
            env: spec.env,
            sbatch_args: &sbatch_args,
        });
        // Safe to repeat: a retried launch reports the job of the first attempt.
        let stdout = self.call(&script, true, Duration::ZERO)?;
        let stdout = String::from_utf8_lossy(&stdout);
        let job = stdout
            .lines()
            .find_map(|l| l.strip_prefix(scripts::SUBMITTED))
            .map(str::trim)
            .filter(|j| !j.is_empty())
            .ok_or_else(|| ExecutorError::failed(self.name(), "sbatch did not report a job id"))?;
        self.note_job_state(
            id,
            &JobRow {
                job_id: job.to_owned(),
                state: "PENDING".to_owned(),
                exit_code: None,
                time_limit: None,
                name: format!("openclaw-{id}"),
                reason: "None".to_owned(),
            },
        );
        Ok(Launched {
            runner_pid: NO_RUNNER_PID,
            runner_start: Some(format!("{RUNNER_START_PREFIX}{job}")),
        })
    }

    fn observe(&self, tasks: &[&TaskRecord]) -> Result<Vec<RunnerObservation>, ExecutorError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let probes: Vec<scripts::Probe<'_>> = tasks
            .iter()
            .map(|task| scripts::Probe {
                id: task.id.to_string(),
                task_dir: self.dir(&task.id),
                job_id: job_id(task),
                // Over SSH, agent logs come back in the same round trip, for the stats.
                log_offset: (self.over_ssh() && task.task_type.agent().is_some())
                    .then(|| task.agent.as_ref().map_or(0, |a| a.parsed_offset)),
            })
            .collect();
        let place = shell::place(&self.shell);
        let stdout = self.call(
            &scripts::observe(&place, &probes, self.task_root()),
            true,
            Duration::ZERO,
        )?;
        let seen = parse_observe(&String::from_utf8_lossy(&stdout), &probes, &place);
        Ok(tasks
            .iter()
            .zip(seen)
            .map(|(task, (records, job))| {
                if let Some(job) = &job {
                    self.note_job_state(&task.id, job);
                }
                jobs::observation(records, job.as_ref())
            })
            .collect())
    }

    fn kill(&self, task: &TaskRecord, grace: Duration, reason: &str) -> Result<(), ExecutorError> {
        let grace_secs = grace.as_secs_f64().ceil().max(1.0) as u64;
        let script = scripts::kill(
            &shell::place(&self.shell),
            &self.dir(&task.id),
            job_id(task),
            grace_secs,
            reason,
        );
        self.call(&script, true, Duration::from_secs(grace_secs + 10))
            .map(|_| ())
    }

    fn tail_log(&self, task: &TaskRecord, lines: usize) -> Result<LogChunk, ExecutorError> {
        if self.over_ssh() {
            return logs::tail(&self.shell, self.name(), &self.dir(&task.id), lines);
        }
        executor_core::executor::tail_local_log(Path::new(&self.dir(&task.id)), lines)
            .map_err(self.io_err("cannot read the task log"))
    }

    fn read_log(&self, task: &TaskRecord, offset: u64) -> Result<LogChunk, ExecutorError> {
        if self.over_ssh() {
            return logs::read(&self.shell, self.name(), &self.dir(&task.id), offset);
        }
        executor_core::executor::read_local_log(Path::new(&self.dir(&task.id)), offset)
            .map_err(self.io_err("cannot read the task log"))
    }

    /// From the home directory of the submitting user (here or on the login
    /// node), which the compute nodes are expected to share.
    fn read_transcript(&self, task: &TaskRecord, path: &str) -> Result<Vec<u8>, ExecutorError> {
        if self.over_ssh() {
            let _ = task;
            return logs::transcript(&self.shell, self.name(), path);
        }
        let home = std::env::var("HOME").unwrap_or_default();
        let path = executor_core::agent::under_home(&home, path);
        std::fs::read(&path).map_err(self.io_err(format!("cannot read transcript {path}")))
    }

    /// Git work runs where jobs are submitted (here, or the login node), on
    /// the file system the nodes share with it.
    fn run_script(
        &self,
        script: &str,
        args: &[&str],
    ) -> Result<executor_core::ScriptOutput, ExecutorError> {
        self.shell
            .run_with_args(self.name(), script, args, Duration::from_secs(120))
    }

    fn place(&self) -> String {
        match self.shell.target() {
            Some(target) => format!("login node {target}"),
            None => "this machine (the Slurm submit host)".to_owned(),
        }
    }

    fn check(&self, agents: &[AgentLaunch]) -> Result<ExecutorCheck, ExecutorError> {
        let programs: Vec<&str> = agents.iter().map(|a| a.program.as_str()).collect();
        let place = shell::place(&self.shell);
        let script = scripts::check(&place, self.settings.partition.as_deref(), &programs);
        let stdout = self.call(&script, true, Duration::ZERO)?;
        let text = String::from_utf8_lossy(&stdout);
        let version = text
            .lines()
            .find_map(|l| l.strip_prefix("V "))
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .unwrap_or("slurm");
        let partitions: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("P "))
            .map(|p| {
                let f: Vec<&str> = p.split_whitespace().collect();
                match f.as_slice() {
                    [name, avail, nodes, state] => {
                        let noun = if *nodes == "1" { "node" } else { "nodes" };
                        format!("{name} {avail} ({nodes} {noun} {state})")
                    }
                    _ => p.trim().to_owned(),
                }
            })
            .collect();
        let versions = executor_remote::scripts::parse_agent_versions(&text, agents.len());
        let via = match &self.settings.login {
            Some(_) => place.replacen(" on the login node ", " via ", 1),
            None => String::new(),
        };
        let summary = format!(
            "{version}{via} reachable; partitions: {}",
            if partitions.is_empty() {
                "none".to_owned()
            } else {
                partitions.join(", ")
            }
        );
        Ok(ExecutorCheck {
            summary,
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

    /// The job id (from `runner_start`) and what Slurm last said of the job
    /// (`slurm-job.json` in the local mirror, written by `observe`).
    fn details(&self, task: &TaskRecord) -> Option<serde_json::Map<String, serde_json::Value>> {
        let recorded = std::fs::read(self.paths.task_dir(&task.id).join(JOB_STATE_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
        match recorded {
            Some(serde_json::Value::Object(map)) => Some(map),
            _ => {
                let mut map = serde_json::Map::new();
                map.insert("job_id".into(), job_id(task)?.into());
                Some(map)
            }
        }
    }

    fn remove(&self, task: &TaskRecord) -> Result<(), ExecutorError> {
        let script = scripts::remove(
            &shell::place(&self.shell),
            &self.dir(&task.id),
            job_id(task),
            !task.status.is_terminal(),
        );
        self.call(&script, true, Duration::ZERO).map(|_| ())
    }
}

/// Reads the observe script's output: per probe, in order, the runner's
/// records and the job Slurm reported for it (by id, or by name when no id
/// was recorded). `place` names the login node in reasons.
pub fn parse_observe(
    text: &str,
    probes: &[scripts::Probe<'_>],
    place: &str,
) -> Vec<(RunnerObservation, Option<JobRow>)> {
    let index: HashMap<&str, usize> = probes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.id.as_str(), i))
        .collect();
    let mut job_ids: Vec<Option<String>> = vec![None; probes.len()];
    let mut rows: HashMap<String, JobRow> = HashMap::new();
    let mut by_name: HashMap<String, JobRow> = HashMap::new();
    let mut records: Vec<RunnerObservation> = vec![RunnerObservation::default(); probes.len()];
    let mut current: Option<usize> = None;
    let mut full = false;
    // The task root's clock, from the first stat line (see `scripts::observe`).
    let mut offset = 0;
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "F" => full = true,
            "@@" => {
                let (id, rest) = value.split_once(' ').unwrap_or((value, ""));
                if let (Some(i), Some(job)) = (index.get(id), rest.strip_prefix("job")) {
                    let job = job.trim();
                    job_ids[*i] = (!job.is_empty()).then(|| job.to_owned());
                }
            }
            "Q" => {
                if let Some(row) = JobRow::from_squeue(value) {
                    by_name.insert(row.name.clone(), row.clone());
                    rows.insert(row.job_id.clone(), row);
                }
            }
            "A" => {
                if let Some(row) = JobRow::from_sacct(value) {
                    rows.entry(row.job_id.clone()).or_insert(row);
                }
            }
            "##" => current = index.get(value.trim()).copied(),
            "L" => {
                // "L size mtime <task dir>/<file>", after all probes.
                let is_clock = value
                    .rsplit_once('/')
                    .is_some_and(|(_, file)| file.starts_with(scripts::CLOCK_FILE));
                if is_clock {
                    offset = skew::mtime(value).map_or(0, skew::offset);
                    continue;
                }
                let value = skew::shift(value, offset);
                if let Some(stat) = FileStat::parse(&value)
                    && let Some(i) = probes.iter().position(|p| p.task_dir == stat.dir)
                {
                    records[i].apply_stat(&stat);
                }
            }
            _ => {
                if let Some(i) = current {
                    read_record(&mut records[i], key, value);
                }
            }
        }
    }
    if full {
        for records in records.iter_mut().filter(|r| r.exit.is_none()) {
            // Taken only once the job has ended (see `jobs::observation`).
            records.end_reason = Some(format!(
                "no space left on device: the task root{place} is full, so the task's \
                 output or its exit record could not be written"
            ));
        }
    }
    records
        .into_iter()
        .zip(job_ids)
        .zip(probes)
        .map(|((records, job_id), probe)| {
            let job = match job_id {
                Some(job_id) => rows.get(&job_id),
                None => by_name.get(&format!("openclaw-{}", probe.id)),
            };
            (records, job.cloned())
        })
        .collect()
}

#[cfg(test)]
mod tests;
