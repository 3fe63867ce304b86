//! The `type: slurm` section of the config: one batch job per task, submitted here or on a login node
//! over SSH (the ssh keys then describe the login node).

use executor_core::config::{Named, RawDuration, Section, SectionError, Settings, Spanned};
use executor_remote::ssh::config::{HostKeyPolicy, SshSection, SshSettings};
use serde::Deserialize;

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

impl Settings for SlurmSettings {
    const TYPE: &'static str = "slurm";

    /// `slurm [via login] [partition p]`.
    fn target(&self) -> String {
        let partition = self
            .partition
            .as_deref()
            .map(|p| format!(" partition {p}"))
            .unwrap_or_default();
        match &self.login {
            Some(login) => format!("slurm via {}{partition}", login.host),
            None => format!("slurm{partition}"),
        }
    }
}

/// The Slurm keys plus [`SshSection`]'s (serde's `flatten` would lose their lines).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmSection {
    host: Option<Spanned<String>>,
    port: Option<Spanned<u16>>,
    user: Option<Spanned<String>>,
    identity_file: Option<Spanned<String>>,
    ssh_config: Option<Spanned<String>>,
    known_hosts_file: Option<Spanned<String>>,
    ssh_options: Option<Spanned<Vec<String>>>,
    task_root: Option<Spanned<String>>,
    host_key_policy: Option<Spanned<HostKeyPolicy>>,
    partition: Option<Spanned<String>>,
    account: Option<Spanned<String>>,
    qos: Option<Spanned<String>>,
    time_limit: Option<Spanned<RawDuration>>,
    cpus: Option<Spanned<u32>>,
    mem: Option<Spanned<String>>,
    gres: Option<Spanned<String>>,
    sbatch_args: Option<Spanned<Vec<String>>>,
}

impl Section for SlurmSection {
    type Settings = SlurmSettings;

    fn settings(self, _: &Named<'_>) -> Result<SlurmSettings, SectionError> {
        let login = SshSection {
            host: self.host,
            port: self.port,
            user: self.user,
            identity_file: self.identity_file,
            ssh_config: self.ssh_config,
            known_hosts_file: self.known_hosts_file,
            ssh_options: self.ssh_options,
            task_root: self.task_root,
            host_key_policy: self.host_key_policy,
        };
        let task_root = login.task_root()?;
        let login = login.connection(task_root.clone())?;
        let time_limit = self.time_limit.map(|raw| match raw.value {
            RawDuration::Seconds(minutes) => minutes.to_string(),
            RawDuration::Text(text) => text.trim().to_owned(),
        });
        Ok(SlurmSettings {
            login,
            task_root,
            partition: self.partition.map(|s| s.value),
            account: self.account.map(|s| s.value),
            qos: self.qos.map(|s| s.value),
            time_limit,
            cpus: self.cpus.map(|s| s.value),
            mem: self.mem.map(|s| s.value),
            gres: self.gres.map(|s| s.value),
            sbatch_args: self.sbatch_args.map(|s| s.value).unwrap_or_default(),
        })
    }
}
