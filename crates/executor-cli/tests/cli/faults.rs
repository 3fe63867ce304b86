//! Faults on remote hosts, for real: each test builds a "host" out of network
//! namespaces (test-support `netns/`: its own netns, veth link, address, PID
//! and mount namespaces, sshd and a tmpfs `/tmp`) and runs the CLI in a client
//! namespace on the other end of the link, so that the link can really fail.
//!
//! Faults and how they are made:
//! - link cut: `ip link set down` on the host's end of the veth (packets vanish);
//! - sshd restart: the listener and every session it serves end, sshd starts again;
//! - reboot: the host's PID namespace init is SIGKILLed (every process dies) and
//!   its `/tmp` (the task root) is gone;
//! - delay: a delaying TCP relay inside the host namespace. Not `tc qdisc netem`:
//!   this machine's kernel has no `sch_netem` ("Specified qdisc kind is unknown"),
//!   and a CI kernel need not have it either;
//! - loss: `iptables -m statistic --mode random --probability P -j DROP` on the
//!   host's end, both directions.
//!
//! Guarantees held here are listed in `docs/reliability.md` ("Remote hosts").

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use test_support::netns::NetnsHost;
use test_support::sshd::ROOT_USER;

use crate::helpers::{TestEnv, eventually};

mod slurm;

/// The longest a command may take to say a host whose link is down cannot be
/// reached (docs/ssh.md: a dead link is noticed within about 10 s, a new
/// connection gives up within the retry budget).
const UNREACHABLE_BOUND: Duration = Duration::from_secs(30);

/// The default task root on the host: on its `/tmp`, which a reboot wipes.
const TASK_ROOT: &str = "/tmp/openclaw-tasks";

struct Remote {
    env: TestEnv,
    host: NetnsHost,
}

impl Remote {
    fn new() -> Option<Self> {
        Self::build("64m", None)
    }

    fn build(tmp_size: &str, delay: Option<Duration>) -> Option<Self> {
        let mut host = NetnsHost::start(tmp_size)?;
        if let Some(delay) = delay {
            host.delay(delay);
        }
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
        env.write_config(&format!(
            "executors:\n{}",
            host.executor_yaml("box", ROOT_USER)
        ));
        Some(Self { env, host })
    }

    fn run_task(&self, cmd: &str) -> String {
        let out = self.env.ok(&["run", "--executor", "box", "--cmd", cmd]);
        out.lines().next().expect("task id").to_owned()
    }

    /// The task's directory on the host, as seen from here.
    fn host_dir(&self, id: &str) -> PathBuf {
        self.host.path(&format!("{TASK_ROOT}/{id}"))
    }

    fn log_size(&self, id: &str) -> u64 {
        std::fs::metadata(self.host_dir(id).join("task.log")).map_or(0, |m| m.len())
    }

    fn status(&self, id: &str) -> Value {
        self.env.status(id)
    }

    /// Completion records written for `id` (the file is written once, by rename).
    fn completions(&self, id: &str) -> usize {
        std::fs::read_dir(self.env.completions_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(id))
            .count()
    }
}

fn ticks(n: u32) -> String {
    (1..=n).map(|i| format!("tick{i}\n")).collect()
}

fn counting_task(n: u32) -> String {
    format!("i=0; while [ $i -lt {n} ]; do i=$((i + 1)); echo tick$i; sleep 1; done")
}

#[test]
fn link_cut_for_30_seconds_mid_task() {
    let Some(t) = Remote::new() else { return };
    let id = t.run_task(&counting_task(40));
    assert!(eventually(Duration::from_secs(10), || t.log_size(&id) > 0));
    assert_eq!(t.status(&id)["status"], "running");
    // Follows the log across the cut, until the task ends.
    let following = {
        let command = t.env.command(&["logs", "--task-id", &id, "--follow"]);
        std::thread::spawn(move || crate::helpers::run_bounded(command))
    };
    std::thread::sleep(Duration::from_secs(1));
    t.host.cut_link();
    let cut = Instant::now();

    // Commands say the host cannot be reached, within a bound, and change nothing.
    let waiting = {
        let command = t.env.command(&["wait", "--task-id", &id, "--timeout", "3"]);
        std::thread::spawn(move || {
            let started = Instant::now();
            (crate::helpers::run_bounded(command), started.elapsed())
        })
    };
    let started = Instant::now();
    let run = t.env.run(&["status", "--task-id", &id, "--json"]);
    let took = started.elapsed();
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("cannot reach"), "{}", run.stderr);
    assert!(
        took < UNREACHABLE_BOUND,
        "status took {took:?} against a cut link"
    );
    eprintln!("status against a cut link answered in {took:?}");
    let status: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(status["status"], "running", "last known state: {status}");
    let started = Instant::now();
    let run = t.env.run(&["logs", "--task-id", &id]);
    run.assert_error(5, "cannot reach");
    let took = started.elapsed();
    eprintln!("logs against a cut link answered in {took:?}");
    assert!(took < UNREACHABLE_BOUND, "logs took {took:?}");

    let (run, took) = waiting.join().expect("wait thread");
    run.assert_error(5, "cannot reach");
    assert!(took < UNREACHABLE_BOUND, "wait took {took:?}");

    // The task runs on at the host meanwhile.
    let before = t.log_size(&id);
    assert!(
        eventually(Duration::from_secs(5), || t.log_size(&id) > before),
        "the task stopped with the link"
    );
    let list = t.env.run(&["list", "--json"]);
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(list.stdout.contains("\"running\""), "{}", list.stdout);
    assert_eq!(t.completions(&id), 0, "nothing ended while unreachable");

    let remaining = Duration::from_secs(30).saturating_sub(cut.elapsed());
    std::thread::sleep(remaining);
    t.host.restore_link();

    // The link is back: status, logs and the completion catch up, once.
    let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "60"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status = t.status(&id);
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["exit_code"], 0);
    assert_eq!(
        t.env.ok(&["logs", "--task-id", &id, "-n", "100"]),
        ticks(40)
    );
    assert_eq!(t.completions(&id), 1);
    let follow = following.join().expect("follow thread");
    assert_eq!(follow.code, 0, "{}", follow.stderr);
    assert_eq!(follow.stdout, ticks(40), "every line once, in order");
    assert!(follow.stderr.contains("retrying"), "{}", follow.stderr);
    let record = t.env.completion(&id).expect("completion record");
    assert_eq!(record["task_status"], "completed", "{record}");
}

#[test]
fn sshd_restart_mid_task() {
    let Some(mut t) = Remote::new() else { return };
    let id = t.run_task(&counting_task(6));
    assert!(eventually(Duration::from_secs(10), || t.log_size(&id) > 0));
    assert_eq!(t.status(&id)["status"], "running");
    let logins = t.host.logins();
    t.host.restart_sshd();
    // The shared connection died with its session; the next command opens a new
    // one, and the task it asks about runs on.
    let run = t.env.run(&["status", "--task-id", &id, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: Value = serde_json::from_str(&run.stdout).expect("json");
    assert_eq!(status["status"], "running", "{status}\n{}", run.stderr);
    let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "60"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(t.status(&id)["status"], "completed");
    assert_eq!(t.env.ok(&["logs", "--task-id", &id, "-n", "100"]), ticks(6));
    assert_eq!(t.completions(&id), 1);
    // One login re-established the shared connection for all those commands.
    assert_eq!(t.host.logins(), logins + 1, "{}", t.host.sshd_log());
}

#[test]
fn reboot_makes_tasks_lost_once_and_never_runs_them_twice() {
    let Some(mut t) = Remote::new() else { return };
    // A file outside the host's /tmp survives the reboot: one line per start.
    let runs = tempfile::Builder::new()
        .prefix("openclaw-runs-")
        .tempdir_in("/var/tmp")
        .expect("runs dir");
    let ids: Vec<String> = (0..2)
        .map(|i| {
            t.run_task(&format!(
                "echo start >> {}/{i}; sleep 300",
                runs.path().display()
            ))
        })
        .collect();
    for id in &ids {
        assert!(eventually(Duration::from_secs(10), || {
            t.host_dir(id).join("task.pid").exists()
        }));
        assert_eq!(t.status(id)["status"], "running");
    }
    t.host.reboot();
    assert!(!t.host_dir(&ids[0]).exists(), "the reboot wiped /tmp");
    for id in &ids {
        let status = t.status(id);
        assert_eq!(status["status"], "lost", "{status}");
        let reason = status["reason"].as_str().expect("reason");
        assert!(reason.contains("10.77.0.2"), "names the host: {reason}");
        assert!(reason.contains("gone"), "{reason}");
        assert_eq!(t.completions(id), 1);
    }
    let first = t.status(&ids[0]);
    // Later looks change nothing, and nothing starts again.
    std::thread::sleep(Duration::from_secs(2));
    t.env.ok(&["list"]);
    assert_eq!(t.status(&ids[0]), first);
    for i in 0..2 {
        let starts = std::fs::read_to_string(runs.path().join(i.to_string())).expect("runs");
        assert_eq!(starts, "start\n", "task {i} ran once");
    }
    assert!(
        t.host.processes().is_empty(),
        "nothing runs on the rebooted host: {:?}",
        t.host.processes()
    );
    let run = t.env.run(&["wait", "--task-id", &ids[0], "--timeout", "5"]);
    assert_eq!(run.code, 125, "{}", run.stderr);
    // cleanup works on a lost task whose directory is already gone.
    t.env.ok(&["cleanup", "--task-id", &ids[0]]);
    assert!(!t.env.task_dir(&ids[0]).exists());
}

/// What one command may take over a link with [`SLOW_LINK_DELAY`] each way and
/// [`SLOW_LINK_LOSS`] loss (docs/reliability.md).
const SLOW_LINK_BOUND: Duration = Duration::from_secs(20);
const SLOW_LINK_DELAY: Duration = Duration::from_millis(200);
const SLOW_LINK_LOSS: f64 = 0.02;

/// Runs `args`, which must succeed without a warning within [`SLOW_LINK_BOUND`]
/// over the slow, lossy link; returns its stdout.
pub(crate) fn run_within_slow_link_bound(env: &TestEnv, args: &[&str], label: &str) -> String {
    let started = Instant::now();
    let run = env.run(args);
    let took = started.elapsed();
    eprintln!("{label}{} took {took:?}", args[0]);
    assert!(took < SLOW_LINK_BOUND, "{args:?} took {took:?}");
    assert!(
        run.code == 0 && !run.stderr.contains("warning"),
        "{args:?}: {}\n{}",
        run.code,
        run.stderr
    );
    run.stdout
}

#[test]
fn delay_and_loss_every_command_completes_within_a_bound() {
    let Some(t) = Remote::build("64m", Some(SLOW_LINK_DELAY)) else {
        return;
    };
    t.host.add_loss(SLOW_LINK_LOSS);
    let timed = |args: &[&str]| run_within_slow_link_bound(&t.env, args, "");
    // A payload bigger than a few packets, so loss hits the launch itself.
    let blob = "x".repeat(60_000);
    let out = timed(&[
        "run",
        "--executor",
        "box",
        "--cmd",
        &format!("echo {blob} | wc -c; for i in 1 2 3; do echo line$i; done"),
    ]);
    let id = out.lines().next().expect("id").to_owned();
    timed(&["wait", "--task-id", &id, "--timeout", "30"]);
    let status: Value =
        serde_json::from_str(&timed(&["status", "--task-id", &id, "--json"])).expect("status json");
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        timed(&["logs", "--task-id", &id]),
        "60001\nline1\nline2\nline3\n"
    );
    let out = timed(&["run", "--executor", "box", "--cmd", "sleep 300"]);
    let long = out.lines().next().expect("id").to_owned();
    timed(&["list"]);
    timed(&["kill", "--task-id", &long, "--grace", "1"]);
    assert_eq!(t.status(&long)["status"], "killed");
    timed(&["cleanup", "--task-id", &id]);
    timed(&["cleanup", "--task-id", &long]);
    assert!(!t.host_dir(&id).exists() && !t.host_dir(&long).exists());
    assert!(t.host.processes().is_empty(), "{:?}", t.host.processes());
}

/// Fills the host's `/tmp` (a tmpfs of a few MiB) up to the last byte.
fn fill_disk(t: &Remote) -> PathBuf {
    let fill = t.host.path("/tmp/fill");
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

#[test]
fn full_task_root_fails_dispatch_cleanly() {
    let Some(t) = Remote::build("4m", None) else {
        return;
    };
    // A task root that exists, as after earlier tasks.
    let first = t.run_task("true");
    t.env.wait_done(&first);
    let fill = fill_disk(&t);
    let run = t.env.run(&["run", "--executor", "box", "--cmd", "echo hi"]);
    run.assert_error(5, "No space left on device");
    let tasks: Vec<Value> = serde_json::from_str(&t.env.ok(&["list", "--json"])).expect("list");
    let failed: Vec<&Value> = tasks
        .iter()
        .filter(|t| t["task_id"] != first.as_str())
        .collect();
    assert_eq!(failed.len(), 1, "{tasks:?}");
    assert_eq!(failed[0]["status"], "failed", "{tasks:?}");
    let id = failed[0]["task_id"].as_str().expect("id");
    // Nothing half-written is left on the host.
    assert!(!t.host_dir(id).exists(), "a partial task dir was left");
    std::fs::remove_file(fill).expect("free the disk");
    // Once there is room, dispatch works again.
    let id = t.run_task("echo again");
    assert_eq!(t.env.wait_done(&id)["status"], "completed");
}

#[test]
fn log_filling_the_disk_fails_the_task_with_the_reason() {
    let Some(t) = Remote::build("4m", None) else {
        return;
    };
    let id = t.run_task("cat /dev/zero");
    let run = t.env.run(&["wait", "--task-id", &id, "--timeout", "30"]);
    let status = t.status(&id);
    assert_eq!(status["status"], "failed", "{status}\n{}", run.stderr);
    let reason = status["reason"].as_str().expect("reason");
    assert!(reason.contains("no space left"), "{reason}");
}

const FAKETIME_LIB: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// A host whose clock differs from this side's by `offset` (libfaketime's
/// `FAKETIME`, e.g. `+1h`). The kernel clock cannot be offset per namespace
/// (time namespaces leave CLOCK_REALTIME alone), and libfaketime on the host
/// would fake `date` but not the mtimes `stat` reports (coreutils uses statx,
/// which it does not intercept): an inconsistent host. So the skew is put on
/// this side instead: the CLI (and its ssh) run under libfaketime, the host
/// keeps one consistent clock. Skew is relative; `+1h` here is the host 1 h behind.
fn skewed(offset: &str, extra_config: &str) -> Option<Remote> {
    if !std::path::Path::new(FAKETIME_LIB).exists() {
        test_support::missing("libfaketime: apt-get install libfaketime");
        return None;
    }
    let mut t = Remote::new()?;
    let mut prefix = t.host.client_prefix();
    prefix.extend(
        [
            "env",
            &format!("LD_PRELOAD={FAKETIME_LIB}"),
            &format!("FAKETIME={offset}"),
            // Timeouts and back-offs keep real time.
            "DONT_FAKE_MONOTONIC=1",
        ]
        .map(str::to_owned),
    );
    t.env.set_prefix(prefix);
    t.env.write_config(&format!(
        "{extra_config}executors:\n{}",
        t.host.executor_yaml("box", ROOT_USER)
    ));
    Some(t)
}

fn seconds_between(from: &Value, to: &Value) -> f64 {
    let from: jiff::Timestamp = from.as_str().expect("time").parse().expect("rfc 3339");
    let to: jiff::Timestamp = to.as_str().expect("time").parse().expect("rfc 3339");
    to.duration_since(from).as_secs_f64()
}

/// An agent that says hello, is quiet for 4 s, and ends well.
fn quiet_claude(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("claude");
    crate::helpers::write_executable(
        &path,
        "#!/bin/sh\n\
         echo '{\"type\":\"system\",\"subtype\":\"init\",\"session_id\":\"0b5e2c49-7f0d-4a55-9d7e-0c1f5f6c2a11\"}'\n\
         sleep 4\n\
         echo '{\"type\":\"result\",\"subtype\":\"success\",\"is_error\":false,\"num_turns\":1,\"result\":\"ok\",\"total_cost_usd\":0,\"session_id\":\"0b5e2c49-7f0d-4a55-9d7e-0c1f5f6c2a11\"}'\n",
    );
    path
}

fn clock_skew(offset: &str) {
    let defaults = "defaults:\n  stall_timeout: 60\n  kill_on_stall: true\n";
    let Some(t) = skewed(offset, defaults) else {
        return;
    };
    let claude = quiet_claude(t.host.shared_dir());
    t.env.write_config(&format!(
        "{defaults}executors:\n{}    claude_path: {}\n    allow_root: true\n",
        t.host.executor_yaml("box", ROOT_USER),
        claude.display()
    ));

    // Durations: a 2 s task lasts about 2 s, however far apart the clocks are.
    let id = t.run_task("sleep 2");
    let status = t.env.wait_done(&id);
    assert_eq!(status["status"], "completed", "{status}");
    let took = seconds_between(&status["started_at"], &status["ended_at"]);
    assert!((1.0..6.0).contains(&took), "lasted {took} s: {status}");

    // Stall detection: a quiet agent 4 s into a 60 s stall timeout is not stalled.
    let out = t
        .env
        .json(&["start", "--executor", "box", "--prompt", "hello", "--json"]);
    let agent = out["task_id"].as_str().expect("id").to_owned();
    assert!(eventually(Duration::from_secs(10), || {
        t.log_size(&agent) > 0
    }));
    let list = t.env.ok(&["list"]);
    assert!(!list.contains("stalled"), "{list}");
    let status = t.env.wait_done(&agent);
    assert_eq!(status["status"], "completed", "killed as stalled? {status}");
    let took = seconds_between(&status["started_at"], &status["ended_at"]);
    assert!((3.0..10.0).contains(&took), "lasted {took} s: {status}");
}

#[test]
fn clock_skew_host_an_hour_behind() {
    clock_skew("+1h");
}

#[test]
fn clock_skew_host_an_hour_ahead() {
    clock_skew("-1h");
}

/// How a CLI run under `strace … inject=SYSCALL:signal=KILL:when=N` ended.
enum Interrupted {
    /// SIGKILLed at that syscall.
    Killed,
    /// It got through (fewer than N such syscalls): its output.
    Done(crate::helpers::Run),
}

impl Remote {
    /// Runs the CLI in the client namespace, SIGKILLed at the `n`th `syscall`
    /// of its main thread.
    fn run_killed_at(&mut self, syscall: &str, n: u32, args: &[&str]) -> Interrupted {
        run_killed_at(&mut self.env, &self.host, syscall, n, args)
    }

    fn tasks(&self) -> Vec<Value> {
        serde_json::from_str(&self.env.ok(&["list", "--json"])).expect("list json")
    }
}

/// Runs the CLI of `env` in `host`'s client namespace, SIGKILLed at the `n`th
/// `syscall` of its main thread.
fn run_killed_at(
    env: &mut TestEnv,
    host: &NetnsHost,
    syscall: &str,
    n: u32,
    args: &[&str],
) -> Interrupted {
    let mut prefix = host.client_prefix();
    prefix.extend(["strace", "-qq", "-o", "/dev/null"].map(str::to_owned));
    prefix.extend(crate::crash::kill_at(syscall, n as usize));
    prefix.push("--".to_owned());
    env.set_prefix(prefix);
    let run = env.run(args);
    env.set_prefix(host.client_prefix());
    // strace ends itself with the signal that ended the traced command.
    if run.code == -1 {
        Interrupted::Killed
    } else {
        Interrupted::Done(run)
    }
}

/// The syscalls a dispatch, kill or cleanup makes on its main thread that
/// change something (the index, task files, processes): from which to which
/// call of each to kill, and in what steps.
const KILL_POINTS: &[(&str, u32, u32, u32)] = &[
    ("openat", 1, 30, 1),
    ("mkdir", 1, 10, 1),
    ("pwrite64", 1, 60, 3),
    ("fsync", 1, 8, 1),
    ("write", 1, 8, 1),
    ("rename", 1, 3, 1),
    ("unlink", 1, 3, 1),
    ("clone", 1, 3, 1),
    ("wait4", 1, 4, 1),
];

fn sweep(each: impl FnMut(&str, u32) -> bool) -> usize {
    sweep_over(KILL_POINTS, each)
}

/// Calls `each(syscall, n)` for every point of `table` until it returns false
/// (the command got through: later points of that syscall are past its end);
/// returns how many points it tried.
pub(crate) fn sweep_over(
    table: &[(&str, u32, u32, u32)],
    mut each: impl FnMut(&str, u32) -> bool,
) -> usize {
    let mut points = 0;
    for &(syscall, first, last, step) in table {
        let mut n = first;
        while n <= last {
            points += 1;
            if !each(syscall, n) {
                break;
            }
            n += step;
        }
    }
    points
}

/// A host for the SIGKILL sweeps, when strace is there.
fn traced_remote() -> Option<Remote> {
    if which("strace").is_none() {
        test_support::missing("strace: apt-get install strace");
        return None;
    }
    Remote::new()
}

#[test]
fn sigkill_of_the_cli_at_every_point_of_remote_dispatch() {
    let Some(mut t) = traced_remote() else { return };
    let runs = t.host.shared_dir().join("runs");
    std::fs::create_dir(&runs).expect("runs dir");

    // Dispatch: each task appends its tag to a file of its own when it runs.
    let mut acknowledged: Vec<(String, String)> = Vec::new();
    let mut tags = Vec::new();
    let points = sweep(|syscall, n| {
        let tag = format!("{syscall}-{n}");
        tags.push(tag.clone());
        let cmd = format!("echo {tag} >> {}/{tag}", runs.display());
        match t.run_killed_at(syscall, n, &["run", "--executor", "box", "--cmd", &cmd]) {
            Interrupted::Killed => true,
            Interrupted::Done(run) => {
                assert_eq!(run.code, 0, "{tag}: {}", run.stderr);
                let id = run.stdout.lines().next().expect("id").to_owned();
                acknowledged.push((tag, id));
                false
            }
        }
    });
    eprintln!("dispatch: {points} kill points");
    assert_dispatch_sweep_settled(
        || t.tasks(),
        |id| t.status(id),
        &runs,
        &tags,
        &acknowledged,
        Duration::from_secs(60),
    );
}

/// What a SIGKILL sweep of dispatches must leave once the dispatch window
/// (30 s) has passed and interrupted launches were taken up again: no task
/// stuck, each one `completed` or `failed` with a reason, none ran twice
/// (each task appends its tag to `runs/<tag>`), every acknowledged one ran once.
pub(crate) fn assert_dispatch_sweep_settled(
    tasks: impl Fn() -> Vec<Value>,
    status: impl Fn(&str) -> Value,
    runs: &std::path::Path,
    tags: &[String],
    acknowledged: &[(String, String)],
    settle: Duration,
) {
    std::thread::sleep(Duration::from_secs(31));
    let settled = eventually(settle, || {
        tasks().iter().all(|task| {
            !matches!(
                task["status"].as_str(),
                Some("queued" | "pending" | "running")
            )
        })
    });
    let tasks = tasks();
    assert!(
        settled,
        "tasks stuck after interrupted dispatches: {tasks:#?}"
    );
    for task in &tasks {
        let status = task["status"].as_str().expect("status");
        assert!(
            status == "completed" || (status == "failed" && task["reason"].is_string()),
            "{task}"
        );
    }
    for tag in tags {
        let lines = std::fs::read_to_string(runs.join(tag)).unwrap_or_default();
        assert!(lines.lines().count() <= 1, "{tag} ran twice: {lines:?}");
    }
    for (tag, id) in acknowledged {
        let lines = std::fs::read_to_string(runs.join(tag)).unwrap_or_default();
        assert_eq!(lines, format!("{tag}\n"), "acknowledged {id} ran once");
        assert_eq!(status(id)["status"], "completed");
    }
}

#[test]
fn sigkill_of_the_cli_at_every_point_of_remote_kill() {
    let Some(mut t) = traced_remote() else { return };
    // Interrupted at any point, a second `kill` ends the task, and nothing of
    // it runs on.
    let points = sweep(|syscall, n| {
        let id = t.run_task("sleep 300");
        assert!(eventually(Duration::from_secs(10), || {
            t.host_dir(&id).join("task.pid").exists()
        }));
        let outcome = t.run_killed_at(syscall, n, &["kill", "--task-id", &id, "--grace", "1"]);
        let again = t.env.run(&["kill", "--task-id", &id, "--grace", "1"]);
        assert!(
            again.code == 0 || again.code == 7,
            "{syscall}@{n}: {}",
            again.stderr
        );
        assert_eq!(t.status(&id)["status"], "killed", "{syscall}@{n}");
        matches!(outcome, Interrupted::Killed)
    });
    eprintln!("kill: {points} kill points");
    assert!(
        t.host.processes().is_empty(),
        "left running: {:?}",
        t.host.processes()
    );
}

#[test]
fn sigkill_of_the_cli_at_every_point_of_remote_cleanup() {
    let Some(mut t) = traced_remote() else { return };
    // Interrupted at any point, a second `cleanup` finishes the job (or finds
    // it done), on the host and here.
    let points = sweep(|syscall, n| {
        let id = t.run_task("true");
        t.env.wait_done(&id);
        let outcome = t.run_killed_at(syscall, n, &["cleanup", "--task-id", &id]);
        let again = t.env.run(&["cleanup", "--task-id", &id]);
        assert!(
            again.code == 0 || again.code == 4,
            "{syscall}@{n}: {}",
            again.stderr
        );
        assert!(!t.host_dir(&id).exists(), "{syscall}@{n}: left on the host");
        assert!(!t.env.task_dir(&id).exists(), "{syscall}@{n}: left here");
        matches!(outcome, Interrupted::Killed)
    });
    eprintln!("cleanup: {points} kill points");
    t.env.ok(&["cleanup", "--finished"]);
    let left: Vec<_> = std::fs::read_dir(t.host.path(TASK_ROOT))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "left on the host after cleanup: {left:?}");
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| PathBuf::from(dir).join(program))
        .find(|p| p.exists())
}

/// A launch whose answer is lost: the host started the runner, then the link
/// went down before the reply came back (held 0.5 s in the relay). The task must
/// not be recorded `failed` while it runs on the host.
#[test]
fn launch_answer_lost_to_a_cut_link_is_not_failed() {
    let Some(t) = Remote::build("64m", Some(Duration::from_millis(500))) else {
        return;
    };
    // A first command opens the shared connection.
    t.env.ok(&["executors", "--check"]);
    let runs = t.host.shared_dir().join("ran");
    let command = t.env.command(&[
        "run",
        "--executor",
        "box",
        "--cmd",
        &format!("echo ran >> {}; sleep 5", runs.display()),
    ]);
    let dispatch = std::thread::spawn(move || crate::helpers::run_bounded(command));
    assert!(
        eventually(Duration::from_secs(30), || runs.exists()),
        "the runner never started"
    );
    t.host.cut_link();
    let run = dispatch.join().expect("dispatch");
    run.assert_error(5, "may have been carried out");
    t.host.restore_link();
    let tasks = t.tasks();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let id = tasks[0]["task_id"].as_str().expect("id").to_owned();
    assert_ne!(
        tasks[0]["status"], "failed",
        "recorded failed while it ran on the host (run said: {})",
        run.stderr
    );
    // Once the host answers again the task is seen as it is, and ran once.
    std::thread::sleep(Duration::from_secs(31));
    let status = t.env.wait_done(&id);
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        std::fs::read_to_string(t.host.shared_dir().join("ran")).expect("ran"),
        "ran\n"
    );
}
