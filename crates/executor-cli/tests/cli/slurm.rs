//! The Slurm executor against a real single-node Slurm cluster (munged,
//! slurmctld, slurmd with 2 CPUs) that `scripts/setup/slurm.sh` starts for the
//! test run. Jobs are submitted with the real `sbatch`, observed with `squeue`,
//! killed with `srun`/`scancel`.
//!
//! The tests share the node: each holds [`NODE`] for reading, except the one
//! that fills the node, which holds it for writing.

use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde_json::Value;
use test_support::claude::{claude_binary, claude_env};
use test_support::slurm::{Cluster, cluster};
use test_support::sshd::{ROOT_USER, Sshd};
use test_support::{MockAnthropic, Script};

use crate::helpers::{TestEnv, eventually, process_alive, read_pids, run_bounded};

pub(crate) static NODE: RwLock<()> = RwLock::new(());

enum Guard {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

struct SlurmTest {
    env: TestEnv,
    cluster: Cluster,
    _node: Guard,
}

/// A test environment with the given Slurm executors (YAML list items), or
/// `None` when no cluster is up (outside CI).
fn setup(executors: &str, exclusive: bool) -> Option<SlurmTest> {
    let cluster = cluster()?;
    let node = if exclusive {
        Guard::Exclusive(NODE.write().unwrap_or_else(|e| e.into_inner()))
    } else {
        Guard::Shared(NODE.read().unwrap_or_else(|e| e.into_inner()))
    };
    let env = TestEnv::new();
    env.write_config(&format!("executors:\n{executors}"));
    Some(SlurmTest {
        env,
        cluster,
        _node: node,
    })
}

impl Drop for SlurmTest {
    /// Cancels whatever jobs of this test are left (a failed test must not
    /// keep the node busy for the others).
    fn drop(&mut self) {
        let jobs: Vec<String> = std::fs::read_dir(self.env.tasks_dir())
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                // The job id: in the task dir, or (tasks on a login node) in
                // the state the local mirror keeps.
                let dir = e.path();
                let state = std::fs::read(dir.join("slurm-job.json")).ok();
                let state = state.and_then(|b| serde_json::from_slice::<Value>(&b).ok());
                match state.as_ref().and_then(|s| s["job_id"].as_str()) {
                    Some(job) => Some(job.to_owned()),
                    None => std::fs::read_to_string(dir.join("slurm-job")).ok(),
                }
            })
            .map(|j| j.trim().to_owned())
            .filter(|j| !j.is_empty())
            .collect();
        if !jobs.is_empty() {
            let _ = std::process::Command::new("scancel")
                .args(&jobs)
                .stdin(std::process::Stdio::null())
                .status();
        }
    }
}

fn slurm_executor(name: &str, extra: &str) -> String {
    format!("  - name: {name}\n    type: slurm\n{extra}")
}

impl SlurmTest {
    fn run_task(&self, executor: &str, cmd: &str) -> String {
        let out = self.env.ok(&["run", "--executor", executor, "--cmd", cmd]);
        let id = out.lines().next().unwrap().to_owned();
        assert_eq!(id.len(), 36, "not a task id: {out}");
        id
    }

    /// Waits (bounded by `secs`) for the task to end; returns its status JSON
    /// and `wait`'s exit code.
    fn wait_code(&self, id: &str, secs: u64) -> (Value, i32) {
        let started = std::time::Instant::now();
        loop {
            // One CLI call may take at most a minute (helpers::run_bounded).
            let left = secs
                .saturating_sub(started.elapsed().as_secs())
                .clamp(1, 30);
            let run = self
                .env
                .run(&["wait", "--task-id", id, "--timeout", &left.to_string()]);
            if run.code != 124 {
                return (self.env.status(id), run.code);
            }
            assert!(
                started.elapsed().as_secs() < secs,
                "task {id} did not end within {secs} s: {}",
                self.env.status(id)
            );
        }
    }

    fn wait(&self, id: &str, secs: u64) -> Value {
        self.wait_code(id, secs).0
    }

    /// The job id `sbatch` gave the task (the `slurm-job` file in its task dir).
    fn job_id(&self, id: &str) -> String {
        let dir = self.env.task_dir(id);
        std::fs::read_to_string(dir.join("slurm-job"))
            .unwrap_or_else(|e| panic!("no slurm-job in {}: {e}", dir.display()))
            .trim()
            .to_owned()
    }

    /// The Slurm job id and state `status --json` reports for the task.
    fn reported_job(&self, id: &str) -> Value {
        let status = self.env.status(id);
        assert!(status["slurm"].is_object(), "{status}");
        status["slurm"].clone()
    }

    /// Waits until the task's payload runs (its pid is known).
    fn wait_running(&self, id: &str) -> Value {
        let mut status = Value::Null;
        assert!(
            eventually(Duration::from_secs(60), || {
                status = self.env.status(id);
                !status["pid"].is_null() || !is_live(&status)
            }),
            "task {id} never started: {status}"
        );
        assert_eq!(status["status"], "running", "{status}");
        status
    }
}

/// Pending (queued in Slurm) or running.
fn is_live(task: &Value) -> bool {
    task["status"] == "running" || task["status"] == "pending"
}

fn assert_gone(pids: &[u32]) {
    for pid in pids {
        assert!(
            eventually(Duration::from_secs(5), || !process_alive(*pid)),
            "pid {pid} survived: {:?} {:?}",
            std::fs::read_to_string(format!("/proc/{pid}/stat")),
            std::fs::read_to_string(format!("/proc/{pid}/cmdline"))
        );
    }
}

/// A command that records its pids (its own, a child's, and one in a session
/// of its own) in `pids`, then runs until killed.
fn tree_command(pids: &Path) -> String {
    format!(
        "echo $$ >> {p}; sleep 300 & echo $! >> {p}; setsid sh -c 'echo $$ >> {p}; sleep 301' & wait",
        p = pids.display()
    )
}

#[test]
fn shell_tasks_complete_and_fail() {
    let secret = "sk-slurm-secret-4f2e 'quoted' $(not run)";
    let Some(mut t) = setup(
        &slurm_executor(
            "hpc",
            "    env: [OC_SLURM_SECRET, \"OC_SLURM_FIXED=fixed-slurm-7d1c\"]\n",
        ),
        false,
    ) else {
        return;
    };
    t.env.set_env("OC_SLURM_SECRET", secret);
    let ok = t.run_task(
        "hpc",
        "echo out; echo err >&2; printf '%s|%s' \"$OC_SLURM_SECRET\" \"$OC_SLURM_FIXED\" > seen; pwd",
    );
    let bad = t.run_task("hpc", "echo failing; exit 3");
    let marker = t.env.work.join("ended");
    let timed = t.run_task("hpc", &crate::helpers::ends_with_marker(&marker));
    crate::helpers::assert_ended_at_is_the_end(&t.env, &timed, &marker);

    let status = t.wait(&ok, 90);
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["exit_code"], 0);
    assert_eq!(status["executor_type"], "slurm");
    // The runner's pid belongs to the compute node: the job id identifies the task.
    assert_eq!(status["runner_pid"], 0);
    let work = t.env.work.display().to_string();
    assert_eq!(
        t.env.ok(&["logs", "--task-id", &ok]),
        format!("out\nerr\n{work}\n")
    );
    // The secrets reached the job, through sbatch's environment.
    assert_eq!(
        std::fs::read_to_string(t.env.work.join("seen")).unwrap(),
        format!("{secret}|fixed-slurm-7d1c")
    );
    // The task dir (here the local one) has the runner's records and the job's files.
    let dir = t.env.task_dir(&ok);
    for file in [
        ".meta.json",
        "task.log",
        "task.pid",
        "runner.pid",
        "exit.json",
        "slurm.sh",
        "slurm.out",
        "slurm-job",
    ] {
        assert!(dir.join(file).exists(), "{file} missing");
    }
    let job = t.job_id(&ok);
    let slurm = t.cluster.job(&job).expect("squeue knows the job");
    assert_eq!(slurm.name, format!("openclaw-{ok}"));
    assert_eq!(slurm.state, "COMPLETED");
    let reported = t.reported_job(&ok);
    assert_eq!(reported["job_id"], job.as_str());
    assert_eq!(reported["state"], "COMPLETED");
    assert_eq!(t.env.completion(&ok).unwrap()["status"], "success");

    // A failing payload: failed, and Slurm's own record agrees.
    let (status, code) = t.wait_code(&bad, 90);
    assert_eq!(code, 3, "{status}");
    assert_eq!(status["status"], "failed");
    assert_eq!(status["exit_code"], 3);
    assert_eq!(status["reason"], "exit code 3");
    assert_eq!(t.env.ok(&["logs", "--task-id", &bad]), "failing\n");
    let job = t.job_id(&bad);
    assert_eq!(t.cluster.job(&job).unwrap().state, "FAILED");
    assert_eq!(t.reported_job(&bad)["state"], "FAILED");

    // No secret in any file openclaw-agent wrote.
    for root in [
        t.env.home().join(".local/share/openclaw"),
        t.env.home().join(".openclaw-agent"),
    ] {
        for file in crate::helpers::all_files(&root) {
            let text =
                String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
            for value in ["sk-slurm-secret-4f2e", "fixed-slurm-7d1c"] {
                assert!(
                    !text.contains(value),
                    "a secret leaked into {}",
                    file.display()
                );
            }
        }
    }

    // Following the log of a job while it runs.
    let ticking = t.run_task("hpc", "for i in 1 2 3; do echo tick$i; sleep 0.3; done");
    let followed = t.env.ok(&["logs", "--task-id", &ticking, "--follow", "50"]);
    assert_eq!(followed, "tick1\ntick2\ntick3\n");
    assert_eq!(t.env.status(&ticking)["status"], "completed");

    for id in [&ok, &bad, &timed, &ticking] {
        t.env.ok(&["cleanup", "--task-id", id]);
        assert!(!t.env.task_dir(id).exists());
    }
    assert_eq!(t.env.ok(&["list", "--json"]).trim(), "[]");
}

#[test]
fn agent_task_runs_in_a_job() {
    let Some(claude) = claude_binary() else {
        return;
    };
    let mock = MockAnthropic::start(Script::bash_then_text(
        "echo slurm-agent > proof.txt",
        "Done in the job.",
    ));
    let forward = crate::helpers::FORWARD_CLAUDE_ENV;
    let Some(mut t) = setup(
        &slurm_executor(
            "hpc",
            &format!(
                "    claude_path: {}\n    allow_root: true\n{forward}",
                claude.display()
            ),
        ),
        false,
    ) else {
        return;
    };
    for (key, value) in claude_env(&mock.url()) {
        t.env.set_env(key, &value);
    }
    let work = t.env.work.display().to_string();
    let out = t.env.json(&[
        "start",
        "--executor",
        "hpc",
        "--workspace",
        &work,
        "--prompt",
        "write the proof",
        "--json",
    ]);
    let id = out["task_id"].as_str().unwrap().to_owned();
    let (status, code) = t.wait_code(&id, 120);
    assert_eq!(
        code,
        0,
        "{status}\n{}",
        t.env.ok(&["logs", "--task-id", &id, "--raw"])
    );
    assert_eq!(status["status"], "completed");
    assert_eq!(
        std::fs::read_to_string(t.env.work.join("proof.txt")).unwrap(),
        "slurm-agent\n",
        "the agent's Bash tool call ran in the workspace, inside the job"
    );
    assert_eq!(status["agent"]["tool_calls"], 1);
    assert_eq!(status["agent"]["turns"], 2);
    assert_eq!(status["agent"]["result_subtype"], "success");
    assert_eq!(status["agent"]["result"], "Done in the job.");
    let rendered = t.env.ok(&["logs", "--task-id", &id]);
    assert!(
        rendered.contains("→ Bash: echo slurm-agent > proof.txt"),
        "{rendered}"
    );
    let transcript = t.env.ok(&["logs", "--task-id", &id, "--transcript"]);
    assert!(transcript.contains("▶ write the proof"), "{transcript}");
    assert_eq!(t.cluster.job(&t.job_id(&id)).unwrap().state, "COMPLETED");
    t.env.ok(&["cleanup", "--task-id", &id]);
}

#[test]
fn kill_ends_the_job_and_its_whole_tree() {
    let Some(t) = setup(&slurm_executor("hpc", ""), false) else {
        return;
    };
    let pids = t.env.work.join("pids");
    let id = t.run_task("hpc", &tree_command(&pids));
    t.wait_running(&id);
    assert!(eventually(Duration::from_secs(10), || read_pids(&pids)
        .len()
        >= 3));
    let job = t.job_id(&id);
    assert_eq!(t.cluster.job(&job).unwrap().state, "RUNNING");

    let out = t.env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
    assert_eq!(out.trim(), format!("{id} killed"));
    // Every process of the tree, also the one in a session of its own.
    assert_gone(&read_pids(&pids));
    let status = t.env.status(&id);
    assert_eq!(status["status"], "killed");
    assert_eq!(status["reason"], "killed by request");
    assert_eq!(status["exit_code"], 143);
    // The job is over too.
    let state = t.cluster.job(&job).unwrap().state;
    assert!(
        ["COMPLETED", "FAILED", "CANCELLED"].contains(&state.as_str()),
        "{state}"
    );
    t.env
        .run(&["kill", "--task-id", &id])
        .assert_error(7, "already ended");
    t.env.ok(&["cleanup", "--task-id", &id]);
}

#[test]
fn time_limit_ends_a_task_as_timeout() {
    // Slurm counts time limits in whole minutes and checks them every 30 s:
    // this takes 60 to 90 s.
    let Some(t) = setup(&slurm_executor("short", "    time_limit: 1\n"), false) else {
        return;
    };
    let pids = t.env.work.join("pids");
    let id = t.run_task(
        "short",
        &format!(
            "echo $$ >> {p}; sleep 300 & echo $! >> {p}; wait",
            p = pids.display()
        ),
    );
    let status = t.wait(&id, 180);
    assert_eq!(status["status"], "failed", "{status}");
    let reason = status["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("timeout: Slurm job ") && reason.ends_with("time limit (1:00)"),
        "{reason}"
    );
    // The runner recorded how the payload ended (SIGTERM from Slurm).
    assert_eq!(status["exit_code"], 143);
    let job = t.job_id(&id);
    assert_eq!(t.cluster.job(&job).unwrap().state, "TIMEOUT");
    assert_eq!(t.reported_job(&id)["state"], "TIMEOUT");
    let out = std::fs::read_to_string(t.env.task_dir(&id).join("slurm.out")).unwrap();
    assert!(out.contains("DUE TO TIME LIMIT"), "{out}");
    assert_gone(&read_pids(&pids));
    assert_eq!(t.env.completion(&id).unwrap()["task_status"], "failed");
}

#[test]
fn a_full_node_keeps_the_next_job_pending() {
    // Both jobs want both CPUs of the node.
    let Some(t) = setup(&slurm_executor("big", "    cpus: 2\n"), true) else {
        return;
    };
    let go = t.env.work.join("go");
    let first = t.run_task(
        "big",
        &format!(
            "while [ ! -e {go} ]; do sleep 0.1; done; date +%s%N > first-end",
            go = go.display()
        ),
    );
    t.wait_running(&first);
    let second = t.run_task("big", "date +%s%N > second-start");
    let third = t.run_task("big", "touch third-ran");

    // Queued in Slurm: the runner has not started, Slurm says why.
    let mut job = Value::Null;
    assert!(
        eventually(Duration::from_secs(30), || {
            job = t.reported_job(&second);
            job["state"] == "PENDING" && job["reason"] == "Resources"
        }),
        "{job}"
    );
    assert_eq!(job["job_id"], t.job_id(&second).as_str());
    let status = t.env.status(&second);
    assert_eq!(status["status"], "pending", "{status}");
    assert!(status["pid"].is_null(), "{status}");
    assert!(!t.env.task_dir(&second).join("runner.pid").exists());
    let list = t.env.json(&["list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");

    // A queued job is killed by cancelling it: it never runs.
    let out = t.env.ok(&["kill", "--task-id", &third, "--grace", "1"]);
    assert_eq!(out.trim(), format!("{third} killed"));
    let status = t.env.status(&third);
    assert_eq!(status["reason"], "killed by request");
    assert!(status["exit_code"].is_null(), "{status}");
    assert_eq!(t.cluster.job(&t.job_id(&third)).unwrap().state, "CANCELLED");

    // The node frees up: the pending job runs after the first one ended.
    std::fs::write(&go, "").unwrap();
    assert_eq!(t.wait(&first, 60)["status"], "completed");
    assert_eq!(t.wait(&second, 60)["status"], "completed");
    assert_eq!(t.reported_job(&second)["state"], "COMPLETED");
    let read = |name: &str| -> u128 {
        std::fs::read_to_string(t.env.work.join(name))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    assert!(read("second-start") >= read("first-end"));
    assert!(!t.env.work.join("third-ran").exists());
    assert!(!t.env.task_dir(&third).join("runner.pid").exists());
}

#[test]
fn list_and_status_ask_slurm_once() {
    let Some(mut t) = setup(&slurm_executor("hpc", ""), false) else {
        return;
    };
    let ids: Vec<String> = (0..4).map(|_| t.run_task("hpc", "sleep 120")).collect();
    let squeue = crate::helpers::count_calls(&mut t.env, "squeue");
    let list = t.env.json(&["list", "--json"]);
    assert_eq!(list.as_array().unwrap().len(), 4);
    assert!(list.as_array().unwrap().iter().all(is_live), "{list}");
    assert_eq!(
        crate::helpers::calls(&squeue),
        1,
        "one squeue call observes all four tasks"
    );
    t.env.ok(&["status", "--task-id", &ids[0]]);
    assert_eq!(crate::helpers::calls(&squeue), 2);
    t.env.ok(&["dashboard", "--stream"]);
    assert_eq!(crate::helpers::calls(&squeue), 3);
    for id in &ids {
        t.env.ok(&["kill", "--task-id", id, "--grace", "1"]);
    }
    let list = t.env.json(&["list", "--json"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|task| task["status"] == "killed"),
        "{list}"
    );
}

#[test]
fn slurm_not_installed_is_a_clear_error() {
    let env = TestEnv::new();
    env.write_config(&slurm_executor("hpc", "").replace("  - ", "executors:\n  - "));
    let mut command = env.command(&["run", "-e", "hpc", "-c", "true"]);
    command.env("PATH", env.home().join("empty-path"));
    run_bounded(command).assert_error(
        5,
        "executor `hpc`: Slurm is not installed: no `sbatch` on PATH",
    );
    let list = env.json(&["list", "--json"]);
    assert_eq!(list[0]["status"], "failed", "{list}");
    assert!(
        list[0]["reason"]
            .as_str()
            .unwrap()
            .starts_with("launch failed: executor `hpc`: Slurm is not installed"),
        "{list}"
    );
}

#[test]
fn controller_and_munge_failures_are_clear() {
    let Some(mut t) = setup(
        &(slurm_executor("hpc", "") + &slurm_executor("nowhere", "    partition: nowhere\n")),
        false,
    ) else {
        return;
    };
    let live = t.run_task("hpc", "sleep 120");
    t.wait_running(&live);

    // A partition Slurm does not have: sbatch's own reason.
    t.env
        .run(&["run", "-e", "nowhere", "-c", "true"])
        .assert_error(5, "executor `nowhere`: sbatch: Batch job submission failed: Invalid partition name specified");

    // The controller is down (nothing listens on its port): a clear error,
    // and the live task is not given up.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let down = t
        .cluster
        .conf_with(t.env.home(), "SlurmctldPort", &port.to_string());
    t.env.set_env("SLURM_CONF", down.to_str().unwrap());
    t.env
        .run(&["run", "-e", "hpc", "-c", "true"])
        .assert_error(5, "executor `hpc`: cannot reach the Slurm controller: Batch job submission failed: Unable to contact slurm controller");
    let run = t.env.run(&["status", "--task-id", &live, "--json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("warning: executor `hpc`: cannot reach the Slurm controller"),
        "{}",
        run.stderr
    );
    let status: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        status["status"], "running",
        "not lost while the controller is away"
    );

    // munge cannot be reached: Slurm cannot authenticate.
    let no_munge = t.cluster.conf_with(
        t.env.home(),
        "AuthInfo",
        &format!("socket={}", t.env.home().join("no-munge.sock").display()),
    );
    t.env.set_env("SLURM_CONF", no_munge.to_str().unwrap());
    t.env.run(&["run", "-e", "hpc", "-c", "true"]).assert_error(
        5,
        "executor `hpc`: Slurm authentication failed (is munged running?)",
    );

    // `executors --check` says what is wrong, and what is right.
    let run = t.env.run(&["executors", "--check"]);
    assert_eq!(run.code, 5, "{}", run.stdout);
    assert!(
        run.stdout
            .contains("✗ executor `hpc`: Slurm authentication failed"),
        "{}",
        run.stdout
    );
    t.env
        .set_env("SLURM_CONF", t.cluster.conf.to_str().unwrap());
    let run = t.env.run(&["executors", "--check"]);
    assert!(
        run.stdout.contains("✓ slurm-wlm 22.05") || run.stdout.contains("✓ slurm "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("reachable; partitions: debug* up (1 node"),
        "{}",
        run.stdout
    );
    assert_eq!(t.env.status(&live)["status"], "running");
    t.env.ok(&["kill", "--task-id", &live, "--grace", "1"]);
}

#[test]
fn login_node_over_ssh() {
    let Some(mut sshd) = Sshd::start() else {
        return;
    };
    let Some(mut t) = setup("", false) else {
        return;
    };
    // The login node's Slurm configuration: a real one has /etc/slurm/slurm.conf;
    // this one gets the test cluster's through the SSH session's environment.
    let config = sshd.dir.path().join("sshd_config");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("SetEnv SLURM_CONF={}\n", t.cluster.conf.display()));
    std::fs::write(&config, text).unwrap();
    sshd.stop();
    sshd.resume();

    let control = t.env.home().join("cm");
    std::fs::create_dir(&control).unwrap();
    std::fs::set_permissions(
        &control,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    t.env
        .set_env("OPENCLAW_SSH_CONTROL_DIR", control.to_str().unwrap());
    let remote = tempfile::Builder::new()
        .prefix("openclaw-slurm-login-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let task_root = remote.path().join("tasks");
    let workspace = remote.path().join("work");
    std::fs::create_dir(&workspace).unwrap();
    let executor = sshd
        .executor_yaml("hpc", ROOT_USER)
        .replace("type: ssh", "type: slurm");
    t.env.write_config(&format!(
        "executors:\n{executor}    task_root: {}\n    env: [OC_LOGIN_SECRET]\n",
        task_root.display()
    ));
    t.env.set_env("OC_LOGIN_SECRET", "login-secret-81ab");
    let ws = workspace.to_str().unwrap();
    let run = |cmd: &str| -> String {
        let out = t.env.ok(&["run", "-e", "hpc", "-w", ws, "-c", cmd]);
        out.lines().next().unwrap().to_owned()
    };

    let failing = run("echo \"$OC_LOGIN_SECRET\" > seen; echo remote; exit 4");
    let status = t.wait(&failing, 90);
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["exit_code"], 4);
    assert_eq!(t.env.ok(&["logs", "--task-id", &failing]), "remote\n");
    assert_eq!(
        std::fs::read_to_string(workspace.join("seen")).unwrap(),
        "login-secret-81ab\n"
    );
    let dir = task_root.join(&failing);
    for file in [
        "task.log",
        "exit.json",
        "slurm-job",
        "slurm.sh",
        ".meta.json",
    ] {
        assert!(dir.join(file).exists(), "{file} missing on the login node");
    }
    let job = std::fs::read_to_string(dir.join("slurm-job")).unwrap();
    assert_eq!(t.cluster.job(job.trim()).unwrap().state, "FAILED");
    // The local mirror has the state Slurm reported.
    let reported = t.reported_job(&failing);
    assert_eq!(reported["job_id"], job.trim());

    // Observe: one ssh invocation for all tasks.
    let pids = workspace.join("pids");
    let killed = run(&tree_command(&pids));
    let other = run("sleep 120");
    assert!(eventually(Duration::from_secs(60), || read_pids(&pids)
        .len()
        >= 3));
    let ssh = crate::helpers::count_calls(&mut t.env, "ssh");
    let list = t.env.json(&["list", "--json"]);
    let live = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| is_live(t))
        .count();
    assert_eq!(live, 2, "{list}");
    assert_eq!(
        crate::helpers::calls(&ssh),
        1,
        "one ssh invocation observes every task"
    );

    t.env.ok(&["kill", "--task-id", &killed, "--grace", "1"]);
    assert_gone(&read_pids(&pids));
    assert_eq!(t.env.status(&killed)["status"], "killed");
    t.env.ok(&["kill", "--task-id", &other, "--grace", "1"]);

    for id in [&failing, &killed, &other] {
        t.env.ok(&["cleanup", "--task-id", id]);
        assert!(!task_root.join(id).exists());
        assert!(!t.env.task_dir(id).exists());
    }
}

#[test]
fn payload_gets_the_callers_umask_and_leaves_nothing_running() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let Some(t) = setup(&slurm_executor("hpc", ""), false) else {
        return;
    };
    let bg = t.env.work.join("bg");
    let mut command = t.env.command(&[
        "run",
        "--executor",
        "hpc",
        "--cmd",
        &format!("umask; sleep 300 & echo $! > {}; exit 0", bg.display()),
    ]);
    // SAFETY: umask is async-signal-safe and only changes the child's mask.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0o027);
            Ok(())
        });
    }
    let run = run_bounded(command);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let id = run.stdout.lines().next().unwrap().to_owned();
    let status = t.wait(&id, 90);
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(t.env.ok(&["logs", "--task-id", &id]), "0027\n");
    // The runner's files stay private.
    let dir = t.env.task_dir(&id);
    for name in ["task.pid", "runner.pid", "exit.json", "task.log"] {
        let mode = std::fs::metadata(dir.join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{name}");
    }
    assert_gone(&read_pids(&bg));
}
