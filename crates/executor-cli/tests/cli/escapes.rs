//! Commands, prompts and agent output reach a terminal only with their control
//! and bidi characters made visible; `--json` and `--raw` keep them exact.

use crate::helpers::{TestEnv, write_executable};

/// What a terminal would act on: C0/C1 controls and DEL (line breaks aside)
/// and the bidi controls.
fn acted_on(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        )
}

fn assert_safe(what: &str, bytes: &[u8]) {
    let text = String::from_utf8(bytes.to_vec())
        .unwrap_or_else(|_| panic!("{what}: output is not UTF-8: {bytes:?}"));
    let bad: Vec<char> = text.chars().filter(|c| acted_on(*c)).collect();
    assert!(bad.is_empty(), "{what} printed {bad:?} as is:\n{text:?}");
}

/// Stdout as bytes (the helpers' `String` would hide invalid bytes).
fn stdout_of(env: &TestEnv, args: &[&str]) -> Vec<u8> {
    let output = env.command(args).output().expect("run openclaw-agent");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

const HOSTILE: &str = "\u{1b}]0;pwned\u{7}\u{1b}[2J\rover \u{202e}evil\u{9b}1m\u{7f}";

#[test]
fn a_hostile_command_is_shown_escaped_and_kept_exact() {
    let env = TestEnv::new();
    let command = format!(": '{HOSTILE}'");
    let id = env.run_task(&command);
    env.wait_done(&id);

    let status = stdout_of(&env, &["status", "--task-id", &id]);
    assert_safe("status", &status);
    let status = String::from_utf8(status).unwrap();
    assert!(
        status.contains(r": '\e]0;pwned\a\e[2J\rover \u{202e}evil\u{9b}1m\x7f'"),
        "{status}"
    );
    assert_safe("list", &stdout_of(&env, &["list"]));
    let list = String::from_utf8(stdout_of(&env, &["list"])).unwrap();
    assert!(list.contains(r"\u{202e}evil"), "{list}");
    let dashboard = stdout_of(&env, &["dashboard", "--watch", "1", "--count", "1"]);
    assert_safe("dashboard", &dashboard);

    // Machine views keep every character.
    assert_eq!(env.status(&id)["command"], command.as_str());
    let listed = env.json(&["list", "--json"]);
    assert!(
        listed[0]["summary"]
            .as_str()
            .unwrap()
            .contains("\u{202e}evil"),
        "{listed}"
    );
}

/// A stand-in for claude that reads its prompt and writes a stream-json log
/// full of what a terminal would act on, plus one raw line on stderr.
fn hostile_agent(env: &TestEnv) -> std::path::PathBuf {
    let agent = env.home().join("hostile-claude");
    let lines = [
        r#"{"type":"system","subtype":"init","session_id":"s1","model":"m\u001b[31m","cwd":"/w"}"#,
        r#"{"type":"assistant","message":{"id":"a","content":[{"type":"text","text":"title \u001b]0;pwned\u0007 back\r over \u202eevil\nsecond line"},{"type":"tool_use","name":"Bash","input":{"command":"echo \u001b[2J\u0000 \u2066x"}}]}}"#,
        r#"{"type":"user","message":{"content":[{"type":"tool_result","content":"out\u001b[Hx\u009b\u0008","is_error":false}]}}"#,
        r#"{"type":"result","subtype":"success","is_error":false,"num_turns":1,"total_cost_usd":0,"result":"done \u202e\u001b[0m","usage":{}}"#,
    ];
    let mut script = String::from("#!/bin/sh\ncat > /dev/null\n");
    for line in lines {
        script.push_str(&format!("printf '%s\\n' '{line}'\n"));
    }
    script.push_str("printf 'raw stderr \\033[31mred\\007\\r\\n' >&2\n");
    write_executable(&agent, &script);
    agent
}

#[test]
fn agent_activity_and_prompts_are_shown_escaped_and_kept_exact() {
    let env = TestEnv::new();
    let agent = hostile_agent(&env);
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\n    allow_root: true\n    claude_path: {}\n",
        agent.display()
    ));
    // NUL cannot pass argv: the prompt comes from a file.
    let prompt = format!("fix\0this {HOSTILE}\nsecond line");
    let prompt_file = env.home().join("prompt");
    std::fs::write(&prompt_file, &prompt).unwrap();
    let prompt_arg = prompt_file.display().to_string();
    let id = env.ok(&["start", "-e", "local", "--prompt-file", &prompt_arg]);
    let id = id.trim();
    assert_eq!(env.wait_done(id)["status"], "completed");

    let status = stdout_of(&env, &["status", "--task-id", id]);
    assert_safe("status", &status);
    let status = String::from_utf8(status).unwrap();
    assert!(status.contains(r"fix\0this \e]0;pwned\a"), "{status}");
    assert_eq!(env.status(id)["prompt"], prompt.as_str());
    assert_safe("list", &stdout_of(&env, &["list"]));
    assert_safe(
        "dashboard",
        &stdout_of(&env, &["dashboard", "--watch", "1", "--count", "1"]),
    );

    let log = std::fs::read(env.task_dir(id).join("task.log")).unwrap();
    assert!(log.contains(&0x1b), "the raw stderr line is in the log");
    // Through the index and through the local fast path (full id).
    for task in [&id[..13], id] {
        let logs = stdout_of(&env, &["logs", "--task-id", task]);
        assert_safe("logs", &logs);
        let logs = String::from_utf8(logs).unwrap();
        assert!(
            logs.contains(r"◆ title \e]0;pwned\a back\r over \u{202e}evil"),
            "{logs}"
        );
        // A multi-line text keeps its lines.
        assert!(logs.contains("evil\nsecond line"), "{logs}");
        assert!(logs.contains(r"→ Bash: echo \e[2J\0 \u{2066}x"), "{logs}");
        assert!(logs.contains(r"← out\e[Hx\u{9b}\b"), "{logs}");
        assert!(logs.contains(r"raw stderr \e[31mred\a\r"), "{logs}");
        assert_eq!(stdout_of(&env, &["logs", "--task-id", task, "--raw"]), log);
    }
}
