//! Faults of a Slurm login node, for real: the login node is a namespace host
//! (`NetnsHost`) with a private `/tmp` that a reboot wipes. It keeps seeing the
//! test cluster's directory (its slurm.conf and munge socket, which a real
//! login node has on its own disk) and reaches slurmctld on its own loopback
//! through a forwarder that does not cross its link. The task root is on the
//! "shared file system": a directory of this machine's `/var/tmp`, which the
//! login node and the compute node (slurmd, on this machine) both see.
//!
//! ```text
//!  client netns                       login node netns (own PID + mount ns)
//!  openclaw-agent, ssh  ── veth ──   sshd, sbatch/squeue/scancel/srun
//!                                     private tmpfs /tmp
//!  shared: /var/tmp/openclaw-slurm-shared-*/tasks (the task root)
//!  compute node: slurmd on this machine, writes the job's files there
//! ```
//!
//! Guarantees held here are listed in `docs/reliability.md` ("Slurm through a
//! login node").

use std::path::{Path, PathBuf};
use std::sync::RwLockReadGuard;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::netns::NetnsHost;
use test_support::slurm::Cluster;
use test_support::sshd::ROOT_USER;

use super::{
    FAKETIME_LIB, Interrupted, SLOW_LINK_DELAY, SLOW_LINK_LOSS, UNREACHABLE_BOUND, counting_task,
    quiet_claude, run_killed_at, seconds_between, ticks, which,
};
use crate::helpers::{TestEnv, eventually};

/// How long a job may wait for a CPU of the test cluster's node (2 CPUs,
/// shared by every Slurm test of the run).
const JOB_START: Duration = Duration::from_secs(120);

/// What `kill` through a login node may take over the slow link.
const SLURM_KILL_BOUND: Duration = Duration::from_secs(30);

/// How the login node and its cluster are laid out for one test.
#[derive(Default)]
struct Layout<'a> {
    /// Delay each way on the login node's link (a relay in front of its sshd).
    delay: Option<Duration>,
    /// A tmpfs of this size on the task root (the full-disk tests).
    task_root_size: Option<&'a str>,
    /// More `NAME=value` for every SSH session on the login node.
    login_env: &'a [&'a str],
    /// Config text before `executors:`.
    defaults: &'a str,
    /// More lines of the executor (indented 4).
    executor: &'a str,
}

/// A small tmpfs mounted on a directory of this machine, unmounted on drop.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

struct LoginNode {
    env: TestEnv,
    host: NetnsHost,
    cluster: Cluster,
    /// On the shared file system.
    task_root: PathBuf,
    _mount: Option<Mount>,
    shared: tempfile::TempDir,
    _node: RwLockReadGuard<'static, ()>,
}

/// `KEY=value` of slurm.conf.
fn conf_value(conf: &str, key: &str) -> String {
    conf.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("{key} in slurm.conf"))
}

impl LoginNode {
    fn start(layout: Layout<'_>) -> Option<Self> {
        let cluster = test_support::slurm::cluster()?;
        let node = crate::slurm::NODE.read().unwrap_or_else(|e| e.into_inner());
        let shared = tempfile::Builder::new()
            .prefix("openclaw-slurm-shared-")
            .tempdir_in("/var/tmp")
            .expect("shared dir");
        let task_root = shared.path().join("tasks");
        // Mounted before the login node boots, so that its mount namespace
        // (a copy of this one) has it too.
        let mount = layout.task_root_size.map(|size| {
            std::fs::create_dir(&task_root).expect("task root");
            let mounted = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o"])
                .arg(format!("size={size},mode=0700"))
                .arg("openclaw-task-root")
                .arg(&task_root)
                .status()
                .is_ok_and(|s| s.success());
            assert!(mounted, "mount a tmpfs on {}", task_root.display());
            Mount(task_root.clone())
        });
        let cluster_dir = cluster.conf.parent().expect("cluster dir").to_owned();
        let mut host = NetnsHost::start_keeping("64m", &[cluster_dir])?;
        if let Some(delay) = layout.delay {
            host.delay(delay);
        }
        let conf = std::fs::read_to_string(&cluster.conf).expect("slurm.conf");
        let port: u16 = conf_value(&conf, "SlurmctldPort")
            .parse()
            .expect("SlurmctldPort");
        host.forward_loopback(port);
        // sshd takes the first SetEnv line only: all of them on one.
        let mut session = vec![format!("SLURM_CONF={}", cluster.conf.display())];
        session.extend(layout.login_env.iter().map(|s| (*s).to_owned()));
        host.session_env(&session.join(" "));
        let mut env = TestEnv::new();
        // Short socket paths: unix sockets are limited to ~100 bytes.
        let control = env.home().join("cm");
        std::fs::create_dir(&control).expect("control dir");
        std::fs::set_permissions(
            &control,
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .expect("control dir mode");
        env.set_env("OPENCLAW_SSH_CONTROL_DIR", control.to_str().expect("utf-8"));
        env.set_prefix(host.client_prefix());
        let t = Self {
            env,
            host,
            cluster,
            task_root,
            _mount: mount,
            shared,
            _node: node,
        };
        t.write_config(layout.defaults, layout.executor);
        Some(t)
    }

    fn write_config(&self, defaults: &str, executor: &str) {
        self.env.write_config(&format!(
            "{defaults}executors:\n{}    task_root: {}\n{executor}",
            self.host
                .executor_yaml("hpc", ROOT_USER)
                .replace("type: ssh", "type: slurm"),
            self.task_root.display()
        ));
    }

    /// A directory both the login node and the compute node see.
    fn shared_dir(&self) -> &Path {
        self.shared.path()
    }

    fn run_task(&self, cmd: &str) -> String {
        let out = self.env.ok(&["run", "--executor", "hpc", "--cmd", cmd]);
        out.lines().next().expect("task id").to_owned()
    }

    fn dir(&self, id: &str) -> PathBuf {
        self.task_root.join(id)
    }

    fn log_size(&self, id: &str) -> u64 {
        std::fs::metadata(self.dir(id).join("task.log")).map_or(0, |m| m.len())
    }

    /// Waits for the job's first output: it runs on the compute node, once
    /// the node (shared with the other Slurm tests) has a free CPU.
    fn wait_output(&self, id: &str) {
        assert!(
            eventually(JOB_START, || self.log_size(id) > 0),
            "the job did not start: {}",
            self.env.status(id)
        );
    }

    /// What Slurm says of the task's job.
    fn job_state(&self, id: &str) -> String {
        let job = std::fs::read_to_string(self.dir(id).join("slurm-job")).expect("job id");
        self.cluster
            .job(job.trim())
            .map(|j| j.state)
            .unwrap_or_default()
    }

    fn completions(&self, id: &str) -> usize {
        std::fs::read_dir(self.env.completions_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(id))
            .count()
    }

    fn tasks(&self) -> Vec<Value> {
        serde_json::from_str(&self.env.ok(&["list", "--json"])).expect("list json")
    }

    /// Jobs of this test's tasks that Slurm still has queued or running.
    fn live_jobs(&self) -> Vec<String> {
        let output = std::process::Command::new("squeue")
            .args([
                "--noheader",
                "--states=PENDING,CONFIGURING,RUNNING,COMPLETING,SUSPENDED",
                "-O",
                "JobID:|,Name:|",
            ])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("squeue");
        let ours = |name: &str| {
            name.strip_prefix("openclaw-")
                .is_some_and(|id| self.env.task_dir(id).exists() || self.dir(id).exists())
        };
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| {
                let mut fields = l.split('|').map(str::trim);
                let (job, name) = (fields.next()?, fields.next()?);
                ours(name).then(|| job.to_owned())
            })
            .collect()
    }

    /// Entries of the shared task root.
    fn task_root_entries(&self) -> Vec<String> {
        std::fs::read_dir(&self.task_root)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }
}

impl Drop for LoginNode {
    /// Cancels what a failed test left, so the node is free for the others.
    fn drop(&mut self) {
        let jobs = self.live_jobs();
        if !jobs.is_empty() {
            let _ = std::process::Command::new("scancel")
                .args(&jobs)
                .stdin(std::process::Stdio::null())
                .status();
        }
    }
}

fn login_node_link_cut_mid_task() {
    let Some(t) = LoginNode::start(Layout::default()) else {
        return;
    };
    let id = t.run_task(&counting_task(30));
    t.wait_output(&id);
    assert_eq!(t.env.status(&id)["status"], "running");
    t.host.cut_link();
    let cut = Instant::now();

    let started = Instant::now();
    let run = t.env.run(&["status", "--task-id", &id, "--json"]);
    let took = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
    assert!(took < UNREACHABLE_BOUND, "status took {took:?}");
    let status: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(status["status"], "running", "{status}");
    let before = t.log_size(&id);
    assert!(
        eventually(Duration::from_secs(5), || t.log_size(&id) > before),
        "the job stopped with the link"
    );

    std::thread::sleep(Duration::from_secs(20).saturating_sub(cut.elapsed()));
    t.host.restore_link();
    let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "50"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = t.env.status(&id);
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        t.env.ok(&["logs", "--task-id", &id, "-n", "100"]),
        ticks(30)
    );
    assert_eq!(t.job_state(&id), "COMPLETED", "one job, completed");
    assert_eq!(t.completions(&id), 1);
    t.env.ok(&["cleanup", "--task-id", &id]);
    assert!(!t.dir(&id).exists());
}

fn login_node_sshd_restart_mid_task() {
    let Some(mut t) = LoginNode::start(Layout::default()) else {
        return;
    };
    let id = t.run_task(&counting_task(8));
    t.wait_output(&id);
    assert_eq!(t.env.status(&id)["status"], "running");
    let logins = t.host.logins();
    t.host.restart_sshd();
    // The shared connection died with its session; the next command opens one
    // new connection, and the job runs on meanwhile.
    let run = t.env.run(&["status", "--task-id", &id, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(status["status"], "running", "{status}\n{}", run.stderr);
    let before = t.log_size(&id);
    assert!(
        eventually(Duration::from_secs(5), || t.log_size(&id) > before),
        "the job stopped with sshd"
    );
    let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "150"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(t.env.status(&id)["status"], "completed");
    assert_eq!(t.env.ok(&["logs", "--task-id", &id, "-n", "100"]), ticks(8));
    assert_eq!(t.completions(&id), 1);
    assert_eq!(t.job_state(&id), "COMPLETED");
    // One login re-established the shared connection for all those commands.
    assert_eq!(t.host.logins(), logins + 1, "{}", t.host.sshd_log());
}

fn login_node_delay_and_loss_every_command_completes_within_a_bound() {
    let Some(t) = LoginNode::start(Layout {
        delay: Some(SLOW_LINK_DELAY),
        ..Layout::default()
    }) else {
        return;
    };
    t.host.add_loss(SLOW_LINK_LOSS);
    let timed =
        |args: &[&str]| super::run_within_slow_link_bound(&t.env, args, "slurm via a slow link: ");
    // A payload bigger than a few packets, so loss hits the submission itself.
    let blob = "x".repeat(60_000);
    let out = timed(&[
        "run",
        "--executor",
        "hpc",
        "--cmd",
        &format!("echo {blob} | wc -c; for i in 1 2 3; do echo line$i; done"),
    ]);
    let id = out.lines().next().expect("id").to_owned();
    // Timed once the job is over: the bound is the link's, not the queue's.
    assert!(
        eventually(JOB_START, || t.dir(&id).join("exit.json").exists()),
        "the job did not end"
    );
    timed(&["wait", "--task-id", &id, "--timeout", "30"]);
    let status: Value =
        serde_json::from_str(&timed(&["status", "--task-id", &id, "--json"])).expect("status json");
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        timed(&["logs", "--task-id", &id]),
        "60001\nline1\nline2\nline3\n"
    );
    let out = timed(&["run", "--executor", "hpc", "--cmd", "echo up; sleep 300"]);
    let long = out.lines().next().expect("id").to_owned();
    t.wait_output(&long);
    timed(&["list"]);
    // kill has its own bound: here srun cannot reach the compute node from the
    // login node, and Slurm gives up on it after its message timeout (10 s).
    let started = Instant::now();
    let run = t.env.run(&["kill", "--task-id", &long, "--grace", "1"]);
    let took = started.elapsed();
    eprintln!("slurm via a slow link: kill took {took:?}");
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(took < SLURM_KILL_BOUND, "kill took {took:?}");
    assert_eq!(t.env.status(&long)["status"], "killed");
    assert!(
        eventually(Duration::from_secs(10), || t.live_jobs().is_empty()),
        "jobs left: {:?}",
        t.live_jobs()
    );
    timed(&["cleanup", "--task-id", &id]);
    timed(&["cleanup", "--task-id", &long]);
    assert!(
        t.task_root_entries().is_empty(),
        "{:?}",
        t.task_root_entries()
    );
}

/// The login node reboots mid-task: its processes die, its `/tmp` goes. The
/// job lives on the compute node and the task dir on the shared file system,
/// so the task is followed on once the login node is back, and runs once.
fn login_node_reboot_mid_task_the_job_runs_on_once() {
    let Some(mut t) = LoginNode::start(Layout::default()) else {
        return;
    };
    let runs = t.shared_dir().join("runs");
    let id = t.run_task(&format!(
        "echo start >> {}; {}",
        runs.display(),
        counting_task(8)
    ));
    t.wait_output(&id);
    assert_eq!(t.env.status(&id)["status"], "running");
    let marker = t.host.path("/tmp/before-reboot");
    std::fs::write(&marker, "x").expect("marker on the login node's /tmp");
    t.host.reboot();
    assert!(!marker.exists(), "the reboot wiped the login node's /tmp");
    let run = t.env.run(&["status", "--task-id", &id, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(status["status"], "running", "{status}\n{}", run.stderr);
    let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "150"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = t.env.status(&id);
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(t.env.ok(&["logs", "--task-id", &id, "-n", "100"]), ticks(8));
    assert_eq!(t.completions(&id), 1);
    assert_eq!(t.job_state(&id), "COMPLETED");
    // Later looks change nothing; nothing started again.
    t.env.ok(&["list"]);
    assert_eq!(t.env.status(&id), status);
    assert_eq!(
        std::fs::read_to_string(&runs).expect("runs"),
        "start\n",
        "ran once"
    );
    assert!(t.live_jobs().is_empty(), "{:?}", t.live_jobs());
}

/// The most a short task may seem to last: its run, and its job's wait for a
/// CPU of the node the other Slurm tests share ([`JOB_START`]).
const QUEUED_RUN_SECS: f64 = 130.0;

/// Durations and stall detection with the clocks apart. `login_env` fakes the
/// login node's clock (its `date`, its Slurm commands); `cli_offset` fakes
/// this machine's (the CLI and its ssh), which leaves the login node, the
/// compute node and the shared file system on the one real clock.
fn slurm_clock_skew(login_env: &[&str], cli_offset: Option<&str>) {
    if !Path::new(FAKETIME_LIB).exists() {
        test_support::missing("libfaketime: apt-get install libfaketime");
        return;
    }
    let defaults = "defaults:\n  stall_timeout: 60\n  kill_on_stall: true\n";
    let Some(mut t) = LoginNode::start(Layout {
        login_env,
        defaults,
        ..Layout::default()
    }) else {
        return;
    };
    let claude = quiet_claude(t.shared_dir());
    t.write_config(
        defaults,
        &format!(
            "    claude_path: {}\n    allow_root: true\n",
            claude.display()
        ),
    );
    if let Some(offset) = cli_offset {
        let mut prefix = t.host.client_prefix();
        prefix.extend(
            [
                "env",
                &format!("LD_PRELOAD={FAKETIME_LIB}"),
                &format!("FAKETIME={offset}"),
                "DONT_FAKE_MONOTONIC=1",
            ]
            .map(str::to_owned),
        );
        t.env.set_prefix(prefix);
    }

    // Durations: a 2 s task lasts 2 s plus whatever its job waited for a CPU
    // of the shared node: never an hour more or less.
    let id = t.run_task("sleep 2");
    let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "150"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = t.env.status(&id);
    assert_eq!(status["status"], "completed", "{status}");
    let took = seconds_between(&status["started_at"], &status["ended_at"]);
    assert!(
        (0.5..QUEUED_RUN_SECS).contains(&took),
        "lasted {took} s: {status}"
    );

    // Stall detection: a quiet agent 4 s into a 60 s stall timeout is not stalled.
    let out = t
        .env
        .json(&["start", "--executor", "hpc", "--prompt", "hello", "--json"]);
    let agent = out["task_id"].as_str().expect("id").to_owned();
    t.wait_output(&agent);
    let list = t.env.ok(&["list"]);
    assert!(!list.contains("stalled"), "{list}");
    let run = t
        .env
        .run(&["wait", "--task-id", &agent, "--timeout", "150"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = t.env.status(&agent);
    assert_eq!(status["status"], "completed", "killed as stalled? {status}");
    let took = seconds_between(&status["started_at"], &status["ended_at"]);
    assert!(
        (2.0..QUEUED_RUN_SECS).contains(&took),
        "lasted {took} s: {status}"
    );
}

fn clock_skew_login_node_an_hour_ahead() {
    let preload = format!("LD_PRELOAD={FAKETIME_LIB}");
    slurm_clock_skew(&[&preload, "FAKETIME=+1h"], None);
}

fn clock_skew_cluster_an_hour_behind() {
    slurm_clock_skew(&[], Some("+1h"));
}

fn clock_skew_cluster_an_hour_ahead() {
    slurm_clock_skew(&[], Some("-1h"));
}

/// Fills the file system of `dir` up to the last byte.
fn fill_disk(dir: &Path) -> PathBuf {
    let fill = dir.join("fill");
    let mut file = std::fs::File::create(&fill).expect("fill file");
    let chunk = vec![0u8; 64 * 1024];
    let mut size = chunk.len();
    while size > 0 {
        use std::io::Write;
        if file.write_all(&chunk[..size]).is_err() {
            size /= 2;
        }
    }
    fill
}

fn full_task_root_fails_dispatch_cleanly() {
    let Some(t) = LoginNode::start(Layout {
        task_root_size: Some("4m"),
        ..Layout::default()
    }) else {
        return;
    };
    let first = t.run_task("true");
    let run = t
        .env
        .run(&["wait", "--task-id", &first, "--timeout", "150"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let fill = fill_disk(&t.task_root);
    let run = t.env.run(&["run", "--executor", "hpc", "--cmd", "echo hi"]);
    run.assert_error(5, "No space left on device");
    let tasks = t.tasks();
    let failed: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["task_id"] != first.as_str())
        .collect();
    assert_eq!(failed.len(), 1, "{tasks:?}");
    assert_eq!(failed[0]["status"], "failed", "{tasks:?}");
    let id = failed[0]["task_id"].as_str().expect("id");
    assert!(!t.dir(id).exists(), "a partial task dir was left");
    assert!(t.live_jobs().is_empty(), "{:?}", t.live_jobs());
    std::fs::remove_file(fill).expect("free the disk");
    let id = t.run_task("echo again");
    let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "150"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(t.env.ok(&["logs", "--task-id", &id]), "again\n");
}

fn log_filling_the_task_root_fails_the_task_with_the_reason() {
    let Some(t) = LoginNode::start(Layout {
        task_root_size: Some("4m"),
        ..Layout::default()
    }) else {
        return;
    };
    let id = t.run_task("cat /dev/zero");
    let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "150"]);
    let status = t.env.status(&id);
    assert_eq!(status["status"], "failed", "{status}\n{}", run.stderr);
    let reason = status["reason"].as_str().expect("reason");
    assert!(reason.contains("no space left"), "{reason}");
    assert!(t.live_jobs().is_empty(), "{:?}", t.live_jobs());
}

/// The points of the SIGKILL sweeps through a login node: (syscall, first,
/// last, step). Fewer than the SSH sweeps' (each point costs a job here); the
/// steps keep one point in each stretch of index writes, and every point
/// around the remote call (`clone` of ssh, `write` of the script, `wait4`).
const SLURM_KILL_POINTS: &[(&str, u32, u32, u32)] = &[
    ("openat", 1, 30, 3),
    ("mkdir", 1, 10, 2),
    ("pwrite64", 1, 60, 6),
    ("fsync", 1, 8, 2),
    ("write", 1, 8, 1),
    ("rename", 1, 3, 1),
    ("unlink", 1, 3, 1),
    ("clone", 1, 3, 1),
    ("wait4", 1, 4, 1),
];

/// The kill sweep's points: sparser still, as every point past the start of
/// the remote kill costs a kill through the login node (where, in this
/// fixture, `srun` cannot reach the compute node and Slurm's fallback takes
/// about 12 s).
const SLURM_KILL_SWEEP_POINTS: &[(&str, u32, u32, u32)] = &[
    ("openat", 1, 30, 6),
    ("pwrite64", 1, 60, 15),
    ("fsync", 1, 8, 3),
    ("write", 1, 8, 2),
    ("rename", 1, 3, 1),
    ("clone", 1, 3, 1),
    ("wait4", 1, 4, 1),
];

/// Calls `each(syscall, n)` for every point until it returns false (the
/// command got through: later points of that syscall are past its end).
fn slurm_sweep(each: impl FnMut(&str, u32) -> bool) -> usize {
    super::sweep_over(SLURM_KILL_POINTS, each)
}

fn traced_login_node() -> Option<LoginNode> {
    if which("strace").is_none() {
        test_support::missing("strace: apt-get install strace");
        return None;
    }
    LoginNode::start(Layout::default())
}

fn sigkill_of_the_cli_at_every_point_of_slurm_dispatch() {
    let Some(mut t) = traced_login_node() else {
        return;
    };
    let runs = t.shared_dir().join("runs");
    std::fs::create_dir(&runs).expect("runs dir");
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    let mut tags = Vec::new();
    let points = slurm_sweep(|syscall, n| {
        let tag = format!("{syscall}-{n}");
        tags.push(tag.clone());
        let cmd = format!("echo {tag} >> {}/{tag}", runs.display());
        let args = ["run", "--executor", "hpc", "--cmd", &cmd];
        match run_killed_at(&mut t.env, &t.host, syscall, n, &args) {
            Interrupted::Killed => true,
            Interrupted::Done(run) => {
                assert_eq!(run.code, 0, "{tag}: {}", run.stderr);
                let id = run.stdout.lines().next().expect("id").to_owned();
                acknowledged.push((tag, id));
                false
            }
        }
    });
    eprintln!("slurm dispatch: {points} kill points");
    super::assert_dispatch_sweep_settled(
        || t.tasks(),
        |id| t.env.status(id),
        &runs,
        &tags,
        &acknowledged,
        Duration::from_secs(90),
    );
    assert!(t.live_jobs().is_empty(), "{:?}", t.live_jobs());
}

fn sigkill_of_the_cli_at_every_point_of_slurm_kill() {
    let Some(mut t) = traced_login_node() else {
        return;
    };
    // A task is used for successive points until a kill touched it.
    let mut current: Option<String> = None;
    let points = super::sweep_over(SLURM_KILL_SWEEP_POINTS, |syscall, n| {
        let id = current.take().unwrap_or_else(|| {
            let id = t.run_task("echo up; sleep 300");
            t.wait_output(&id);
            id
        });
        let args = ["kill", "--task-id", &id, "--grace", "1"];
        let outcome = run_killed_at(&mut t.env, &t.host, syscall, n, &args);
        let untouched = !t.dir(&id).join("kill.requested").exists()
            && t.job_state(&id) == "RUNNING"
            && t.env.status(&id)["status"] == "running";
        if untouched && matches!(outcome, Interrupted::Killed) {
            current = Some(id);
            return true;
        }
        let again = t.env.run(&["kill", "--task-id", &id, "--grace", "1"]);
        assert!(
            again.code == 0 || again.code == 7,
            "{syscall}@{n}: {}",
            again.stderr
        );
        assert_eq!(t.env.status(&id)["status"], "killed", "{syscall}@{n}");
        assert!(
            eventually(Duration::from_secs(10), || t.live_jobs().is_empty()),
            "{syscall}@{n}: job left in squeue: {:?}",
            t.live_jobs()
        );
        matches!(outcome, Interrupted::Killed)
    });
    eprintln!("slurm kill: {points} kill points");
    if let Some(id) = current {
        t.env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
    }
    assert!(
        eventually(Duration::from_secs(10), || t.live_jobs().is_empty()),
        "{:?}",
        t.live_jobs()
    );
}

fn sigkill_of_the_cli_at_every_point_of_slurm_cleanup() {
    let Some(mut t) = traced_login_node() else {
        return;
    };
    let mut current: Option<String> = None;
    let points = slurm_sweep(|syscall, n| {
        let id = current.take().unwrap_or_else(|| {
            let id = t.run_task("true");
            let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "150"]);
            assert_eq!(run.code, 0, "{}", run.stderr);
            id
        });
        let outcome = run_killed_at(
            &mut t.env,
            &t.host,
            syscall,
            n,
            &["cleanup", "--task-id", &id],
        );
        let untouched = t.dir(&id).join("exit.json").exists()
            && t.env.task_dir(&id).exists()
            && t.env.run(&["status", "--task-id", &id]).code == 0;
        if untouched && matches!(outcome, Interrupted::Killed) {
            current = Some(id);
            return true;
        }
        let again = t.env.run(&["cleanup", "--task-id", &id]);
        assert!(
            again.code == 0 || again.code == 4,
            "{syscall}@{n}: {}",
            again.stderr
        );
        assert!(!t.dir(&id).exists(), "{syscall}@{n}: left on the task root");
        assert!(!t.env.task_dir(&id).exists(), "{syscall}@{n}: left here");
        matches!(outcome, Interrupted::Killed)
    });
    eprintln!("slurm cleanup: {points} kill points");
    t.env.ok(&["cleanup", "--finished"]);
    assert!(
        t.task_root_entries().is_empty(),
        "left on the task root after cleanup: {:?}",
        t.task_root_entries()
    );
}

/// Runs independent scenarios at once, each with a login node of its own (the
/// node's CPUs, not the scenarios, are what is shared), and fails with the
/// first that failed, by name.
fn in_parallel(scenarios: &[(&'static str, fn())]) {
    let running: Vec<_> = scenarios
        .iter()
        .map(|&(name, scenario)| {
            let thread = std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(scenario)
                .expect("spawn a scenario");
            (name, thread)
        })
        .collect();
    let failed: Vec<&str> = running
        .into_iter()
        .filter_map(|(name, thread)| thread.join().is_err().then_some(name))
        .collect();
    assert!(
        failed.is_empty(),
        "failed: {failed:?} (their panics are above)"
    );
}

#[test]
fn slurm_login_node_link_cut_sshd_restart_reboot_delay_and_loss() {
    in_parallel(&[
        ("login_node_link_cut_mid_task", login_node_link_cut_mid_task),
        (
            "login_node_sshd_restart_mid_task",
            login_node_sshd_restart_mid_task,
        ),
        (
            "login_node_reboot_mid_task_the_job_runs_on_once",
            login_node_reboot_mid_task_the_job_runs_on_once,
        ),
        (
            "login_node_delay_and_loss_every_command_completes_within_a_bound",
            login_node_delay_and_loss_every_command_completes_within_a_bound,
        ),
    ]);
}

#[test]
fn slurm_login_node_clock_skew_and_full_task_root() {
    in_parallel(&[
        (
            "clock_skew_login_node_an_hour_ahead",
            clock_skew_login_node_an_hour_ahead,
        ),
        (
            "clock_skew_cluster_an_hour_behind",
            clock_skew_cluster_an_hour_behind,
        ),
        (
            "clock_skew_cluster_an_hour_ahead",
            clock_skew_cluster_an_hour_ahead,
        ),
        (
            "full_task_root_fails_dispatch_cleanly",
            full_task_root_fails_dispatch_cleanly,
        ),
        (
            "log_filling_the_task_root_fails_the_task_with_the_reason",
            log_filling_the_task_root_fails_the_task_with_the_reason,
        ),
    ]);
}

#[test]
fn slurm_sigkill_of_the_cli_at_every_point_of_dispatch_kill_and_cleanup() {
    in_parallel(&[
        (
            "sigkill_of_the_cli_at_every_point_of_slurm_dispatch",
            sigkill_of_the_cli_at_every_point_of_slurm_dispatch,
        ),
        (
            "sigkill_of_the_cli_at_every_point_of_slurm_kill",
            sigkill_of_the_cli_at_every_point_of_slurm_kill,
        ),
        (
            "sigkill_of_the_cli_at_every_point_of_slurm_cleanup",
            sigkill_of_the_cli_at_every_point_of_slurm_cleanup,
        ),
    ]);
}
