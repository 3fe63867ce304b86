//! The brain: label routing, capacity and the queue, and the supervisor.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Child;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::{TestEnv, eventually, kill_pid};

fn local(name: &str, labels: &str, extra: &str) -> String {
    format!("  - name: {name}\n    type: local\n    labels: [{labels}]\n{extra}")
}

fn executor_of(env: &TestEnv, args: &[&str]) -> String {
    let mut full = vec!["run", "--json"];
    full.extend_from_slice(args);
    env.json(&full)["executor"].as_str().unwrap().to_owned()
}

#[test]
fn labels_route_to_the_least_loaded_free_executor() {
    let env = TestEnv::new();
    env.write_config(&format!(
        "executors:\n{}{}{}",
        local("alpha", "gpu, fast", "    max_concurrent: 1\n"),
        local("beta", "gpu", ""),
        local("gamma", "cpu", ""),
    ));
    // All idle: config order breaks the tie.
    assert_eq!(
        executor_of(&env, &["--label", "gpu", "--cmd", "sleep 300"]),
        "alpha"
    );
    // alpha is full now; beta carries the label and is free.
    assert_eq!(
        executor_of(&env, &["--label", "gpu", "--cmd", "sleep 300"]),
        "beta"
    );
    // Both labels: only alpha has them; it is full, so the task queues there.
    let queued = env.json(&["run", "--json", "-l", "gpu", "-l", "fast", "--cmd", "true"]);
    assert_eq!(queued["executor"], "alpha");
    assert_eq!(queued["status"], "queued");
    assert_eq!(
        executor_of(&env, &["--label", "cpu", "--cmd", "true"]),
        "gamma"
    );

    let run = env.run(&["run", "--label", "tpu", "--cmd", "true"]);
    run.assert_error(5, "no executor carries the labels tpu");
    assert!(
        run.stderr.contains("labels in use: cpu, fast, gpu"),
        "{}",
        run.stderr
    );
    // Neither --executor nor --label: a usage error.
    assert_eq!(env.run(&["run", "--cmd", "true"]).code, 2);

    for task in env.json(&["list", "--json"]).as_array().unwrap() {
        if task["status"] != "completed" {
            env.run(&[
                "kill",
                "--task-id",
                task["task_id"].as_str().unwrap(),
                "--grace",
                "1",
            ]);
        }
    }
}

/// Starts the supervisor; it is SIGKILLed when dropped.
struct Daemon(Child);

impl Daemon {
    fn start(env: &TestEnv) -> Self {
        let mut command = env.command(&["daemon", "--interval", "0.2"]);
        command.stdout(std::process::Stdio::null());
        command.stderr(std::process::Stdio::null());
        Self(command.spawn().unwrap())
    }

    fn kill(&mut self) {
        kill_pid(self.0.id(), libc::SIGKILL);
        let _ = self.0.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

#[test]
fn capacity_is_never_exceeded_and_every_task_runs() {
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: local\n    type: local\n    max_concurrent: 2\n");
    let trace = env.work.join("trace");
    let command = format!(
        "echo \"start $(date +%s%N)\" >> {t}; sleep 0.2; echo \"end $(date +%s%N)\" >> {t}",
        t = trace.display()
    );
    let ids: Vec<String> = (0..30).map(|_| env.run_task(&command)).collect();
    let daemon = Daemon::start(&env);
    let mut max_seen = 0;
    let all_done = eventually(Duration::from_secs(90), || {
        let list = env.json(&["list", "--json"]);
        let tasks = list.as_array().unwrap();
        let running = tasks
            .iter()
            .filter(|t| t["status"] == "running" || t["status"] == "pending")
            .count();
        max_seen = max_seen.max(running);
        assert!(running <= 2, "{running} tasks hold slots at once");
        tasks.iter().all(|t| t["status"] == "completed")
    });
    drop(daemon);
    assert!(all_done, "not every task completed");
    assert!(max_seen >= 1);
    // The tasks' own trace: never more than two between start and end.
    let mut events: Vec<(u128, i32)> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(|l| {
            let (kind, at) = l.split_once(' ').unwrap();
            (at.parse().unwrap(), if kind == "start" { 1 } else { -1 })
        })
        .collect();
    events.sort();
    let mut concurrent = 0;
    for (_, delta) in &events {
        concurrent += delta;
        assert!(concurrent <= 2, "{concurrent} tasks ran at once");
    }
    assert_eq!(events.len(), 60, "each of the 30 tasks ran exactly once");
    assert_eq!(ids.len(), 30);
}

#[test]
fn priority_orders_the_queue_and_queued_tasks_can_be_killed() {
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: local\n    type: local\n    max_concurrent: 1\n");
    let blocker = env.run_task("sleep 300");
    let low = env.json(&["run", "--json", "-e", "local", "--cmd", "true"]);
    let high = env.json(&[
        "run",
        "--json",
        "-e",
        "local",
        "--priority",
        "5",
        "--cmd",
        "true",
    ]);
    let doomed = env.json(&["run", "--json", "-e", "local", "--cmd", "touch never"]);
    for task in [&low, &high, &doomed] {
        assert_eq!(task["status"], "queued");
    }
    let doomed = doomed["task_id"].as_str().unwrap();
    assert_eq!(
        env.ok(&["kill", "--task-id", doomed]),
        format!("{doomed} killed\n")
    );
    assert_eq!(env.status(doomed)["reason"], "killed while queued");
    env.ok(&["kill", "--task-id", &blocker, "--grace", "1"]);
    // Without a supervisor, `wait` notices the free slot and starts the queue.
    let low_status = env.wait_done(low["task_id"].as_str().unwrap());
    let high_status = env.wait_done(high["task_id"].as_str().unwrap());
    assert_eq!(low_status["status"], "completed");
    assert_eq!(high_status["status"], "completed");
    let started = |s: &Value| s["started_at"].as_str().unwrap().to_owned();
    assert!(
        started(&high_status) <= started(&low_status),
        "priority 5 started first"
    );
    assert!(!env.work.join("never").exists());
    assert_eq!(env.completion(doomed).unwrap()["task_status"], "killed");
}

#[derive(Debug, Clone)]
struct Delivery {
    at: jiff::Timestamp,
    signature: Option<String>,
    raw: Vec<u8>,
    body: Value,
}

fn webhook_listener() -> (String, Arc<Mutex<Vec<Delivery>>>) {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", server.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    std::thread::spawn(move || {
        for stream in server.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let (mut length, mut signature) = (0, None);
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 {
                    break;
                }
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (k, v) = header.split_once(':').unwrap_or((header, ""));
                match k.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = v.trim().parse().unwrap_or(0),
                    "x-openclaw-signature" => signature = Some(v.trim().to_owned()),
                    _ => {}
                }
            }
            let mut raw = vec![0; length];
            // A request cut short (its sender killed mid-POST) is no delivery:
            // it gets no answer, and the sender's successor sends it again.
            if reader.read_exact(&mut raw).is_err() {
                continue;
            }
            sink.lock().unwrap().push(Delivery {
                at: jiff::Timestamp::now(),
                signature,
                body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
                raw,
            });
            let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n");
        }
    });
    (url, log)
}

#[test]
fn supervisor_alone_announces_each_completion_signed_and_within_seconds() {
    let env = TestEnv::new();
    let (url, deliveries) = webhook_listener();
    let secret = "s3cret-for-hmac";
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\ndefaults:\n  webhook_url: {url}\n  webhook_secret: {secret}\n"
    ));
    let _daemon = Daemon::start(&env);
    let ids: Vec<String> = (0..3)
        .map(|i| env.run_task(&format!("sleep 1; exit {i}")))
        .collect();
    // No other command runs: only the supervisor can notice the ends.
    assert!(
        eventually(Duration::from_secs(30), || deliveries.lock().unwrap().len()
            >= 3),
        "the supervisor did not announce every completion"
    );
    let deliveries = deliveries.lock().unwrap().clone();
    for delivery in &deliveries {
        let id = delivery.body["task_id"].as_str().unwrap();
        assert!(ids.iter().any(|i| i == id));
        // Signed with the secret: the receiver can verify the sender.
        let expected = executor_core::completion::signature(secret, &delivery.raw);
        assert_eq!(delivery.signature.as_deref(), Some(expected.as_str()));
        // Within 5 s of the task ending (ended_at is the exit record's mtime).
        let ended: jiff::Timestamp = delivery.body["completed_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let delay = delivery.at.as_millisecond() - ended.as_millisecond();
        assert!(delay < 5_000, "webhook {delay} ms after the task ended");
        assert!(env.completion(id).is_some(), "completion record written");
    }
    let mut announced: Vec<&str> = deliveries
        .iter()
        .map(|d| d.body["task_id"].as_str().unwrap())
        .collect();
    announced.sort_unstable();
    announced.dedup();
    assert_eq!(announced.len(), 3, "each task once");
}

#[test]
fn a_second_supervisor_refuses_to_start() {
    let env = TestEnv::new();
    let mut first = Daemon::start(&env);
    let lock = env.home().join(".local/share/openclaw/daemon.lock");
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&lock).is_ok_and(|pid| pid.trim() == first.0.id().to_string())
    }));
    let run = env.run(&["daemon"]);
    run.assert_error(7, "another supervisor");
    assert!(
        run.stderr.contains(&first.0.id().to_string()),
        "{}",
        run.stderr
    );
    first.kill();
    // The lock dies with its holder: a new supervisor may start.
    let mut second = Daemon::start(&env);
    assert!(eventually(Duration::from_secs(10), || {
        std::fs::read_to_string(&lock).is_ok_and(|pid| pid.trim() == second.0.id().to_string())
    }));
    second.kill();
}

#[test]
fn supervisor_killed_mid_work_loses_and_repeats_nothing() {
    let env = TestEnv::new();
    let (url, deliveries) = webhook_listener();
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\n    max_concurrent: 2\ndefaults:\n  webhook_url: {url}\n"
    ));
    let marks = env.work.join("marks");
    let ids: Vec<String> = (0..10)
        .map(|i| env.run_task(&format!("sleep 0.4; echo {i} >> {}", marks.display())))
        .collect();
    let mut daemon = Daemon::start(&env);
    std::thread::sleep(Duration::from_millis(1200));
    daemon.kill();
    std::thread::sleep(Duration::from_millis(500));
    let _daemon = Daemon::start(&env);
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(90), || deliveries.lock().unwrap().len()
            >= 10),
        "only {} webhooks after {:?}",
        deliveries.lock().unwrap().len(),
        started.elapsed()
    );
    std::thread::sleep(Duration::from_secs(2));
    let deliveries = deliveries.lock().unwrap().clone();
    let mut announced: Vec<String> = deliveries
        .iter()
        .map(|d| d.body["task_id"].as_str().unwrap().to_owned())
        .collect();
    announced.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(announced, expected, "every task announced exactly once");
    for id in &ids {
        assert_eq!(env.status(id)["status"], "completed");
    }
    let mut ran: Vec<u32> = std::fs::read_to_string(&marks)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    ran.sort_unstable();
    assert_eq!(
        ran,
        (0..10).collect::<Vec<_>>(),
        "every task ran exactly once"
    );
    assert_eq!(
        std::fs::read_dir(env.completions_dir()).unwrap().count(),
        10
    );
}

#[test]
fn executors_show_capacity_and_check_in_parallel() {
    let env = TestEnv::new();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\n    max_concurrent: 3\n    claude_path: /bin/echo\n  - name: gone\n    type: ssh\n    host: 127.0.0.1\n    port: {port}\n    ssh_config: /dev/null\n"
    ));
    let id = env.run_task("sleep 300");
    let json = env.json(&["executors", "--json"]);
    assert_eq!(json[0]["max_concurrent"], 3);
    assert_eq!(json[0]["running"], 1);
    assert_eq!(json[0]["queued"], 0);
    assert!(json[1]["max_concurrent"].is_null());
    let table = env.ok(&["executors"]);
    assert!(table.contains("QUEUED") && table.contains("MAX"), "{table}");

    let started = Instant::now();
    let run = env.run(&["executors", "--check", "--json", "--timeout", "20"]);
    assert_eq!(
        run.code, 5,
        "a failing probe makes the command fail: {}",
        run.stderr
    );
    let checks: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(checks[0]["check"]["ok"], true, "{checks}");
    assert_eq!(checks[0]["check"]["detail"], "this machine", "{checks}");
    assert_eq!(checks[0]["check"]["agents"]["claude"]["path"], "/bin/echo");
    assert!(checks[0]["check"]["agents"]["claude"]["version"].is_string());
    assert_eq!(checks[0]["check"]["missing"], serde_json::json!([]));
    assert_eq!(checks[1]["check"]["ok"], false);
    assert!(
        checks[1]["check"]["detail"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{checks}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
}

#[test]
fn a_missing_agent_cli_is_a_warning_that_names_it() {
    let env = TestEnv::new();
    env.write_config(
        "executors:\n  - name: local\n    type: local\n    labels: [x]\n    agents: [claude, codex]\n    claude_path: /bin/echo\n    codex_path: /nonexistent/codex\n",
    );
    let run = env.run(&["executors", "--check"]);
    assert_eq!(run.code, 0, "a missing agent is a warning: {}", run.stdout);
    assert!(run.stdout.contains("  ✓ this machine"), "{}", run.stdout);
    assert!(run.stdout.contains("  ✓ claude: "), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("  ! codex not found at `/nonexistent/codex`"),
        "{}",
        run.stdout
    );
    let checks = env.json(&["executors", "--check", "--json"]);
    assert_eq!(checks[0]["agents"], serde_json::json!(["claude", "codex"]));
    assert_eq!(checks[0]["check"]["missing"], serde_json::json!(["codex"]));
    assert!(checks[0]["check"]["agents"]["codex"]["version"].is_null());

    // Routing by --agent picks only executors that have it.
    let run = env.run(&["start", "--label", "x", "--agent", "gemini", "-p", "hi"]);
    run.assert_error(5, "no executor with the labels x has the agent `gemini`");
    let run = env.run(&["start", "-e", "local", "--agent", "gemini", "-p", "hi"]);
    run.assert_error(2, "executor `local` does not have the agent `gemini`");
}

#[test]
fn supervisor_follows_an_index_moved_aside_and_rebuilt() {
    let env = TestEnv::new();
    let (url, deliveries) = webhook_listener();
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\ndefaults:\n  webhook_url: {url}\n"
    ));
    let log = env.home().join("daemon.log");
    let mut command = env.command(&["daemon", "--interval", "0.2"]);
    command.stdout(std::process::Stdio::null());
    command.stderr(std::fs::File::create(&log).unwrap());
    let _daemon = Daemon(command.spawn().unwrap());
    let daemon_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let first = env.run_task("true");
    assert!(eventually(Duration::from_secs(30), || env
        .completion(&first)
        .is_some()));

    // The documented recovery: the index moved aside, then rebuilt.
    let data = env.home().join(".local/share/openclaw");
    let aside = env.home().join("aside");
    std::fs::create_dir(&aside).unwrap();
    for name in ["index.sqlite", "index.sqlite-wal", "index.sqlite-shm"] {
        if data.join(name).exists() {
            std::fs::rename(data.join(name), aside.join(name)).unwrap();
        }
    }
    env.ok(&["reindex"]);
    let id = env.run_task("sleep 1");
    // From here on only the supervisor runs: it must see the new index.
    assert!(
        eventually(Duration::from_secs(30), || env.completion(&id).is_some()),
        "no completion record from the supervisor; its log:\n{}",
        daemon_log()
    );
    assert!(
        eventually(Duration::from_secs(30), || deliveries
            .lock()
            .unwrap()
            .iter()
            .any(|d| d.body["task_id"] == id.as_str())),
        "no webhook for {id}"
    );
    assert_eq!(env.completion(&id).unwrap()["task_status"], "completed");
    let text = daemon_log();
    assert_eq!(
        text.matches("was replaced; reopened it").count(),
        1,
        "{text}"
    );
    assert!(
        text.contains(&data.join("index.sqlite").display().to_string()),
        "{text}"
    );
}
