//! The `type: container` section of the config: image, engine and run options.

use executor_core::config::{Named, Section, SectionError, Settings, Spanned};
use serde::Deserialize;

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

impl Settings for ContainerSettings {
    const TYPE: &'static str = "container";

    /// `runtime image`.
    fn target(&self) -> String {
        format!("{} {}", self.runtime.as_str(), self.image)
    }
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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContainerSection {
    image: Option<Spanned<String>>,
    runtime: Option<Spanned<ContainerRuntime>>,
    volumes: Option<Spanned<Vec<String>>>,
    workdir: Option<Spanned<String>>,
    /// The user inside the container (for ssh and slurm: the login user).
    user: Option<Spanned<String>>,
    network: Option<Spanned<String>>,
    run_args: Option<Spanned<Vec<String>>>,
    context: Option<Spanned<String>>,
}

impl Section for ContainerSection {
    type Settings = ContainerSettings;

    fn settings(self, executor: &Named<'_>) -> Result<ContainerSettings, SectionError> {
        let Some(image) = self.image else {
            return Err(executor.needs("image"));
        };
        Ok(ContainerSettings {
            image: image.value,
            runtime: self.runtime.map_or(ContainerRuntime::Docker, |s| s.value),
            volumes: self.volumes.map(|s| s.value).unwrap_or_default(),
            workdir: self.workdir.map(|s| s.value),
            user: self.user.map(|s| s.value),
            network: self.network.map(|s| s.value),
            run_args: self.run_args.map(|s| s.value).unwrap_or_default(),
            context: self.context.map(|s| s.value),
        })
    }
}
