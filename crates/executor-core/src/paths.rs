//! Where configuration, task data and completion records live.

use std::path::{Path, PathBuf};

/// File name of the config below the config directory.
pub const CONFIG_FILE: &str = "openclaw/coding-agent.yaml";

#[derive(Debug, Clone)]
pub struct Paths {
    /// `$XDG_DATA_HOME/openclaw`: the task mirror and the index.
    pub data_dir: PathBuf,
    /// `~/.openclaw-agent/completions`: one JSON record per finished task.
    pub completions_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot find the home directory: HOME is not set")]
pub struct NoHome;

fn env_dir(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

fn home() -> Result<PathBuf, NoHome> {
    env_dir("HOME").ok_or(NoHome)
}

impl Paths {
    /// Resolves the paths from `HOME` and the XDG variables.
    pub fn from_env() -> Result<Self, NoHome> {
        let home = home()?;
        let data_home = env_dir("XDG_DATA_HOME").unwrap_or_else(|| home.join(".local/share"));
        Ok(Self::new(
            data_home.join("openclaw"),
            home.join(".openclaw-agent/completions"),
        ))
    }

    pub fn new(data_dir: PathBuf, completions_dir: PathBuf) -> Self {
        Self {
            data_dir,
            completions_dir,
        }
    }

    pub fn tasks_dir(&self) -> PathBuf {
        self.data_dir.join("tasks")
    }

    pub fn index_path(&self) -> PathBuf {
        self.data_dir.join("index.sqlite")
    }

    pub fn task_dir(&self, id: &crate::model::TaskId) -> PathBuf {
        self.tasks_dir().join(id.to_string())
    }

    pub fn completion_path(&self, id: &crate::model::TaskId) -> PathBuf {
        self.completions_dir.join(format!("{id}.json"))
    }
}

/// The config file to use, and whether the user named it explicitly (then it must exist).
pub fn config_path(explicit: Option<&Path>) -> Result<(PathBuf, bool), NoHome> {
    if let Some(path) = explicit {
        return Ok((path.to_owned(), true));
    }
    if let Some(path) = std::env::var_os("OPENCLAW_CONFIG").filter(|p| !p.is_empty()) {
        return Ok((PathBuf::from(path), true));
    }
    let config_home = match env_dir("XDG_CONFIG_HOME") {
        Some(dir) => dir,
        None => home()?.join(".config"),
    };
    Ok((config_home.join(CONFIG_FILE), false))
}
