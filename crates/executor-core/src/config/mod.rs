//! The YAML configuration: executors and defaults.
//!
//! An executor is a mapping of common keys ([`executor`]) plus the typed
//! settings section of its `type`. Core knows `local` (no keys); each other
//! backend crate defines its [`Section`] and [`Settings`], and the binary lists
//! them once with [`backends!`](crate::backends). The sections are deserialized
//! straight from the YAML parser, so every error names the key and its line;
//! [`yaml`] holds that plumbing and puts the parser's complaints into our words.

mod backend;
mod defaults;
mod error;
mod executor;
mod file;
mod sample;
mod values;
mod webhook;
mod yaml;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::model::{AgentKind, Prices};

pub use backend::{
    Backends, LocalOnly, Named, ReadSection, Section, SectionError, Settings, read_section,
    section_keys,
};
pub use defaults::{
    DEFAULT_CLAUDE_PATH, DEFAULT_MAX_TURNS, DEFAULT_STALL_TIMEOUT, Defaults, Isolation,
};
pub use defaults::{RawDuration, parse_duration_text};
pub use error::ConfigError;
pub use executor::{BUILTIN_LOCAL, ExecutorConfig, ExecutorSettings, ExecutorType};
pub use file::MAX_CONFIG_BYTES;
pub use sample::{SAMPLE_CONFIG, write_sample};
pub use serde::de::MapAccess;
pub use serde_saphyr::Spanned;
pub use values::{AgentPaths, EnvEntry};
pub use webhook::redact_url;

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub executors: Vec<ExecutorConfig>,
    pub defaults: Defaults,
    /// The built-in price table overlaid with the top-level `prices:` map.
    pub prices: Prices,
    /// The file this came from; `None` when no config file exists.
    pub source: Option<PathBuf>,
}

impl Config {
    /// The configuration a user has before writing any file.
    pub fn builtin() -> Self {
        Self {
            executors: vec![ExecutorConfig::builtin_local()],
            defaults: Defaults::default(),
            prices: Prices::default(),
            source: None,
        }
    }

    /// Loads `path`, whose executor types are `local` and those of `B`; when
    /// `required` is false a missing file yields the built-in config.
    pub fn load<B: Backends>(path: &Path, required: bool) -> Result<Self, ConfigError> {
        match file::read(path)? {
            Some(text) => Self::parse::<B>(&text, path),
            None if required => Err(ConfigError::Missing {
                path: path.to_owned(),
            }),
            None => Ok(Self::builtin()),
        }
    }

    pub fn parse<B: Backends>(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let invalid = |(line, message): (u64, String)| ConfigError::Invalid {
            path: path.to_owned(),
            line,
            message: error::one_line(&message),
        };
        let raw = yaml::parse::<B>(text).map_err(invalid)?;
        for (model, price) in &raw.prices {
            let numbers = [price.input, price.output]
                .into_iter()
                .chain(price.cache_read)
                .chain(price.cache_write);
            if numbers.clone().any(|n| !n.is_finite() || n < 0.0) {
                return Err(invalid((
                    1,
                    format!("key `prices`: the prices of `{model}` must be numbers of at least 0"),
                )));
            }
        }
        let prices = Prices { custom: raw.prices };

        let mut executors = Vec::with_capacity(raw.executors.len() + 1);
        let mut seen: HashMap<String, u64> = HashMap::new();
        for raw_executor in raw.executors {
            let (name, line) = raw_executor.name();
            if name.trim().is_empty() {
                return Err(invalid((line, "key `name`: executor name is empty".into())));
            }
            if let Some(why) = values::name_problem(name) {
                return Err(invalid((line, format!("key `name`: executor name {why}"))));
            }
            if let Some(first) = seen.insert(name.to_owned(), line) {
                return Err(invalid((
                    line,
                    format!(
                        "key `name`: duplicate executor name `{name}` (first defined on line {first})"
                    ),
                )));
            }
            executors.push(raw_executor.validate::<B>().map_err(invalid)?);
        }
        if !seen.contains_key(BUILTIN_LOCAL) {
            executors.push(ExecutorConfig::builtin_local());
        }
        let defaults = raw
            .defaults
            .unwrap_or_default()
            .validate()
            .map_err(invalid)?;

        Ok(Self {
            executors,
            defaults,
            prices,
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
    /// Whether tasks of `executor` get a worktree of their own unless told.
    pub fn isolation(&self, executor: &ExecutorConfig) -> Isolation {
        executor.isolation.unwrap_or(self.defaults.isolation)
    }

    pub fn claude_path<'a>(&'a self, executor: &'a ExecutorConfig) -> &'a str {
        self.agent_path(executor, AgentKind::Claude)
    }

    /// Whether `executor` has `agent` (an executor without `agents:` has all).
    pub fn has_agent(&self, executor: &ExecutorConfig, agent: AgentKind) -> bool {
        executor.agents.as_ref().is_none_or(|a| a.contains(&agent))
    }

    /// The binary of `agent` on `executor` (`claude_path`, `codex_path`, ...).
    pub fn agent_path<'a>(&'a self, executor: &'a ExecutorConfig, agent: AgentKind) -> &'a str {
        if agent == AgentKind::Claude {
            return executor
                .claude_path
                .as_deref()
                .unwrap_or(&self.defaults.claude_path);
        }
        executor
            .agent_paths
            .get(agent)
            .or_else(|| self.defaults.agent_paths.get(agent))
            .unwrap_or(agent.as_str())
    }

    /// The agent a task on `executor` runs when `start` names none.
    pub fn agent_of(&self, executor: &ExecutorConfig) -> AgentKind {
        executor.agent.unwrap_or(self.defaults.agent)
    }

    /// The budget of a task on `executor` that sets none itself.
    pub fn budget_of(&self, executor: &ExecutorConfig) -> Option<f64> {
        executor.max_budget_usd.or(self.defaults.max_budget_usd)
    }
}
