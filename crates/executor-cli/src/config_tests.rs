//! The YAML config with every backend this binary has: the typed sections of
//! the backend crates, read through core's parser.

use std::path::Path;

use executor_container::config::{ContainerRuntime, ContainerSettings};
use executor_core::config::{Config, ConfigError, ExecutorSettings, SAMPLE_CONFIG, section_keys};
use executor_slurm::config::{SlurmSection, SlurmSettings};
use executor_ssh::config::{DEFAULT_REMOTE_TASK_ROOT, HostKeyPolicy, SshSection, SshSettings};

use crate::app::AllBackends;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse::<AllBackends>(text, Path::new("c.yaml"))
}

fn error_of(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

const SEED: &str = r#"executors:
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
"#;

#[test]
fn seed_schema_parses() {
    let config = parse(SEED).unwrap();
    assert_eq!(config.executor_names(), ["crib", "builder", "local"]);
    let crib = config.executor("crib").unwrap();
    assert_eq!(
        crib.settings,
        ExecutorSettings::new(SshSettings {
            host: "192.168.0.152".into(),
            port: Some(22),
            user: Some("jimmy".into()),
            identity_file: None,
            ssh_config: None,
            known_hosts_file: None,
            ssh_options: Vec::new(),
            task_root: DEFAULT_REMOTE_TASK_ROOT.into(),
            host_key_policy: HostKeyPolicy::Strict,
        })
    );
    let builder_settings = config
        .executor("builder")
        .unwrap()
        .settings
        .get::<ContainerSettings>();
    assert_eq!(
        builder_settings.map(|c| c.runtime),
        Some(ContainerRuntime::Docker)
    );
    assert_eq!(
        config.claude_path(crib),
        "/home/jimmy/.npm-global/bin/claude"
    );
    let builder = config.executor("builder").unwrap();
    assert_eq!(config.claude_path(builder), "claude");
    assert_eq!(builder.labels, ["isolated", "reproducible"]);
    assert_eq!(
        config.defaults.webhook_url.as_deref(),
        Some("https://example.com/webhook")
    );
}

#[test]
fn sample_parses_and_has_local() {
    let config = parse(SAMPLE_CONFIG).unwrap();
    assert_eq!(config.executor_names(), ["local"]);
    assert!(!config.executor("local").unwrap().builtin);
}

/// The sample as a stranger would use it: every example uncommented, every
/// `<placeholder>` filled in.
fn sample_uncommented() -> String {
    let mut text = String::new();
    for line in SAMPLE_CONFIG.lines() {
        let line = match line.strip_prefix("  # ") {
            Some(rest) if rest.starts_with("- ") || rest.starts_with("  ") => {
                format!("  {rest}")
            }
            _ => line.to_owned(),
        };
        let mut filled = String::new();
        let mut rest = line.as_str();
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').expect("closed placeholder") + start;
            filled.push_str(&rest[..start]);
            filled.push_str("/srv/x");
            rest = &rest[end + 1..];
        }
        filled.push_str(rest);
        text.push_str(&filled);
        text.push('\n');
    }
    text
}

#[test]
fn sample_shows_every_type_without_anyones_paths() {
    let config = parse(&sample_uncommented()).unwrap();
    let types: Vec<String> = config
        .executors
        .iter()
        .map(|e| e.executor_type().as_str().to_owned())
        .collect();
    assert_eq!(types, ["local", "ssh", "container", "slurm"]);
    assert!(SAMPLE_CONFIG.contains("local, ssh, container, slurm"));
    for personal in ["/home/", "192.168.", "jimmy", "crib"] {
        assert!(!SAMPLE_CONFIG.contains(personal), "{personal}");
    }
}

#[test]
fn builtin_local_is_added() {
    let config = parse("executors:\n  - name: box\n    type: ssh\n    host: h\n").unwrap();
    assert_eq!(config.executor_names(), ["box", "local"]);
    assert!(config.executor("local").unwrap().builtin);
    assert_eq!(parse("").unwrap().executor_names(), ["local"]);
}

#[test]
fn unknown_key_names_key_and_line() {
    let err = error_of("executors:\n  - name: a\n    type: local\n    labelz: [x]\n");
    assert!(err.starts_with("c.yaml: line 4: "), "{err}");
    assert!(err.contains("labelz"), "{err}");
}

#[test]
fn wrong_type_names_key_and_line() {
    let err = error_of("executors:\n  - name: a\n    type: ssh\n    host: h\n    port: lots\n");
    assert!(err.starts_with("c.yaml: line 5: key `port`"), "{err}");
    let err = error_of("defaults:\n  max_turns: many\n");
    assert!(err.starts_with("c.yaml: line 2: key `max_turns`"), "{err}");
}

#[test]
fn duplicate_names_are_rejected() {
    let err = error_of(
        "executors:\n  - name: a\n    type: local\n  - name: a\n    type: ssh\n    host: h\n",
    );
    assert!(
        err.starts_with("c.yaml: line 4: key `name`: duplicate"),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
}

#[test]
fn keys_of_other_types_are_rejected() {
    let err = error_of("executors:\n  - name: a\n    type: local\n    image: x\n");
    assert_eq!(
        err,
        "c.yaml: line 4: key `image` is not valid for an executor of type local"
    );
    let err = error_of("executors:\n  - name: a\n    type: ssh\n");
    assert!(err.contains("needs key `host`"), "{err}");
}

#[test]
fn malformed_yaml_reports_line() {
    let err = error_of("executors:\n  - name: a\n    type: [local\n");
    assert!(err.starts_with("c.yaml: line "), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn bad_defaults_name_their_line() {
    let err = error_of("executors: []\ndefaults:\n  max_turns: 0\n");
    assert_eq!(err, "c.yaml: line 3: key `max_turns`: must be at least 1");
    let err = error_of("defaults:\n  claude_path: c\n  webhook_url: ftp://x\n");
    assert!(
        err.starts_with("c.yaml: line 3: key `webhook_url`"),
        "{err}"
    );
}

#[test]
fn ssh_and_container_extras() {
    let config = parse(
            "executors:\n  - name: s\n    type: ssh\n    host: h\n    identity_file: /k\n    host_key_policy: accept-new\n    task_root: /var/tmp/oc/\n    ssh_options: [ConnectTimeout=5]\n  - name: c\n    type: container\n    image: i\n    runtime: podman\n    user: \"1000\"\n    network: none\n    run_args: [--memory, 1g]\n",
        )
        .unwrap();
    let ssh = config
        .executor("s")
        .unwrap()
        .settings
        .get::<SshSettings>()
        .expect("ssh");
    assert_eq!(ssh.host_key_policy, HostKeyPolicy::AcceptNew);
    assert_eq!(ssh.task_root, "/var/tmp/oc");
    assert_eq!(ssh.ssh_options, ["ConnectTimeout=5"]);
    let c = config
        .executor("c")
        .unwrap()
        .settings
        .get::<ContainerSettings>()
        .expect("container");
    assert_eq!(c.runtime, ContainerRuntime::Podman);
    assert_eq!(c.user.as_deref(), Some("1000"));
    assert_eq!(c.run_args, ["--memory", "1g"]);
    let err = error_of("executors:\n  - name: s\n    type: ssh\n    host: h\n    task_root: rel\n");
    assert!(err.contains("line 5: key `task_root`"), "{err}");
    let err = error_of("executors:\n  - name: l\n    type: local\n    user: x\n");
    assert!(err.contains("line 4: key `user` is not valid"), "{err}");
    let err = error_of(
        "executors:\n  - name: s\n    type: ssh\n    host: h\n    host_key_policy: yolo\n",
    );
    assert!(err.contains("line 5"), "{err}");
}

#[test]
fn unknown_type_is_rejected() {
    let err = error_of("executors:\n  - name: a\n    type: kubernetes\n");
    assert!(err.starts_with("c.yaml: line 3: key `type`"), "{err}");
}

#[test]
fn type_may_follow_its_keys() {
    let config = parse("executors:\n  - host: h\n    port: 2222\n    name: a\n    type: ssh\n")
        .expect("type after the ssh keys");
    let ssh = config
        .executor("a")
        .expect("a")
        .settings
        .get::<SshSettings>()
        .expect("ssh");
    assert_eq!((ssh.host.as_str(), ssh.port), ("h", Some(2222)));
    let err = error_of("executors:\n  - name: a\n    image: i\n    type: ssh\n    host: h\n");
    assert_eq!(
        err,
        "c.yaml: line 3: key `image` is not valid for an executor of type ssh"
    );
}

#[test]
fn unknown_key_lists_the_keys_of_its_type() {
    let err =
        error_of("executors:\n  - name: a\n    type: container\n    image: i\n    bogus: 1\n");
    assert!(err.starts_with("c.yaml: line 5: "), "{err}");
    assert!(
        err.contains("`bogus`") && err.contains("image, runtime"),
        "{err}"
    );
    assert!(!err.contains("partition"), "{err}");
}

#[test]
fn section_keys_come_from_the_structs() {
    assert!(section_keys::<SshSection>().contains(&"host_key_policy"));
    assert!(section_keys::<SlurmSection>().contains(&"host"));
    assert!(section_keys::<SlurmSection>().contains(&"sbatch_args"));
}

#[test]
fn slurm_login_and_time_limit() {
    let config = parse(
        "executors:\n  - name: hpc\n    type: slurm\n    host: login\n    user: me\n    time_limit: 30\n    task_root: /shared/t/\n",
    )
    .expect("slurm config");
    let hpc = config.executor("hpc").expect("hpc");
    let slurm = hpc.settings.get::<SlurmSettings>().expect("slurm");
    assert_eq!(slurm.time_limit.as_deref(), Some("30"));
    assert_eq!(slurm.task_root.as_deref(), Some("/shared/t"));
    let login = slurm.login.as_ref().expect("login node");
    assert_eq!(
        (login.host.as_str(), login.task_root.as_str()),
        ("login", "/shared/t")
    );
    assert_eq!(hpc.target(), "slurm via login");
    assert_eq!(hpc.executor_type().as_str(), "slurm");
    assert!(hpc.settings.get::<SshSettings>().is_none());
}

#[test]
fn the_factory_builds_every_type_from_its_typed_settings() {
    let config = parse(
        "executors:\n  - name: s\n    type: ssh\n    host: h\n  - name: c\n    type: container\n    image: i\n  - name: q\n    type: slurm\n  - name: l\n    type: local\n",
    )
    .expect("valid");
    let factory = crate::app::executor_factory("claude");
    let paths = executor_core::Paths::new("/data".into(), "/c".into());
    for name in ["s", "c", "q", "l", "local"] {
        let executor_config = config.executor(name).expect(name);
        let executor = factory(executor_config, &paths).expect("built");
        assert_eq!(executor.config(), executor_config, "{name}");
    }
}

#[test]
fn keep_background_is_for_local_and_ssh_executors() {
    let config = parse(
        "executors:\n  - name: a\n    type: local\n    keep_background: true\n  - name: b\n    type: local\n  - name: s\n    type: ssh\n    host: h\n    keep_background: true\n",
    )
    .expect("valid");
    assert!(config.executor("a").expect("a").keep_background);
    assert!(!config.executor("b").expect("b").keep_background);
    assert!(config.executor("s").expect("s").keep_background);
    for (kind, extra) in [("container", "    image: x\n"), ("slurm", "")] {
        let err = error_of(&format!(
            "executors:\n  - name: c\n    type: {kind}\n{extra}    keep_background: true\n"
        ));
        let line = 4 + usize::from(!extra.is_empty());
        assert_eq!(
            err,
            format!(
                "c.yaml: line {line}: key `keep_background` is not valid for an executor of type {kind}"
            )
        );
    }
}
