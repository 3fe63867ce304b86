//! `config --init`, `config check`, `config path`.

use crate::helpers::TestEnv;

#[test]
fn init_writes_a_sample_once() {
    let env = TestEnv::new();
    let out = env.ok(&["config", "--init"]);
    assert!(out.contains("coding-agent.yaml"), "{out}");
    let written = std::fs::read_to_string(env.config_path()).unwrap();
    assert!(
        written.contains("executors:") && written.contains("# "),
        "{written}"
    );

    env.run(&["config", "--init"]).assert_error(3, "--force");
    std::fs::write(env.config_path(), "# mine\n").unwrap();
    env.ok(&["config", "--init", "--force"]);
    assert_eq!(std::fs::read_to_string(env.config_path()).unwrap(), written);

    let check = env.ok(&["config", "check"]);
    assert!(check.contains(": ok"), "{check}");
    assert!(check.contains("local (local)"), "{check}");
    // The sample config is usable at once.
    let id = env.run_task("true");
    assert_eq!(env.wait_done(&id)["status"], "completed");
}

#[test]
fn check_without_a_file_explains_the_builtin() {
    let env = TestEnv::new();
    let out = env.ok(&["config", "check"]);
    assert!(out.contains("built-in `local` executor"), "{out}");
    assert_eq!(env.ok(&["config"]), out);
    assert_eq!(
        env.ok(&["config", "path"]).trim(),
        env.config_path().to_str().unwrap()
    );
}

#[test]
fn seed_schema_is_accepted_and_summarised() {
    let env = TestEnv::new();
    env.write_config(
        r#"executors:
  - name: crib
    type: ssh            # ssh | container | local
    host: 192.168.0.152
    port: 22
    user: jimmy
    claude_path: /home/jimmy/.npm-global/bin/claude
    labels: [rust, heavy-compute]
  - name: builder
    type: container
    image: claude-code:latest
    runtime: docker      # or podman
    volumes: ["/home/jimmy/repos:/work"]
    labels: [isolated, reproducible]
  - name: local
    type: local
    labels: [quick-tasks, lightweight]
defaults:
  max_turns: 100
  claude_path: claude
  webhook_url: https://example.com/webhook   # optional
"#,
    );
    let check = env.ok(&["config", "check"]);
    assert!(check.contains("executors: 3"), "{check}");
    assert!(
        check.contains("crib (ssh): jimmy@192.168.0.152:22 [rust, heavy-compute]"),
        "{check}"
    );
    assert!(
        check.contains("builder (container): docker claude-code:latest"),
        "{check}"
    );
    assert!(
        check.contains("webhook https://example.com/webhook"),
        "{check}"
    );

    let executors = env.json(&["executors", "--json"]);
    let names: Vec<&str> = executors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["crib", "builder", "local"]);
    assert_eq!(
        executors[0]["claude_path"],
        "/home/jimmy/.npm-global/bin/claude"
    );
    assert_eq!(executors[1]["claude_path"], "claude");
}

#[test]
fn xdg_config_home_and_config_flag_are_honoured() {
    let mut env = TestEnv::new();
    let xdg = env.home().join("xdg");
    std::fs::create_dir_all(xdg.join("openclaw")).unwrap();
    std::fs::write(
        xdg.join("openclaw/coding-agent.yaml"),
        "executors:\n  - name: fromxdg\n    type: local\n",
    )
    .unwrap();
    let flagged = env.home().join("flagged.yaml");
    std::fs::write(
        &flagged,
        "executors:\n  - name: fromflag\n    type: local\n",
    )
    .unwrap();
    env.set_env("XDG_CONFIG_HOME", xdg.to_str().unwrap());
    assert!(env.ok(&["executors"]).contains("fromxdg"));
    let out = env.ok(&["--config", flagged.to_str().unwrap(), "executors"]);
    assert!(
        out.contains("fromflag") && !out.contains("fromxdg"),
        "{out}"
    );
    env.set_env("OPENCLAW_CONFIG", flagged.to_str().unwrap());
    assert!(env.ok(&["executors"]).contains("fromflag"));
}

#[test]
fn empty_openclaw_config_means_unset() {
    let mut env = TestEnv::new();
    env.set_env("OPENCLAW_CONFIG", "");
    assert!(
        env.ok(&["config", "check"])
            .contains("built-in `local` executor")
    );
}

/// `config check` on `text` fails with exit 3 and one line; returns that line.
fn config_error(env: &TestEnv, text: &str) -> String {
    env.write_config(text);
    let run = env.run(&["config", "check"]);
    run.assert_error(3, "coding-agent.yaml: line ");
    assert_eq!(run.stderr.trim().lines().count(), 1, "{}", run.stderr);
    run.stderr
}

#[test]
fn unusable_webhook_urls_are_rejected_without_credentials() {
    let env = TestEnv::new();
    for url in [
        "http://",
        "\"http://[::1\"",
        "\"http://exa mple.com/hook\"",
        "http://example.com:99999/hook",
    ] {
        let err = config_error(&env, &format!("defaults:\n  webhook_url: {url}\n"));
        assert!(err.contains("line 2: key `webhook_url`"), "{url}: {err}");
    }
    let err = config_error(
        &env,
        "defaults:\n  webhook_url: https://alice:s3cret@example.com:99999/hook\n",
    );
    assert!(err.contains("port"), "{err}");
    assert!(
        !err.contains("s3cret") && !err.contains("alice"),
        "credentials printed: {err}"
    );
    // A good URL with credentials is accepted, and the summary hides them too.
    env.write_config("defaults:\n  webhook_url: https://alice:s3cret@example.com/hook\n");
    let check = env.ok(&["config", "check"]);
    assert!(
        check.contains("webhook https://***@example.com/hook"),
        "{check}"
    );
    assert!(!check.contains("s3cret"), "{check}");
}

#[test]
fn executor_names_that_cannot_be_names_are_rejected() {
    let env = TestEnv::new();
    for name in ["a/b", "\"..\"", "\"a\\u0007b\"", "\"x\\ty\""] {
        let err = config_error(
            &env,
            &format!("executors:\n  - name: {name}\n    type: local\n"),
        );
        assert!(err.contains("line 2: key `name`"), "{name}: {err}");
        assert!(!err.contains('\u{7}'), "control character printed: {err:?}");
    }
}

#[test]
fn config_files_must_be_regular_and_small() {
    let env = TestEnv::new();
    let big = env.home().join("big.yaml");
    let mut text = String::from("executors: []\n");
    while text.len() <= 5 * 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&big, &text).expect("write big config");
    env.run(&["--config", big.to_str().expect("utf-8"), "config", "check"])
        .assert_error(3, "larger than 4194304 bytes");

    let fifo = env.home().join("fifo.yaml");
    let c_path = std::ffi::CString::new(fifo.to_str().expect("utf-8")).expect("no NUL");
    // SAFETY: a valid C string; mkfifo only reads it.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let started = std::time::Instant::now();
    env.run(&["--config", fifo.to_str().expect("utf-8"), "list"])
        .assert_error(3, "is a FIFO, not a regular file");
    assert!(started.elapsed().as_secs() < 5, "hung on the FIFO");
    env.run(&["--config", "/dev/zero", "list"])
        .assert_error(3, "is a device, not a regular file");
    env.run(&["--config", env.home().to_str().expect("utf-8"), "list"])
        .assert_error(3, "is a directory");
}

#[test]
fn parser_internals_stay_out_of_messages() {
    let env = TestEnv::new();
    for (text, ours) in [
        (
            "executors:\n  - name: a\n    type: local\n    type: ssh\n",
            "line 4: key `type` is given twice",
        ),
        (
            "defaults:\n  max_turns: 3\n  max_turns: 4\n",
            "line 3: key `max_turns` is given twice",
        ),
        (
            "defaults:\n  stall_timeout: [1]\n",
            "line 2: key `stall_timeout`: not a duration",
        ),
        (
            "executors:\n  - name: a\n    type: slurm\n    time_limit: {a: 1}\n",
            "line 4: key `time_limit`: not a duration",
        ),
        ("executors:\n  - name: a\n    type: [local\n", "line 3"),
        ("executors: {a: 1}\n", "key `executors`: expected a list"),
        (
            "defaults:\n  stall_timeout: 99999999999999999h\n",
            "key `stall_timeout`",
        ),
    ] {
        let err = config_error(&env, text);
        assert!(err.contains(ours), "{text:?}: {err}");
        for theirs in [
            "DuplicateKeyPolicy",
            "untagged enum",
            "RawDuration",
            "Options",
        ] {
            assert!(!err.contains(theirs), "{text:?}: {err}");
        }
    }
}
