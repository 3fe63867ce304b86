//! The YAML config never panics, allocates in proportion to its text, and its
//! errors name the file and a line of it. Black-box through `Config::parse`.

use std::path::Path;

use executor_core::config::{Config, ConfigError};
use proptest::prelude::*;
use test_support::fuzz;

const FULL: &str = r#"executors:
  - name: crib
    type: ssh            # ssh | container | local
    host: 192.168.0.152
    port: 22
    user: jimmy
    identity_file: ~/.ssh/id_ed25519
    ssh_config: /etc/ssh/ssh_config
    known_hosts_file: /tmp/known_hosts
    ssh_options: ["ConnectTimeout=5"]
    task_root: /tmp/openclaw-tasks
    host_key_policy: accept-new
    claude_path: /home/jimmy/.npm-global/bin/claude
    labels: [rust, heavy-compute]
    env: [ANTHROPIC_API_KEY, "MODE=fast"]
    max_concurrent: 2
    allow_root: false
  - name: builder
    type: container
    image: claude-code:latest
    runtime: docker      # or podman
    volumes: ["/home/jimmy/repos:/work"]
    workdir: /work
    user: "1000:1000"
    network: none
    run_args: ["--cpus", "2"]
    context: default
    labels: [isolated, reproducible]
  - name: cluster
    type: slurm
    host: login.example.org
    partition: gpu
    account: lab
    qos: normal
    time_limit: "2:00:00"
    cpus: 4
    mem: 4G
    gres: gpu:1
    sbatch_args: ["--exclusive"]
    task_root: /shared/tasks
  - name: local
    type: local
    labels: [quick-tasks, lightweight]
defaults:
  max_turns: 100
  claude_path: claude
  webhook_url: https://example.com/webhook   # optional
  webhook_secret: change-me
  max_concurrent: 4
  stall_timeout: 10m
  kill_on_stall: true
"#;

const SMALL: &str = "defaults:\n  max_turns: 5\n  stall_timeout: 90\n";

const FLOW: &str = "executors: [{name: a, type: local}, {name: b, type: ssh, host: h, port: 2222}]\ndefaults: {max_turns: 1, stall_timeout: 2h}\n";

const VOCABULARY: &[&str] = &[
    "executors:\n",
    "defaults:\n",
    "  - name: x\n    type: ssh\n",
    "name: ",
    "type: ",
    "local",
    "ssh",
    "container",
    "slurm",
    "docker",
    "podman",
    "strict",
    "host: ",
    "port: ",
    "max_turns: ",
    "max_concurrent: ",
    "stall_timeout: ",
    "time_limit: ",
    "webhook_url: ",
    "http://",
    "https://",
    "env: ",
    "labels: ",
    "10m",
    "2h",
    "90s",
    "18446744073709551615h",
    "~",
];

/// Lines as YAML counts them: a lone `\r` breaks a line too.
fn yaml_lines(text: &str) -> u64 {
    let bytes = text.as_bytes();
    let breaks = bytes
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'\n' || (**b == b'\r' && bytes.get(i + 1) != Some(&b'\n')))
        .count();
    breaks as u64 + 1
}

/// Checks what `Config::parse` said about `text`.
fn check(text: &str) -> Result<(), TestCaseError> {
    let result = fuzz::bounded(|| Config::parse::<crate::AllBackends>(text, Path::new("c.yaml")))?;
    match result {
        Ok(config) => {
            prop_assert!(config.executor("local").is_some(), "no local executor");
        }
        Err(ConfigError::Invalid {
            path,
            line,
            message,
        }) => {
            prop_assert_eq!(path, Path::new("c.yaml"));
            let lines = yaml_lines(text);
            prop_assert!(
                line >= 1 && line <= lines + 1,
                "line {} of a {}-line text: {}",
                line,
                lines,
                message
            );
            prop_assert!(!message.trim().is_empty());
            // One line: the CLI prints it as one.
            prop_assert!(
                !message.contains('\n'),
                "a multi-line message: {:?}",
                message
            );
        }
        Err(other) => prop_assert!(false, "unexpected error kind: {other:?}"),
    }
    Ok(())
}

/// A value a key may get: right, of the wrong type, out of range, or odd.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        fuzz::number_text(),
        "[a-z0-9:/._~-]{0,12}",
        Just("\"\"".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("[a, 1, [b]]".to_owned()),
        Just("{k: v}".to_owned()),
        Just("~".to_owned()),
        Just("true".to_owned()),
        Just("\"http://h:99999/\"".to_owned()),
        Just("\"\\u202e\\u0000\"".to_owned()),
        Just("\"ftp://a\\nb\\r\"".to_owned()),
        Just("10m".to_owned()),
        Just("18446744073709551615h".to_owned()),
        Just("99999999999".to_owned()),
        Just("\"A=1\"".to_owned()),
        Just("[\"9X\", \"OK\"]".to_owned()),
        Just("&anchor x".to_owned()),
        Just("*anchor".to_owned()),
        Just("!!binary aGk=".to_owned()),
    ]
}

const EXECUTOR_KEYS: &[&str] = &[
    "name",
    "type",
    "labels",
    "claude_path",
    "env",
    "allow_root",
    "max_concurrent",
    "host",
    "port",
    "user",
    "identity_file",
    "ssh_config",
    "known_hosts_file",
    "ssh_options",
    "task_root",
    "host_key_policy",
    "image",
    "runtime",
    "volumes",
    "workdir",
    "network",
    "run_args",
    "context",
    "partition",
    "account",
    "qos",
    "time_limit",
    "cpus",
    "mem",
    "gres",
    "sbatch_args",
    "bogus",
];

const DEFAULT_KEYS: &[&str] = &[
    "max_turns",
    "claude_path",
    "webhook_url",
    "webhook_secret",
    "max_concurrent",
    "stall_timeout",
    "kill_on_stall",
    "bogus",
];

fn executor() -> impl Strategy<Value = String> {
    let kind = prop::sample::select(vec!["local", "ssh", "container", "slurm", "vm", "~"]);
    let name = prop::sample::select(vec!["local", "a", "b", "\"\"", "\"a/b\"", "\"a\\nb\""]);
    let keys = prop::collection::vec((prop::sample::select(EXECUTOR_KEYS), value()), 0..6);
    (name, kind, keys).prop_map(|(name, kind, keys)| {
        let mut text = format!("  - name: {name}\n    type: {kind}\n");
        for (key, value) in keys {
            text.push_str(&format!("    {key}: {value}\n"));
        }
        text
    })
}

/// Configs near a valid one: known keys, in and out of their place, with
/// values of every kind.
fn near_valid() -> impl Strategy<Value = String> {
    let executors = prop::collection::vec(executor(), 0..4);
    let defaults = prop::collection::vec((prop::sample::select(DEFAULT_KEYS), value()), 0..5);
    (executors, defaults).prop_map(|(executors, defaults)| {
        let mut text = String::new();
        if !executors.is_empty() {
            text.push_str("executors:\n");
            text.push_str(&executors.concat());
        }
        if !defaults.is_empty() {
            text.push_str("defaults:\n");
            for (key, value) in defaults {
                text.push_str(&format!("  {key}: {value}\n"));
            }
        }
        text
    })
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn mutated_configs_never_panic(text in fuzz::mutated_text(&[FULL, SMALL, FLOW], VOCABULARY)) {
        check(&text)?;
    }

    #[test]
    fn near_valid_configs_never_panic(text in near_valid()) {
        check(&text)?;
    }
}

#[test]
fn huge_durations_are_rejected_with_their_line() {
    for duration in [
        "18446744073709551615h",
        "307445734561825861m",
        "99999999999999999999",
    ] {
        let text = format!("defaults:\n  max_turns: 3\n  stall_timeout: {duration}\n");
        let err = Config::parse::<crate::AllBackends>(&text, Path::new("c.yaml"))
            .expect_err("out of range");
        let shown = err.to_string();
        assert!(
            shown.starts_with("c.yaml: line 3: key `stall_timeout`"),
            "{shown}"
        );
    }
}

#[test]
fn huge_numbers_allocate_nothing_by_their_size() {
    let text = "defaults:\n  max_turns: 99999999999\n  max_concurrent: 4294967295\n";
    let (result, peak) =
        fuzz::peak_allocation(|| Config::parse::<crate::AllBackends>(text, Path::new("c.yaml")));
    let err = result.expect_err("max_turns out of range");
    assert!(err.to_string().contains("line 2"), "{err}");
    assert!(peak < 1 << 20, "allocated {peak} bytes");
}

#[test]
fn values_in_errors_cannot_break_the_line() {
    let text = "executors:\n  - name: \"a\\nb\\u001b[2J\\u202e\"\n    type: ssh\n";
    let err = Config::parse::<crate::AllBackends>(text, Path::new("c.yaml")).expect_err("no host");
    let shown = err.to_string();
    assert_eq!(shown.lines().count(), 1, "{shown}");
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\u{202e}'),
        "{shown}"
    );
    assert!(shown.contains(r"a\nb\u{1b}[2J\u{202e}"), "{shown}");
}
