//! The commented sample config that `config --init` writes.

use std::path::Path;

use super::error::ConfigError;

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
# Each executor is a place where tasks run. `type` is one of: ssh, container, slurm, local.
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
  # The agent `start` runs without --agent (claude, codex, gemini, opencode),
  # and the other agents' binaries (also per executor, with `agents: [...]`).
  # agent: claude
  # codex_path: codex
  # gemini_path: gemini
  # opencode_path: opencode
  # Agent tasks are ended `failed` once their cost passes this (USD).
  # max_budget_usd: 10
  # Every finished task is POSTed here as JSON (optional), signed with the secret.
  # webhook_url: https://example.com/webhook
  # webhook_secret: change-me
  # Tasks an executor runs at once (also per executor); more wait in a queue.
  # max_concurrent: 4
  # An agent silent this long is shown as stalled; kill_on_stall: true kills it.
  # stall_timeout: 10m
  # kill_on_stall: false

# USD per million tokens, over the built-in table that prices the CLIs that
# report no cost (Codex, Gemini CLI): docs/agents.md.
# prices:
#   gpt-5.5: {input: 1.25, output: 10, cache_read: 0.125}
"#;
