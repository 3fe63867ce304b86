//! The YAML configuration: executors and defaults.
//!
//! Parsing goes through a loose "raw" shape with source positions, then is
//! validated per executor type so every error names the key and its line.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

/// Name of the executor that exists even without a config file.
pub const BUILTIN_LOCAL: &str = "local";

pub const DEFAULT_MAX_TURNS: u32 = 100;
pub const DEFAULT_CLAUDE_PATH: &str = "claude";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub executors: Vec<ExecutorConfig>,
    pub defaults: Defaults,
    /// The file this came from; `None` when no config file exists.
    pub source: Option<PathBuf>,
}

/// An agent with no new output for this long is shown as stalled.
pub const DEFAULT_STALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

#[derive(Debug, Clone, PartialEq)]
pub struct Defaults {
    pub max_turns: u32,
    pub claude_path: String,
    pub webhook_url: Option<String>,
    pub stall_timeout: std::time::Duration,
    /// Kill an agent task once it is stalled.
    pub kill_on_stall: bool,
    /// Tasks an executor runs at once unless it sets its own (`None`: no limit).
    pub max_concurrent: Option<u32>,
    /// Signs webhook bodies (HMAC-SHA256) so receivers can verify the sender.
    pub webhook_secret: Option<String>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            max_turns: DEFAULT_MAX_TURNS,
            claude_path: DEFAULT_CLAUDE_PATH.to_owned(),
            webhook_url: None,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            kill_on_stall: false,
            max_concurrent: None,
            webhook_secret: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExecutorConfig {
    pub name: String,
    pub labels: Vec<String>,
    /// Path of the `claude` binary on the executing side; falls back to the defaults.
    pub claude_path: Option<String>,
    /// Environment for payloads: variables forwarded by name, and fixed pairs.
    pub env: Vec<EnvEntry>,
    /// Tasks this executor runs at once; more wait as `queued`.
    pub max_concurrent: Option<u32>,
    /// Lets claude run as root by setting `IS_SANDBOX=1` (claude refuses
    /// `--dangerously-skip-permissions` as root otherwise).
    pub allow_root: bool,
    /// Lets background jobs a payload leaves in its process group outlive the
    /// task (local and SSH executors); by default they end with it.
    pub keep_background: bool,
    pub settings: ExecutorSettings,
    /// Whether this executor was synthesised because the config did not define it.
    pub builtin: bool,
}

/// One entry of an executor's `env` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvEntry {
    /// `NAME`: the value is taken from the environment of the dispatching command.
    Forward(String),
    /// `NAME=value`: a fixed value.
    Fixed(String, String),
}

impl EnvEntry {
    fn parse(entry: &str) -> Result<Self, String> {
        let (name, value) = match entry.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (entry, None),
        };
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(format!(
                "key `env`: `{name}` is not a valid variable name (letters, digits, _)"
            ));
        }
        Ok(match value {
            Some(value) => Self::Fixed(name.to_owned(), value.to_owned()),
            None => Self::Forward(name.to_owned()),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Self::Forward(name) | Self::Fixed(name, _) => name,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExecutorSettings {
    Local,
    Ssh(SshSettings),
    Container(ContainerSettings),
    Slurm(SlurmSettings),
}

/// A Slurm cluster: jobs submitted with `sbatch` on this machine, or over SSH
/// on a login node (`login`).
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmSettings {
    /// The login node, when `host` is set; `None`: this machine submits.
    pub login: Option<SshSettings>,
    /// Task directories, on a file system the compute nodes share with the
    /// submitting machine. `None`: the local store's mirror (local submission).
    pub task_root: Option<String>,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    /// `sbatch --time`, e.g. `30`, `1:00:00`, `2-00:00:00`.
    pub time_limit: Option<String>,
    pub cpus: Option<u32>,
    /// `sbatch --mem`, e.g. `4G`.
    pub mem: Option<String>,
    /// `sbatch --gres`, e.g. `gpu:1`.
    pub gres: Option<String>,
    /// Extra `sbatch` arguments.
    pub sbatch_args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SshSettings {
    /// A host name, address, or a `Host` alias of the user's ssh_config.
    pub host: String,
    pub port: Option<u16>,
    pub user: Option<String>,
    /// Private key (`ssh -i`).
    pub identity_file: Option<String>,
    /// An ssh_config file to use instead of `~/.ssh/config` (`ssh -F`).
    pub ssh_config: Option<String>,
    /// A known_hosts file to use instead of `~/.ssh/known_hosts`.
    pub known_hosts_file: Option<String>,
    /// Extra `-o Key=Value` options.
    pub ssh_options: Vec<String>,
    /// Where task directories live on the host.
    pub task_root: String,
    pub host_key_policy: HostKeyPolicy,
}

/// Default remote task root (`task_root`).
pub const DEFAULT_REMOTE_TASK_ROOT: &str = "/tmp/openclaw-tasks";

/// How an unknown host key is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
pub enum HostKeyPolicy {
    /// Unknown or changed keys are refused (as `StrictHostKeyChecking=yes`).
    #[default]
    #[serde(rename = "strict")]
    Strict,
    /// Unknown keys are recorded and trusted; changed keys are still refused.
    #[serde(rename = "accept-new")]
    AcceptNew,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ContainerSettings {
    pub image: String,
    pub runtime: ContainerRuntime,
    /// `host:container[:options]` bind mounts.
    pub volumes: Vec<String>,
    /// Working directory when a task gives no `--workspace`.
    pub workdir: Option<String>,
    /// `--user` inside the container.
    pub user: Option<String>,
    /// `--network` (e.g. `none`, `host`).
    pub network: Option<String>,
    /// Extra arguments for `create`, before the image.
    pub run_args: Vec<String>,
    /// Docker context (`docker --context`); podman ignores it.
    pub context: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerRuntime {
    Docker,
    Podman,
}

impl ContainerRuntime {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorType {
    Ssh,
    Container,
    Local,
    Slurm,
}

impl ExecutorType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ssh => "ssh",
            Self::Container => "container",
            Self::Local => "local",
            Self::Slurm => "slurm",
        }
    }
}

impl fmt::Display for ExecutorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ExecutorConfig {
    pub fn builtin_local() -> Self {
        Self {
            name: BUILTIN_LOCAL.to_owned(),
            labels: Vec::new(),
            claude_path: None,
            env: Vec::new(),
            max_concurrent: None,
            allow_root: false,
            keep_background: false,
            settings: ExecutorSettings::Local,
            builtin: true,
        }
    }

    pub fn executor_type(&self) -> ExecutorType {
        match self.settings {
            ExecutorSettings::Local => ExecutorType::Local,
            ExecutorSettings::Ssh(_) => ExecutorType::Ssh,
            ExecutorSettings::Container(_) => ExecutorType::Container,
            ExecutorSettings::Slurm(_) => ExecutorType::Slurm,
        }
    }

    /// A short human description of where this executor runs tasks.
    pub fn target(&self) -> String {
        match &self.settings {
            ExecutorSettings::Local => "this machine".to_owned(),
            ExecutorSettings::Ssh(ssh) => {
                let user = ssh
                    .user
                    .as_deref()
                    .map(|u| format!("{u}@"))
                    .unwrap_or_default();
                match ssh.port {
                    Some(port) => format!("{user}{}:{port}", ssh.host),
                    None => format!("{user}{}", ssh.host),
                }
            }
            ExecutorSettings::Container(c) => format!("{} {}", c.runtime.as_str(), c.image),
            ExecutorSettings::Slurm(s) => {
                let partition = s
                    .partition
                    .as_deref()
                    .map(|p| format!(" partition {p}"))
                    .unwrap_or_default();
                match &s.login {
                    Some(login) => format!("slurm via {}{partition}", login.host),
                    None => format!("slurm{partition}"),
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} does not exist")]
    Missing { path: PathBuf },
    #[error("{path}: line {line}: {message}")]
    Invalid {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("config file {path} already exists; pass --force to overwrite it")]
    AlreadyExists { path: PathBuf },
    #[error("cannot write config file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl Config {
    /// The configuration a user has before writing any file.
    pub fn builtin() -> Self {
        Self {
            executors: vec![ExecutorConfig::builtin_local()],
            defaults: Defaults::default(),
            source: None,
        }
    }

    /// Loads `path`; when `required` is false a missing file yields the built-in config.
    pub fn load(path: &Path, required: bool) -> Result<Self, ConfigError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(Self::builtin())
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Err(ConfigError::Missing {
                path: path.to_owned(),
            }),
            Err(source) => Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |line: u64, message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line,
            message,
        };
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_saphyr::from_str(text).map_err(|err| {
                let line = err.location().map(|l| l.line()).unwrap_or(1).max(1);
                invalid(line, describe_parse_error(&err, text, line))
            })?
        };

        let mut executors = Vec::with_capacity(raw.executors.len() + 1);
        let mut seen: HashMap<String, u64> = HashMap::new();
        for raw_executor in raw.executors {
            let line = raw_executor.name.referenced.line();
            let name = raw_executor.name.value.clone();
            if name.trim().is_empty() {
                return Err(invalid(line, "key `name`: executor name is empty".into()));
            }
            if let Some(first) = seen.insert(name.clone(), line) {
                return Err(invalid(
                    line,
                    format!(
                        "key `name`: duplicate executor name `{name}` (first defined on line {first})"
                    ),
                ));
            }
            executors.push(raw_executor.validate().map_err(|(l, m)| invalid(l, m))?);
        }
        if !seen.contains_key(BUILTIN_LOCAL) {
            executors.push(ExecutorConfig::builtin_local());
        }

        let raw_defaults = raw.defaults.unwrap_or_default();
        if let Some(turns) = &raw_defaults.max_turns
            && turns.value == 0
        {
            return Err(invalid(
                turns.referenced.line(),
                "key `max_turns`: must be at least 1".into(),
            ));
        }
        if let Some(url) = &raw_defaults.webhook_url
            && !url.value.trim().is_empty()
            && !(url.value.starts_with("http://") || url.value.starts_with("https://"))
        {
            return Err(invalid(
                url.referenced.line(),
                format!(
                    "key `webhook_url`: `{}` is not an http:// or https:// URL",
                    url.value
                ),
            ));
        }
        let stall_timeout = match &raw_defaults.stall_timeout {
            Some(raw) => parse_duration(&raw.value)
                .map_err(|m| invalid(raw.referenced.line(), format!("key `stall_timeout`: {m}")))?,
            None => DEFAULT_STALL_TIMEOUT,
        };
        if let Some(limit) = &raw_defaults.max_concurrent
            && limit.value == 0
        {
            return Err(invalid(
                limit.referenced.line(),
                "key `max_concurrent`: must be at least 1".into(),
            ));
        }
        let defaults = Defaults {
            stall_timeout,
            kill_on_stall: raw_defaults.kill_on_stall.unwrap_or(false),
            max_concurrent: raw_defaults.max_concurrent.map(|m| m.value),
            webhook_secret: raw_defaults.webhook_secret.filter(|s| !s.is_empty()),
            max_turns: raw_defaults
                .max_turns
                .map_or(DEFAULT_MAX_TURNS, |t| t.value),
            claude_path: raw_defaults
                .claude_path
                .unwrap_or_else(|| DEFAULT_CLAUDE_PATH.to_owned()),
            webhook_url: raw_defaults
                .webhook_url
                .map(|u| u.value)
                .filter(|u| !u.trim().is_empty()),
        };

        Ok(Self {
            executors,
            defaults,
            source: Some(path.to_owned()),
        })
    }

    pub fn executor(&self, name: &str) -> Option<&ExecutorConfig> {
        self.executors.iter().find(|e| e.name == name)
    }

    /// How many tasks `executor` may run at once (`None`: no limit).
    pub fn capacity(&self, executor: &ExecutorConfig) -> Option<u32> {
        executor.max_concurrent.or(self.defaults.max_concurrent)
    }

    /// Every label some executor carries, sorted.
    pub fn labels(&self) -> Vec<&str> {
        let mut labels: Vec<&str> = self
            .executors
            .iter()
            .flat_map(|e| e.labels.iter().map(String::as_str))
            .collect();
        labels.sort_unstable();
        labels.dedup();
        labels
    }

    pub fn executor_names(&self) -> Vec<&str> {
        self.executors.iter().map(|e| e.name.as_str()).collect()
    }

    /// The claude binary to run on `executor`.
    pub fn claude_path<'a>(&'a self, executor: &'a ExecutorConfig) -> &'a str {
        executor
            .claude_path
            .as_deref()
            .unwrap_or(&self.defaults.claude_path)
    }
}

/// Writes the commented sample config to `path`.
pub fn write_sample(path: &Path, force: bool) -> Result<(), ConfigError> {
    if path.exists() && !force {
        return Err(ConfigError::AlreadyExists {
            path: path.to_owned(),
        });
    }
    let write_err = |source| ConfigError::Write {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    crate::fsutil::write_atomic(path, SAMPLE_CONFIG.as_bytes()).map_err(write_err)
}

pub const SAMPLE_CONFIG: &str = r#"# openclaw-agent configuration (YAML).
#
# Each executor is a place where tasks run. `type` is one of: ssh, container, local.
# `labels` describe what an executor is good for. A built-in executor named `local`
# exists even when this file does not define one.
executors:
  # Run tasks on this machine, in the directory given by --workspace.
  - name: local
    type: local
    labels: [quick-tasks, lightweight]

  # A remote machine reached over SSH (uncomment and adapt).
  # - name: crib
  #   type: ssh
  #   host: 192.168.0.152
  #   port: 22
  #   user: jimmy
  #   claude_path: /home/jimmy/.npm-global/bin/claude
  #   labels: [rust, heavy-compute]

  # A Slurm cluster: one batch job per task (uncomment and adapt; add host/user
  # to submit on a login node over SSH).
  # - name: cluster
  #   type: slurm
  #   partition: debug
  #   time_limit: "2:00:00"
  #   task_root: /shared/openclaw-tasks
  #   labels: [gpu]

  # A Docker or Podman container (uncomment and adapt).
  # - name: builder
  #   type: container
  #   image: claude-code:latest
  #   runtime: docker      # or podman
  #   volumes: ["/home/jimmy/repos:/work"]
  #   labels: [isolated, reproducible]

defaults:
  # Turn limit passed to `claude --max-turns` unless `start --max-turns` says otherwise.
  max_turns: 100
  # The claude binary, when an executor does not set `claude_path`.
  claude_path: claude
  # Every finished task is POSTed here as JSON (optional), signed with the secret.
  # webhook_url: https://example.com/webhook
  # webhook_secret: change-me
  # Tasks an executor runs at once (also per executor); more wait in a queue.
  # max_concurrent: 4
  # An agent silent this long is shown as stalled; kill_on_stall: true kills it.
  # stall_timeout: 10m
  # kill_on_stall: false
"#;

/// Turns a parser error into one line: the message plus the key it concerns.
fn describe_parse_error(err: &serde_saphyr::Error, text: &str, line: u64) -> String {
    let full = err.to_string();
    let first = full.lines().next().unwrap_or("invalid YAML");
    // The parser prefixes "error: line L column C: "; the caller prints the line itself.
    let message = first
        .trim_start_matches("error: ")
        .split_once(": ")
        .filter(|(position, _)| position.starts_with("line "))
        .map_or(first, |(_, rest)| rest);
    let key = text
        .lines()
        .nth(line.saturating_sub(1) as usize)
        .and_then(|source_line| {
            let trimmed = source_line.trim_start().trim_start_matches("- ");
            let (key, _) = trimmed.split_once(':')?;
            let key = key.trim();
            (!key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_'))
                .then(|| key.to_owned())
        });
    match key {
        Some(key) if !message.contains(&format!("`{key}`")) => format!("key `{key}`: {message}"),
        _ => message.to_owned(),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    executors: Vec<RawExecutor>,
    #[serde(default)]
    defaults: Option<RawDefaults>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    max_turns: Option<Spanned<u32>>,
    claude_path: Option<String>,
    webhook_url: Option<Spanned<String>>,
    stall_timeout: Option<Spanned<RawDuration>>,
    kill_on_stall: Option<bool>,
    max_concurrent: Option<Spanned<u32>>,
    webhook_secret: Option<String>,
}

/// A duration as seconds (`600`) or with a unit (`90s`, `10m`, `2h`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDuration {
    Seconds(u64),
    Text(String),
}

fn parse_duration(raw: &RawDuration) -> Result<std::time::Duration, String> {
    let seconds = match raw {
        RawDuration::Seconds(s) => *s,
        RawDuration::Text(text) => {
            let text = text.trim();
            let (number, unit) = text.split_at(
                text.find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(text.len()),
            );
            let number: u64 = number
                .parse()
                .map_err(|_| format!("`{text}` is not a duration such as 600, 90s, 10m or 2h"))?;
            let scale = match unit.trim() {
                "" | "s" => 1,
                "m" => 60,
                "h" => 3600,
                _ => {
                    return Err(format!(
                        "`{text}` is not a duration such as 600, 90s, 10m or 2h"
                    ));
                }
            };
            number * scale
        }
    };
    if seconds == 0 {
        return Err("must be more than 0".into());
    }
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExecutor {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Spanned<ExecutorType>,
    #[serde(default)]
    labels: Vec<String>,
    claude_path: Option<String>,
    #[serde(default)]
    env: Vec<Spanned<String>>,
    #[serde(default)]
    allow_root: bool,
    keep_background: Option<Spanned<bool>>,
    max_concurrent: Option<Spanned<u32>>,
    host: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    user: Option<Spanned<String>>,
    identity_file: Option<Spanned<String>>,
    ssh_config: Option<Spanned<String>>,
    known_hosts_file: Option<Spanned<String>>,
    ssh_options: Option<Spanned<Vec<String>>>,
    task_root: Option<Spanned<String>>,
    host_key_policy: Option<Spanned<HostKeyPolicy>>,
    image: Option<Spanned<String>>,
    runtime: Option<Spanned<ContainerRuntime>>,
    volumes: Option<Spanned<Vec<String>>>,
    workdir: Option<Spanned<String>>,
    network: Option<Spanned<String>>,
    run_args: Option<Spanned<Vec<String>>>,
    context: Option<Spanned<String>>,
    partition: Option<Spanned<String>>,
    account: Option<Spanned<String>>,
    qos: Option<Spanned<String>>,
    time_limit: Option<Spanned<RawDuration>>,
    cpus: Option<Spanned<u32>>,
    mem: Option<Spanned<String>>,
    gres: Option<Spanned<String>>,
    sbatch_args: Option<Spanned<Vec<String>>>,
}

fn line_of<T>(value: &Option<Spanned<T>>) -> Option<u64> {
    value.as_ref().map(|s| s.referenced.line())
}

fn value_of<T>(value: Option<Spanned<T>>) -> Option<T> {
    value.map(|s| s.value)
}

impl RawExecutor {
    fn validate(self) -> Result<ExecutorConfig, (u64, String)> {
        let kind = self.kind.value;
        let executor_line = self.name.referenced.line();
        let not_for = |key: &str, line: u64| {
            Err((
                line,
                format!("key `{key}` is not valid for an executor of type {kind}"),
            ))
        };
        let required = |key: &str| {
            Err((
                executor_line,
                format!(
                    "executor `{}` of type {kind} needs key `{key}`",
                    self.name.value
                ),
            ))
        };
        // `user` belongs to both remote kinds: the login user, or the user in the container.
        let ssh_keys = [
            ("host", line_of(&self.host)),
            ("port", line_of(&self.port)),
            ("identity_file", line_of(&self.identity_file)),
            ("ssh_config", line_of(&self.ssh_config)),
            ("known_hosts_file", line_of(&self.known_hosts_file)),
            ("ssh_options", line_of(&self.ssh_options)),
            ("task_root", line_of(&self.task_root)),
            ("host_key_policy", line_of(&self.host_key_policy)),
        ];
        let container_keys = [
            ("image", line_of(&self.image)),
            ("runtime", line_of(&self.runtime)),
            ("volumes", line_of(&self.volumes)),
            ("workdir", line_of(&self.workdir)),
            ("network", line_of(&self.network)),
            ("run_args", line_of(&self.run_args)),
            ("context", line_of(&self.context)),
        ];
        if kind == ExecutorType::Local
            && let Some(line) = line_of(&self.user)
        {
            return not_for("user", line);
        }
        let slurm_keys = [
            ("partition", line_of(&self.partition)),
            ("account", line_of(&self.account)),
            ("qos", line_of(&self.qos)),
            ("time_limit", line_of(&self.time_limit)),
            ("cpus", line_of(&self.cpus)),
            ("mem", line_of(&self.mem)),
            ("gres", line_of(&self.gres)),
            ("sbatch_args", line_of(&self.sbatch_args)),
        ];
        let foreign: Vec<(&str, Option<u64>)> = match kind {
            ExecutorType::Local => ssh_keys
                .iter()
                .chain(&container_keys)
                .chain(&slurm_keys)
                .copied()
                .collect(),
            ExecutorType::Ssh => container_keys.iter().chain(&slurm_keys).copied().collect(),
            ExecutorType::Container => ssh_keys.iter().chain(&slurm_keys).copied().collect(),
            // Slurm submits locally or over SSH to a login node: the ssh keys apply.
            ExecutorType::Slurm => container_keys.to_vec(),
        };
        if let Some((key, Some(line))) = foreign.iter().find(|(_, line)| line.is_some()) {
            return not_for(key, *line);
        }
        // A container or a Slurm job ends everything in it with the task.
        if matches!(kind, ExecutorType::Container | ExecutorType::Slurm)
            && let Some(line) = line_of(&self.keep_background)
        {
            return not_for("keep_background", line);
        }

        if let Some(root) = &self.task_root
            && !root.value.starts_with('/')
        {
            return Err((
                root.referenced.line(),
                "key `task_root`: must be an absolute path".into(),
            ));
        }
        if let Some(host) = &self.host
            && host.value.trim().is_empty()
        {
            return Err((host.referenced.line(), "key `host`: empty host".into()));
        }
        let settings = match kind {
            ExecutorType::Local => ExecutorSettings::Local,
            ExecutorType::Slurm => {
                let time_limit = self.time_limit.as_ref().map(|raw| match &raw.value {
                    RawDuration::Seconds(minutes) => minutes.to_string(),
                    RawDuration::Text(text) => text.trim().to_owned(),
                });
                let task_root = value_of(self.task_root)
                    .map(|r| r.trim_end_matches('/').to_owned())
                    .filter(|r| !r.is_empty());
                let login = self.host.map(|host| SshSettings {
                    host: host.value,
                    port: value_of(self.port),
                    user: value_of(self.user),
                    identity_file: value_of(self.identity_file),
                    ssh_config: value_of(self.ssh_config),
                    known_hosts_file: value_of(self.known_hosts_file),
                    ssh_options: value_of(self.ssh_options).unwrap_or_default(),
                    task_root: task_root
                        .clone()
                        .unwrap_or_else(|| DEFAULT_REMOTE_TASK_ROOT.to_owned()),
                    host_key_policy: value_of(self.host_key_policy).unwrap_or_default(),
                });
                ExecutorSettings::Slurm(SlurmSettings {
                    login,
                    task_root,
                    partition: value_of(self.partition),
                    account: value_of(self.account),
                    qos: value_of(self.qos),
                    time_limit,
                    cpus: value_of(self.cpus),
                    mem: value_of(self.mem),
                    gres: value_of(self.gres),
                    sbatch_args: value_of(self.sbatch_args).unwrap_or_default(),
                })
            }
            ExecutorType::Ssh => {
                let Some(host) = self.host else {
                    return required("host");
                };
                ExecutorSettings::Ssh(SshSettings {
                    host: host.value,
                    port: value_of(self.port),
                    user: value_of(self.user),
                    identity_file: value_of(self.identity_file),
                    ssh_config: value_of(self.ssh_config),
                    known_hosts_file: value_of(self.known_hosts_file),
                    ssh_options: value_of(self.ssh_options).unwrap_or_default(),
                    task_root: value_of(self.task_root)
                        .map(|r| r.trim_end_matches('/').to_owned())
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| DEFAULT_REMOTE_TASK_ROOT.to_owned()),
                    host_key_policy: value_of(self.host_key_policy).unwrap_or_default(),
                })
            }
            ExecutorType::Container => {
                let Some(image) = self.image else {
                    return required("image");
                };
                ExecutorSettings::Container(ContainerSettings {
                    image: image.value,
                    runtime: value_of(self.runtime).unwrap_or(ContainerRuntime::Docker),
                    volumes: value_of(self.volumes).unwrap_or_default(),
                    workdir: value_of(self.workdir),
                    user: value_of(self.user),
                    network: value_of(self.network),
                    run_args: value_of(self.run_args).unwrap_or_default(),
                    context: value_of(self.context),
                })
            }
        };
        let env = self
            .env
            .iter()
            .map(|entry| EnvEntry::parse(&entry.value).map_err(|m| (entry.referenced.line(), m)))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(limit) = &self.max_concurrent
            && limit.value == 0
        {
            return Err((
                limit.referenced.line(),
                "key `max_concurrent`: must be at least 1".into(),
            ));
        }
        Ok(ExecutorConfig {
            name: self.name.value,
            labels: self.labels,
            claude_path: self.claude_path,
            max_concurrent: self.max_concurrent.map(|m| m.value),
            env,
            allow_root: self.allow_root,
            keep_background: self.keep_background.is_some_and(|k| k.value),
            settings,
            builtin: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("c.yaml"))
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
            ExecutorSettings::Ssh(SshSettings {
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
    fn keep_background_is_for_local_and_ssh_executors() {
        let config = parse(
            "executors:\n  - name: a\n    type: local\n    keep_background: true\n  - name: b\n    type: local\n",
        )
        .unwrap();
        assert!(config.executor("a").unwrap().keep_background);
        assert!(!config.executor("b").unwrap().keep_background);
        let err = error_of(
            "executors:\n  - name: c\n    type: container\n    image: x\n    keep_background: true\n",
        );
        assert_eq!(
            err,
            "c.yaml: line 5: key `keep_background` is not valid for an executor of type container"
        );
    }

    #[test]
    fn env_allow_root_and_stall_settings() {
        let config = parse(
            "executors:\n  - name: a\n    type: local\n    allow_root: true\n    env: [ANTHROPIC_API_KEY, MODE=fast, EMPTY=]\ndefaults:\n  stall_timeout: 10m\n  kill_on_stall: true\n",
        )
        .unwrap();
        let a = config.executor("a").unwrap();
        assert!(a.allow_root);
        assert_eq!(
            a.env,
            [
                EnvEntry::Forward("ANTHROPIC_API_KEY".into()),
                EnvEntry::Fixed("MODE".into(), "fast".into()),
                EnvEntry::Fixed("EMPTY".into(), String::new()),
            ]
        );
        assert_eq!(config.defaults.stall_timeout.as_secs(), 600);
        assert!(config.defaults.kill_on_stall);
        let seconds = parse("defaults:\n  stall_timeout: 45\n").unwrap();
        assert_eq!(seconds.defaults.stall_timeout.as_secs(), 45);
        let err = error_of("defaults:\n  stall_timeout: soon\n");
        assert!(
            err.starts_with("c.yaml: line 2: key `stall_timeout`"),
            "{err}"
        );
        let err = error_of("executors:\n  - name: a\n    type: local\n    env: [\"BAD NAME\"]\n");
        assert!(err.starts_with("c.yaml: line 4: key `env`"), "{err}");
    }

    #[test]
    fn ssh_and_container_extras() {
        let config = parse(
            "executors:\n  - name: s\n    type: ssh\n    host: h\n    identity_file: /k\n    host_key_policy: accept-new\n    task_root: /var/tmp/oc/\n    ssh_options: [ConnectTimeout=5]\n  - name: c\n    type: container\n    image: i\n    runtime: podman\n    user: \"1000\"\n    network: none\n    run_args: [--memory, 1g]\n",
        )
        .unwrap();
        let ExecutorSettings::Ssh(ssh) = &config.executor("s").unwrap().settings else {
            panic!("not ssh");
        };
        assert_eq!(ssh.host_key_policy, HostKeyPolicy::AcceptNew);
        assert_eq!(ssh.task_root, "/var/tmp/oc");
        assert_eq!(ssh.ssh_options, ["ConnectTimeout=5"]);
        let ExecutorSettings::Container(c) = &config.executor("c").unwrap().settings else {
            panic!("not a container");
        };
        assert_eq!(c.runtime, ContainerRuntime::Podman);
        assert_eq!(c.user.as_deref(), Some("1000"));
        assert_eq!(c.run_args, ["--memory", "1g"]);
        let err =
            error_of("executors:\n  - name: s\n    type: ssh\n    host: h\n    task_root: rel\n");
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
}
