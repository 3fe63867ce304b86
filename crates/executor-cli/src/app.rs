//! Shared set-up for commands: configuration, the store, the executors, and the
//! background webhook deliverer.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use executor_core::{
    Config, ExecutorConfig, ExecutorFactory, Paths, ReconcileReport, Store, TaskError, TaskManager,
    error_chain,
};
use executor_local::LocalExecutor;

use crate::exit::CliError;

#[derive(Clone)]
pub struct App {
    pub config: Config,
    pub config_path: PathBuf,
    pub paths: Paths,
}

impl App {
    pub fn load(explicit_config: Option<&Path>) -> Result<Self, CliError> {
        let (config_path, required) = executor_core::paths::config_path(explicit_config)?;
        let config = Config::load::<AllBackends>(&config_path, required)?;
        Ok(Self {
            config,
            config_path,
            paths: Paths::from_env()?,
        })
    }

    /// Opens (creating it `0600`) the lock file `name` in the data dir. Callers
    /// take the lock with `File::try_lock`: it is released when its holder dies.
    pub fn lock_file(&self, name: &str) -> Result<std::fs::File, CliError> {
        let path = self.paths.data_dir.join(name);
        executor_core::fsutil::open_private_file(&path).map_err(|err| {
            CliError::new(
                crate::exit::code::STORE,
                format!("cannot open {}: {err}", path.display()),
            )
        })
    }

    /// The configured executor `name`, or the error that lists the known ones.
    pub fn executor_config(&self, name: &str) -> Result<&ExecutorConfig, CliError> {
        self.config
            .executor(name)
            .ok_or_else(|| TaskError::unknown_executor(&self.config, name).into())
    }

    pub fn manager(&self) -> Result<TaskManager, CliError> {
        let manager = self.manager_with(Store::open(&self.paths)?);
        if manager.index_lost() {
            eprintln!(
                "warning: the task index {} is empty but {} holds task directories; \
                 run `openclaw-agent reindex` to rebuild it",
                self.paths.index_path().display(),
                self.paths.tasks_dir().display()
            );
        }
        Ok(manager)
    }

    /// A manager over a store opened by the caller.
    pub fn manager_with(&self, store: Store) -> TaskManager {
        TaskManager::new(
            store,
            self.config.clone(),
            executor_factory(&self.config.defaults.claude_path),
        )
    }

    /// Reports what a reconciliation could not reach and starts webhook delivery
    /// for tasks that just ended.
    pub fn settle(&self, manager: &TaskManager, report: &ReconcileReport) {
        for err in &report.unreachable {
            // A host's own words may hold control characters.
            eprintln!("warning: {}", crate::terminal::safe(&error_chain(err)));
        }
        if self.config.defaults.webhook_url.is_none() {
            return;
        }
        let pending =
            !report.finished.is_empty() || manager.store().has_pending_webhooks().unwrap_or(false);
        if pending && let Err(err) = spawn_deliverer(&self.config_path) {
            eprintln!("warning: cannot start webhook delivery: {err}");
        }
    }
}

/// Starts `deliver-webhooks` detached, so the caller goes on at once while
/// delivery (with its retries) goes on.
pub fn spawn_deliverer(config_path: &Path) -> std::io::Result<()> {
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg("--config")
        .arg(config_path)
        .arg("deliver-webhooks")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    use std::os::unix::process::CommandExt;
    command.process_group(0);
    command.spawn().map(drop)
}

// The backends besides `local`, for the config and the executor factory. A new
// backend is its crate plus one entry here.
executor_core::backends!(
    pub AllBackends: executor_ssh::Ssh,
    executor_container::Container,
    executor_slurm::Slurm,
);

/// Builds executors; `claude_default` is `defaults.claude_path`.
pub fn executor_factory(claude_default: &str) -> ExecutorFactory {
    let claude_default = claude_default.to_owned();
    Box::new(move |config: &ExecutorConfig, paths: &Paths| {
        match AllBackends::executor(config, paths, &claude_default) {
            Some(built) => built,
            None if config.settings.is_local() => {
                Ok(Box::new(LocalExecutor::new(config.clone(), paths.clone())))
            }
            None => Err(executor_core::ExecutorError::failed(
                &config.name,
                format!("no backend for type {}", config.executor_type()),
            )),
        }
    })
}
