//! The `type: ssh` section of the config: the host and how to reach it.

use executor_core::config::{Named, Section, SectionError, Settings, Spanned};
use serde::Deserialize;

/// Default remote task root (`task_root`).
pub const DEFAULT_REMOTE_TASK_ROOT: &str = "/tmp/openclaw-tasks";

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

impl Settings for SshSettings {
    const TYPE: &'static str = "ssh";

    fn keeps_background_jobs(&self) -> bool {
        true
    }

    /// `user@host:port`, as far as they are set.
    fn target(&self) -> String {
        let user = self
            .user
            .as_deref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        match self.port {
            Some(port) => format!("{user}{}:{port}", self.host),
            None => format!("{user}{}", self.host),
        }
    }
}

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

/// The connection keys, shared with Slurm's login node.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshSection {
    pub host: Option<Spanned<String>>,
    pub port: Option<Spanned<u16>>,
    pub user: Option<Spanned<String>>,
    pub identity_file: Option<Spanned<String>>,
    pub ssh_config: Option<Spanned<String>>,
    pub known_hosts_file: Option<Spanned<String>>,
    pub ssh_options: Option<Spanned<Vec<String>>>,
    pub task_root: Option<Spanned<String>>,
    pub host_key_policy: Option<Spanned<HostKeyPolicy>>,
}

impl SshSection {
    /// The task root as given, checked and without trailing slashes (`None`: not set).
    pub fn task_root(&self) -> Result<Option<String>, SectionError> {
        let Some(root) = &self.task_root else {
            return Ok(None);
        };
        if !root.value.starts_with('/') {
            return Err((
                root.referenced.line(),
                "key `task_root`: must be an absolute path".into(),
            ));
        }
        let root = root.value.trim_end_matches('/');
        Ok((!root.is_empty()).then(|| root.to_owned()))
    }

    /// The connection, or `None` when no `host` is set.
    pub fn connection(
        self,
        task_root: Option<String>,
    ) -> Result<Option<SshSettings>, SectionError> {
        let Some(host) = self.host else {
            return Ok(None);
        };
        if host.value.trim().is_empty() {
            return Err((host.referenced.line(), "key `host`: empty host".into()));
        }
        Ok(Some(SshSettings {
            host: host.value,
            port: self.port.map(|s| s.value),
            user: self.user.map(|s| s.value),
            identity_file: self.identity_file.map(|s| s.value),
            ssh_config: self.ssh_config.map(|s| s.value),
            known_hosts_file: self.known_hosts_file.map(|s| s.value),
            ssh_options: self.ssh_options.map(|s| s.value).unwrap_or_default(),
            task_root: task_root.unwrap_or_else(|| DEFAULT_REMOTE_TASK_ROOT.to_owned()),
            host_key_policy: self.host_key_policy.map(|s| s.value).unwrap_or_default(),
        }))
    }
}

impl Section for SshSection {
    type Settings = SshSettings;

    fn settings(self, executor: &Named<'_>) -> Result<SshSettings, SectionError> {
        let task_root = self.task_root()?;
        self.connection(task_root)?
            .ok_or_else(|| executor.needs("host"))
    }
}
