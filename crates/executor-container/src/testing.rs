//! Executors for the unit tests, built from settings without an engine.

use crate::ContainerExecutor;
use crate::config::{ContainerRuntime, ContainerSettings};
use executor_core::{ExecutorConfig, Paths};

pub(crate) fn executor_with(settings: ContainerSettings) -> ContainerExecutor {
    let config = ExecutorConfig {
        name: "box".into(),
        labels: Vec::new(),
        claude_path: None,
        agent_paths: Default::default(),
        agent: None,
        agents: None,
        max_budget_usd: None,
        env: Vec::new(),
        max_concurrent: None,
        allow_root: false,
        keep_background: false,
        isolation: None,
        sync: false,
        settings: executor_core::ExecutorSettings::new(settings.clone()),
        builtin: false,
    };
    let paths = Paths::new("/data/openclaw".into(), "/data/completions".into());
    ContainerExecutor::new(config, settings, paths)
}

pub(crate) fn settings() -> ContainerSettings {
    ContainerSettings {
        image: "img:1".into(),
        runtime: ContainerRuntime::Docker,
        volumes: Vec::new(),
        workdir: None,
        user: None,
        network: None,
        run_args: Vec::new(),
        context: None,
    }
}
