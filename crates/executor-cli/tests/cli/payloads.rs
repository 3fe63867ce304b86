//! Commands and prompts reach the payload byte-for-byte, whatever they hold.

use crate::helpers::{TestEnv, hostile_text};

#[test]
fn command_reaches_the_shell_byte_for_byte() {
    let env = TestEnv::new();
    let text = hostile_text(100 * 1024);
    // A quoted here-document hands its body to `cat` untouched, so the file the
    // payload writes equals the bytes the shell received.
    let command = format!("cat > received <<'OPENCLAW_END'\n{text}OPENCLAW_END\n");
    let id = env.run_task(&command);
    let status = env.wait_done(&id);
    assert_eq!(status["status"], "completed", "{status}");
    let received = std::fs::read_to_string(env.work.join("received")).unwrap();
    assert_eq!(received, text);
    // The stored copies are exact too.
    assert_eq!(status["command"], command.as_str());
    assert_eq!(
        std::fs::read_to_string(env.task_dir(&id).join("command.sh")).unwrap(),
        command
    );
}

#[test]
fn short_hostile_commands_run_as_written() {
    let env = TestEnv::new();
    let cases = [
        (r#"printf '%s' "it's" > out"#, "it's"),
        (r#"printf '%s' "$(echo sub)" > out"#, "sub"),
        ("printf '%s' `echo tick` > out", "tick"),
        ("printf 'a\\nb' > out", "a\nb"),
        ("printf '%s' '✓ 🤖' > out", "✓ 🤖"),
        ("x=1\ny=2\nprintf '%s' \"$x$y\" > out", "12"),
    ];
    for (command, expected) in cases {
        let id = env.run_task(command);
        assert_eq!(env.wait_done(&id)["status"], "completed", "{command}");
        let out = std::fs::read_to_string(env.work.join("out")).unwrap();
        assert_eq!(out, expected, "{command}");
    }
}

#[test]
fn prompt_reaches_claude_byte_for_byte() {
    let env = TestEnv::new();
    let catcher = env.home().join("catch-prompt");
    crate::helpers::write_executable(
        &catcher,
        &format!(
            "#!/bin/sh\ncat > '{}'\n",
            env.home().join("prompt-received").display()
        ),
    );
    env.write_config(&format!(
        "executors:\n  - name: local\n    type: local\n    allow_root: true\n    claude_path: {}\n",
        catcher.display()
    ));
    let prompt = hostile_text(100 * 1024);
    let id = env.ok(&["start", "--executor", "local", "--prompt", &prompt]);
    let id = id.trim();
    assert_eq!(env.wait_done(id)["status"], "completed");
    let received = std::fs::read_to_string(env.home().join("prompt-received")).unwrap();
    assert_eq!(received, prompt);
    // Nothing of the prompt is in the runner's or payload's command line.
    let payload = std::fs::read_to_string(env.task_dir(id).join("payload.sh")).unwrap();
    assert!(!payload.contains("backticks"), "{payload}");
}
