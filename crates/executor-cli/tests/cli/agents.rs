//! Codex, Gemini CLI and opencode, for real, against the mock model APIs on
//! loopback: every agent the same tests (test-support's `TestAgent`).

use std::time::Duration;

use serde_json::Value;
use test_support::agents::TestAgent;
use test_support::{MockModels, ModelScript};

use crate::helpers::{TestEnv, eventually, group_alive, hostile_text};

/// A test environment whose `local` executor runs `agent` against `mock`,
/// configured in the test's HOME; `None` when the CLI is missing (a skip).
fn agent_env(agent: TestAgent, mock: &MockModels, extra_config: &str) -> Option<TestEnv> {
    let binary = agent.binary()?;
    let mut env = TestEnv::new();
    let url = format!("http://127.0.0.1:{}", mock.port());
    for (key, value) in agent.prepare_home(env.home(), &url) {
        env.set_env(key, &value);
    }
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\n    {name}_path: {path}\n    agent: {name}\n{extra_config}",
        name = agent.name(),
        path = binary.display()
    ));
    Some(env)
}

fn start(env: &TestEnv, agent: TestAgent, args: &[&str]) -> Value {
    let mut full = vec![
        "start",
        "--json",
        "--executor",
        "local",
        "--model",
        agent.model(),
    ];
    full.extend_from_slice(args);
    env.json(&full)
}

fn wait(env: &TestEnv, id: &str) -> Value {
    let run = env.run(&["wait", "--task-id", id, "--timeout", "90"]);
    assert_ne!(run.code, 124, "agent task {id} did not end: {}", run.stderr);
    env.status(id)
}

fn id_of(dispatched: &Value) -> String {
    dispatched["task_id"].as_str().unwrap().to_owned()
}

/// A shell command the model asks for really runs; the task completes with
/// tokens and a cost; `logs` shows the call; a follow-up resumes the session.
fn tool_call_tokens_cost_logs_and_resume(agent: TestAgent) {
    let mock = MockModels::start(ModelScript::shell_then_text(
        "echo agent-was-here > marker.txt",
        "All done.",
    ));
    let Some(env) = agent_env(agent, &mock, "") else {
        return;
    };
    let id = id_of(&start(&env, agent, &["--prompt", "write the marker"]));
    let status = wait(&env, &id);
    assert_eq!(status["status"], "completed", "{status}");
    assert_eq!(status["task_type"], agent.name());
    assert_eq!(
        std::fs::read_to_string(env.work.join("marker.txt")).unwrap(),
        "agent-was-here\n",
        "the model's shell command ran in the workspace"
    );
    let stats = &status["agent"];
    assert_eq!(stats["tool_calls"], 1, "{stats}");
    assert!(stats["turns"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["input_tokens"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["output_tokens"].as_u64().unwrap() > 0, "{stats}");
    assert!(
        stats["cache_read_input_tokens"].as_u64().unwrap() > 0,
        "{stats}"
    );
    let cost = stats["total_cost_usd"].as_f64().expect("a cost");
    assert!(cost > 0.0, "{stats}");
    assert_eq!(
        stats["cost_estimated"] == true,
        agent != TestAgent::Opencode,
        "priced from the table unless the CLI reports a cost: {stats}"
    );
    assert_eq!(stats["result"], "All done.", "{stats}");
    assert!(
        stats["last_tool_input"]
            .as_str()
            .unwrap()
            .contains("echo agent-was-here"),
        "{stats}"
    );
    let session = stats["session_id"].as_str().expect("session id").to_owned();

    let rendered = env.ok(&["logs", "--task-id", &id]);
    assert!(
        rendered.contains("echo agent-was-here > marker.txt"),
        "{rendered}"
    );
    assert!(rendered.contains("→ "), "{rendered}");
    assert!(rendered.contains("◆ All done."), "{rendered}");
    assert_transcript(
        &env,
        agent,
        &id,
        Some("write the marker"),
        "echo agent-was-here > marker.txt",
    );
    let list = env.ok(&["list"]);
    assert!(list.contains(&format!("${cost:.4}")), "{list}");
    let human = env.ok(&["status", "--task-id", &id]);
    assert!(
        human.contains("last tool") && human.contains("echo agent-was-here"),
        "{human}"
    );
    let estimated = if agent == TestAgent::Opencode {
        ""
    } else {
        "~"
    };
    assert!(human.contains(&format!("{estimated}${cost:.4}")), "{human}");
    let completion = env.completion(&id).expect("completion record");
    assert_eq!(completion["status"], "success", "{completion}");
    let recorded = &completion["task"]["agent"];
    assert_eq!(recorded["tool_calls"], 1, "{completion}");
    assert_eq!(
        recorded["total_cost_usd"], stats["total_cost_usd"],
        "{completion}"
    );
    assert_eq!(
        recorded["last_tool_input"], stats["last_tool_input"],
        "{completion}"
    );

    mock.set_script(ModelScript::text("second answer"));
    let second = id_of(&env.json(&[
        "start",
        "--json",
        "--resume",
        &id,
        "--prompt",
        "the follow-up prompt",
    ]));
    let child = wait(&env, &second);
    assert_eq!(child["status"], "completed", "{child}");
    assert_eq!(child["task_type"], agent.name());
    assert_eq!(child["agent"]["session_id"], session.as_str(), "{child}");
    assert_eq!(child["agent"]["result"], "second answer");
    let last = mock.requests().last().unwrap().body.to_string();
    assert!(
        last.contains("write the marker") && last.contains("the follow-up prompt"),
        "the follow-up carried the earlier conversation"
    );
}

/// Quotes, `$()`, newlines, unicode and 100 KB reach the model unchanged.
fn prompt_reaches_the_model_byte_exact(agent: TestAgent) {
    let mock = MockModels::start(ModelScript::text("read it"));
    let Some(env) = agent_env(agent, &mock, "") else {
        return;
    };
    let prompt = hostile_text(100_000);
    let id = id_of(&start(&env, agent, &["--prompt", &prompt]));
    let status = wait(&env, &id);
    assert_eq!(status["status"], "completed", "{status}");
    assert!(
        mock.saw_text(&prompt),
        "the prompt did not reach the model byte for byte"
    );
}

/// A task that would run on (its model asks for shell commands forever) is
/// killed mid-run by its budget: `failed`, reason `budget exceeded ($X)`,
/// its whole process tree gone and the model asked no more. Codex and Gemini
/// CLI report usage in their stream only when the run ends: their running
/// totals come from their session files.
fn budget_ends_the_task(agent: TestAgent) {
    let mock = MockModels::start(ModelScript::endless());
    let Some(env) = agent_env(agent, &mock, "") else {
        return;
    };
    let id = id_of(&start(
        &env,
        agent,
        &["--prompt", "spend", "--max-budget-usd", "0.000001"],
    ));
    let status = wait(&env, &id);
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["reason"], "budget exceeded ($0.000001)", "{status}");
    assert!(
        status["agent"]["total_cost_usd"].as_f64().unwrap() > 0.000001,
        "{status}"
    );
    assert_eq!(env.completion(&id).unwrap()["status"], "failure");
    let pid = status["pid"].as_u64().expect("the payload's pid") as u32;
    assert!(
        eventually(Duration::from_secs(10), || !group_alive(pid)),
        "the agent's processes survived the kill"
    );
    assert_requests_stop(&mock);
}

/// `logs --transcript` reads the agent's own session store on the executing
/// host: the prompt, the tool call and the answer, each with its time;
/// `--raw` prints the store's records as they are.
pub(crate) fn assert_transcript(
    env: &TestEnv,
    agent: TestAgent,
    id: &str,
    prompt: Option<&str>,
    command: &str,
) {
    let shown = env.ok(&["logs", "--task-id", id, "--transcript"]);
    assert!(
        shown.contains(&format!("▶ {}", prompt.unwrap_or(""))),
        "{shown}"
    );
    assert!(shown.contains(command) && shown.contains("→ "), "{shown}");
    assert!(shown.contains("◆ "), "{shown}");
    assert!(shown.lines().all(|l| !l.starts_with('{')), "{shown}");
    // opencode's export is one document: all of it.
    let raw = env.ok(&[
        "logs",
        "--task-id",
        id,
        "--transcript",
        "--raw",
        "-n",
        "100000",
    ]);
    let marker = match agent {
        TestAgent::Codex => "\"type\":\"session_meta\"",
        TestAgent::Gemini => "\"sessionId\":",
        TestAgent::Opencode => "\"sessionID\"",
    };
    assert!(
        raw.contains(marker),
        "{}",
        raw.chars().take(2000).collect::<String>()
    );
    let last = env.ok(&["logs", "--task-id", id, "--transcript", "-n", "1"]);
    assert_eq!(
        last.lines().filter(|l| l.starts_with('[')).count(),
        1,
        "{last}"
    );
}

/// The model is asked nothing more: the agent is gone.
pub(crate) fn assert_requests_stop(mock: &MockModels) {
    let asked = mock.requests().len();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        mock.requests().len(),
        asked,
        "the agent still calls its model"
    );
}

/// None of these CLIs stops at a turn limit of its own: the task is ended
/// once its tool calls pass `--max-turns`.
fn max_turns_ends_failed(agent: TestAgent) {
    let mock = MockModels::start(ModelScript::endless());
    let Some(env) = agent_env(agent, &mock, "") else {
        return;
    };
    let id = id_of(&start(
        &env,
        agent,
        &["--prompt", "never stop", "--max-turns", "2"],
    ));
    let status = wait(&env, &id);
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["reason"], "max turns exceeded (2)", "{status}");
    assert!(
        status["agent"]["tool_calls"].as_u64().unwrap() > 2,
        "{status}"
    );
}

/// A model that hangs (its connection kept alive) makes the task stalled,
/// though bytes keep landing on its log, and `kill_on_stall` kills it.
fn hang_is_a_stall(agent: TestAgent) {
    let mock = MockModels::start(ModelScript::hang());
    let Some(env) = agent_env(
        agent,
        &mock,
        "defaults:\n  stall_timeout: 3\n  kill_on_stall: true\n",
    ) else {
        return;
    };
    let id = id_of(&start(&env, agent, &["--prompt", "hang please"]));
    assert!(
        eventually(Duration::from_secs(60), || mock.requests().iter().any(
            |r| { r.body["tools"].as_array().is_some_and(|t| !t.is_empty()) }
        )),
        "{} never called the model",
        agent.name()
    );
    // A spinner on the log: bytes, but no event of the agent's stream.
    let log = env.task_dir(&id).join("task.log");
    let status = loop {
        let status = env.status(&id);
        if status["status"] != "running" && status["status"] != "pending" {
            break status;
        }
        let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        std::io::Write::write_all(&mut file, b"\r|/-\\ waiting for the model\n").unwrap();
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

macro_rules! agent_tests {
    ($($module:ident => $agent:expr;)*) => {$(
        mod $module {
            use super::*;

            #[test]
            fn tool_call_tokens_cost_logs_and_resume() {
                super::tool_call_tokens_cost_logs_and_resume($agent);
            }

            #[test]
            fn prompt_reaches_the_model_byte_exact() {
                super::prompt_reaches_the_model_byte_exact($agent);
            }

            #[test]
            fn budget_ends_the_task() {
                super::budget_ends_the_task($agent);
            }

            #[test]
            fn max_turns_ends_failed() {
                super::max_turns_ends_failed($agent);
            }

            #[test]
            fn hang_is_a_stall() {
                super::hang_is_a_stall($agent);
            }
        }
    )*};
}

agent_tests! {
    codex => TestAgent::Codex;
    gemini => TestAgent::Gemini;
    opencode => TestAgent::Opencode;
}

/// Gemini CLI, run as a task with the documented settings, connects to
/// nothing but its model API: every `connect()` of the real CLI and its
/// children (traced with strace, which the executor's `gemini_path` wraps it
/// in) goes to the mock's port on 127.0.0.1 or to a local socket. Without
/// `privacy.usageStatisticsEnabled: false` it looks up its statistics host.
#[test]
fn gemini_connects_only_to_its_model_api() {
    let Some(binary) = TestAgent::Gemini.binary() else {
        return;
    };
    let Some(strace) = ["/usr/bin/strace", "/bin/strace"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file())
    else {
        test_support::missing("strace: run `scripts/test` (scripts/setup/agents.sh installs it)");
        return;
    };
    let mock = MockModels::start(ModelScript::shell_then_text("true", "offline"));
    let mut env = TestEnv::new();
    let url = format!("http://127.0.0.1:{}", mock.port());
    for (key, value) in TestAgent::Gemini.prepare_home(env.home(), &url) {
        env.set_env(key, &value);
    }
    let trace = env.home().join("connects.txt");
    let wrapper = env.home().join("gemini-traced");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec {strace} -f -qq -e trace=connect -o '{}' '{}' \"$@\"\n",
            trace.display(),
            binary.display()
        ),
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&wrapper).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(
        &wrapper,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\n    gemini_path: {}\n    agent: gemini\n",
        wrapper.display()
    ));
    let id = id_of(&start(&env, TestAgent::Gemini, &["--prompt", "stay home"]));
    let status = wait(&env, &id);
    assert_eq!(status["status"], "completed", "{status}");
    let trace = std::fs::read_to_string(&trace).expect("the strace log");
    let connects: Vec<&str> = trace.lines().filter(|l| l.contains("connect(")).collect();
    let to_mock = format!("sin_port=htons({})", mock.port());
    assert!(
        connects.iter().any(|l| l.contains(&to_mock)),
        "gemini never connected to the mock:\n{trace}"
    );
    for line in &connects {
        assert!(
            line.contains("AF_UNIX")
                || (line.contains("inet_addr(\"127.0.0.1\")") && line.contains(&to_mock)),
            "a connection beside the model API: {line}"
        );
    }
}
