//! Starting a batch's runners through one small shell, the forker.
//!
//! A runner spawned by this process costs an exec of `/bin/sh` each, and the
//! spawn waits for it (on this VM an exec is ~0.45 ms of CPU, most of it the
//! dynamic loader). For a batch, one `/bin/sh` is spawned instead, in a
//! session of its own, and it forks a subshell per runner (a fork of `dash`
//! is a small fraction of an exec): each subshell parks at the gate, then
//! execs the task's runner. The forker prints each subshell's pid, which is
//! the runner's once it execs, and exits when all are forked.
//!
//! The runners of a batch share the forker's session, so a signal to this
//! process's group (Ctrl-C, a closed terminal) cannot reach them, and the
//! scheduler weighs them as one group (an autogroup per session) against the
//! user's shell: a thousand runners let go at once do not starve it.
//!
//! A task whose runner is not yet recorded is looked for as a process
//! running its runner script (`process::runs_script`): the forker's command
//! line names every runner of the batch, and a parked subshell has the same
//! one, so from the forker's spawn to the runner's exec some process names
//! the script. The task's dispatch lock (close-on-exec) is never the
//! forker's: the lock only covers the spawn, which returns once the forker
//! has exec'd.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::spawn::{Gate, Runner, pipe};

/// The forker: `$1` is the payload's umask, `$2` the runner's third
/// argument, then the runners' script paths (each in its task dir).
/// The subshell's log is opened as the runner's own redirections would (the
/// umask makes it private). Let go, a subshell writes its pid where the
/// runner will (`/proc/self` is the subshell's own, `$$` its parent's)
/// before it execs: while it execs it has no command line to be found by.
const FORKER: &str = r#"mask=$1 keep=$2
shift 2
umask 077
for runner do
    dir=${runner%/*}
    (
        read -r gate <&3
        exec 3<&-
        read -r pid rest </proc/self/stat
        echo "$pid" >"$dir/runner.pid"
        exec /bin/sh "$runner" "$dir" "$mask" "$keep"
    ) </dev/null >>"$dir/task.log" 2>&1 &
    echo "$!"
done
"#;

/// Runners per forker: their paths (~100 bytes each) are its arguments,
/// which the kernel bounds (a quarter of the stack limit, 2 MiB by default).
pub const RUNNERS_PER_FORKER: usize = 2000;

/// What became of each runner of a batch, in order.
pub enum Forked {
    /// Forked, parked at the gate.
    Pid(u32),
    /// The forker ended before saying; the runner may exist.
    Unknown,
}

/// Forks a parked runner for each of `runners` (script paths, in their task
/// dirs) through one forker holding `gate`'s read end, and returns what
/// became of each. An error means no forker ran: no runner was started.
pub fn fork_runners(
    runners: &[&Path],
    umask: &str,
    keep: &str,
    env: &[(String, String)],
    gate: &Gate,
) -> std::io::Result<Vec<Forked>> {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("-c"),
        OsStr::new(FORKER),
        OsStr::new("openclaw-agent-forker"),
        OsStr::new(umask),
        OsStr::new(keep),
    ];
    args.extend(runners.iter().map(|r| r.as_os_str()));
    let (read, write) = pipe()?;
    let forker = Runner::new(Path::new("/bin/sh"), args, Path::new("/"), None, env)?;
    let pid = forker.spawn_with_stdout(&write, gate)?;
    drop(write);
    let mut pids = BufReader::new(std::fs::File::from(read))
        .lines()
        .map_while(Result::ok)
        .map(|line| line.trim().parse::<u32>().ok());
    let forked = runners
        .iter()
        .map(|_| match pids.next().flatten() {
            Some(pid) => Forked::Pid(pid),
            None => Forked::Unknown,
        })
        .collect();
    drop(pids);
    // SAFETY: waitpid on this process's own child, which has exited or is
    // about to (its stdout reached its end, or it printed every pid).
    unsafe { libc::waitpid(pid as libc::pid_t, std::ptr::null_mut(), 0) };
    Ok(forked)
}
