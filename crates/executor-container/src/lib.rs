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
mod engine;
#[cfg(test)]
mod parser_props;
mod state;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::config::{ContainerRuntime, ContainerSettings};
use executor_core::backend::Backend;
use executor_core::executor::{Executor, ExecutorError, LaunchSpec, Launched, LogChunk};
use executor_core::runner::{self, ExitRecord, RunnerObservation};
use executor_core::{ExecutorConfig, Paths, TaskId, TaskRecord, fsutil};

use engine::{Call, Engine};
use state::{ContainerState, INSPECT_FORMAT};

/// Where the task dir appears inside every task's container.
pub const TASK_MOUNT: &str = "/openclaw/task";
/// Label holding the task id.
pub const TASK_LABEL: &str = "openclaw.task";
/// Label holding the executor's name.
pub const EXECUTOR_LABEL: &str = "openclaw.executor";
/// Containers per `inspect` call, to stay far below the argv limit.
const INSPECT_BATCH: usize = 200;
/// The file conmon (Podman's monitor) creates in its working directory when the
/// kernel OOM-kills a process of the container; `start` runs in the task dir.
const PODMAN_OOM_FILE: &str = "oom";

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

/// The arguments of `create`, the env-file text for its stdin, and the variables
/// that go through the CLI's own environment instead.
struct CreateCall {
    args: Vec<OsString>,
    input: Option<Vec<u8>>,
    inherited: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct ImageInfo {
    working_dir: String,
    user: String,
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

    /// `image inspect`: the image's working dir and user. Errors only when the
    /// engine cannot be reached; a missing image gives `None` (launch reports it).
    fn image_info(&self) -> Result<Option<ImageInfo>, ExecutorError> {
        if let Some(info) = self.image.get() {
            return Ok(info.clone());
        }
        let answer = self.engine.call(Call::new([
            "image",
            "inspect",
            "--format",
            "{{.Config.WorkingDir}}|{{.Config.User}}",
            self.settings.image.as_str(),
        ]))?;
        let info = if answer.success {
            let text = answer.text();
            let line = text.lines().next().unwrap_or("");
            let (working_dir, user) = line.split_once('|').unwrap_or((line, ""));
            Some(ImageInfo {
                working_dir: working_dir.trim().to_owned(),
                user: user.trim().to_owned(),
            })
        } else {
            let message = answer.message();
            if !engine::is_missing_image(&message) {
                return Err(self.engine.error(&message));
            }
            None
        };
        Ok(self.image.get_or_init(|| info).clone())
    }

    /// The user the runner runs as in the container, if `user` or `run_args` set it.
    fn configured_user(&self) -> Option<&str> {
        let args = &self.settings.run_args;
        let from_args = args.iter().enumerate().find_map(|(i, arg)| {
            if arg == "--user" || arg == "-u" {
                args.get(i + 1).map(String::as_str)
            } else {
                arg.strip_prefix("--user=")
            }
        });
        from_args.or(self.settings.user.as_deref())
    }

    /// Host side to container side of each bind mount in `volumes`.
    fn bind_mounts(&self) -> Vec<(PathBuf, String)> {
        self.settings
            .volumes
            .iter()
            .filter_map(|spec| {
                let mut parts = spec.split(':');
                let host = parts.next()?;
                let target = parts.next()?;
                (host.starts_with('/') && target.starts_with('/'))
                    .then(|| (PathBuf::from(host), target.to_owned()))
            })
            .collect()
    }

    /// A host path inside one of the bind mounts, as the container sees it.
    fn container_path(&self, host_path: &Path) -> Option<String> {
        let host_path = std::fs::canonicalize(host_path).ok()?;
        self.bind_mounts().into_iter().find_map(|(source, target)| {
            let source = std::fs::canonicalize(&source).unwrap_or(source);
            let rest = host_path.strip_prefix(&source).ok()?;
            let mut mapped = PathBuf::from(target);
            mapped.push(rest);
            mapped.into_os_string().into_string().ok()
        })
    }

    /// Reads the engine's state of the given containers, in one call per batch;
    /// containers that do not exist are simply absent from the answer.
    fn inspect(&self, names: &[String]) -> Result<HashMap<String, ContainerState>, ExecutorError> {
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

    fn observe_one(&self, task: &TaskRecord, state: Option<&ContainerState>) -> RunnerObservation {
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

    /// The files must be reachable by whoever the runner runs as; see [`access`].
    fn share_task_dir(&self, dir: &Path, container_uid: Option<u32>) -> Result<(), ExecutorError> {
        // SAFETY: geteuid has no preconditions.
        let host_uid = unsafe { libc::geteuid() };
        let users = access::extra_users(host_uid, container_uid);
        access::share_dir(dir, &users).map_err(self.io_err(format!(
            "cannot give the container's user access to the task directory {} (it needs POSIX ACLs)",
            dir.display()
        )))
    }

    /// The uid the created container of `id` runs as: from `user`/`run_args`, else
    /// the image's `USER`; a user name is looked up in the image's /etc/passwd.
    /// `None` when it cannot be known (the runner then may lack access, and the
    /// task ends with the runner's exit code 120).
    fn container_uid(&self, id: &TaskId) -> Option<u32> {
        let name = container_name(id);
        let user = match self.configured_user() {
            Some(user) => user.to_owned(),
            None => self
                .engine
                .call(Call::new([
                    "container",
                    "inspect",
                    "--format",
                    "{{.Config.User}}",
                    name.as_str(),
                ]))
                .ok()
                .filter(|answer| answer.success)?
                .text()
                .trim()
                .to_owned(),
        };
        let user = user.split(':').next().unwrap_or("");
        match user {
            "" | "root" => return Some(0),
            _ => {}
        }
        if let Some(uid) = numeric_uid(user) {
            return Some(uid);
        }
        let passwd = self.copy_out(id, "/etc/passwd").ok()?;
        passwd_field(&String::from_utf8_lossy(&passwd), user, 2)?
            .parse()
            .ok()
    }

    /// One file of the task's container (created, running or stopped): `cp`
    /// writes it as a tar stream.
    fn copy_out(&self, id: &TaskId, path: &str) -> Result<Vec<u8>, ExecutorError> {
        let answer = self.engine.call(Call::new([
            "cp".to_owned(),
            format!("{}:{path}", container_name(id)),
            "-".to_owned(),
        ]))?;
        if !answer.success {
            return Err(self.engine.error(&answer.message()));
        }
        tar_file(&answer.stdout).ok_or_else(|| {
            ExecutorError::failed(
                self.name(),
                format!("{path} in the container is not a regular file"),
            )
        })
    }

    /// The home directory the task's payload had: `HOME` of the container's
    /// environment, else its user's entry in the image's /etc/passwd.
    fn container_home(&self, id: &TaskId) -> Result<String, ExecutorError> {
        let answer = self.engine.call(Call::new([
            "container".to_owned(),
            "inspect".to_owned(),
            "--format".to_owned(),
            "{{.Config.User}}{{range .Config.Env}}{{println}}{{.}}{{end}}".to_owned(),
            container_name(id),
        ]))?;
        if !answer.success {
            return Err(self.engine.error(&answer.message()));
        }
        let text = answer.text();
        let mut lines = text.lines();
        let user = lines.next().unwrap_or("").split(':').next().unwrap_or("");
        if let Some(home) = lines.find_map(|l| l.strip_prefix("HOME=")) {
            return Ok(home.to_owned());
        }
        let user = if user.is_empty() { "root" } else { user };
        let passwd = String::from_utf8_lossy(&self.copy_out(id, "/etc/passwd")?).into_owned();
        let by_uid = |uid: &str| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.get(2) == Some(&uid)).then(|| fields.get(5).map(|h| (*h).to_owned()))?
            })
        };
        passwd_field(&passwd, user, 5)
            .map(str::to_owned)
            .or_else(|| by_uid(user))
            .ok_or_else(|| {
                ExecutorError::failed(
                    self.name(),
                    format!("cannot find the home directory of user `{user}` in the container"),
                )
            })
    }

    /// The `create` call of task `id`, whose task dir is `dir` on this host.
    fn create_call(&self, id: &TaskId, dir: &Path, env: &[(String, String)]) -> CreateCall {
        let mut args: Vec<OsString> = vec![
            "create".into(),
            // A missing image is an error, not a surprise download; `run_args`
            // may say `--pull=missing` (the last flag wins).
            "--pull".into(),
            "never".into(),
            "--name".into(),
            container_name(id).into(),
            "--label".into(),
            format!("{TASK_LABEL}={id}").into(),
            "--label".into(),
            format!("{EXECUTOR_LABEL}={}", self.config.name).into(),
            // The runner forwards SIGTERM to the payload's group and records the exit.
            "--stop-signal".into(),
            "TERM".into(),
            "--entrypoint".into(),
            "/bin/sh".into(),
        ];
        let mut mount = OsString::from(dir.as_os_str());
        // `z`: relabelled for containers where SELinux is on (a no-op elsewhere);
        // the dir belongs to this task alone.
        mount.push(format!(":{TASK_MOUNT}:z"));
        args.push("--volume".into());
        args.push(mount);
        for volume in &self.settings.volumes {
            args.push("--volume".into());
            args.push(volume.into());
        }
        if let Some(network) = &self.settings.network {
            args.push("--network".into());
            args.push(network.into());
        }
        if let Some(user) = &self.settings.user {
            args.push("--user".into());
            args.push(user.into());
        }
        // Values never go into argv: one-line values through an env file on
        // stdin, values with line breaks through the CLI's own environment.
        let (piped, inherited): (Vec<_>, Vec<_>) = env
            .iter()
            .cloned()
            .partition(|(_, value)| !value.contains(['\n', '\r']));
        let input = (!piped.is_empty()).then(|| {
            args.push("--env-file".into());
            args.push("/dev/stdin".into());
            piped
                .iter()
                .flat_map(|(name, value)| format!("{name}={value}\n").into_bytes())
                .collect()
        });
        for (name, _) in &inherited {
            args.push("--env".into());
            args.push(name.into());
        }
        args.extend(self.settings.run_args.iter().map(OsString::from));
        args.push(self.settings.image.as_str().into());
        args.push(format!("{TASK_MOUNT}/{}", runner::RUNNER_FILE).into());
        args.push(TASK_MOUNT.into());
        CreateCall {
            args,
            input,
            inherited,
        }
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
        let create = self.create_call(id, &dir, spec.env);
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

    fn check(&self) -> Result<String, ExecutorError> {
        let version = self.engine.call(Call::new(["version"]))?;
        if !version.success {
            return Err(self.engine.error(&version.message()));
        }
        let image = &self.settings.image;
        Ok(match self.image_info()? {
            Some(_) => format!("{} up; image `{image}` present", self.engine.program()),
            None => format!("{} up; image `{image}` not found", self.engine.program()),
        })
    }

    /// Copied out of the task's container, which is kept until `cleanup`.
    fn read_transcript(&self, task: &TaskRecord, path: &str) -> Result<Vec<u8>, ExecutorError> {
        let home = self.container_home(&task.id)?;
        let path = executor_core::agent::under_home(&home, path);
        self.copy_out(&task.id, &path)
    }

    fn remove(&self, task: &TaskRecord) -> Result<(), ExecutorError> {
        self.remove_container(&task.id)?;
        match std::fs::remove_dir_all(self.dir(&task.id)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(self.io_err("cannot remove the task directory")(err))
            }
            _ => Ok(()),
        }
    }
}

/// The first file of a tar stream (as `cp CONTAINER:FILE -` writes it).
fn tar_file(tar: &[u8]) -> Option<Vec<u8>> {
    let header = tar.get(..512)?;
    // A regular file ('0', or NUL in old archives); a link would need following.
    if !matches!(header[156], b'0' | 0) {
        return None;
    }
    let size = std::str::from_utf8(&header[124..136])
        .ok()?
        .trim_matches(|c: char| c == '\0' || c == ' ');
    let size = usize::from_str_radix(size, 8).ok()?;
    Some(tar.get(512..512 + size)?.to_vec())
}

/// Field `index` (2: uid, 5: home) of `user`'s line in a passwd file.
fn passwd_field<'a>(passwd: &'a str, user: &str, index: usize) -> Option<&'a str> {
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&user))
            .then(|| fields.get(index).copied())
            .flatten()
    })
}

/// The uid of a `user` setting (`uid` or `uid:gid`), when it is numeric.
fn numeric_uid(user: &str) -> Option<u32> {
    user.split(':').next()?.parse().ok()
}

fn absolute(executor: &str, path: &str, what: &str) -> Result<String, ExecutorError> {
    if path.starts_with('/') {
        Ok(path.to_owned())
    } else {
        Err(ExecutorError::failed(
            executor,
            format!(
                "{what} `{path}` must be an absolute path inside the container \
                 (or a host path inside one of the executor's volumes)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn executor_with(settings: ContainerSettings) -> ContainerExecutor {
        let config = ExecutorConfig {
            name: "box".into(),
            labels: Vec::new(),
            claude_path: None,
            env: Vec::new(),
            max_concurrent: None,
            allow_root: false,
            keep_background: false,
            settings: executor_core::ExecutorSettings::new(settings.clone()),
            builtin: false,
        };
        let paths = Paths::new("/data/openclaw".into(), "/data/completions".into());
        ContainerExecutor::new(config, settings, paths)
    }

    fn settings() -> ContainerSettings {
        ContainerSettings {
            image: "img:1".into(),
            runtime: ContainerRuntime::Docker,
            volumes: Vec::new(),
            workdir: None,
            user: None,
            network: None,
            run_args: Vec::new(),
            context: None,
        }
    }

    #[test]
    fn secrets_stay_out_of_argv() {
        let mut s = settings();
        s.network = Some("none".into());
        s.run_args = vec!["--memory".into(), "1g".into()];
        let executor = executor_with(s);
        let id = TaskId::new();
        let env = vec![
            ("TOKEN".to_owned(), "s3cret value".to_owned()),
            ("KEY".to_owned(), "line1\nline2".to_owned()),
        ];
        let CreateCall {
            args,
            input,
            inherited,
        } = executor.create_call(&id, Path::new("/data/openclaw/tasks/x"), &env);
        let args: Vec<String> = args.into_iter().map(|a| a.into_string().unwrap()).collect();
        let joined = args.join(" ");
        assert!(
            !joined.contains("s3cret") && !joined.contains("line1"),
            "{joined}"
        );
        assert_eq!(input.unwrap(), b"TOKEN=s3cret value\n");
        assert_eq!(inherited, [("KEY".to_owned(), "line1\nline2".to_owned())]);
        assert!(joined.contains("--env-file /dev/stdin --env KEY --memory 1g img:1"));
        assert!(joined.ends_with("img:1 /openclaw/task/runner.sh /openclaw/task"));
        assert!(joined.contains(&format!("--name openclaw-{id}")));
        assert!(joined.contains(&format!("--label openclaw.task={id}")));
        assert!(joined.contains("--volume /data/openclaw/tasks/x:/openclaw/task:z"));
        assert!(joined.contains("--network none"));
        assert!(!joined.contains("--rm"));
    }

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
    fn passwd_lookup() {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/bash\n";
        assert_eq!(passwd_field(passwd, "node", 2), Some("1000"));
        assert_eq!(passwd_field(passwd, "node", 5), Some("/home/node"));
        assert_eq!(passwd_field(passwd, "nobody", 2), None);
        let mut tar = vec![0u8; 1024];
        tar[..6].copy_from_slice(b"passwd");
        tar[124..135].copy_from_slice(format!("{:011o}", passwd.len()).as_bytes());
        tar[156] = b'0';
        tar[512..512 + passwd.len()].copy_from_slice(passwd.as_bytes());
        assert_eq!(tar_file(&tar).as_deref(), Some(passwd.as_bytes()));
        tar[156] = b'2';
        assert_eq!(tar_file(&tar), None);
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
        assert_eq!(numeric_uid("65534:65534"), Some(65534));
        assert_eq!(numeric_uid("nobody"), None);
    }
}
