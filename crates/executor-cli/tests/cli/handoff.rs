//! `run` handed to a running supervisor (docs/ARCHITECTURE.md, "Hand-off"):
//! the task runs as if the command had started it (its environment, umask and
//! directory), the supervisor collects its runner, what it cannot make is
//! made by the command, and a supervisor killed at any write of a handed
//! dispatch loses and doubles nothing.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::crash::{kill_at, lines_of, strace, under_strace};
use crate::helpers::{Run, TestEnv, eventually, hostile_text, kill_pid, run_bounded};

/// The supervisor, SIGKILLed when dropped.
struct Supervisor(Child);

impl Supervisor {
    fn start(env: &TestEnv) -> Self {
        Self::start_command(env, env.command(&["daemon", "--interval", "3600"]))
    }

    /// Starts `command` (a supervisor, maybe under strace) and waits until it
    /// listens or has exited.
    fn start_command(env: &TestEnv, mut command: Command) -> Self {
        command.stdout(Stdio::null()).stderr(Stdio::null());
        // Another umask than the commands': theirs is what their tasks get.
        // SAFETY: umask is async-signal-safe.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        // A killed supervisor's socket stays: this one makes its own.
        let socket = socket(env);
        let _ = std::fs::remove_file(&socket);
        let mut child = command.spawn().expect("supervisor starts");
        eventually(Duration::from_secs(10), || {
            socket.exists() || child.try_wait().ok().flatten().is_some()
        });
        Self(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        kill_pid(self.0.id(), libc::SIGKILL);
        let _ = self.0.wait();
    }
}

fn socket(env: &TestEnv) -> PathBuf {
    env.home().join(".local/share/openclaw/daemon.sock")
}

/// `run` with `args`, from `dir`, under umask 027, with `extra` in its environment.
fn run_from(env: &TestEnv, dir: &Path, extra: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = env.command(args);
    command.current_dir(dir);
    for (key, value) in extra {
        command.env(key, value);
    }
    // SAFETY: umask is async-signal-safe.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o027);
            Ok(())
        });
    }
    run_bounded(command)
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn runner_pid(env: &TestEnv, id: &str) -> u32 {
    let path = env.task_dir(id).join("runner.pid");
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&path).is_ok_and(|p| p.ends_with('\n'))
    }));
    std::fs::read_to_string(&path)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_run_is_handed_to_the_supervisor_and_runs_as_the_command_s_own() {
    let env = TestEnv::new();
    let supervisor = Supervisor::start(&env);
    assert!(socket(&env).exists(), "the supervisor listens");
    let sub = env.work.join("sub dir");
    std::fs::create_dir_all(sub.join("inner")).unwrap();
    let text = hostile_text(200);
    let out = env.work.join("out");
    let command = format!(
        "sleep 1; printf %s \"$OC_CALLER\" > '{o}.env'; umask > '{o}.umask'; pwd > '{o}.pwd'",
        o = out.display()
    );
    let run = run_from(
        &env,
        &sub,
        &[("OC_CALLER", &text)],
        &["run", "-e", "local", "-w", "inner", "--cmd", &command],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.stdout.trim();
    assert_eq!(id.len(), 36, "{}", run.stdout);
    // Started by the supervisor: its runner is the supervisor's child.
    let runner = runner_pid(&env, id);
    assert_eq!(parent_of(runner), Some(supervisor.pid()));
    assert_eq!(env.wait_done(id)["status"], "completed");
    let read =
        |suffix: &str| std::fs::read_to_string(format!("{}{suffix}", out.display())).unwrap();
    assert_eq!(
        read(".env"),
        text,
        "the command's environment, byte for byte"
    );
    assert_eq!(
        read(".umask").trim(),
        "0027",
        "the command's umask, not the supervisor's"
    );
    assert_eq!(
        read(".pwd").trim(),
        std::fs::canonicalize(sub.join("inner"))
            .unwrap()
            .to_str()
            .unwrap(),
        "-w relative to the command's directory"
    );
    // Collected once it exited: no zombie left with the supervisor.
    assert!(
        eventually(Duration::from_secs(10), || parent_of(runner).is_none()),
        "the runner stayed a zombie of the supervisor"
    );

    // `--json` answers once the runner is up, as without a supervisor.
    let json = env.json(&["run", "-e", "local", "--json", "--cmd", "sleep 1"]);
    assert_eq!(json["status"], "running", "{json}");
    let id = json["task_id"].as_str().unwrap();
    assert_eq!(parent_of(runner_pid(&env, id)), Some(supervisor.pid()));
    // A mistake is the command's one-line error, with its exit code.
    let bad = env.run(&["run", "-e", "nowhere", "--cmd", "true"]);
    let alone = TestEnv::new();
    let expected = alone.run(&["run", "-e", "nowhere", "--cmd", "true"]);
    assert_eq!(bad.code, expected.code);
    assert_eq!(bad.stderr, expected.stderr);
    let bad = env.run(&["run", "-e", "local", "-w", "/nonexistent", "--cmd", "true"]);
    let expected = alone.run(&["run", "-e", "local", "-w", "/nonexistent", "--cmd", "true"]);
    assert_eq!((bad.code, bad.stderr), (expected.code, expected.stderr));
}

#[test]
fn what_the_supervisor_cannot_make_the_command_makes_itself() {
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: local\n    type: local\n");
    let supervisor = Supervisor::start(&env);
    let handed = env.run_task("sleep 1");
    assert_eq!(parent_of(runner_pid(&env, &handed)), Some(supervisor.pid()));
    // Another configuration than the supervisor's: refused, made here.
    let config = env.config_path();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n")).unwrap();
    let own = env.run_task("sleep 1");
    assert_ne!(parent_of(runner_pid(&env, &own)), Some(supervisor.pid()));
    assert_eq!(env.wait_done(&own)["status"], "completed");
    assert_eq!(env.wait_done(&handed)["status"], "completed");
}

/// Kills the supervisor with SIGKILL at each write point in turn (every call
/// of every syscall in [`WRITE_POINTS`] it makes from its start through one
/// handed dispatch), each time with a `run` handed to it. Every `run` must
/// succeed (by the supervisor, by itself, or by finishing what the dead
/// supervisor began, under the same id), and at the end every task printed
/// ran exactly once and nothing else ran.
#[test]
fn sigkill_the_supervisor_at_every_write_point_of_a_handed_dispatch() {
    const WRITE_POINTS: &[&str] = &[
        "mkdir", "openat", "flock", "write", "pwrite64", "clone3", "rename", "linkat", "sendto",
    ];
    let Some(strace) = strace() else { return };
    let env = TestEnv::new();
    env.ok(&["list"]);
    let ran = env.work.join("ran");
    let traced = |args: &[&str]| {
        // -f for its threads; -b execve lets go of the runners it starts.
        let strace_args = [&["-f", "-b", "execve", "-qq"], args].concat();
        under_strace(
            &env,
            strace,
            &strace_args,
            &["daemon", "--interval", "3600"],
        )
    };
    let stop = |supervisor: Supervisor| {
        // strace is the child; the supervisor is the one holding the lock.
        let lock = env.home().join(".local/share/openclaw/daemon.lock");
        if let Some(pid) = std::fs::read_to_string(&lock)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
            .filter(|pid| parent_of(*pid) == Some(supervisor.pid()))
        {
            kill_pid(pid, libc::SIGKILL);
        }
        drop(supervisor);
    };

    // How often a supervisor makes each call, from its start through one dispatch.
    let trace = env.home().join("trace");
    let counting = Supervisor::start_command(
        &env,
        traced(&[
            "-o",
            trace.to_str().unwrap(),
            &format!("-etrace={}", WRITE_POINTS.join(",")),
        ]),
    );
    let id = env.run_task(&format!("echo counted >> '{}'", ran.display()));
    env.wait_done(&id);
    stop(counting);
    let mut counts: HashMap<String, usize> = HashMap::new();
    for line in std::fs::read_to_string(&trace).unwrap().lines() {
        let call = line
            .split_once(' ')
            .map_or(line, |(_, rest)| rest.trim_start());
        if let Some((name, _)) = call.split_once('(') {
            *counts.entry(name.to_owned()).or_default() += 1;
        }
    }
    // The supervisor made that dispatch (its task files, its answer): the
    // kill points below are in a handed dispatch, not in one `run` made itself.
    for call in ["mkdir", "linkat", "sendto"] {
        assert!(counts.get(call).is_some_and(|n| *n > 0), "{counts:?}");
    }

    let mut printed = vec!["counted".to_owned()];
    for syscall in WRITE_POINTS {
        for n in 1..=counts.get(*syscall).copied().unwrap_or(0) {
            let mark = format!("{syscall}-{n}");
            let kill = kill_at(syscall, n);
            let kill: Vec<&str> = kill.iter().map(String::as_str).collect();
            let supervisor = Supervisor::start_command(
                &env,
                traced(&[&["-o", "/dev/null"], &kill[..]].concat()),
            );
            let run = env.run(&[
                "run",
                "-e",
                "local",
                "-c",
                &format!("echo {mark} >> '{}'", ran.display()),
            ]);
            assert_eq!(
                run.code, 0,
                "run with the supervisor killed at {mark}: {}",
                run.stderr
            );
            assert_eq!(run.stdout.trim().len(), 36, "{}", run.stdout);
            printed.push(mark);
            stop(supervisor);
        }
    }

    // What a killed supervisor recorded but never started, the next looks start.
    env.wait_all_ended(Duration::from_secs(60));
    let list = env.json(&["list", "--json"]);
    let tasks = list.as_array().unwrap();
    let ran = lines_of(&ran);
    for task in tasks {
        assert_eq!(task["status"], "completed", "{task}");
    }
    for mark in &printed {
        assert_eq!(
            ran.iter().filter(|m| *m == mark).count(),
            1,
            "{mark} ran {ran:?}"
        );
    }
    assert_eq!(ran.len(), printed.len(), "ran: {ran:?}");
    assert_eq!(tasks.len(), printed.len(), "one task per run");
}
