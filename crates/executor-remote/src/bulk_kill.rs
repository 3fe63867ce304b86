//! The bulk `kill` script: every task of one host in one script, with one
//! grace period and one read of the process table per tick for all of them.
//!
//! A subshell per task running the one-task kill (as it once was) read the
//! whole process table with `cat | awk` every tick, per task: 50 tasks on a
//! host with a few thousand processes meant 500 table scans a second, and a
//! 1 s grace stretched to tens of seconds. Here each task's facts are read
//! with shell builtins, and one `awk` per tick finds the processes of every
//! task at once. It means what the one-task script means, task by task.

use executor_core::runner::{self, sh_quote};

use crate::scripts::write_kill_marker;

/// A task as the process scripts need it.
pub struct TaskProcs<'a> {
    pub dir: String,
    pub runner_pid: Option<u32>,
    pub runner_start: Option<&'a str>,
}

/// `pstate <pid>`: the process's state letter in `$st` and start time (clock
/// ticks since boot) in `$start`, read with builtins; fails when it is gone.
/// The fields after the command's closing parenthesis start at the state.
const PSTATE_FN: &str = r#"pstate() {
    st=; start=; line=
    IFS= read -r line 2>/dev/null <"/proc/$1/stat" || [ -n "$line" ] || return 1
    set -- ${line##*) }
    st=$1; start=${20}
    [ -n "$st" ]
}
readpid() { v=; [ -r "$1" ] && { IFS= read -r v <"$1" || v=; }; }
boot=; IFS= read -r boot 2>/dev/null </proc/sys/kernel/random/boot_id || boot=
"#;

/// `task <dir> <runner pid> <runner identity>`, once per task: finds its
/// runner (`rp_N`, empty once gone or its pid reused), its payload's group
/// (`pg_N`) and the start time no member of that group can predate
/// (`since_N`), and marks it killed.
fn task_fn(reason: &str) -> String {
    format!(
        r#"n=0
task() {{
    d=$1; rp=$2; rs=$3
    [ -z "$rp" ] && {{ readpid "$d/{runner_pid}"; rp=$v; }}
    readpid "$d/{pid}"; pg=$v
    since=0
    # A zombie runner has ended (where nothing reaps orphans, it stays one).
    if [ -n "$rp" ]; then
        pstate "$rp" || rp=
        case "$st" in Z | X) rp= ;; esac
    fi
    if [ -n "$rs" ]; then
        [ -n "$rp" ] && [ "$boot:$start" != "$rs" ] && rp=
        case "$rs" in
            "$boot":*) since=${{rs##*:}} ;;
            # Recorded before the host rebooted: nothing of the task can run now.
            *) pg= ;;
        esac
    fi
    [ -d "$d" ] && {marker}
    n=$((n + 1))
    eval "d_$n=\$d rp_$n=\$rp pg_$n=\$pg since_$n=\$since"
}}
"#,
        runner_pid = runner::RUNNER_PID_FILE,
        pid = runner::PID_FILE,
        marker = write_kill_marker(reason),
    )
}

/// After every task was read: waits (2 s at most) for the payload groups of
/// runners that have not recorded theirs yet, then ends every tree: SIGTERM,
/// the grace period, SIGKILL, 2 s for the last to go.
fn kill_body(grace_ticks: u64) -> String {
    format!(
        r#"i=0
while [ $i -lt 20 ]; do
    missing=; k=0
    while [ $k -lt $n ]; do
        k=$((k + 1))
        eval "d=\$d_$k rp=\$rp_$k pg=\$pg_$k"
        if [ -z "$pg" ] && [ -n "$rp" ] && kill -0 "$rp" 2>/dev/null; then
            readpid "$d/{pid}"
            if [ -n "$v" ]; then eval "pg_$k=\$v"; else missing=1; fi
        fi
    done
    [ -n "$missing" ] || break
    sleep 0.1; i=$((i + 1))
done
# What the scan looks for: per task, runner:group:since.
spec=; k=0
while [ $k -lt $n ]; do
    k=$((k + 1))
    eval "spec=\"\$spec \$rp_$k:\$pg_$k:\$since_$k\""
done
# One read of the process table for every task: the descendants of each
# runner (by parentage) and the members of each payload group. Prints the
# processes not seen before, then `g <group>` per group with members now.
# cat, not awk, opens the files: mawk gives up on one that vanished meanwhile.
seen=; new=; groups=
collect() {{
    out=$(cat /proc/[0-9]*/stat 2>/dev/null | awk -v spec="$spec" -v seen="$seen" '
        BEGIN {{
            n = split(spec, t, " ")
            for (i = 1; i <= n; i++) {{
                split(t[i], f, ":")
                if (f[1] != "") root[f[1]] = 1
                if (f[2] != "") since[f[2]] = f[3] + 0
            }}
            m = split(seen, s, " ")
            for (i = 1; i <= m; i++) old[s[i]] = 1
        }}
        {{ parent[$1] = $4; grp[$1] = $5; sess[$1] = $6; start[$1] = $22; state[$1] = $3 }}
        END {{
            for (p in parent) {{
                if (p in root) continue
                g = grp[p]
                hit = 0
                if ((g in since) && sess[p] == g && start[p] + 0 >= since[g]) {{
                    hit = 1
                    if (state[p] != "Z") live[g] = 1
                }} else {{
                    q = parent[p]
                    while (q > 1) {{ if (q in root) {{ hit = 1; break }} q = parent[q] }}
                }}
                if (hit && !(p in old)) print p
            }}
            for (g in live) print "g " g
        }}')
    new=; groups=
    set -- $out
    while [ $# -gt 0 ]; do
        if [ "$1" = g ]; then groups="$groups $2"; shift 2; else new="$new $1"; shift; fi
    done
    seen="$seen$new"
}}
# Members still running (not zombies), read with builtins: many kills may
# poll at once on a busy host.
alive() {{
    for p in $seen; do
        pstate "$p" && [ "$st" != Z ] && echo "$p"
    done
}}
collect
for g in $groups; do kill -TERM "-$g" 2>/dev/null; done
[ -n "$new" ] && kill -s TERM $new 2>/dev/null
i=0
while [ -n "$(alive)" ] && [ $i -lt {grace_ticks} ]; do
    sleep 0.1
    i=$((i + 1))
    collect
    [ -n "$new" ] && kill -s TERM $new 2>/dev/null
done
collect
for g in $groups; do kill -KILL "-$g" 2>/dev/null; done
left=$(alive)
[ -n "$left" ] && kill -s KILL $left 2>/dev/null
i=0
while [ -n "$(alive)" ] && [ $i -lt 20 ]; do sleep 0.1; i=$((i + 1)); done
"#,
        pid = runner::PID_FILE,
    )
}

/// Kills every task of `tasks` on one host (the first part of the bulk kill's
/// script, which then waits for the runners to record their ends).
pub fn kill(tasks: &[TaskProcs<'_>], grace_secs: u64, reason: &str) -> String {
    let mut s = String::from(PSTATE_FN);
    s.push_str(&task_fn(reason));
    for task in tasks {
        s.push_str(&format!(
            "task {} '{}' {}\n",
            sh_quote(&task.dir),
            task.runner_pid.map(|p| p.to_string()).unwrap_or_default(),
            sh_quote(task.runner_start.unwrap_or_default()),
        ));
    }
    s.push_str(&kill_body(grace_secs * 10));
    s
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::*;

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| Some(s.rsplit_once(") ")?.1.split(' ').next()? != "Z"))
            .unwrap_or(false)
    }

    fn wait_for(path: &std::path::Path) -> u32 {
        let started = Instant::now();
        loop {
            if let Some(pid) = std::fs::read_to_string(path)
                .ok()
                .and_then(|s| s.trim().parse().ok())
            {
                return pid;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "{path:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn spawn(script: &str, dir: &std::path::Path) -> Child {
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .current_dir(dir)
            .stdin(Stdio::null())
            .spawn()
            .expect("sh starts")
    }

    /// Three tasks on one host: a payload group that ignores SIGTERM (ended by
    /// SIGKILL after the grace period), a group that does not, and a runner
    /// whose children are ended while the runner itself is left to record
    /// the end. One script, one grace period for all.
    #[test]
    fn one_script_ends_every_tree_in_one_grace_period() {
        let root = tempfile::tempdir().expect("tempdir");
        let dirs: Vec<_> = (0..3)
            .map(|i| {
                let dir = root.path().join(format!("t{i}"));
                std::fs::create_dir(&dir).expect("dir");
                dir
            })
            .collect();
        let pid_file = runner::PID_FILE;
        let mut children = [
            spawn(
                &format!(
                    "exec setsid sh -c 'trap \"\" TERM; sleep 300 & sleep 300 & echo $$ > {pid_file}; wait'"
                ),
                &dirs[0],
            ),
            spawn(
                &format!("exec setsid sh -c 'sleep 300 & echo $$ > {pid_file}; wait'"),
                &dirs[1],
            ),
            spawn(
                &format!("sleep 300 & echo $! > child; echo $! > {pid_file}; wait; exec sleep 300"),
                &dirs[2],
            ),
        ];
        let groups = [
            wait_for(&dirs[0].join(pid_file)),
            wait_for(&dirs[1].join(pid_file)),
        ];
        let runner = children[2].id();
        let runner_child = wait_for(&dirs[2].join("child"));
        let tasks: Vec<TaskProcs<'_>> = vec![
            TaskProcs {
                dir: dirs[0].display().to_string(),
                runner_pid: None,
                runner_start: None,
            },
            TaskProcs {
                dir: dirs[1].display().to_string(),
                runner_pid: None,
                runner_start: None,
            },
            TaskProcs {
                dir: dirs[2].display().to_string(),
                runner_pid: Some(runner),
                runner_start: None,
            },
        ];
        let started = Instant::now();
        let out = Command::new("sh")
            .arg("-c")
            .arg(kill(&tasks, 1, "killed by 'request' $(x)"))
            .output()
            .expect("sh runs");
        let took = started.elapsed();
        assert!(out.status.success(), "{out:?}");
        // Reap what the test started, so that ends show as gone.
        for child in &mut children[..2] {
            let _ = child.wait();
        }
        for pid in groups {
            assert!(!alive(pid), "group leader {pid} still runs");
        }
        assert!(!alive(runner_child), "the runner's child still runs");
        assert!(alive(runner), "the runner itself is left to record the end");
        for dir in &dirs {
            let marker = std::fs::read_to_string(dir.join(runner::KILL_MARKER)).expect("marker");
            assert_eq!(marker, "killed by 'request' $(x)\n");
        }
        // One grace period (1 s) and SIGKILL's wait, not one per task.
        assert!(took >= Duration::from_millis(900), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
        let _ = children[2].kill();
        let _ = children[2].wait();
    }
}
