//! Agent tasks with the real Claude Code CLI, talking to the mock Anthropic API.

use std::time::Duration;

use serde_json::Value;
use test_support::claude::{claude_binary, claude_env};
use test_support::{MockAnthropic, Reply, Script, Usage};

use crate::helpers::{TestEnv, eventually, process_alive};

/// A test environment whose `local` executor runs the real claude against `mock`.
fn agent_env(mock: &MockAnthropic, extra_config: &str) -> Option<TestEnv> {
    let claude = claude_binary()?;
    let mut env = TestEnv::new();
    for (key, value) in claude_env(&mock.url()) {
        env.set_env(key, &value);
    }
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\n    allow_root: true\n    claude_path: {}\n{extra_config}",
        claude.display()
    ));
    Some(env)
}

fn start(env: &TestEnv, args: &[&str]) -> Value {
    let mut full = vec!["start", "--json"];
    full.extend_from_slice(args);
    env.json(&full)
}

fn start_local(env: &TestEnv, prompt: &str) -> String {
    let out = start(env, &["--executor", "local", "--prompt", prompt]);
    out["task_id"].as_str().unwrap().to_owned()
}

fn wait(env: &TestEnv, id: &str) -> Value {
    let run = env.run(&["wait", "--task-id", id, "--timeout", "90"]);
    assert_ne!(run.code, 124, "agent task {id} did not end: {}", run.stderr);
    env.status(id)
}

#[test]
fn scripted_tool_call_runs_and_is_reported() {
    let mock = MockAnthropic::start(Script::bash_then_text(
        "echo agent-was-here > proof.txt",
        "All done.",
    ));
    let Some(env) = agent_env(&mock, "") else {
        return;
    };
    let prompt = "Write the proof file. It's \"urgent\" — $(not a command) `nor this`\nline two ✓";
    let dispatched = start(&env, &["--executor", "local", "--prompt", prompt]);
    let id = dispatched["task_id"].as_str().unwrap().to_owned();
    let status = wait(&env, &id);

    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(
        std::fs::read_to_string(env.work.join("proof.txt")).unwrap(),
        "agent-was-here\n",
        "the agent's Bash tool call really ran in the workspace"
    );
    let usage = Usage::default();
    let agent = &status["agent"];
    assert_eq!(agent["turns"], 2);
    assert_eq!(agent["tool_calls"], 1);
    assert_eq!(agent["input_tokens"], 2 * usage.input_tokens);
    assert_eq!(agent["output_tokens"], 2 * usage.output_tokens);
    assert_eq!(
        agent["cache_creation_input_tokens"],
        2 * usage.cache_creation_input_tokens
    );
    assert_eq!(
        agent["cache_read_input_tokens"],
        2 * usage.cache_read_input_tokens
    );
    assert!(agent["total_cost_usd"].as_f64().unwrap() > 0.0, "{agent}");
    assert_eq!(agent["result_subtype"], "success");
    assert_eq!(agent["result"], "All done.");
    assert_eq!(agent["session_id"], dispatched["session_id"]);
    assert_eq!(status["stalled"], false);
    assert!(agent["last_activity"].is_string());

    // The prompt reached the API byte-for-byte.
    let first = &mock.message_requests()[0];
    assert!(
        contains_text(&first.body["messages"], prompt),
        "prompt not found verbatim in the API request"
    );

    // The raw stream agrees with the rendered view.
    let raw = env.ok(&["logs", "--task-id", &id, "--raw"]);
    let records: Vec<Value> = raw
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let result = records
        .iter()
        .find(|r| r["type"] == "result")
        .expect("result record");
    assert_eq!(result["total_cost_usd"], agent["total_cost_usd"]);
    let rendered = env.ok(&["logs", "--task-id", &id]);
    assert!(
        rendered.contains("→ Bash: echo agent-was-here > proof.txt"),
        "{rendered}"
    );
    assert!(rendered.contains("◆ All done."), "{rendered}");
    assert!(rendered.contains("✓ success · 2 turns"), "{rendered}");

    let transcript = env.ok(&["logs", "--task-id", &id, "--transcript"]);
    assert!(
        transcript.contains("▶ Write the proof file."),
        "{transcript}"
    );
    assert!(transcript.contains("→ Bash"), "{transcript}");

    let list = env.ok(&["list"]);
    let cost = format!("${:.4}", agent["total_cost_usd"].as_f64().unwrap());
    assert!(list.contains("🤖") && list.contains(&cost), "{list}");
    let stream = env.ok(&["dashboard", "--stream"]);
    let row: Value = serde_json::from_str(stream.lines().next().unwrap()).unwrap();
    assert_eq!(row["agent"]["tool_calls"], 1);
}

#[test]
fn api_error_fails_the_task() {
    let mock = MockAnthropic::start(Script::new(vec![Reply::Error {
        status: 400,
        kind: "invalid_request_error".into(),
        message: "scripted failure for the test".into(),
    }]));
    let Some(env) = agent_env(&mock, "") else {
        return;
    };
    let id = start_local(&env, "this will fail");
    let status = wait(&env, &id);
    assert_eq!(status["status"], "failed", "{status}");
    assert!(status["reason"].is_string(), "{status}");
    let rendered = env.ok(&["logs", "--task-id", &id]);
    assert!(rendered.contains("✗"), "{rendered}");
    assert!(rendered.contains("scripted failure"), "{rendered}");
}

#[test]
fn max_turns_ends_failed() {
    let mock = MockAnthropic::start(Script::endless());
    let Some(env) = agent_env(&mock, "") else {
        return;
    };
    let out = start(
        &env,
        &[
            "--executor",
            "local",
            "--prompt",
            "never stop",
            "--max-turns",
            "2",
        ],
    );
    let id = out["task_id"].as_str().unwrap();
    let status = wait(&env, id);
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["reason"], "error_max_turns");
    assert_eq!(status["agent"]["result_subtype"], "error_max_turns");
    assert_eq!(status["max_turns"], 2);
    assert_eq!(env.completion(id).unwrap()["status"], "failure");
}

#[test]
fn budget_ends_failed_and_claude_gets_its_own_limit() {
    let mock = MockAnthropic::start(Script::endless());
    let Some(env) = agent_env(&mock, "") else {
        return;
    };
    let out = start(
        &env,
        &[
            "--executor",
            "local",
            "--prompt",
            "spend it all",
            "--max-budget-usd",
            "0.000001",
        ],
    );
    let id = out["task_id"].as_str().unwrap();
    let payload = std::fs::read_to_string(env.task_dir(id).join("payload.sh")).unwrap();
    assert!(payload.contains(" --max-budget-usd 0.000001 "), "{payload}");
    let status = wait(&env, id);
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["reason"], "budget exceeded ($0.000001)", "{status}");
    assert_eq!(status["max_budget_usd"], 0.000001);
    assert_eq!(env.completion(id).unwrap()["status"], "failure");
}

#[test]
fn hanging_agent_is_stalled_and_killable() {
    let mock = MockAnthropic::start(Script::new(vec![Reply::Hang]));
    let Some(env) = agent_env(&mock, "defaults:\n  stall_timeout: 2\n") else {
        return;
    };
    let id = start_local(&env, "hang please");
    assert!(
        eventually(Duration::from_secs(30), || !mock
            .message_requests()
            .is_empty()),
        "claude never called the API"
    );
    assert!(
        eventually(Duration::from_secs(20), || env.status(&id)["stalled"]
            == true),
        "never marked stalled"
    );
    let status = env.status(&id);
    assert_eq!(status["status"], "running");
    assert!(env.ok(&["list"]).contains("stalled"));
    assert!(
        env.ok(&["status", "--task-id", &id])
            .contains("stalled: no agent activity for")
    );

    let pid = status["pid"].as_u64().unwrap() as u32;
    let runner = status["runner_pid"].as_u64().unwrap() as u32;
    assert!(process_alive(pid));
    env.ok(&["kill", "--task-id", &id, "--grace", "2"]);
    assert!(
        eventually(Duration::from_secs(5), || !process_alive(pid)),
        "claude survived"
    );
    assert!(eventually(Duration::from_secs(5), || !process_alive(
        runner
    )));
    let status = env.status(&id);
    assert_eq!(status["status"], "killed");
    assert_eq!(status["stalled"], false);
}

#[test]
fn kill_on_stall_kills() {
    let mock = MockAnthropic::start(Script::new(vec![Reply::Hang]));
    let Some(env) = agent_env(
        &mock,
        "defaults:\n  stall_timeout: 2\n  kill_on_stall: true\n",
    ) else {
        return;
    };
    let id = start_local(&env, "hang please");
    // Bytes on the log that are no records of claude's stream (a spinner, a
    // keep-alive) do not hide the hang.
    let log = env.task_dir(&id).join("task.log");
    let status = loop {
        let status = env.status(&id);
        if status["status"] != "running" && status["status"] != "pending" {
            break status;
        }
        if let Ok(mut file) = std::fs::OpenOptions::new().append(true).open(&log) {
            std::io::Write::write_all(&mut file, b"\r|/-\\ keep-alive\n").unwrap();
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(status["status"], "killed", "{status}");
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .starts_with("stalled: no agent activity for"),
        "{status}"
    );
}

#[test]
fn resume_continues_the_session() {
    let mock = MockAnthropic::start(Script::new(vec![
        Reply::bash("echo first > first.txt"),
        Reply::text("first answer"),
        Reply::text("second answer"),
    ]));
    let Some(env) = agent_env(&mock, "") else {
        return;
    };
    let first = start_local(&env, "the first prompt");
    let parent = wait(&env, &first);
    assert_eq!(parent["status"], "completed");

    let out = start(
        &env,
        &["--resume", &first[..13], "--prompt", "the follow-up prompt"],
    );
    let second = out["task_id"].as_str().unwrap().to_owned();
    let child = wait(&env, &second);
    assert_eq!(child["status"], "completed", "{child}");
    assert_eq!(child["parent_task_id"], first.as_str());
    assert_eq!(child["session_id"], parent["session_id"]);
    assert_eq!(child["workspace"], parent["workspace"]);
    assert_eq!(child["agent"]["result"], "second answer");

    // The follow-up request carried the whole earlier conversation.
    let last = mock.message_requests().last().unwrap().clone();
    let history = last.body["messages"].to_string();
    assert!(history.contains("the first prompt"), "{history}");
    assert!(history.contains("the follow-up prompt"), "{history}");

    let chain = env.status(&first);
    assert_eq!(chain["chain"]["followups"][0], second.as_str());
    assert_eq!(env.status(&second)["chain"]["ancestors"][0], first.as_str());
    let text = env.ok(&["status", "--task-id", &first]);
    assert!(text.contains(&format!("followup   {second}")), "{text}");

    // Only agent tasks can be resumed.
    let shell = env.run_task("true");
    env.wait_done(&shell);
    env.run(&["start", "--resume", &shell, "--prompt", "x"])
        .assert_error(7, "only agent tasks can be resumed");
}

#[test]
fn secrets_stay_out_of_files_and_argv() {
    let mock = MockAnthropic::start(Script::new(vec![Reply::Hang]));
    let secret = "sk-test-secret-7f3a9c1e";
    let fixed = "fixed-secret-2b8d";
    let Some(mut env) = agent_env(&mock, "") else {
        return;
    };
    env.set_env("ANTHROPIC_API_KEY", secret);
    let claude = claude_binary().unwrap();
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\n    allow_root: true\n    claude_path: {}\n    env: [ANTHROPIC_API_KEY, FIXED_TOKEN={fixed}]\n",
        claude.display()
    ));
    let id = start_local(&env, "hang with a secret");
    assert!(eventually(Duration::from_secs(30), || !mock
        .message_requests()
        .is_empty()));
    let request = mock.message_requests()[0].clone();
    assert_eq!(
        request.header("x-api-key"),
        Some(secret),
        "the key reached the API"
    );

    let pid = env.status(&id)["pid"].as_u64().unwrap();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(
        cmdline.contains("--dangerously-skip-permissions"),
        "{cmdline}"
    );
    assert!(
        !cmdline.contains(secret) && !cmdline.contains("hang with a secret"),
        "{cmdline}"
    );
    // The fixed value reached the payload's environment.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(String::from_utf8_lossy(&environ).contains(&format!("FIXED_TOKEN={fixed}")));

    env.ok(&["kill", "--task-id", &id, "--grace", "1"]);
    let shell = env.run_task("printf '%s' \"$FIXED_TOKEN\" > token.txt");
    env.wait_done(&shell);
    assert_eq!(
        std::fs::read_to_string(env.work.join("token.txt")).unwrap(),
        fixed
    );

    for dir in [
        env.home().join(".local/share/openclaw"),
        env.home().join(".openclaw-agent"),
    ] {
        for file in crate::helpers::all_files(&dir) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            assert!(
                !text.contains(secret) && !text.contains(fixed),
                "a secret leaked into {}",
                file.display()
            );
        }
    }
}

#[test]
fn root_needs_allow_root() {
    let Some(claude) = claude_binary() else {
        return;
    };
    let env = TestEnv::new();
    env.write_config(&format!(
        "executors:\n  - name: strict\n    type: local\n    claude_path: {}\n",
        claude.display()
    ));
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let run = env.run(&["start", "--executor", "strict", "--prompt", "hi"]);
    if root {
        run.assert_error(5, "allow_root: true");
        assert_eq!(env.ok(&["list", "--json"]).trim(), "[]", "nothing recorded");
    } else {
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
}

/// Whether any string inside `value` contains `needle`.
fn contains_text(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|v| contains_text(v, needle)),
        Value::Object(map) => map.values().any(|v| contains_text(v, needle)),
        _ => false,
    }
}

/// On `executor` (`start` arguments naming it and its workspace): a budget of
/// $0.000001 ends a Claude Code task whose model asks for tools forever:
/// Claude Code stops at its own `--max-budget-usd` (`error_max_budget_usd`),
/// mapped to the budget reason, or the running estimate kills it first;
/// either way `failed` and the model asked nothing more. Returns the task.
pub(crate) fn budget_holds(env: &TestEnv, mock: &MockAnthropic, executor: &[&str]) -> String {
    mock.set_script(Script::endless());
    let mut args = vec!["start", "--json", "--prompt", "spend it all"];
    args.extend_from_slice(executor);
    args.extend(["--max-budget-usd", "0.000001"]);
    let id = env.json(&args)["task_id"].as_str().unwrap().to_owned();
    let run = env.run(&["wait", "--task-id", &id, "--timeout", "90"]);
    assert_ne!(run.code, 124, "{}", run.stderr);
    let status = env.status(&id);
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["reason"], "budget exceeded ($0.000001)", "{status}");
    let asked = mock.message_requests().len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        mock.message_requests().len(),
        asked,
        "claude still calls its model"
    );
    id
}
