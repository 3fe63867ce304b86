//! The local executor: tasks run as processes of this machine, their task
//! directory being the store's own mirror directory.

mod forker;
mod process;
mod spawn;
mod watch;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use executor_core::executor::{
    Executor, ExecutorError, LaunchSpec, Launched, LogChunk, ScriptOutput,
};
use executor_core::runner::{self, RunnerObservation};
use executor_core::{AgentCheck, AgentLaunch, ExecutorCheck};
use executor_core::{ExecutorConfig, Paths, TaskId, TaskRecord, fsutil};

use process::{PayloadGroup, ProcessIndex};
pub use process::{is_same_live_process, own_umask, read_process, remember_umask};
pub use watch::{ExitWatch, Woken, raise_fd_limit};

/// How often a bulk kill looks at the process table during the grace period.
const KILL_TICK: Duration = Duration::from_millis(50);

pub struct LocalExecutor {
    config: ExecutorConfig,
    paths: Paths,
    /// The gates of the launches whose runners are not yet let run (see
    /// [`Executor::open_launched`]). Dropped with the executor at the
    /// latest, which lets the runners go.
    gates: std::sync::Mutex<Vec<spawn::Gate>>,
}

impl LocalExecutor {
    pub fn new(config: ExecutorConfig, paths: Paths) -> Self {
        Self {
            config,
            paths,
            gates: std::sync::Mutex::default(),
        }
    }

    fn dir(&self, id: &TaskId) -> PathBuf {
        self.paths.task_dir(id)
    }

    fn io_err(&self, action: impl Into<String>) -> impl FnOnce(std::io::Error) -> ExecutorError {
        let name = self.config.name.clone();
        let action = action.into();
        move |source| ExecutorError::io(&name, action, source)
    }

    fn observe_one(&self, task: &TaskRecord) -> RunnerObservation {
        // Liveness first, records second: see `RunnerObservation`.
        let runner_alive = self.runner_alive(task);
        let dir = self.dir(&task.id);
        let agent = task.task_type.agent().is_some();
        let mut observation = if runner_alive && task.runner_pid.is_some() {
            RunnerObservation::read_live(&dir, task.pid, agent)
        } else {
            RunnerObservation::read_task_dir_knowing(
                &dir,
                runner_alive,
                task.runner_pid.is_some(),
                task.pid,
            )
        };
        if agent {
            observation.read_agent_usage(&dir);
        }
        observation
    }

    fn runner_alive(&self, task: &TaskRecord) -> bool {
        match task.runner_pid {
            Some(pid) => is_same_live_process(pid, task.runner_start.as_deref()),
            // The launcher died before recording the runner; the runner wrote its
            // own pid, or is a process running this dir's runner script that has
            // not written it (whole) yet.
            None => {
                let dir = self.dir(&task.id);
                match std::fs::read(dir.join(runner::RUNNER_PID_FILE))
                    .ok()
                    .and_then(|b| runner::parse_pid_file(&b))
                {
                    Some(pid) => is_same_live_process(pid, None),
                    None => process::runs_script(&dir.join(runner::RUNNER_FILE)),
                }
            }
        }
    }

    /// Starts the runner of `spec` (its files are in place: this executor's
    /// task dir is the store's mirror), parked at `gate`, and returns its pid.
    fn start_runner(
        &self,
        spec: &LaunchSpec<'_>,
        gate: &spawn::Gate,
    ) -> Result<u32, ExecutorError> {
        let dir = self.dir(&spec.id);
        use std::os::unix::fs::OpenOptionsExt;
        let log = std::fs::OpenOptions::new()
            .mode(0o600)
            .create(true)
            .append(true)
            .open(dir.join(runner::LOG_FILE))
            .map_err(self.io_err("cannot open the task log"))?;
        let runner = dir.join(runner::RUNNER_FILE);
        // The runner inherits this process's umask too, but would need a
        // process of its own to read it.
        let umask = match spec.caller {
            Some(caller) => caller.umask.clone(),
            None => own_umask().unwrap_or_default(),
        };
        let keep = runner::keep_background_arg(self.config.keep_background);
        spawn::Runner::new(
            std::path::Path::new("/bin/sh"),
            [
                runner.as_os_str(),
                dir.as_os_str(),
                std::ffi::OsStr::new(&umask),
                std::ffi::OsStr::new(keep),
                std::ffi::OsStr::new(runner::GATED),
            ],
            &dir,
            spec.caller.map(|c| c.env.as_slice()),
            spec.env,
        )
        .and_then(|command| command.spawn(&log, gate))
        .map_err(self.io_err("cannot start the task runner"))
    }

    /// Starts the runners of `specs` (which share their environment) through
    /// one forker, parked at `gate`.
    fn fork_runners(
        &self,
        specs: &[LaunchSpec<'_>],
        gate: &spawn::Gate,
    ) -> Vec<Result<Launched, ExecutorError>> {
        let runners: Vec<PathBuf> = specs
            .iter()
            .map(|spec| self.dir(&spec.id).join(runner::RUNNER_FILE))
            .collect();
        let runners: Vec<&std::path::Path> = runners.iter().map(PathBuf::as_path).collect();
        let umask = own_umask().unwrap_or_default();
        let keep = runner::keep_background_arg(self.config.keep_background);
        // A forker's command line names its runners: a few thousand paths
        // at most stay far below the kernel's limit on arguments.
        let chunks = runners.chunks(forker::RUNNERS_PER_FORKER);
        chunks
            .flat_map(|chunk| self.forked(chunk, &umask, keep, specs[0].env, gate))
            .collect()
    }

    /// One forker's share of [`LocalExecutor::fork_runners`].
    fn forked(
        &self,
        runners: &[&std::path::Path],
        umask: &str,
        keep: &str,
        env: &[(String, String)],
        gate: &spawn::Gate,
    ) -> Vec<Result<Launched, ExecutorError>> {
        match forker::fork_runners(runners, umask, keep, env, gate) {
            Ok(forked) => forked
                .into_iter()
                .map(|forked| match forked {
                    forker::Forked::Pid(pid) => Ok(launched(pid)),
                    // Its subshell may be parked: the task stays claimed for
                    // the next look, which finds its runner or starts it.
                    forker::Forked::Unknown => Err(ExecutorError::InDoubt {
                        executor: self.config.name.clone(),
                        message:
                            "the runner forker ended before saying whether it started the runner"
                                .to_owned(),
                    }),
                })
                .collect(),
            Err(err) => {
                let err = self.io_err("cannot start the task runners")(err);
                runners.iter().map(|_| Err(err.duplicate())).collect()
            }
        }
    }

    /// The payload's process group, once the runner has recorded it.
    fn payload_group(&self, task: &TaskRecord) -> Option<PayloadGroup> {
        let pgid = task.pid.or_else(|| {
            std::fs::read(self.dir(&task.id).join(runner::PID_FILE))
                .ok()
                .and_then(|b| runner::parse_pid_file(&b))
        })?;
        let since = process::started_after(task.runner_start.as_deref())?;
        Some(PayloadGroup { pgid, since })
    }
}

impl Executor for LocalExecutor {
    fn config(&self) -> &ExecutorConfig {
        &self.config
    }

    fn resolve_workspace(&self, workspace: &str) -> Result<String, ExecutorError> {
        // No workspace given: the directory the command was run from.
        let workspace = if workspace.is_empty() { "." } else { workspace };
        let path = std::fs::canonicalize(workspace)
            .map_err(self.io_err(format!("workspace `{workspace}` is not usable")))?;
        if !path.is_dir() {
            return Err(ExecutorError::failed(
                &self.config.name,
                format!("workspace `{workspace}` is not a directory"),
            ));
        }
        if !can_enter(&path) {
            return Err(ExecutorError::failed(
                &self.config.name,
                format!("workspace `{workspace}` cannot be entered (no search permission)"),
            ));
        }
        path.into_os_string().into_string().map_err(|_| {
            ExecutorError::failed(
                &self.config.name,
                format!("workspace `{workspace}` is not valid UTF-8"),
            )
        })
    }

    fn task_dir(&self, id: &TaskId) -> String {
        self.dir(id).to_string_lossy().into_owned()
    }

    fn sees_unrecorded_runners(&self) -> bool {
        true
    }

    fn runs_as_root(&self) -> Option<bool> {
        // SAFETY: geteuid has no preconditions.
        Some(unsafe { libc::geteuid() } == 0)
    }

    fn launch(&self, spec: &LaunchSpec<'_>) -> Result<Launched, ExecutorError> {
        self.launch_many(std::slice::from_ref(spec))
            .pop()
            .unwrap_or_else(|| Err(ExecutorError::failed(&self.config.name, "no launch")))
    }

    /// All runners are started first and returned at once, parked at one
    /// gate until [`open_launched`](Executor::open_launched). Several go
    /// through one forker (see [`forker`]).
    fn launch_many(&self, specs: &[LaunchSpec<'_>]) -> Vec<Result<Launched, ExecutorError>> {
        let gate = match spawn::Gate::new() {
            Ok(gate) => gate,
            Err(err) => {
                let err = self.io_err("cannot start the task runner")(err);
                return specs.iter().map(|_| Err(err.duplicate())).collect();
            }
        };
        let started = match specs {
            // One forker passes one environment on: this process's and the same `env`.
            [first, rest @ ..]
                if !rest.is_empty()
                    && specs.iter().all(|s| s.caller.is_none())
                    && rest.iter().all(|s| s.env == first.env) =>
            {
                self.fork_runners(specs, &gate)
            }
            _ => specs
                .iter()
                .map(|spec| self.start_runner(spec, &gate).map(launched))
                .collect(),
        };
        self.gates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(gate);
        started
    }

    /// Lets the runners go on. Each has had a session of its own since its
    /// spawn returned, so a dispatch acknowledges no task whose runner a
    /// signal to this process's group could reach.
    fn open_launched(&self) {
        let launches = std::mem::take(
            &mut *self
                .gates
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        launches.into_iter().for_each(spawn::Gate::open);
    }

    fn observe(&self, tasks: &[&TaskRecord]) -> Result<Vec<RunnerObservation>, ExecutorError> {
        Ok(tasks.iter().map(|task| self.observe_one(task)).collect())
    }

    fn kill(&self, task: &TaskRecord, grace: Duration, reason: &str) -> Result<(), ExecutorError> {
        self.kill_many(&[task], grace, reason)
    }

    /// Every tree gets its SIGTERM at once and one grace period, read from one
    /// process table per tick: killing 300 tasks takes as long as killing one.
    fn kill_many(
        &self,
        tasks: &[&TaskRecord],
        grace: Duration,
        reason: &str,
    ) -> Result<(), ExecutorError> {
        // A task whose dir is gone cannot be marked; the others are still killed.
        let mut first_error = None;
        let mut marked = Vec::with_capacity(tasks.len());
        for task in tasks {
            let dir = self.dir(&task.id);
            match fsutil::write_atomic(&dir.join(runner::KILL_MARKER), reason.as_bytes()) {
                Ok(()) => marked.push(*task),
                Err(err) => {
                    first_error
                        .get_or_insert_with(|| self.io_err("cannot mark the task as killed")(err));
                }
            }
        }
        let runner_alive = |task: &TaskRecord| {
            task.runner_pid
                .is_some_and(|pid| is_same_live_process(pid, task.runner_start.as_deref()))
        };
        // The runner writes task.pid right after starting the payload.
        let started = Instant::now();
        let mut groups = vec![None; marked.len()];
        loop {
            let mut waiting = false;
            for (group, task) in groups.iter_mut().zip(&marked) {
                if group.is_none() {
                    *group = self.payload_group(task);
                    waiting |= group.is_none() && runner_alive(task);
                }
            }
            if !waiting || started.elapsed() > Duration::from_secs(2) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let mut trees: Vec<TreeKill> = marked
            .iter()
            .zip(groups)
            .map(|(task, group)| {
                TreeKill::new(task.runner_pid.filter(|_| runner_alive(task)), group)
            })
            .collect();
        // One read of the process table per tick serves every tree: it
        // finds children forked meanwhile and tells who still runs.
        let mut table = ProcessIndex::scan();
        for tree in &mut trees {
            tree.signal_new(&table, libc::SIGTERM);
        }
        let any_alive = |trees: &[TreeKill], table: &ProcessIndex| {
            trees.iter().any(|tree| tree.any_alive(table))
        };
        let deadline = Instant::now() + grace;
        while any_alive(&trees, &table) && Instant::now() < deadline {
            std::thread::sleep(KILL_TICK.min(deadline.saturating_duration_since(Instant::now())));
            table = ProcessIndex::scan();
            // Children forked meanwhile get their SIGTERM too.
            for tree in &mut trees {
                tree.signal_new(&table, libc::SIGTERM);
            }
        }
        table = ProcessIndex::scan();
        for tree in &mut trees {
            tree.collect(&table);
            tree.signal_alive(&table, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while any_alive(&trees, &table) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
            table = ProcessIndex::scan();
        }
        first_error.map_or(Ok(()), Err)
    }

    fn has_live_processes(&self, task: &TaskRecord) -> Result<bool, ExecutorError> {
        // A runner that has written exit.json has nothing left to do but exit.
        if self.runner_alive(task) && !self.dir(&task.id).join(runner::EXIT_FILE).exists() {
            return Ok(true);
        }
        let Some(group) = self.payload_group(task) else {
            return Ok(false);
        };
        // Most ended tasks left nothing: one signal-0 says so without reading /proc.
        let pgid = libc::pid_t::try_from(group.pgid).unwrap_or(0);
        // SAFETY: kill with signal 0 only checks for the group's existence.
        if pgid <= 0 || unsafe { libc::kill(-pgid, 0) } != 0 {
            return Ok(false);
        }
        Ok(!ProcessIndex::scan().tree(None, Some(group)).is_empty())
    }

    fn tail_log(&self, task: &TaskRecord, lines: usize) -> Result<LogChunk, ExecutorError> {
        executor_core::executor::tail_local_log(&self.dir(&task.id), lines)
            .map_err(self.io_err("cannot read the task log"))
    }

    fn read_log(&self, task: &TaskRecord, offset: u64) -> Result<LogChunk, ExecutorError> {
        executor_core::executor::read_local_log(&self.dir(&task.id), offset)
            .map_err(self.io_err("cannot read the task log"))
    }

    fn check(&self, agents: &[AgentLaunch]) -> Result<ExecutorCheck, ExecutorError> {
        Ok(ExecutorCheck {
            summary: "this machine".to_owned(),
            agents: agents
                .iter()
                .map(|launch| AgentCheck {
                    launch: launch.clone(),
                    version: program_version(&launch.program),
                    probed: true,
                })
                .collect(),
        })
    }

    fn read_transcript(&self, _task: &TaskRecord, path: &str) -> Result<Vec<u8>, ExecutorError> {
        let home = std::env::var("HOME").unwrap_or_default();
        let path = executor_core::agent::under_home(&home, path);
        std::fs::read(&path).map_err(self.io_err(format!("cannot read transcript {path}")))
    }

    fn run_script(&self, script: &str, args: &[&str]) -> Result<ScriptOutput, ExecutorError> {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .arg("sh")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(self.io_err("cannot run /bin/sh"))?;
        Ok(ScriptOutput {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: out.stderr,
        })
    }

    fn place(&self) -> String {
        "this machine".to_owned()
    }

    fn read_task_file(&self, task: &TaskRecord, name: &str) -> Result<Vec<u8>, ExecutorError> {
        std::fs::read(self.dir(&task.id).join(name))
            .map_err(self.io_err(format!("cannot read {name} of task {}", task.id)))
    }

    fn remove(&self, task: &TaskRecord) -> Result<(), ExecutorError> {
        match std::fs::remove_dir_all(self.dir(&task.id)) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(self.io_err("cannot remove the task directory")(err))
            }
            _ => Ok(()),
        }
    }
}

/// A forked runner with its identity (its start time is its fork's).
fn launched(runner_pid: u32) -> Launched {
    Launched {
        runner_pid,
        runner_start: read_process(runner_pid).map(|info| process::identity(&info)),
    }
}

/// The processes of a task's tree, remembered once seen: a process whose
/// parent died first is reparented away from the runner but must still end.
struct TreeKill {
    root: Option<u32>,
    group: Option<PayloadGroup>,
    seen: Vec<process::ProcessInfo>,
    signalled: usize,
}

impl TreeKill {
    fn new(root: Option<u32>, group: Option<PayloadGroup>) -> Self {
        Self {
            root,
            group,
            seen: Vec::new(),
            signalled: 0,
        }
    }

    fn collect(&mut self, table: &ProcessIndex) {
        for info in table.tree(self.root, self.group) {
            if !self
                .seen
                .iter()
                .any(|s| s.pid == info.pid && s.start_ticks == info.start_ticks)
            {
                self.seen.push(info);
            }
        }
    }

    /// Members still running as the same process (not a reused pid).
    fn alive<'a>(&'a self, table: &'a ProcessIndex) -> impl Iterator<Item = u32> + 'a {
        self.seen.iter().filter(|s| table.runs(s)).map(|s| s.pid)
    }

    fn any_alive(&self, table: &ProcessIndex) -> bool {
        self.alive(table).next().is_some()
    }

    /// Signals members not signalled yet (and the group, the first time).
    fn signal_new(&mut self, table: &ProcessIndex, signal: libc::c_int) {
        self.collect(table);
        if self.signalled == 0 {
            self.signal_group(table, signal);
        }
        for info in &self.seen[self.signalled..] {
            send(info.pid, signal);
        }
        self.signalled = self.seen.len();
    }

    fn signal_alive(&self, table: &ProcessIndex, signal: libc::c_int) {
        self.signal_group(table, signal);
        for pid in self.alive(table) {
            send(pid, signal);
        }
    }

    fn signal_group(&self, table: &ProcessIndex, signal: libc::c_int) {
        // Only a group that still holds a process of this task: the id may have been reused.
        let live_group = self
            .group
            .map(|g| g.pgid)
            .filter(|pgid| self.seen.iter().any(|p| p.pgrp == *pgid) && self.any_alive(table));
        if let Some(pgid) = live_group.and_then(|p| libc::pid_t::try_from(p).ok()) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(-pgid, signal) };
        }
    }
}

fn send(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(pid, signal) };
    }
}

/// `claude --version`'s first line, waiting at most a few seconds.
/// The first line `program --version` prints; `None` when it cannot run.
fn program_version(program: &str) -> Option<String> {
    let mut child = Command::new(program)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    while child.try_wait().ok()?.is_none() {
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    output
        .status
        .success()
        .then(|| text.lines().next().unwrap_or_default().trim().to_owned())
}

/// Whether this process may `cd` into `dir` (search permission), as the payload must.
fn can_enter(dir: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c_path` is a valid NUL-terminated string that outlives the call.
    unsafe { libc::access(c_path.as_ptr(), libc::X_OK) == 0 }
}
