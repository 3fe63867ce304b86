//! The HTTP API: every route, with and without the token, good and bad input.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Served, next_event, session_members};
use crate::helpers::{TestEnv, eventually, process_alive};

/// Every route, as (method, path) with a task id where one goes.
fn routes(id: &str) -> Vec<(&'static str, String)> {
    vec![
        ("GET", "/api/tasks".into()),
        ("POST", "/api/tasks".into()),
        ("GET", format!("/api/tasks/{id}")),
        ("POST", format!("/api/tasks/{id}/kill")),
        ("POST", format!("/api/tasks/{id}/cleanup")),
        ("GET", format!("/api/tasks/{id}/log")),
        ("GET", format!("/api/tasks/{id}/log/follow")),
        ("GET", format!("/api/tasks/{id}/activity")),
        ("GET", format!("/api/tasks/{id}/diff")),
        ("POST", "/api/cleanup".into()),
        ("GET", "/api/executors".into()),
        ("GET", "/api/costs".into()),
        ("GET", "/api/events".into()),
    ]
}

#[test]
fn every_route_refuses_a_missing_or_wrong_token() {
    let env = TestEnv::new();
    let id = env.run_task("echo secret-output");
    env.wait_done(&id);
    let served = Served::serve(&env);
    let mut wrong = served.token.clone();
    wrong.replace_range(..1, if wrong.starts_with('0') { "1" } else { "0" });
    let bodies: [Option<&[u8]>; 1] = [Some(
        br#"{"type":"shell","command":"touch pwned","executor":"local"}"#,
    )];
    for (method, path) in routes(&id) {
        for token in [
            None,
            Some(wrong.as_str()),
            Some(""),
            Some(&served.token[..32]),
        ] {
            let reply = served.request(method, &path, token, bodies[0]);
            reply.assert_error(401, "access token");
            assert!(!reply.body.contains("secret"), "{path}: {}", reply.body);
        }
    }
    assert!(!env.work.join("pwned").exists(), "a refused dispatch ran");
    // The page itself is served to anyone: it holds no data, and a strict policy.
    let page = served.request("GET", "/", None, None);
    assert_eq!(page.status, 200);
    assert!(!page.body.contains(&id));
    let csp = served.request("GET", "/app.js", None, None);
    assert_eq!(csp.status, 200);
    // With the token, the same store answers.
    assert_eq!(served.get(&format!("/api/tasks/{id}")).status, 200);
}

#[test]
fn token_is_private_stable_and_the_page_strictly_confined() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let first = Served::serve(&env);
    let token_file = env.home().join(".local/share/openclaw/web-token");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(
        std::fs::read_to_string(&token_file).unwrap().trim(),
        first.token
    );
    assert_eq!(first.token.len(), 64);
    // One supervisor per store: a second serve is refused (exit 7).
    let second = env.run(&["serve", "--listen", "127.0.0.1:0"]);
    second.assert_error(7, "another supervisor");
    let token = first.token.clone();
    drop(first);
    // `daemon --listen` is the same server, with the same token.
    let again = Served::start(&env, &["daemon", "--listen", "127.0.0.1:0"]);
    assert_eq!(again.token, token);
    let url = format!("{}/", again.base);
    let response = ureq::get(&url).call().unwrap();
    let csp = response
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
}

#[test]
fn a_non_loopback_address_warns_and_a_bad_one_is_a_usage_error() {
    let env = TestEnv::new();
    let bad = env.run(&["serve", "--listen", "not-an-address"]);
    bad.assert_error(2, "--listen not-an-address");
    let served = Served::start(&env, &["serve", "--listen", "0.0.0.0:0"]);
    assert!(
        eventually(Duration::from_secs(5), || served
            .stderr()
            .contains("reachable from other machines")),
        "{}",
        served.stderr()
    );
}

#[test]
fn dispatch_status_log_and_cleanup_through_the_api() {
    let env = TestEnv::new();
    let served = Served::serve(&env);
    let command = "printf '%s\\n' \"it's \\\"quoted\\\" — ✓\" '$(not run)' line2";
    let body = json!({"type": "shell", "command": command, "executor": "local"}).to_string();
    let created = served.post("/api/tasks", &body);
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["task_id"].as_str().unwrap().to_owned();
    let done = env.wait_done(&id);
    assert_eq!(done["status"], "completed");

    // One task: the same JSON as `status --json`.
    let one = served.get(&format!("/api/tasks/{id}")).json();
    assert_eq!(one, env.status(&id));
    assert_eq!(one["command"], command);

    // The log tail, byte for byte.
    let log = served.get(&format!("/api/tasks/{id}/log?lines=10")).json();
    assert_eq!(log["text"], "it's \"quoted\" — ✓\n$(not run)\nline2\n");
    let two = served.get(&format!("/api/tasks/{id}/log?lines=1")).json();
    assert_eq!(two["text"], "line2\n");

    // A shell task has no agent activity and no task has a diff yet: clear 404s.
    served
        .get(&format!("/api/tasks/{id}/activity"))
        .assert_error(404, "no agent activity");
    served
        .get(&format!("/api/tasks/{id}/diff"))
        .assert_error(404, "no result");

    // Executors with their load; costs per executor and day.
    let executors = served.get("/api/executors").json();
    let local = &executors.as_array().unwrap()[0];
    assert_eq!(local["name"], "local");
    assert_eq!(local["tasks"], 1);
    assert_eq!(local["running"], 0);
    let checked = served.get("/api/executors?check=true").json();
    assert_eq!(checked[0]["check"]["ok"], true, "{checked}");
    let costs = served.get("/api/costs").json();
    assert_eq!(costs["by_executor"][0]["executor"], "local");
    assert_eq!(costs["by_executor"][0]["tasks"], 1);
    assert_eq!(
        costs["by_day"][0]["day"],
        one["created_at"].as_str().unwrap()[..10]
    );

    // Cleanup of one task, then of every finished one.
    let removed = served.post(&format!("/api/tasks/{id}/cleanup"), "");
    assert_eq!(removed.status, 200, "{}", removed.body);
    assert!(!env.task_dir(&id).exists());
    served
        .get(&format!("/api/tasks/{id}"))
        .assert_error(404, "no task matches");
    let other = env.run_task("true");
    env.wait_done(&other);
    let all = served.post("/api/cleanup", r#"{"finished": true}"#).json();
    assert_eq!(all["removed"], json!([other]));
    assert!(!env.task_dir(&other).exists());
}

#[test]
fn kill_through_the_api_ends_the_whole_process_tree() {
    let env = TestEnv::new();
    let served = Served::serve(&env);
    let body = json!({"type": "shell", "executor": "local",
        "command": "sleep 300 & sleep 300 & echo started; wait"})
    .to_string();
    let id = served.post("/api/tasks", &body).json()["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut pid = 0;
    assert!(eventually(Duration::from_secs(10), || {
        pid = env.status(&id)["pid"].as_u64().unwrap_or(0) as u32;
        pid > 0 && session_members(pid).len() >= 3
    }));
    let tree = session_members(pid);
    let killed = served.post(&format!("/api/tasks/{id}/kill"), r#"{"grace": 2}"#);
    assert_eq!(killed.status, 200, "{}", killed.body);
    assert_eq!(killed.json()["status"], "killed");
    for member in tree {
        assert!(
            !process_alive(member),
            "process {member} of the task survived"
        );
    }
    // Killing it again: it already ended (409), not a 500.
    served
        .post(&format!("/api/tasks/{id}/kill"), "{}")
        .assert_error(409, "already ended");
    // A running task cannot be cleaned up without force.
    let live = env.run_task("sleep 300");
    served
        .post(&format!("/api/tasks/{live}/cleanup"), "{}")
        .assert_error(409, "still");
    let forced = served.post(
        &format!("/api/tasks/{live}/cleanup"),
        r#"{"force": true, "grace": 1}"#,
    );
    assert_eq!(forced.status, 200, "{}", forced.body);
}

#[test]
fn bad_requests_get_a_one_line_4xx() {
    let env = TestEnv::new();
    let served = Served::serve(&env);
    let id = env.run_task("true");
    served
        .post("/api/tasks", "{not json")
        .assert_error(400, "bad request body");
    served
        .post("/api/tasks", "[]")
        .assert_error(400, "bad request body");
    served
        .post(
            "/api/tasks",
            r#"{"type":"shell","command":"true","executor":"local","extra":1}"#,
        )
        .assert_error(400, "unknown field `extra`");
    served
        .post("/api/tasks", r#"{"type":"teleport","command":"true"}"#)
        .assert_error(400, "unknown variant");
    served
        .post(
            "/api/tasks",
            r#"{"type":"shell","command":"  ","executor":"local"}"#,
        )
        .assert_error(422, "the command is empty");
    served
        .post("/api/tasks", r#"{"type":"shell","command":"true"}"#)
        .assert_error(422, "give an executor or labels");
    served
        .post(
            "/api/tasks",
            r#"{"type":"shell","command":"true","executor":"nowhere"}"#,
        )
        .assert_error(422, "unknown executor `nowhere`");
    served
        .post(
            "/api/tasks",
            r#"{"type":"shell","command":"true","labels":["gpu"]}"#,
        )
        .assert_error(422, "no executor carries the labels gpu");
    served
        .post(
            "/api/tasks",
            r#"{"type":"agent","prompt":"","executor":"local"}"#,
        )
        .assert_error(422, "the prompt is empty");
    served
        .post(
            "/api/tasks",
            r#"{"type":"agent","prompt":"x","max_turns":0,"executor":"local"}"#,
        )
        .assert_error(422, "max_turns");
    served
        .post(
            "/api/tasks",
            r#"{"type":"agent","prompt":"x","agent":"cobol","executor":"local"}"#,
        )
        .assert_error(400, "unknown agent `cobol`");
    served
        .post(
            "/api/tasks",
            r#"{"type":"agent","prompt":"x","max_budget_usd":0,"executor":"local"}"#,
        )
        .assert_error(422, "max_budget_usd");
    served
        .post(
            "/api/tasks",
            &format!(r#"{{"type":"agent","prompt":"x","agent":"codex","resume":"{id}"}}"#),
        )
        .assert_error(422, "continues its parent's agent");
    served
        .post(&format!("/api/tasks/{id}/kill"), r#"{"grace": -1}"#)
        .assert_error(400, "grace");
    served
        .post(&format!("/api/tasks/{id}/kill"), r#"{"signal": 9}"#)
        .assert_error(400, "unknown field `signal`");
    served
        .post("/api/cleanup", "{}")
        .assert_error(400, "missing field `finished`");

    // Oversize bodies are refused before they are read whole.
    let huge = format!(
        r#"{{"type":"shell","executor":"local","command":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    served.post("/api/tasks", &huge).assert_error(413, "");

    // Unknown and malformed ids, bad queries, unknown routes.
    let unknown = "01234567-89ab-7def-8123-456789abcdef";
    for path in [
        format!("/api/tasks/{unknown}"),
        format!("/api/tasks/{unknown}/log"),
        format!("/api/tasks/{unknown}/log/follow"),
        format!("/api/tasks/{unknown}/activity"),
        format!("/api/tasks/{unknown}/diff"),
    ] {
        served.get(&path).assert_error(404, "no task matches");
    }
    served
        .post(&format!("/api/tasks/{unknown}/kill"), "{}")
        .assert_error(404, "no task matches");
    served
        .post(&format!("/api/tasks/{unknown}/cleanup"), "{}")
        .assert_error(404, "no task matches");
    served.get("/api/tasks/not-an-id!").assert_error(400, "");
    served
        .get("/api/tasks?status=sleeping")
        .assert_error(400, "unknown status");
    served
        .get("/api/tasks?colour=red")
        .assert_error(400, "bad query");
    served.get("/api/tasks?limit=0").assert_error(400, "limit");
    served
        .get("/api/tasks?limit=many")
        .assert_error(400, "bad query");
    served
        .get("/api/tasks?before=xyz")
        .assert_error(400, "before");
    served
        .get("/api/tasks?executor=nowhere")
        .assert_error(422, "unknown executor");
    served
        .get(&format!("/api/tasks/{id}/log?lines=99999999"))
        .assert_error(400, "lines");
    served
        .get(&format!("/api/tasks/{id}/log/follow?format=html"))
        .assert_error(400, "unknown format");
    served
        .get("/api/nothing")
        .assert_error(404, "no such route");
    served
        .request("DELETE", "/api/tasks", Some(&served.token), None)
        .assert_error(405, "method");
    assert!(!served.stderr().contains("panicked"), "{}", served.stderr());
}

#[test]
fn list_pages_newest_first_with_the_filters_of_list() {
    let env = TestEnv::new();
    env.write_config("executors:\n  - name: other\n    type: local\n");
    let mut ids = Vec::new();
    for n in 0..7 {
        let executor = if n % 2 == 0 { "local" } else { "other" };
        let out = env.ok(&["run", "-e", executor, "--cmd", &format!("exit {}", n % 3)]);
        ids.push(out.trim().to_owned());
    }
    for id in &ids {
        env.run(&["wait", "-t", id, "--timeout", "30"]);
    }
    let served = Served::serve(&env);
    let mut seen = Vec::new();
    let mut path = "/api/tasks?limit=3".to_owned();
    loop {
        let page = served.get(&path).json();
        assert_eq!(page["total"], 7);
        for task in page["tasks"].as_array().unwrap() {
            seen.push(task["task_id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/api/tasks?limit=3&before={next}"),
            None => break,
        }
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
    // The same filters as `list`, and the same JSON per task.
    let listed: Vec<Value> =
        serde_json::from_str(&env.ok(&["list", "--json", "-s", "failed", "-e", "other"])).unwrap();
    let page = served.get("/api/tasks?status=failed&executor=other").json();
    let mut api: Vec<Value> = page["tasks"].as_array().unwrap().clone();
    api.reverse();
    assert_eq!(api, listed);
    assert_eq!(page["total"], listed.len());
}

#[test]
fn events_announce_a_cli_task_and_its_end_promptly() {
    let env = TestEnv::new();
    let served = Served::serve(&env);
    let events = served.events("/api/events");
    next_event(&events, Duration::from_secs(10), "hello", |_| true);
    let id = env.run_task("sleep 1; echo done");
    let is_it = |data: &Value| data["task"]["task_id"] == id.as_str();
    let (created, _) = next_event(&events, Duration::from_secs(10), "created", is_it);
    assert_eq!(created["kind"], "created");
    let (ended, arrived) = next_event(&events, Duration::from_secs(20), "ended", is_it);
    assert_eq!(ended["task"]["status"], "completed");
    // The runner's end record to the event's arrival: one supervisor round
    // (0.2 s here) and the watcher's look; generous for a loaded machine.
    let ended_at: jiff::Timestamp = ended["task"]["ended_at"].as_str().unwrap().parse().unwrap();
    let lag = jiff::Timestamp::now()
        .duration_since(ended_at)
        .as_secs_f64()
        - arrived.elapsed().as_secs_f64();
    eprintln!("the end reached the event stream {lag:.3} s after the task ended");
    assert!(
        lag < 3.0,
        "the end reached the stream {lag:.2}s after it happened"
    );
    // Removals through the API are announced too.
    served.post(&format!("/api/tasks/{id}/cleanup"), "{}");
    let (removed, _) = next_event(&events, Duration::from_secs(10), "removed", |d| {
        d["task_id"] == id.as_str()
    });
    assert_eq!(removed["task_id"], id.as_str());
}

#[test]
fn log_follow_streams_new_lines_as_they_are_written() {
    let env = TestEnv::new();
    let served = Served::serve(&env);
    // The lines are written only once the stream is open (the task waits for
    // `go`): on a loaded machine the stream may connect after a first line.
    let go = env.home.path().join("go");
    let id = env.run_task(&format!(
        "echo ready; while [ ! -e '{}' ]; do sleep 0.05; done; \
         for i in 1 2 3 4; do echo \"line $i $(date +%s.%N)\"; sleep 0.5; done",
        go.display()
    ));
    let stream = served.events(&format!("/api/tasks/{id}/log/follow?lines=0"));
    let mut go_written = false;
    let mut text = String::new();
    let started = Instant::now();
    loop {
        if !go_written {
            // The stream has answered (`events` returns after its headers);
            // a moment more for its first look at the log, then the lines.
            std::thread::sleep(Duration::from_millis(300));
            std::fs::write(&go, "").unwrap();
            go_written = true;
        }
        let (name, data, at) = stream
            .recv_timeout(Duration::from_secs(20))
            .expect("follow events");
        match name.as_str() {
            "log" => {
                let chunk = data["text"].as_str().unwrap();
                for line in chunk.lines().filter(|l| *l != "ready") {
                    // The line carries when it was written: it came within ~1 s.
                    let written: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs_f64()
                        - at.elapsed().as_secs_f64();
                    assert!(
                        now - written < 2.0,
                        "{line} arrived {:.2}s late",
                        now - written
                    );
                }
                text.push_str(chunk);
            }
            "end" => {
                assert_eq!(data["status"], "completed");
                break;
            }
            other => panic!("unexpected event {other}: {data}"),
        }
        assert!(started.elapsed() < Duration::from_secs(30));
    }
    let numbers: Vec<&str> = text
        .lines()
        .filter(|l| *l != "ready")
        .map(|l| &l[..6])
        .collect();
    assert_eq!(numbers, ["line 1", "line 2", "line 3", "line 4"]);
}

#[test]
fn killed_by_the_api_is_seen_by_the_process_table_and_the_cli() {
    // The kill route in the browser test goes through the same handler; here
    // the CLI sees what the API did.
    let env = TestEnv::new();
    let served = Served::serve(&env);
    let id = env.run_task("sleep 300");
    assert!(eventually(Duration::from_secs(10), || {
        env.status(&id)["pid"].is_u64()
    }));
    let pid = env.status(&id)["pid"].as_u64().unwrap() as u32;
    served.post(&format!("/api/tasks/{id}/kill"), r#"{"grace": 0}"#);
    assert!(!process_alive(pid));
    assert_eq!(env.status(&id)["status"], "killed");
}

#[test]
fn an_agent_task_streams_activity_and_cost() {
    use test_support::{MockAnthropic, Script};
    let mock = MockAnthropic::start(Script::endless());
    let Some(env) = TestEnv::with_local_claude(&mock.url()) else {
        return;
    };
    let served = Served::serve(&env);
    let events = served.events("/api/events");
    next_event(&events, Duration::from_secs(10), "hello", |_| true);
    let body =
        json!({"type": "agent", "executor": "local", "prompt": "keep going", "max_turns": 12});
    let created = served.post("/api/tasks", &body.to_string());
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.json()["task_id"].as_str().unwrap().to_owned();
    let is_it = |data: &Value| data["task"]["task_id"] == id.as_str();
    // The agent's tool calls show while it runs; its cost comes with it or
    // with its end (in the same look: `ended`, then `activity` and `cost`).
    let (busy, _) = next_event(&events, Duration::from_secs(60), "activity", |d| {
        is_it(d) && d["task"]["agent"]["tool_calls"].as_u64().unwrap_or(0) >= 1
    });
    assert_eq!(busy["task"]["status"], "running");
    let mut ended = None;
    let mut cost = None;
    let deadline = Instant::now() + Duration::from_secs(90);
    while ended.is_none() || cost.is_none() {
        let left = deadline
            .checked_duration_since(Instant::now())
            .expect("no end and cost events within 90 s");
        let (name, data, _) = events.recv_timeout(left).expect("events");
        if !is_it(&data) {
            continue;
        }
        match name.as_str() {
            "ended" => ended = Some(data),
            "cost"
                if data["task"]["agent"]["total_cost_usd"]
                    .as_f64()
                    .unwrap_or(0.0)
                    > 0.0 =>
            {
                cost = Some(data)
            }
            _ => {}
        }
    }
    let ended = ended.unwrap();
    assert_eq!(ended["task"]["status"], "failed", "{ended}");
    assert_eq!(ended["task"]["reason"], "error_max_turns");
    // The cost totals add it up, per executor and per day.
    let spent = env.status(&id)["agent"]["total_cost_usd"].as_f64().unwrap();
    assert!(spent > 0.0);
    let costs = served.get("/api/costs").json();
    assert_eq!(costs["total_usd"].as_f64(), Some(spent), "{costs}");
    assert_eq!(costs["by_executor"][0]["cost_usd"].as_f64(), Some(spent));
    assert_eq!(costs["by_day"][0]["cost_usd"].as_f64(), Some(spent));

    // The rendered activity, and the follow stream in the same rendering.
    let activity = served
        .get(&format!("/api/tasks/{id}/activity?lines=1000"))
        .json();
    let lines: Vec<&str> = activity["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(lines.contains(&"→ Bash: true"), "{lines:?}");
    assert!(lines.iter().all(|l| !l.starts_with('{')), "{lines:?}");
    let follow = served.events(&format!(
        "/api/tasks/{id}/log/follow?format=activity&lines=1000"
    ));
    let (_, first, _) = follow.recv_timeout(Duration::from_secs(20)).unwrap();
    let rendered: Vec<Value> = first["lines"].as_array().unwrap().clone();
    assert_eq!(
        rendered.len(),
        lines.len(),
        "the follow stream renders as the activity route"
    );
    let (name, end, _) = follow.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!((name.as_str(), &end["status"]), ("end", &json!("failed")));
}

#[test]
fn events_follow_an_index_moved_aside_and_rebuilt() {
    let env = TestEnv::new();
    let served = Served::serve(&env);
    let events = served.events("/api/events");
    next_event(&events, Duration::from_secs(10), "hello", |_| true);
    let first = env.run_task("true");
    next_event(&events, Duration::from_secs(10), "created", |d| {
        d["task"]["task_id"] == first.as_str()
    });
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
    let is_it = |d: &Value| d["task"]["task_id"] == id.as_str();
    next_event(&events, Duration::from_secs(10), "created", is_it);
    let (ended, _) = next_event(&events, Duration::from_secs(20), "ended", is_it);
    assert_eq!(ended["task"]["status"], "completed");
    assert_eq!(served.get(&format!("/api/tasks/{id}")).status, 200);
}
