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
