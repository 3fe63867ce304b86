//! The task-dir protocol in POSIX sh: the scripts that create a task dir on a
//! host, start the core task runner in it detached, observe, kill, read and
//! remove it, and the fragments that other protocols on the same task dir
//! (Slurm's) are built from. Scripts travel on stdin to `sh -s`, so nothing of a
//! task (prompt, command, secrets) is ever in argv.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use executor_core::executor::LOG_READ_CHUNK;
use executor_core::runner::{self, sh_quote};

/// Marks the line that reports a started runner.
pub const LAUNCHED: &str = "OPENCLAW_LAUNCHED";
/// Prefix of the one-line errors the scripts print.
pub const ERROR_PREFIX: &str = "openclaw-agent: ";

/// Prints `boot_id:start_ticks` of process `$1`: its identity across pid reuse.
const IDENTITY_FN: &str = r#"identity() {
    printf '%s:%s' "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)" \
        "$(awk '{print $22}' "/proc/$1/stat" 2>/dev/null)"
}
"#;

/// `fail <message>`: the one-line error (see [`ERROR_PREFIX`]), exit status 3.
pub const FAIL_FN: &str = r#"fail() { echo "openclaw-agent: $*" >&2; exit 3; }
"#;

/// Shell functions that read the runner's records with builtins only.
pub const READ_FNS: &str = r#"# first line of a file into $v (empty when missing)
readf() { v=; [ -r "$1" ] && { IFS= read -r v <"$1" || true; }; }
# a pid file's line, only once it is whole (the runner writes them in place)
readpid() { v=; [ -r "$1" ] && { IFS= read -r v <"$1" || v=; }; }
"#;

/// Makes `$dir` under `$root`, refusing a task root that is a symbolic link or
/// belongs to someone else, and makes the root private. Needs `fail`; `place`
/// ends the creation error (`""`, or ` on the login node …`).
pub fn make_task_dir(place: &str) -> String {
    format!(
        "{}out=$(mkdir -p \"$dir\" 2>&1) || fail \"cannot create task directory $dir: $out\"\n",
        check_task_root(place)
    )
}

/// The checks of [`make_task_dir`] on `$root` alone (which it makes).
pub fn check_task_root(place: &str) -> String {
    format!(
        r#"[ -L "$root" ] && fail "task root $root is a symbolic link; refusing to use it"
mkdir -p "$root" 2>/dev/null || fail "cannot create task root $root{place}"
[ -L "$root" ] && fail "task root $root is a symbolic link; refusing to use it"
[ -d "$root" ] || fail "task root $root is not a directory"
owner=$(ls -ldn "$root" | awk '{{print $3}}')
[ "$owner" = "$(id -u)" ] || fail "task root $root is owned by uid $owner, not by $(id -un); refusing to use it"
chmod 700 "$root" || fail "cannot make task root $root private"
"#
    )
}

/// Fails unless `base64` (which [`put_file`] needs) is installed; `place` ends
/// the message (` on the host`, or `""`).
pub fn need_base64(s: &mut String, place: &str) {
    s.push_str(&format!(
        "command -v base64 >/dev/null 2>&1 || fail \"base64 is not installed{place} (coreutils)\"\n"
    ));
}

/// Defines `put <name>`, which writes the base64 on its stdin to
/// `$dir/<name>` (any bytes arrive intact); `on_error` runs when that fails,
/// with base64's complaint in `$out`.
pub fn put_fn(on_error: &str) -> String {
    format!("put() {{ out=$(base64 -d 2>&1 >\"$dir/$1\") || {{ {on_error}; }}; }}\n")
}

/// Writes `contents` to `$dir/<name>` with `put` (see [`put_fn`]).
pub fn put_file(s: &mut String, name: &str, contents: &[u8]) {
    put_base64(s, &format!("put '{name}'"), contents);
}

/// `command` with the base64 of `contents` on its stdin (a here-document).
pub fn put_base64(s: &mut String, command: &str, contents: &[u8]) {
    s.push_str(&format!("{command} <<'OPENCLAW_B64'\n"));
    let encoded = BASE64.encode(contents);
    for chunk in encoded.as_bytes().chunks(76) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str("OPENCLAW_B64\n");
}

/// Exports the task's environment for what the script starts next: secrets
/// reach the task through the environment, never argv or a file.
pub fn export_env(s: &mut String, env: &[(String, String)]) {
    for (name, value) in env {
        s.push_str(&format!("export {name}={}\n", sh_quote(value)));
    }
}

/// Writes the kill marker (one line: `reason`) into `$d`, atomically: a runner
/// that has not started the payload yet sees it and never does.
pub fn write_kill_marker(reason: &str) -> String {
    format!(
        "printf '%s\\n' {reason} > \"$d/{kill}.tmp\" && mv -f \"$d/{kill}.tmp\" \"$d/{kill}\"",
        reason = sh_quote(&reason.replace('\n', " ")),
        kill = runner::KILL_MARKER,
    )
}

/// A record line `delta <base64>`: at most one chunk of `$d/task.log` from `$off`.
pub fn log_delta_line() -> String {
    format!(
        "delta $(tail -c +$((off + 1)) \"$d/{log}\" | head -c {chunk} | base64 | tr -d '\\n')",
        log = runner::LOG_FILE,
        chunk = LOG_READ_CHUNK,
    )
}

/// One task to observe: its id, what is known of it, and the log offset to send from.
pub struct Probe {
    pub id: String,
    pub runner_pid: Option<u32>,
    /// The payload's pid once known: `task.pid` need not be read again.
    pub payload_pid: Option<u32>,
    pub log_offset: Option<u64>,
}

/// Reports, for every task, whether its runner lives and the runner's records,
/// in one round trip. Per task the script uses shell builtins only (a fork
/// costs about a millisecond, and a host-wide refresh would pay it per task),
/// collects its report in a variable written out every 4 KiB (not a write per
/// line; not one write for all either: the shell copies a variable byte by
/// byte on every append, so a report of a thousand tasks built whole costs
/// the square of its size), and one
/// `stat` covers the logs of every agent task (their size and age feed the
/// agent's stats; a shell task needs neither) and the exit records found (their
/// mtime is when the task ended).
///
/// A runner is alive when `/proc/<pid>/fd/1` is this task's `task.log` (the
/// runner's stdout): a test of two inodes that a process reusing the pid
/// fails, and that needs no read of `/proc/<pid>/stat`. Without `/proc` on the
/// host, a runner that answers `kill -0` counts as alive.
pub fn observe(task_root: &str, probes: &[Probe]) -> String {
    let mut s = format!("root={}\n", sh_quote(task_root));
    s.push_str(READ_FNS);
    s.push_str(&format!(
        r#"stats=; o=
proc=; [ -d /proc/self/fd ] && proc=1
say() {{ o="$o$1
"; }}
flush() {{ [ ${{#o}} -lt 4096 ] || {{ printf '%s' "$o"; o=; }}; }}
# What most rounds ask of most tasks: the runner and payload are known, no log
# is wanted, and the runner lives (else the whole probe).
live() {{
    if [ -n "$proc" ] && [ "$root/$1/{log}" -ef "/proc/$2/fd/1" ]; then
        o="$o@@ $1
pid $3
alive
"
        flush
    else
        probe "$1" "$2" "$3" ''
    fi
}}
probe() {{
    d="$root/$1"; rp=$2; pp=$3; off=$4
    say "@@ $1"
    if [ -z "$rp" ]; then
        readpid "$d/{runner_pid}"; rp=$v
        [ -e "$d/{runner_pid}" ] && say started
    fi
    alive=
    if [ -n "$rp" ]; then
        if [ -n "$proc" ]; then
            [ "$d/{log}" -ef "/proc/$rp/fd/1" ] && alive=1
        else
            kill -0 "$rp" 2>/dev/null && alive=1
        fi
    fi
    if [ -z "$pp" ]; then readpid "$d/{pid}"; pp=$v; fi
    [ -n "$pp" ] && say "pid $pp"
    # A live runner has not ended the task (an exit it is writing right now
    # is seen next time): its records need no look.
    if [ -n "$alive" ]; then
        say alive
    elif [ ! -d "$d" ]; then
        # Rebooted with the task root on a tmpfs, or the root wiped.
        say gone
    else
        # Its mtime is when the payload ended.
        if [ -e "$d/{exit}" ]; then readf "$d/{exit}"; say "exit $v"; stats="$stats $1/{exit}"; fi
        if [ -e "$d/{kill}" ]; then readf "$d/{kill}"; say "kill $v"; fi
        # No exit record because there was no room for it: a full disk ended
        # the task (its log filled it, or something else did).
        if [ ! -s "$d/{exit}" ] && [ "$(df -P "$d" 2>/dev/null | awk 'NR == 2 {{print $4}}')" = 0 ]; then
            say full
        fi
    fi
    if [ -n "$off" ] && [ -e "$d/{log}" ]; then
        stats="$stats $1/{log}"
        say "{delta}"
        if [ -e "$d/{usage}" ]; then readf "$d/{usage}"; say "usage $v"; fi
    fi
    flush
}}
"#,
        runner_pid = runner::RUNNER_PID_FILE,
        pid = runner::PID_FILE,
        exit = runner::EXIT_FILE,
        kill = runner::KILL_MARKER,
        log = runner::LOG_FILE,
        delta = log_delta_line(),
        usage = runner::AGENT_USAGE_FILE,
    ));
    let number = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
    for probe in probes {
        if let (Some(runner), Some(payload), None) =
            (probe.runner_pid, probe.payload_pid, probe.log_offset)
        {
            s.push_str(&format!(
                "live {} {runner} {payload}\n",
                sh_quote(&probe.id)
            ));
            continue;
        }
        s.push_str(&format!(
            "probe {} '{}' '{}' '{}'\n",
            sh_quote(&probe.id),
            number(probe.runner_pid),
            number(probe.payload_pid),
            probe.log_offset.map(|o| o.to_string()).unwrap_or_default(),
        ));
    }
    // Task ids are hex and hyphens: the paths in $stats are safe unquoted.
    // The host's own "now" goes with its mtimes, so a host whose clock is off
    // can be corrected for (one `date`, only when there is something to stat).
    s.push_str(
        "printf '%s' \"$o\"\n\
         [ -n \"$stats\" ] && cd \"$root\" 2>/dev/null && { echo \"N $(date +%s)\"; stat -c 'L %s %Y %n' $stats 2>/dev/null; }\n\
         exit 0\n",
    );
    s
}

/// Finds a task's runner and payload group on the host: `$rp` (empty once the
/// runner is gone or its pid was reused, when its identity `$rs` is known),
/// `$pg` and `$since`, the start time (clock ticks) no member of the group can
/// predate: a group id reused after the task's group emptied is not the task's.
/// Needs `$d`, `$rp`, `$rs` and `identity`.
const FIND_TASK: &str = r#"[ -z "$rp" ] && [ -r "$d/runner.pid" ] && rp=$(cat "$d/runner.pid")
pg=$(cat "$d/task.pid" 2>/dev/null)
since=0
# A zombie runner has ended (where nothing reaps orphans, it stays one).
case "$(awk '{print $3}' "/proc/$rp/stat" 2>/dev/null)" in Z | X) rp= ;; esac
if [ -n "$rs" ]; then
    [ -n "$rp" ] && [ "$(identity "$rp")" != "$rs" ] && rp=
    case "$rs" in
        "$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)":*) since=${rs##*:} ;;
        # Recorded before the host rebooted: nothing of the task can run now.
        *) pg= ;;
    esac
fi
# Processes of the payload's group (it leads its own session), one a line.
group_members() {
    [ -n "$pg" ] || return 0
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v group="$pg" -v since="$since" '
        $5 == group && $6 == group && $22 + 0 >= since + 0 && $3 != "Z" { print $1 }'
}
"#;

/// The start of a script that looks at a task's processes: its dir (`d`), its
/// runner's pid and identity (`rp`, `rs`), and the functions that find them.
pub(crate) fn task_processes_prelude(
    task_dir: &str,
    runner_pid: Option<u32>,
    runner_start: Option<&str>,
) -> String {
    let mut s = format!(
        "d={dir}; rp='{rp}'; rs={rs}\n",
        dir = sh_quote(task_dir),
        rp = runner_pid.map(|p| p.to_string()).unwrap_or_default(),
        rs = sh_quote(runner_start.unwrap_or_default()),
    );
    s.push_str(IDENTITY_FN);
    s.push_str(FIND_TASK);
    s
}

/// Prints `live` when the task's runner or a process of its payload's group
/// still runs on the host, `none` otherwise.
pub fn live(task_dir: &str, runner_pid: Option<u32>, runner_start: Option<&str>) -> String {
    let mut s = task_processes_prelude(task_dir, runner_pid, runner_start);
    s.push_str(&format!(
        r#"# A runner that has written exit.json has nothing left to do but exit.
if [ -n "$rp" ] && [ ! -e "$d/{exit}" ] && {{ [ -n "$rs" ] || [ "$d/{log}" -ef "/proc/$rp/fd/1" ]; }}; then echo live
elif [ -n "$(group_members)" ]; then echo live
else echo none
fi
exit 0
"#,
        log = runner::LOG_FILE,
        exit = runner::EXIT_FILE,
    ));
    s
}

/// Marks the task killed, then ends its process tree: SIGTERM, grace, SIGKILL.
/// Works on a task that has ended too: whatever of it still runs ends.
pub fn kill(
    task_dir: &str,
    runner_pid: Option<u32>,
    runner_start: Option<&str>,
    grace_secs: u64,
    reason: &str,
) -> String {
    let mut s = task_processes_prelude(task_dir, runner_pid, runner_start);
    s.push_str(&format!(
        r#"[ -d "$d" ] && {marker}
i=0
while [ -z "$pg" ] && [ -n "$rp" ] && kill -0 "$rp" 2>/dev/null && [ $i -lt 20 ]; do
    sleep 0.1; i=$((i + 1)); pg=$(cat "$d/{pid}" 2>/dev/null)
done
# The tree: descendants of the runner (by parentage) and the payload's group.
# cat, not awk, opens the files: mawk gives up on one that vanished meanwhile.
targets() {{
    cat /proc/[0-9]*/stat 2>/dev/null | awk -v root="$rp" -v group="$pg" -v since="$since" '
        {{ parent[$1] = $4; grp[$1] = $5; sess[$1] = $6; start[$1] = $22 }}
        END {{
            for (p in parent) {{
                if (p == root) continue
                if (group != "" && grp[p] == group && sess[p] == group && start[p] + 0 >= since + 0) {{ print p; continue }}
                q = parent[p]
                while (q > 1 && root != "") {{ if (q == root) {{ print p; break }} q = parent[q] }}
            }}
        }}'
}}
# Every process ever seen in the tree stays a target: one whose parent died
# first is reparented away from the runner but must still end.
seen=""
collect() {{
    new=""
    for p in $(targets); do
        case " $seen " in *" $p "*) ;; *) seen="$seen $p"; new="$new $p" ;; esac
    done
}}
# The state field follows the command's closing parenthesis; read with
# builtins, as many kills may poll at once.
alive() {{
    for p in $seen; do
        line=
        IFS= read -r line 2>/dev/null <"/proc/$p/stat" || [ -n "$line" ] || continue
        st=${{line##*) }}
        st=${{st%% *}}
        [ -n "$st" ] && [ "$st" != Z ] && echo "$p"
    done
}}
collect
[ -n "$pg" ] && [ -n "$seen" ] && kill -TERM "-$pg" 2>/dev/null
for p in $seen; do kill -s TERM "$p" 2>/dev/null; done
i=0
while [ -n "$(alive)" ] && [ $i -lt {ticks} ]; do
    sleep 0.1
    i=$((i + 1))
    collect
    for p in $new; do kill -s TERM "$p" 2>/dev/null; done
done
collect
[ -n "$pg" ] && [ -n "$(alive)" ] && kill -KILL "-$pg" 2>/dev/null
for p in $(alive); do kill -s KILL "$p" 2>/dev/null; done
i=0
while [ -n "$(alive)" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
exit 0
"#,
        marker = write_kill_marker(reason),
        pid = runner::PID_FILE,
        ticks = grace_secs * 10,
    ));
    s
}

/// Prints the log's size on the first line, then the bytes of the window
/// `[size - window, size)`, so following can start exactly where this ends.
pub fn log_window(task_dir: &str, window: u64) -> String {
    format!(
        r#"f={dir}/{log}
size=$(stat -c %s "$f" 2>/dev/null || echo 0)
echo "$size"
start=$((size > {window} ? size - {window} : 0))
[ "$size" -gt 0 ] && tail -c +$((start + 1)) "$f" | head -c $((size - start))
exit 0
"#,
        dir = sh_quote(task_dir),
        log = runner::LOG_FILE,
    )
}

/// The log's bytes from `offset`, at most one chunk.
pub fn read_log(task_dir: &str, offset: u64) -> String {
    format!(
        "f={dir}/{log}\n[ -e \"$f\" ] && tail -c +{start} \"$f\" | head -c {chunk}\nexit 0\n",
        dir = sh_quote(task_dir),
        log = runner::LOG_FILE,
        start = offset + 1,
        chunk = LOG_READ_CHUNK,
    )
}

pub fn remove(task_dir: &str) -> String {
    format!("rm -rf -- {}\n", sh_quote(task_dir))
}

/// Prints an agent's transcript, at `home_relative` below the remote user's home.
pub fn transcript(home_relative: &str) -> String {
    format!(
        "f=\"$HOME/\"{}\n[ -r \"$f\" ] || {{ echo \"openclaw-agent: no transcript at $f\" >&2; exit 3; }}\ncat \"$f\"\n",
        sh_quote(home_relative)
    )
}

/// Reports the version of each of `programs`: a line `A<i> <version>`, or
/// `A<i>` alone when it is not found.
pub fn agent_versions(programs: &[&str]) -> String {
    programs
        .iter()
        .enumerate()
        .map(|(i, program)| {
            format!(
                "c={c}\nif command -v \"$c\" >/dev/null 2>&1; then echo \"A{i} $(\"$c\" --version </dev/null 2>/dev/null | head -n 1)\"; else echo A{i}; fi\n",
                c = sh_quote(program)
            )
        })
        .collect()
}

/// The versions [`agent_versions`] reported for `count` programs.
pub fn parse_agent_versions(text: &str, count: usize) -> Vec<Option<String>> {
    (0..count)
        .map(|i| {
            let tag = format!("A{i}");
            text.lines()
                .find_map(|l| {
                    let rest = l.strip_prefix(&tag)?;
                    (rest.is_empty() || rest.starts_with(' ')).then(|| rest.trim().to_owned())
                })
                .filter(|v| !v.is_empty())
        })
        .collect()
}
