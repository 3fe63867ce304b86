//! A small fleet: three SSH hosts (each its own sshd, host key and task root)
//! and the local executor. Every command that looks at many tasks does so with
//! one round trip per host, the hosts at once; `scripts/bench` measures the
//! full-size fleet.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;
use test_support::sshd::{Sshd, TEST_USER};

use crate::helpers::{TestEnv, calls, count_calls, eventually};

struct Fleet {
    env: TestEnv,
    _hosts: Vec<Sshd>,
    roots: Vec<PathBuf>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for root in &self.roots {
            let _ = std::fs::remove_dir_all(root);
        }
    }
}

const HOSTS: usize = 3;

fn fleet() -> Option<Fleet> {
    let mut env = TestEnv::new();
    let control = env.home().join("cm");
    std::fs::create_dir(&control).unwrap();
    std::fs::set_permissions(
        &control,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    env.set_env("OPENCLAW_SSH_CONTROL_DIR", control.to_str().unwrap());
    let mut yaml = String::from("executors:\n");
    let mut hosts = Vec::new();
    let mut roots = Vec::new();
    for i in 0..HOSTS {
        let sshd = Sshd::start()?;
        let root = tempfile::Builder::new()
            .prefix("openclaw-fleet-")
            .tempdir_in(std::env::temp_dir())
            .unwrap()
            .keep();
        test_support::accounts::give_to_test_user(&root);
        yaml.push_str(&sshd.executor_yaml(&format!("host{i}"), TEST_USER));
        yaml.push_str(&format!(
            "    task_root: {}/tasks\n    labels: [fleet]\n",
            root.display()
        ));
        hosts.push(sshd);
        roots.push(root);
    }
    env.write_config(&yaml);
    Some(Fleet {
        env,
        _hosts: hosts,
        roots,
    })
}

#[test]
fn a_fleet_is_dispatched_looked_at_killed_and_cleaned_one_round_trip_per_host() {
    let Some(mut f) = fleet() else {
        return;
    };
    // Four tasks per host by label, and local ones, in one batch.
    let mut lines: Vec<String> = (0..4 * HOSTS)
        .map(|_| json!({"cmd": "sleep 300", "label": "fleet"}).to_string())
        .collect();
    lines.extend((0..5).map(|_| json!({"cmd": "sleep 300", "executor": "local"}).to_string()));
    let batch = f.env.home().join("fleet.jsonl");
    std::fs::write(&batch, lines.join("\n")).unwrap();
    let calls_file = count_calls(&mut f.env, "ssh");
    let out = f.env.ok(&["run", "--batch", batch.to_str().unwrap()]);
    assert_eq!(out.lines().count(), 4 * HOSTS + 5);
    assert_eq!(calls(&calls_file), HOSTS, "one launch per host");
    let tasks = f.env.json(&["list", "--json"]);
    for i in 0..HOSTS {
        let on_host = tasks
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["executor"] == format!("host{i}") && t["status"] == "running")
            .count();
        assert_eq!(on_host, 4, "the batch spread by label: {tasks}");
    }

    let before = calls(&calls_file);
    f.env.ok(&["list", "--status", "running"]);
    f.env.ok(&["dashboard", "--stream"]);
    assert_eq!(
        calls(&calls_file) - before,
        2 * HOSTS,
        "one look per host each"
    );

    let before = calls(&calls_file);
    let started = Instant::now();
    let out = f.env.ok(&["kill", "--label", "fleet", "--grace", "1"]);
    assert_eq!(out.lines().count(), 4 * HOSTS, "{out}");
    assert!(started.elapsed() < Duration::from_secs(15));
    // A look, a kill, and a look or two per host while the runners record their ends.
    assert!(
        calls(&calls_file) - before <= 4 * HOSTS,
        "{}",
        calls(&calls_file) - before
    );
    let running = f.env.json(&["list", "--json", "--status", "running"]);
    assert_eq!(
        running.as_array().unwrap().len(),
        5,
        "the local tasks run on"
    );

    let before = calls(&calls_file);
    let out = f.env.ok(&["cleanup", "--label", "fleet"]);
    assert_eq!(out.lines().count(), 4 * HOSTS, "{out}");
    assert_eq!(
        calls(&calls_file) - before,
        2 * HOSTS,
        "one check and one removal per host"
    );
    f.env.ok(&["kill", "--executor", "local", "--grace", "1"]);
}

/// A supervisor on the fleet's store, rounds `interval` seconds apart.
fn supervisor(env: &TestEnv, interval: &str) -> std::process::Child {
    let mut daemon = env.command(&["daemon", "--interval", interval]);
    daemon.stdout(std::process::Stdio::null());
    daemon.stderr(std::process::Stdio::null());
    daemon.spawn().unwrap()
}

/// Runs `cmd` on every host; the task ids, host by host.
fn run_on_each_host(env: &TestEnv, cmd: &str) -> Vec<String> {
    (0..HOSTS)
        .map(|i| {
            let out = env.ok(&["run", "-e", &format!("host{i}"), "--cmd", cmd]);
            out.trim().to_owned()
        })
        .collect()
}

#[test]
fn the_supervisor_notices_remote_ends_within_an_interval() {
    let Some(f) = fleet() else {
        return;
    };
    let mut daemon = supervisor(&f.env, "1");
    let ids = run_on_each_host(&f.env, "sleep 1");
    let done = eventually(Duration::from_secs(10), || {
        ids.iter().all(|id| f.env.completion(id).is_some())
    });
    crate::helpers::kill_pid(daemon.id(), libc::SIGKILL);
    let _ = daemon.wait();
    assert!(done, "the supervisor wrote every completion record");
}

/// The live (not zombie) processes whose parent is `pid` (the supervisor's
/// kept `ssh` clients).
/// The live `ssh` children of `pid` (the supervisor's kept shells; the
/// runners it starts for the dispatches handed to it are its children too).
fn shells_of(pid: u32) -> Vec<u32> {
    let parent_and_state = |child: u32| {
        let stat = std::fs::read_to_string(format!("/proc/{child}/stat")).ok()?;
        let (head, tail) = stat.rsplit_once(')')?;
        if !head.ends_with("(ssh") {
            return None;
        }
        let mut fields = tail.split_whitespace();
        let state = fields.next()?.to_owned();
        Some((fields.next()?.parse::<u32>().ok()?, state))
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            parent_and_state(*child).is_some_and(|(parent, state)| parent == pid && state != "Z")
        })
        .collect()
}

/// The state of task `id` as `list --json` shows it.
fn status_in(list: &serde_json::Value, id: &str) -> String {
    list.as_array()
        .unwrap()
        .iter()
        .find(|t| t["task_id"] == id)
        .map(|t| t["status"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

#[test]
fn a_listing_gets_its_round_from_the_supervisor_and_makes_its_own_without_one() {
    let Some(mut f) = fleet() else {
        return;
    };
    let calls_file = count_calls(&mut f.env, "ssh");
    // Rounds only when asked: a listing that saw a task end saw it through its own request.
    let mut daemon = supervisor(&f.env, "3600");
    let short = run_on_each_host(&f.env, "sleep 5");
    let long = f.env.ok(&["run", "-e", "host0", "--cmd", "sleep 300"]);
    let long = long.trim();
    let local = f.env.run_task("sleep 300");
    // The first rounds open the supervisor's shells on the hosts.
    let socket = f.env.home().join(".local/share/openclaw/daemon.sock");
    assert!(eventually(Duration::from_secs(10), || socket.exists()));
    f.env.ok(&["list"]);
    f.env.ok(&["list"]);

    let before = calls(&calls_file);
    let running = f.env.json(&["list", "--json"]);
    for id in short
        .iter()
        .map(String::as_str)
        .chain([long, local.as_str()])
    {
        assert_eq!(status_in(&running, id), "running", "{running}");
    }
    // Ended on their hosts (whose task roots this machine sees): one listing
    // shows it, with no round of the supervisor's own in between.
    let ended = eventually(Duration::from_secs(20), || {
        short
            .iter()
            .enumerate()
            .all(|(i, id)| f.roots[i].join("tasks").join(id).join("exit.json").exists())
    });
    assert!(ended);
    let after = f.env.json(&["list", "--json"]);
    for id in &short {
        assert_eq!(status_in(&after, id), "completed", "{after}");
    }
    assert_eq!(status_in(&after, long), "running");
    let stream = f.env.ok(&["dashboard", "--stream"]);
    assert_eq!(stream.lines().count(), HOSTS + 2);
    assert_eq!(
        calls(&calls_file),
        before,
        "the supervisor read the hosts through the shells it keeps"
    );

    // The supervisor's shells on the hosts die (a dropped link): its next
    // round reads the hosts the ordinary way and opens new ones.
    let kept = shells_of(daemon.id());
    assert_eq!(kept.len(), HOSTS, "one kept shell per host");
    for pid in kept {
        crate::helpers::kill_pid(pid, libc::SIGKILL);
    }
    let listed = f.env.json(&["list", "--json"]);
    assert_eq!(status_in(&listed, long), "running", "{listed}");
    assert_eq!(status_in(&listed, &local), "running", "{listed}");
    assert!(eventually(Duration::from_secs(10), || {
        f.env.ok(&["list"]);
        shells_of(daemon.id()).len() == 1
    }));

    // A configuration other than the supervisor's: the listing reads the hosts itself.
    let config = f.env.config_path();
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n")).unwrap();
    let before = calls(&calls_file);
    let listed = f.env.json(&["list", "--json"]);
    assert_eq!(status_in(&listed, long), "running");
    assert_eq!(
        calls(&calls_file) - before,
        1,
        "one look at the one host with a live task"
    );
    std::fs::write(&config, text).unwrap();

    // No supervisor any more (its socket is left behind): the same.
    crate::helpers::kill_pid(daemon.id(), libc::SIGKILL);
    let _ = daemon.wait();
    let before = calls(&calls_file);
    let listed = f.env.json(&["list", "--json"]);
    assert_eq!(status_in(&listed, long), "running");
    assert_eq!(status_in(&listed, &local), "running");
    assert_eq!(calls(&calls_file) - before, 1);
    f.env.ok(&["kill", "--all", "--grace", "1"]);
}
