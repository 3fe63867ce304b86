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

pub const SAMPLE_CONFIG: &str = r#"# openclaw-agent configuration (YAML). Check it with `openclaw-agent config`,
# then probe every executor with `openclaw-agent executors --check`.
#
# An executor is a place where tasks run; `type` is one of: local, ssh, container, slurm.
# Tasks choose one by name (`run -e NAME`) or by labels (`run -l LABEL`): `labels` say
# what an executor is good for. A built-in executor named `local` exists even when
# this file defines none. To use an example below, remove the `# ` before its lines
# and replace the values in <angle brackets>.
executors:
  # This machine. Tasks run in --workspace (default: the current directory).
  - name: local
    type: local
    labels: [quick-tasks]

  # A machine reached over SSH, with the keys and ~/.ssh/config that `ssh` uses.
  # `claude` must be installed there; give its path when it is not on the PATH
  # of a non-interactive login.
  # - name: devbox
  #   type: ssh
  #   host: <host name, address, or a Host alias of ~/.ssh/config>
  #   user: <login name>          # optional: ssh's default user otherwise
  #   port: 22
  #   claude_path: claude         # e.g. the output of `which claude` on that host
  #   labels: [heavy-compute]

  # A Docker or Podman container, one per task, from an image that holds `claude`
  # (for agent tasks) and a POSIX sh. Mount the code it should work on.
  # - name: sandbox
  #   type: container
  #   image: <image with claude installed, e.g. my-claude-image:latest>
  #   runtime: docker             # or podman
  #   volumes: ["<directory on this machine>:/work"]
  #   workdir: /work
  #   labels: [isolated]

  # A Slurm cluster: one batch job per task, submitted with sbatch on this machine.
  # Add `host:` (and `user:`) to submit on a login node over SSH instead. The task
  # root must be a file system that the compute nodes share.
  # - name: cluster
  #   type: slurm
  #   partition: <partition>
  #   time_limit: "2:00:00"       # sbatch --time
  #   task_root: <shared directory, e.g. /shared/$USER/openclaw-tasks>
  #   labels: [gpu]

defaults:
  # Turn limit passed to the agent unless `start --max-turns` says otherwise.
  max_turns: 100
  # The claude binary, when an executor does not set `claude_path`.
  claude_path: claude
  # Every finished task is POSTed here as JSON (optional), signed with the secret.
  # webhook_url: https://example.com/webhook
  # webhook_secret: <a long random string>
  # Tasks an executor runs at once (also per executor); more wait in a queue.
  # max_concurrent: 4
  # An agent silent this long is shown as stalled; kill_on_stall: true kills it.
  # stall_timeout: 10m
  # kill_on_stall: false
"#;
