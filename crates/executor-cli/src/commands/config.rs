//! `config`: check the configuration or write a sample.

use std::io::Write;
use std::path::Path;

use executor_core::Config;
use executor_core::config::write_sample;

use crate::cli::{ConfigAction, ConfigArgs};
use crate::exit::{CliError, code};

pub fn config(explicit: Option<&Path>, args: ConfigArgs) -> Result<u8, CliError> {
    let (path, required) = executor_core::paths::config_path(explicit)?;
    let mut out = std::io::stdout().lock();
    if args.init {
        write_sample(&path, args.force)?;
        writeln!(out, "wrote a sample config to {}", path.display())?;
        return Ok(code::OK);
    }
    match args.action.unwrap_or(ConfigAction::Check) {
        ConfigAction::Path => writeln!(out, "{}", path.display())?,
        ConfigAction::Check => {
            let config = Config::load::<crate::app::AllBackends>(&path, required)?;
            match &config.source {
                Some(source) => writeln!(out, "{}: ok", source.display())?,
                None => writeln!(
                    out,
                    "no config file at {}; using the built-in `local` executor (create one with `config --init`)",
                    path.display()
                )?,
            }
            writeln!(out, "executors: {}", config.executors.len())?;
            for e in &config.executors {
                let labels = if e.labels.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", e.labels.join(", "))
                };
                let builtin = if e.builtin { " (built-in)" } else { "" };
                writeln!(
                    out,
                    "  {} ({}): {}{labels}{builtin}",
                    e.name,
                    e.executor_type(),
                    e.target()
                )?;
            }
            let d = &config.defaults;
            writeln!(
                out,
                "defaults: max_turns {}, claude_path {}, webhook {}",
                d.max_turns,
                d.claude_path,
                d.webhook_url
                    .as_deref()
                    .map_or_else(|| "none".to_owned(), executor_core::config::redact_url)
            )?;
        }
    }
    Ok(code::OK)
}
