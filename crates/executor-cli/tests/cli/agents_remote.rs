//! Codex, Gemini CLI and opencode beyond this machine: over SSH (a real
//! sshd, as a normal user) and in containers (Docker and Podman).

use std::time::Duration;

use test_support::agents::TestAgent;
use test_support::sshd::TEST_USER;
use test_support::{MockModels, ModelScript};

use crate::container::{Engine, Runtime, cleanup_all, missing};
use crate::helpers::TestEnv;
use crate::ssh::{SshTest, give_to_test_user};

/// Defaults for [`limits_hold`]: long enough for a CLI to start.
const LIMITS: &str = "defaults:\n  stall_timeout: 10\n  kill_on_stall: true\n";

/// A task's status without its prompt (100 KB), for assertion messages.
fn brief(status: &serde_json::Value) -> String {
    let mut status = status.clone();
    if let Some(map) = status.as_object_mut() {
        map.remove("prompt");
        map.remove("summary");
    }
    status.to_string()
}

/// On `executor` (`-e NAME -w DIR`): a budget of $0.000001 kills a task that
/// would run on (its model asks for shell commands forever) mid-run, `failed`
/// (opencode's steps carry their cost; Codex's and Gemini CLI's running totals
/// come from their session files on the executing host), the agent gone; and
/// a model that hangs makes the task stalled and killed (`kill_on_stall`).
/// Returns the ids of the two tasks.
/// `set_defaults` writes the config with the given `defaults:` section.
fn limits_hold(
    env: &TestEnv,
    executor: &[&str],
    agent: TestAgent,
    mock: &MockModels,
    set_defaults: &dyn Fn(&str),
) -> [String; 2] {
    mock.set_script(ModelScript::endless());
    let start = |args: &[&str]| -> String {
        let mut full = vec!["start", "--json", "--model", agent.model()];
        full.extend_from_slice(executor);
        full.extend_from_slice(args);
        env.json(&full)["task_id"].as_str().unwrap().to_owned()
    };
    let wait = |id: &str| {
        let run = env.run(&["wait", "--task-id", id, "--timeout", "90"]);
        assert_ne!(run.code, 124, "{}", run.stderr);
        env.status(id)
    };
    let spent = start(&["-p", "spend", "--max-budget-usd", "0.000001"]);
    let status = wait(&spent);
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["reason"], "budget exceeded ($0.000001)", "{status}");
    crate::agents::assert_requests_stop(mock);

    // A slow start counts as silence too: the stall rule is on only now.
    set_defaults(LIMITS);
    mock.set_script(ModelScript::hang());
    let hung = start(&["-p", "hang"]);
    let status = wait(&hung);
    assert_eq!(status["status"], "killed", "{status}");
    assert!(
        status["reason"]
            .as_str()
            .unwrap()
            .starts_with("stalled: no agent activity for"),
        "{status}"
    );
    [spent, hung]
}

/// Codex, Gemini CLI and opencode over SSH, as a normal user whose agent
/// config lives in a directory of the test's (forwarded with `env`): the
/// model's shell command runs on the host, tokens and cost come back, `logs`
/// shows the call, a 100 KB prompt arrives byte-exact, the session resumes.
fn other_agent_over_ssh(agent: TestAgent) {
    let Some(binary) = agent.binary() else {
        return;
    };
    let mock = MockModels::start(ModelScript::shell_then_text(
        "echo remote-agent > proof.txt",
        "Done remotely.",
    ));
    let Some(t) = SshTest::new(TEST_USER) else {
        return;
    };
    let agent_home = t.workspace.parent().unwrap().join("agent-home");
    let url = format!("http://127.0.0.1:{}", mock.port());
    let mut env = agent.prepare_home(&agent_home, &url);
    env.extend(agent.home_env(&agent_home));
    give_to_test_user(&agent_home);
    let env_yaml: Vec<String> = env.iter().map(|(k, v)| format!("\"{k}={v}\"")).collect();
    let executor = format!(
        "    {name}_path: {path}\n    agent: {name}\n    env: [{env}]\n",
        name = agent.name(),
        path = binary.display(),
        env = env_yaml.join(", ")
    );
    t.write_config(&executor);
    let prompt = crate::helpers::hostile_text(100_000);
    let start = |prompt: &str, resume: Option<&str>| -> String {
        let mut args = vec!["start", "--json", "--prompt", prompt];
        match resume {
            Some(parent) => args.extend(["--resume", parent]),
            None => args.extend(["-e", "box", "-w", t.ws(), "--model", agent.model()]),
        }
        t.env.json(&args)["task_id"].as_str().unwrap().to_owned()
    };
    let wait = |id: &str| {
        let run = t.env.run(&["wait", "--task-id", id, "--timeout", "90"]);
        assert_ne!(run.code, 124, "{}", run.stderr);
        t.env.status(id)
    };
    let id = start(&prompt, None);
    let status = wait(&id);
    assert_eq!(
        status["status"],
        "completed",
        "{}\n{}",
        brief(&status),
        t.env.ok(&["logs", "--task-id", &id, "--raw"])
    );
    assert_eq!(
        std::fs::read_to_string(t.workspace.join("proof.txt")).unwrap(),
        "remote-agent\n"
    );
    let stats = &status["agent"];
    assert_eq!(stats["tool_calls"], 1, "{stats}");
    assert!(stats["output_tokens"].as_u64().unwrap() > 0, "{stats}");
    assert!(stats["total_cost_usd"].as_f64().unwrap() > 0.0, "{stats}");
    assert!(
        mock.saw_text(&prompt),
        "the prompt did not arrive byte for byte"
    );
    let rendered = t.env.ok(&["logs", "--task-id", &id]);
    assert!(
        rendered.contains("echo remote-agent > proof.txt"),
        "{rendered}"
    );

    // The session store is read on the host, as the task's user.
    crate::agents::assert_transcript(&t.env, agent, &id, None, "echo remote-agent > proof.txt");
    let [spent, _] = limits_hold(
        &t.env,
        &["-e", "box", "-w", t.ws()],
        agent,
        &mock,
        &|defaults| {
            t.write_config(&format!("{executor}{defaults}"));
        },
    );
    // The host is this machine: the payload's process group is gone from it.
    let pid = t.env.status(&spent)["pid"].as_u64().unwrap() as u32;
    assert!(
        crate::helpers::eventually(Duration::from_secs(10), || {
            !crate::helpers::group_alive(pid)
        }),
        "the agent's processes survived the budget kill on the host"
    );
    t.write_config(&executor);

    mock.set_script(ModelScript::text("again"));
    let second = start("and again", Some(&id));
    let child = wait(&second);
    assert_eq!(child["status"], "completed", "{child}");
    assert_eq!(child["agent"]["session_id"], stats["session_id"]);
    assert_eq!(child["agent"]["result"], "again");
}

#[test]
fn codex_over_ssh() {
    other_agent_over_ssh(TestAgent::Codex);
}

#[test]
fn gemini_over_ssh() {
    other_agent_over_ssh(TestAgent::Gemini);
}

#[test]
fn opencode_over_ssh() {
    other_agent_over_ssh(TestAgent::Opencode);
}

/// Codex, Gemini CLI and opencode in the claude test image (glibc and bash),
/// their binaries mounted read-only from the test cache, their config in a mounted
/// directory: the model's shell command runs in the container, tokens and a
/// cost come back, `logs` shows the call, the prompt arrives byte-exact.
fn other_agent_runs_inside(engine: &Engine, agent: TestAgent) {
    let Some(image) = std::env::var("OPENCLAW_TEST_CLAUDE_IMAGE")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        missing("the claude test image (OPENCLAW_TEST_CLAUDE_IMAGE)");
        return;
    };
    // The image has glibc and bash but no Node.js: Codex and opencode run
    // their native binaries; Gemini CLI gets this machine's `node` (one
    // binary, plus the two C++ runtime libraries it links) and `env` for its
    // `#!/usr/bin/env node`.
    let (binary, mut mounts) = match agent {
        TestAgent::Gemini => {
            let Some(bin) = agent.binary() else { return };
            let install = bin.ancestors().nth(3).unwrap().to_owned();
            let host = |path: &str, at: &str| format!("\"{path}:{at}:ro\"");
            let mut mounts = vec![
                host("/usr/bin/node", "/usr/local/bin/node"),
                host("/usr/bin/env", "/usr/bin/env"),
                format!("\"{0}:{0}:ro\"", install.display()),
            ];
            for lib in ["libstdc++.so.6", "libgcc_s.so.1"] {
                let path = format!("/lib/x86_64-linux-gnu/{lib}");
                mounts.push(host(&path, &path));
            }
            (bin, mounts)
        }
        _ => {
            let Some(bin) = agent.native_binary() else {
                missing(&format!("the native {} binary", agent.name()));
                return;
            };
            let dir = bin.parent().unwrap().to_owned();
            (bin, vec![format!("\"{0}:{0}:ro\"", dir.display())])
        }
    };
    let mock = MockModels::start(ModelScript::shell_then_text(
        "echo agent-in-a-container > proof.txt",
        "Done in the box.",
    ));
    let mut env = TestEnv::new();
    if let Some(host) = &engine.docker_host {
        env.set_env("DOCKER_HOST", host);
    }
    let agent_home = env.home().join("agent-home");
    let url = format!("http://127.0.0.1:{}", mock.port());
    let mut vars = agent.prepare_home(&agent_home, &url);
    vars.extend(agent.home_env(&agent_home));
    let vars: Vec<String> = vars.iter().map(|(k, v)| format!("\"{k}={v}\"")).collect();
    mounts.push(format!("\"{0}:{0}\"", agent_home.display()));
    mounts.push(format!("\"{}:/work\"", env.work.display()));
    let config = format!(
        "executors:\n  - name: agent\n    type: container\n    image: {image}\n    runtime: {}\n    \
         network: host\n    {name}_path: {bin}\n    agent: {name}\n    \
         volumes: [{mounts}]\n    env: [{vars}]\n",
        engine.name(),
        name = agent.name(),
        bin = binary.display(),
        mounts = mounts.join(", "),
        vars = vars.join(", ")
    );
    env.write_config(&config);
    let prompt = crate::helpers::hostile_text(100_000);
    let out = env.json(&[
        "start",
        "--json",
        "-e",
        "agent",
        "-w",
        "/work",
        "--model",
        agent.model(),
        "--prompt",
        &prompt,
    ]);
    let id = out["task_id"].as_str().unwrap().to_owned();
    let run = env.run(&["wait", "--task-id", &id, "--timeout", "90"]);
    let status = env.status(&id);
    assert_eq!(
        run.code,
        0,
        "{}\n{}",
        brief(&status),
        env.ok(&["logs", "--task-id", &id, "--raw"])
    );
    assert_eq!(status["status"], "completed", "{}", brief(&status));
    assert_eq!(
        std::fs::read_to_string(env.work.join("proof.txt")).unwrap(),
        "agent-in-a-container\n"
    );
    let stats = &status["agent"];
    assert_eq!(stats["tool_calls"], 1, "{stats}");
    assert!(stats["total_cost_usd"].as_f64().unwrap() > 0.0, "{stats}");
    assert!(
        mock.saw_text(&prompt),
        "the prompt did not arrive byte for byte"
    );
    let rendered = env.ok(&["logs", "--task-id", &id]);
    assert!(rendered.contains("echo agent-in-a-container"), "{rendered}");
    // The CLI's session store is read inside the ended container.
    crate::agents::assert_transcript(&env, agent, &id, None, "echo agent-in-a-container");
    let [spent, hung] = limits_hold(
        &env,
        &["-e", "agent", "-w", "/work"],
        agent,
        &mock,
        &|defaults| {
            env.write_config(&format!("{config}{defaults}"));
        },
    );
    // Killed mid-run (its container stopped, kept until cleanup): what the
    // CLI stored so far is there too, and reading it leaves no image behind.
    let raw = env.ok(&["logs", "--task-id", &spent, "--transcript", "--raw"]);
    assert!(raw.contains(transcript_marker(agent)), "{raw}");
    assert!(engine.snapshots_of(&spent).is_empty());
    // While the container runs, the lookup runs in it (`exec`).
    env.write_config(&config);
    mock.set_script(ModelScript::endless());
    let live = env.json(&[
        "start",
        "--json",
        "-e",
        "agent",
        "-w",
        "/work",
        "--model",
        agent.model(),
        "-p",
        "go on",
    ])["task_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut raw = String::new();
    assert!(
        crate::helpers::eventually(Duration::from_secs(60), || {
            let run = env.run(&["logs", "--task-id", &live, "--transcript", "--raw"]);
            raw = format!("{}{}", run.stdout, run.stderr);
            run.code == 0 && raw.contains(transcript_marker(agent))
        }),
        "{raw}"
    );
    assert_eq!(engine.container_status(&live).as_deref(), Some("running"));
    env.ok(&["kill", "--task-id", &live]);
    cleanup_all(&env, engine, &[&id, &spent, &hung, &live]);
}

fn transcript_marker(agent: TestAgent) -> &'static str {
    match agent {
        TestAgent::Codex => "\"type\":\"session_meta\"",
        TestAgent::Gemini => "\"sessionId\":",
        TestAgent::Opencode => "\"sessionID\"",
    }
}

macro_rules! in_containers {
    ($($module:ident => $runtime:expr;)*) => {$(
        mod $module {
            use super::*;

            #[test]
            fn codex_runs_inside() {
                if let Some(engine) = Engine::get($runtime) {
                    other_agent_runs_inside(&engine, TestAgent::Codex);
                }
            }

            #[test]
            fn gemini_runs_inside() {
                if let Some(engine) = Engine::get($runtime) {
                    other_agent_runs_inside(&engine, TestAgent::Gemini);
                }
            }

            #[test]
            fn opencode_runs_inside() {
                if let Some(engine) = Engine::get($runtime) {
                    other_agent_runs_inside(&engine, TestAgent::Opencode);
                }
            }
        }
    )*};
}

in_containers! {
    docker => Runtime::Docker;
    podman => Runtime::Podman;
}
