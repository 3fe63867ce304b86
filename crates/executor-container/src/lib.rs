//! The container executor: each task runs in a Docker or Podman container of its
//! own, named `openclaw-<task id>` and labelled `openclaw.task=<task id>`.
//!
//! The task dir stays on this host (it is the store's mirror dir) and is
//! bind-mounted into the container at [`TASK_MOUNT`]. The container's command is
//! the runner from core, so `task.log`, `task.pid` and `exit.json` land on the
//! host and outlive the container. The engine is asked only what the files
//! cannot tell: whether the container (the runner) still runs, and how it ended
//! when the runner could not write its record (killed, OOM, removed).

mod access;
pub mod config;
mod create;
mod engine;
mod files;
mod finisher;
mod image;
mod inside;
mod mounts;
mod observe;
#[cfg(test)]
mod parser_props;
mod state;
#[cfg(test)]
mod testing;
mod user;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::config::ContainerSettings;
use executor_core::backend::Backend;
use executor_core::executor::{Executor, ExecutorError, LaunchSpec, Launched, LogChunk};
use executor_core::runner::{self, RunnerObservation};
use executor_core::{AgentCheck, AgentLaunch, ExecutorCheck};
use executor_core::{ExecutorConfig, Paths, TaskId, TaskRecord, fsutil};

use engine::{Call, Engine};
use image::ImageInfo;
use mounts::absolute;
use user::numeric_uid;

/// Where the task dir appears inside every task's container.
pub const TASK_MOUNT: &str = "/openclaw/task";
/// Label holding the task id.
pub const TASK_LABEL: &str = "openclaw.task";
/// Label holding the executor's name.
pub const EXECUTOR_LABEL: &str = "openclaw.executor";

/// The container name of a task.
pub fn container_name(id: &TaskId) -> String {
    format!("openclaw-{id}")
}

/// The container backend, `type: container`.
pub struct Container;

impl Backend for Container {
    type Section = config::ContainerSection;

    fn executor(
        config: &ExecutorConfig,
        settings: &ContainerSettings,
        paths: &Paths,
        _claude_default: &str,
    ) -> Result<Box<dyn Executor>, ExecutorError> {
        Ok(Box::new(ContainerExecutor::new(
            config.clone(),
            settings.clone(),
            paths.clone(),
        )))
    }
}

pub struct ContainerExecutor {
    config: ExecutorConfig,
    settings: ContainerSettings,
    paths: Paths,
    engine: Engine,
    /// The image's working dir and user, asked once per process when needed.
    image: OnceLock<Option<ImageInfo>>,
}

impl ContainerExecutor {
    pub fn new(config: ExecutorConfig, settings: ContainerSettings, paths: Paths) -> Self {
        let engine = Engine {
            runtime: settings.runtime,
            context: settings.context.clone(),
            executor: config.name.clone(),
        };
        Self {
            config,
            settings,
            paths,
            engine,
            image: OnceLock::new(),
        }
    }

    fn name(&self) -> &str {
        &self.config.name
    }

    fn dir(&self, id: &TaskId) -> PathBuf {
        self.paths.task_dir(id)
    }

    fn io_err(&self, action: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExecutorError {
        let name = self.config.name.clone();
        let action = action.into();
        move |source| ExecutorError::io(&name, action, source)
    }

    /// Removes a container, whatever its state; a missing one is fine.
    fn remove_container(&self, id: &TaskId) -> Result<(), ExecutorError> {
        let answer = self.engine.call(Call::new([
            "rm".to_owned(),
            "--force".to_owned(),
            "--volumes".to_owned(),
            container_name(id),
        ]))?;
        if answer.success || engine::is_no_such_container(&answer.stderr) {
            Ok(())
        } else {
            Err(self.engine.error(&answer.message()))
        }
    }
}

impl Executor for ContainerExecutor {
    fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    /// `--workspace` is a path inside the container. A host path inside one of
    /// the `volumes` (also a relative one, such as `.`) is translated to where
    /// that volume is mounted. No workspace: `workdir`, else the image's working
    /// directory, else `/`. Whether the directory exists is checked by the
    /// payload in the container (exit 126 with a message in the log).
    fn resolve_workspace(&self, workspace: &str) -> Result<String, ExecutorError> {
        if workspace.is_empty() {
            if let Some(workdir) = &self.settings.workdir {
                return absolute(self.name(), workdir, "workdir");
            }
            let working_dir = self
                .image_info()?
                .map(|info| info.working_dir)
                .filter(|dir| dir.starts_with('/'));
            return Ok(working_dir.unwrap_or_else(|| "/".to_owned()));
        }
        if let Some(mapped) = self.container_path(Path::new(workspace)) {
            return Ok(mapped);
        }
        absolute(self.name(), workspace, "workspace")
    }

    fn task_dir(&self, _id: &TaskId) -> String {
        TASK_MOUNT.to_owned()
    }

    /// Git runs on this machine, where the engine runs: the commands are
    /// those of the task dir here, not of the container.
    fn run_script(
        &self,
        script: &str,
        args: &[&str],
    ) -> Result<executor_core::ScriptOutput, ExecutorError> {
        let out = std::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|source| ExecutorError::io(self.name(), "cannot run /bin/sh", source))?;
        Ok(executor_core::ScriptOutput {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    fn host_side_worktree(&self, workspace: &str) -> Option<Result<String, ExecutorError>> {
        Some(
            self.host_path(workspace)
                .map(|p| p.to_string_lossy().into_owned())
                .ok_or_else(|| {
                    ExecutorError::failed(
                        self.name(),
                        format!(
                            "--worktree needs the workspace inside one of the executor's \
                             volumes (the repository must be on this machine); `{workspace}` is not"
                        ),
                    )
                }),
        )
    }

    fn host_task_dir(&self, id: &TaskId) -> Option<String> {
        Some(self.dir(id).to_string_lossy().into_owned())
    }

    fn place(&self) -> String {
        "this machine (the container engine's host)".to_owned()
    }

    fn read_task_file(&self, task: &TaskRecord, name: &str) -> Result<Vec<u8>, ExecutorError> {
        let path = self.dir(&task.id).join(name);
        std::fs::read(&path).map_err(|source| {
            ExecutorError::io(
                self.name(),
                format!("cannot read {name} of task {}", task.id),
                source,
            )
        })
    }

    fn runs_as_root(&self) -> Option<bool> {
        let user = match self.configured_user() {
            Some(user) => user.to_owned(),
            // The image's default user; an image that sets none runs as root.
            None => self.image_info().ok()??.user,
        };
        let name = user.split(':').next().unwrap_or("");
        match name {
            "" | "0" | "root" => Some(true),
            _ if numeric_uid(name).is_some() => Some(false),
            // A user name: only the image's passwd knows; the payload checks.
            _ => None,
        }
    }

    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Launched, ExecutorError> {
        // The files are already in place: the task dir is the store's mirror.
        let id = &spec.id;
        let dir = self.dir(id);
        if dir.as_os_str().as_encoded_bytes().contains(&b':') {
            return Err(ExecutorError::failed(
                self.name(),
                format!(
                    "the task directory {} contains `:`, which a bind mount cannot name",
                    dir.display()
                ),
            ));
        }
        if spec.worktree.is_some_and(|w| w.on_host) {
            // Made here, before the container starts: it is mounted into it.
            let out = self.run_script(
                executor_core::worktree::HOST_SETUP_SCRIPT,
                &[&dir.to_string_lossy()],
            )?;
            if out.code != Some(0) {
                return Err(ExecutorError::failed(
                    self.name(),
                    format!(
                        "cannot make the task's git worktree (see {}/{})",
                        dir.display(),
                        runner::LOG_FILE
                    ),
                ));
            }
        }
        let create = self.create_call(id, &dir, spec.env, spec.worktree);
        let answer = self.engine.call(Call {
            args: create.args,
            input: create.input,
            env: &create.inherited,
            cwd: None,
            timeout: engine::CREATE,
        })?;
        if !answer.success {
            let message = answer.message();
            if engine::is_missing_image(&message) {
                return Err(ExecutorError::failed(
                    self.name(),
                    format!(
                        "image `{}` not found: build or pull it first ({}: {message})",
                        self.settings.image,
                        self.engine.program()
                    ),
                ));
            }
            return Err(self.engine.error(&message));
        }
        let container_id = answer
            .text()
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .to_owned();
        if let Err(err) = self.share_task_dir(&dir, self.container_uid(id)) {
            let _ = self.remove_container(id);
            return Err(err);
        }
        // conmon (podman) leaves its OOM marker in its working directory.
        let started = self.engine.call(Call {
            cwd: Some(&dir),
            ..Call::new(["start".to_owned(), container_name(id)])
        });
        match started {
            Ok(answer) if answer.success => {}
            other => {
                // Leave no container behind for a task recorded as failed.
                let _ = self.remove_container(id);
                return Err(match other {
                    Ok(answer) => self.engine.error(&answer.message()),
                    Err(err) => err,
                });
            }
        }
        if spec.worktree.is_some_and(|w| w.on_host) {
            // Should the watcher not start, the first CLI that sees the task
            // ended commits instead (`read_work_result`).
            let _ = finisher::spawn(&self.engine, &container_name(id), &dir);
        }
        let runner_pid = self
            .inspect(&[container_name(id)])
            .ok()
            .and_then(|states| states.into_values().next())
            .map_or(0, |state| state.pid);
        Ok(Launched {
            runner_pid,
            runner_start: (!container_id.is_empty()).then_some(container_id),
        })
    }

    fn observe(&self, tasks: &[&TaskRecord]) -> Result<Vec<RunnerObservation>, ExecutorError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<String> = tasks.iter().map(|t| container_name(&t.id)).collect();
        let states = self.inspect(&names)?;
        Ok(tasks
            .iter()
            .zip(&names)
            .map(|(task, name)| self.observe_one(task, states.get(name)))
            .collect())
    }

    fn kill(&self, task: &TaskRecord, grace: Duration, reason: &str) -> Result<(), ExecutorError> {
        let dir = self.dir(&task.id);
        fsutil::write_atomic(&dir.join(runner::KILL_MARKER), reason.as_bytes())
            .map_err(self.io_err("cannot mark the task as killed"))?;
        // SIGTERM to the runner (the container's first process), which passes it
        // on to the payload's group and records the exit; SIGKILL to everything
        // in the container after the grace period.
        let seconds = grace.as_secs_f64().ceil() as u64;
        let answer = self.engine.call(Call {
            timeout: grace + engine::QUICK,
            ..Call::new([
                "stop".to_owned(),
                "-t".to_owned(),
                seconds.to_string(),
                container_name(&task.id),
            ])
        })?;
        if answer.success || engine::is_no_such_container(&answer.stderr) {
            Ok(())
        } else {
            Err(self.engine.error(&answer.message()))
        }
    }

    fn tail_log(&self, task: &TaskRecord, lines: usize) -> Result<LogChunk, ExecutorError> {
        executor_core::executor::tail_local_log(&self.dir(&task.id), lines)
            .map_err(self.io_err("cannot read the task log"))
    }

    fn read_log(&self, task: &TaskRecord, offset: u64) -> Result<LogChunk, ExecutorError> {
        executor_core::executor::read_local_log(&self.dir(&task.id), offset)
            .map_err(self.io_err("cannot read the task log"))
    }

    /// The agent CLIs live in the image: no probe starts a container to look.
    fn check(&self, agents: &[AgentLaunch]) -> Result<ExecutorCheck, ExecutorError> {
        let version = self.engine.call(Call::new(["version"]))?;
        if !version.success {
            return Err(self.engine.error(&version.message()));
        }
        let image = &self.settings.image;
        let summary = match self.image_info()? {
            Some(_) => format!("{} up; image `{image}` present", self.engine.program()),
            None => format!("{} up; image `{image}` not found", self.engine.program()),
        };
        Ok(ExecutorCheck {
            summary,
            agents: agents
                .iter()
                .map(|launch| AgentCheck {
                    launch: launch.clone(),
                    version: None,
                    probed: false,
                })
                .collect(),
        })
    }

    /// Inside the task's container, where the agent's session store is.
    fn run_script_for_task(
        &self,
        task: &TaskRecord,
        script: &str,
    ) -> Result<executor_core::ScriptOutput, ExecutorError> {
        self.run_inside(&task.id, script)
    }

    /// Copied out of the task's container, which is kept until `cleanup`.
    fn read_transcript(&self, task: &TaskRecord, path: &str) -> Result<Vec<u8>, ExecutorError> {
        let home = self.container_home(&task.id)?;
        let path = executor_core::agent::under_home(&home, path);
        self.copy_out(&task.id, &path)
    }

    fn remove(&self, task: &TaskRecord) -> Result<(), ExecutorError> {
        self.remove_snapshot(&task.id)?;
        self.remove_container(&task.id)?;
        match std::fs::remove_dir_all(self.dir(&task.id)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(self.io_err("cannot remove the task directory")(err))
            }
            _ => Ok(()),
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{executor_with, settings};

    #[test]
    fn workspaces_are_container_paths() {
        let host = tempfile::tempdir().unwrap();
        std::fs::create_dir(host.path().join("proj")).unwrap();
        let mut s = settings();
        s.volumes = vec![format!("{}:/work:rw", host.path().display())];
        s.workdir = Some("/work".into());
        let executor = executor_with(s);
        assert_eq!(executor.resolve_workspace("").unwrap(), "/work");
        assert_eq!(
            executor.resolve_workspace("/work/proj").unwrap(),
            "/work/proj"
        );
        let inside = host.path().join("proj");
        assert_eq!(
            executor
                .resolve_workspace(inside.to_str().unwrap())
                .unwrap(),
            "/work/proj"
        );
        let err = executor.resolve_workspace("relative/dir").unwrap_err();
        assert!(err.to_string().contains("absolute path"), "{err}");
    }

    #[test]
    fn users() {
        let mut s = settings();
        s.user = Some("1000:1000".into());
        assert_eq!(executor_with(s.clone()).runs_as_root(), Some(false));
        s.user = Some("root".into());
        assert_eq!(executor_with(s.clone()).runs_as_root(), Some(true));
        s.user = Some("node".into());
        assert_eq!(executor_with(s.clone()).runs_as_root(), None);
        s.run_args = vec!["--user=0".into()];
        assert_eq!(executor_with(s).runs_as_root(), Some(true));
    }
}
