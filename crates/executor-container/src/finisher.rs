//! The commit of a container task's worktree, made on this machine without a
//! CLI: the worktree's `.git` names the repository here, which the container
//! cannot reach (and the image may have no git), so a detached watcher started
//! with the container waits for it to end (`docker wait` / `podman wait`) and
//! then commits what the task left and records `result.json` and
//! `result.patch`, whatever the exit, also after a `kill`. It holds the same
//! lock as the CLI's late commit ([`HOST_FINISH_SCRIPT`]), which stays as the
//! fallback for a watcher that could not run (engine unreachable, machine
//! rebooted).

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::config::ContainerRuntime;
use crate::engine::Engine;
use executor_core::worktree::HOST_FINISH_SCRIPT;

/// Arguments: the task dir, then the engine's `wait` command line. A wait
/// that fails (engine unreachable, container gone) commits nothing: only a
/// container known to have ended may be committed.
fn script() -> String {
    format!(
        "dir=$1\nshift\n\"$@\" >/dev/null 2>&1 || exit 0\nset -- \"$dir\"\n{HOST_FINISH_SCRIPT}"
    )
}

/// Starts the watcher for the container `name` of the task at `dir`, in a
/// session of its own so that it outlives this process and a Ctrl-C of it.
pub fn spawn(engine: &Engine, name: &str, dir: &Path) -> std::io::Result<()> {
    let mut command = Command::new("/bin/sh");
    command.arg("-c").arg(script()).arg("sh").arg(dir);
    command.arg(engine.program());
    if let (ContainerRuntime::Docker, Some(context)) = (engine.runtime, &engine.context) {
        command.arg("--context").arg(context);
    }
    command
        .arg("wait")
        .arg(name)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // Never waited on: it ends with the container.
    drop(command.spawn()?);
    Ok(())
}
