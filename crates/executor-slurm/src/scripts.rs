//! The POSIX sh scripts the Slurm executor runs on the submitting side: this
//! machine (`sh -s`) or the login node (`ssh … sh -s`), always on stdin, so no
//! prompt, command or secret is ever in argv.
//!
//! Every Slurm command is bounded in time (`timeout`, where installed). When one
//! fails, its own stderr is passed on and the script ends with a line
//! `openclaw-slurm-failed: <command> <status>` and exit status 4, from which
//! the executor builds its error. Other failures are `openclaw-agent: <message>`
//! lines with exit status 3.

use executor_core::runner::{self, TaskFile, sh_quote};
use executor_remote::scripts::{
    FAIL_FN, READ_FNS, export_env, log_delta_line, make_task_dir, need_base64, put_file, put_fn,
    write_kill_marker,
};

/// Marks the line that reports a submitted job.
pub const SUBMITTED: &str = "OPENCLAW_SUBMITTED";
/// Prefix of the line that names a Slurm command that failed.
pub const SLURM_FAILED: &str = "openclaw-slurm-failed: ";
/// How long one Slurm command may take (a controller that is down takes ~10 s).
pub const SLURM_COMMAND_SECS: u64 = 60;

/// The job id, written next to the runner's records right after `sbatch`.
pub const JOB_ID_FILE: &str = "slurm-job";
/// The batch script `sbatch` submits.
pub const BATCH_FILE: &str = "slurm.sh";
/// The job's own stdout and stderr (`sbatch --output`): the runner's messages
/// and Slurm's (`*** JOB 7 ON node CANCELLED AT … DUE TO TIME LIMIT ***`).
pub const OUTPUT_FILE: &str = "slurm.out";

/// The `squeue --Format` of [`crate::jobs::JobRow`]. Reason comes last: it is
/// free text where the others are not.
pub const SQUEUE_FORMAT: &str = "JobID:|,State:|,exit_code:|,TimeLimit:|,Name:|,Reason:|";

/// Job ids per `squeue`/`sacct` call, to stay far below the argv limit.
const JOBS_PER_CALL: usize = 500;

fn prelude(place: &str) -> String {
    format!(
        r#"mask=$(umask)
umask 077
{FAIL_FN}slfail() {{ echo "{SLURM_FAILED}$1 $2" >&2; exit 4; }}
# Slurm commands retry for a long time when the controller or its config is missing.
if command -v timeout >/dev/null 2>&1; then
    sl() {{ timeout {SLURM_COMMAND_SECS} "$@"; }}
    slt() {{ t=$1; shift; timeout "$t" "$@"; }}
else
    sl() {{ "$@"; }}
    slt() {{ shift; "$@"; }}
fi
need() {{ command -v "$1" >/dev/null 2>&1 || fail "Slurm is not installed{place}: no \`$1\` on PATH (install slurm-client, or set PATH)"; }}
"#
    )
}

/// The batch script of a task whose directory is `task_dir`: it runs the core
/// runner, passes Slurm's signals on to it, and exits with the payload's exit
/// code, so that Slurm's own records (`sacct`, `squeue`) agree with the task.
pub fn batch_script(task_dir: &str) -> String {
    format!(
        r#"#!/bin/sh
# openclaw-agent: the Slurm batch script of one task. It runs the task runner
# (runner.sh), which records the payload's exit in exit.json, and exits with
# that code so that Slurm's records show it too.
dir={dir}
# The payload gets the umask of the submitting shell (the job's is private).
mask=${{OPENCLAW_UMASK:-}}
unset OPENCLAW_UMASK
/bin/sh "$dir/{runner}" "$dir" "$mask" &
runner=$!
# Slurm signals every process of the job; the runner must outlive the payload
# to record its end, so this shell waits for it whatever arrives.
trap 'kill -s TERM "$runner" 2>/dev/null' HUP INT TERM
while :; do
    wait "$runner"
    rc=$?
    kill -0 "$runner" 2>/dev/null || break
done
code=$(sed -n 's/^{{"exit_code":\(-\{{0,1\}}[0-9]\{{1,\}}\)[,}}].*/\1/p' "$dir/{exit}" 2>/dev/null)
exit "${{code:-$rc}}"
"#,
        dir = sh_quote(task_dir),
        runner = runner::RUNNER_FILE,
        exit = runner::EXIT_FILE,
    )
}

/// What a launch needs besides the task's own files.
pub struct Submission<'a> {
    /// Where messages say Slurm runs (`""` here, ` on the login node …`).
    pub place: &'a str,
    /// Set when the task dir must be created under this root and filled with
    /// the task's files (it is not the local mirror).
    pub task_root: Option<&'a str>,
    pub task_dir: &'a str,
    /// Checked to exist before submitting (when not empty).
    pub workspace: &'a str,
    pub files: &'a [TaskFile],
    pub env: &'a [(String, String)],
    /// `sbatch` arguments before the batch script's path.
    pub sbatch_args: &'a [String],
}

/// Creates the task dir (when needed), writes the batch script, and submits it
/// with `env` exported. Safe to repeat: a task dir that already has a job
/// reports that job and submits nothing.
pub fn launch(sub: &Submission<'_>) -> String {
    let mut s = prelude(sub.place);
    s.push_str(&format!("dir={}\n", sh_quote(sub.task_dir)));
    s.push_str(&format!(
        "if [ -s \"$dir/{JOB_ID_FILE}\" ]; then echo \"{SUBMITTED} $(cat \"$dir/{JOB_ID_FILE}\")\"; exit 0; fi\n"
    ));
    s.push_str("need sbatch\nmade=\n");
    if let Some(root) = sub.task_root {
        s.push_str(&format!("root={}\n", sh_quote(root)));
        s.push_str(&make_task_dir(sub.place));
        s.push_str("made=1\n");
    }
    // A failed write (a full disk) says why and, where the script created the
    // task dir (`$made`), takes it along: nothing half-written stays in the task root.
    s.push_str(&put_fn(&format!(
        "[ -n \"$made\" ] && rm -rf -- \"$dir\"; fail \"cannot write $dir/$1{place}: ${{out:-write error}}\"",
        place = sub.place
    )));
    need_base64(&mut s, "");
    if !sub.workspace.is_empty() {
        s.push_str(&format!(
            "[ -d {ws} ] || {{ [ -n \"$made\" ] && rm -rf -- \"$dir\"; fail \"workspace \"{ws}\" does not exist{place}\"; }}\n",
            ws = sh_quote(sub.workspace),
            place = sub.place
        ));
    }
    if sub.task_root.is_some() {
        for file in sub.files {
            put_file(&mut s, file.name, &file.contents);
        }
    }
    put_file(&mut s, BATCH_FILE, batch_script(sub.task_dir).as_bytes());
    export_env(&mut s, sub.env);
    s.push_str("export OPENCLAW_UMASK=\"$mask\"\n");
    let args: Vec<String> = sub.sbatch_args.iter().map(|a| sh_quote(a)).collect();
    s.push_str(&format!(
        r#"cd "$dir" || fail "cannot enter $dir"
jid=$(sl sbatch {args} "$dir/{BATCH_FILE}") || slfail sbatch $?
jid=${{jid%%;*}}
case "$jid" in ''|*[!0-9_]*) fail "sbatch printed no job id: $jid" ;; esac
printf '%s\n' "$jid" > "$dir/{JOB_ID_FILE}.tmp" && mv -f "$dir/{JOB_ID_FILE}.tmp" "$dir/{JOB_ID_FILE}"
echo "{SUBMITTED} $jid"
"#,
        args = args.join(" ")
    ));
    s
}

/// One task to observe.
pub struct Probe<'a> {
    pub id: String,
    pub task_dir: String,
    /// The job id recorded at launch, if any.
    pub job_id: Option<&'a str>,
    /// Send the log from this offset along (agent tasks, for their stats).
    pub log_offset: Option<u64>,
}

/// Asks Slurm about every task's job in one `squeue` call (and `sacct` for
/// jobs `squeue` has forgotten, where accounting is kept), then reads every
/// task dir. Slurm first: a runner that records its exit between the two reads
/// is then seen alive (and done on the next look), never lost. Records are read
/// with shell builtins and all logs take one `stat`: no process per task.
///
/// The job's files are written on a compute node; their mtimes are on the clock
/// of the file system they are on, which may differ from this machine's (and
/// from the login node's). So when `clock_dir` (the task root) is given, a file
/// is created there and its mtime reported first (`L … <clock_dir>/CLOCK_FILE.<pid>`)
/// with the others: the file system's "now", to move them onto this clock.
///
/// Output: `@@ <task> job <id>` per task; `Q <squeue row>` and `A <sacct row>`
/// lines; per task `## <task>` and its records; `F` when a task has no exit
/// record and its file system no free space; `L <size> <mtime> <path>`.
pub fn observe(place: &str, probes: &[Probe<'_>], clock_dir: Option<&str>) -> String {
    let mut s = prelude(place);
    s.push_str(READ_FNS);
    s.push_str(
        r#"need squeue
ids=
names=
"#,
    );
    for probe in probes {
        s.push_str(&format!(
            "j={job}; if [ -z \"$j\" ]; then readf {dir}/{JOB_ID_FILE}; j=$v; fi\necho \"@@ \"{id}\" job $j\"\nif [ -n \"$j\" ]; then ids=\"$ids $j\"; else names=\"$names,openclaw-\"{id}; fi\n",
            dir = sh_quote(&probe.task_dir),
            job = sh_quote(probe.job_id.unwrap_or_default()),
            id = sh_quote(&probe.id),
        ));
    }
    s.push_str(&format!(
        r#"fmt='{SQUEUE_FORMAT}'
seen=' '
# A single unknown id is an error for squeue; a list of ids is filtered quietly.
queue() {{
    out=$(sl squeue --noheader --states=all "$@" -O "$fmt") || slfail squeue $?
    set -f; IFS='
'
    for line in $out; do
        printf 'Q %s
' "$line"
        seen="$seen${{line%%|*}} "
    done
    unset IFS; set +f
}}
batch=
n=0
for j in $ids; do
    batch="$batch,$j"; n=$((n + 1))
    if [ $n -ge {JOBS_PER_CALL} ]; then queue --jobs="${{batch#,}},${{batch##*,}}"; batch=; n=0; fi
done
[ -n "$batch" ] && queue --jobs="${{batch#,}},${{batch##*,}}"
[ -n "$names" ] && queue --name="${{names#,}}"
# Jobs that ended before squeue's memory (MinJobAge): accounting, if kept.
missing=
for j in $ids; do
    case "$seen" in *" $j "*) ;; *) missing="$missing,$j" ;; esac
done
if [ -n "$missing" ] && command -v sacct >/dev/null 2>&1; then
    sl sacct --noheader --parsable2 --allocations --jobs="${{missing#,}}" --format=JobID,State,ExitCode 2>/dev/null | sed 's/^/A /'
fi
probe() {{
    d=$1; off=$2
    [ -e "$d/{runner_pid}" ] && echo started
    readpid "$d/{pid}"; [ -n "$v" ] && echo "pid $v"
    readf "$d/{exit}"; [ -n "$v" ] && echo "exit $v"
    [ -s "$d/{exit}" ] || nx=$d
    if [ -e "$d/{kill}" ]; then readf "$d/{kill}"; echo "kill $v"; fi
    if [ -n "$off" ] && [ -e "$d/{log}" ]; then
        echo "{delta}"
        if [ -e "$d/{usage}" ]; then readf "$d/{usage}"; echo "usage $v"; fi
    fi
}}
nx=
set --
"#,
        runner_pid = runner::RUNNER_PID_FILE,
        pid = runner::PID_FILE,
        exit = runner::EXIT_FILE,
        kill = runner::KILL_MARKER,
        log = runner::LOG_FILE,
        delta = log_delta_line(),
        usage = runner::AGENT_USAGE_FILE,
    ));
    for probe in probes {
        s.push_str(&format!(
            "echo \"## \"{id}\nprobe {dir} '{off}'\n\
             [ -e {log} ] && set -- \"$@\" {log}\n[ -e {exit} ] && set -- \"$@\" {exit}\n",
            id = sh_quote(&probe.id),
            dir = sh_quote(&probe.task_dir),
            off = probe.log_offset.map(|o| o.to_string()).unwrap_or_default(),
            log = sh_quote(&format!("{}/{}", probe.task_dir, runner::LOG_FILE)),
            exit = sh_quote(&format!("{}/{}", probe.task_dir, runner::EXIT_FILE)),
        ));
    }
    // No exit record with no room left for one: a full disk ended the task
    // (its log filled it, or something else did). One `df` for all tasks.
    s.push_str(
        "if [ -n \"$nx\" ] && [ \"$(df -P \"$nx\" 2>/dev/null | awk 'NR == 2 {print $4}')\" = 0 ]; then echo F; fi\n",
    );
    match clock_dir {
        Some(dir) => s.push_str(&format!(
            "if [ $# -gt 0 ]; then\n    c={dir}/{CLOCK_FILE}.$$\n    : > \"$c\" 2>/dev/null && set -- \"$c\" \"$@\"\n    \
             stat -c 'L %s %Y %n' \"$@\" 2>/dev/null\n    rm -f \"$c\"\nfi\nexit 0\n",
            dir = sh_quote(dir),
        )),
        None => s.push_str("[ $# -gt 0 ] && stat -c 'L %s %Y %n' \"$@\" 2>/dev/null\nexit 0\n"),
    }
    s
}

/// The file whose mtime tells the task root's clock (created and removed by
/// each observation, `.<pid>` appended).
pub const CLOCK_FILE: &str = ".openclaw-clock";

/// Marks the task killed, then ends it:
/// - a job still waiting in the queue is cancelled (the runner never starts);
/// - a running job gets the tree kill of the SSH executor (SIGTERM to every
///   process of the payload's tree, `grace`, SIGKILL), run on the job's node as
///   a step of the job itself (`srun --overlap`), so it finds processes that left
///   the payload's session; where steps cannot be started, Slurm signals the job
///   (`scancel --full --signal=TERM`), then cancels it after the grace period.
///
/// The runner, spared, records the exit and ends the job; a job still running
/// 3 s later is cancelled.
pub fn kill(
    place: &str,
    task_dir: &str,
    job_id: Option<&str>,
    grace_secs: u64,
    reason: &str,
) -> String {
    let tree_kill = executor_remote::scripts::kill(task_dir, None, None, grace_secs, reason);
    let mut s = prelude(place);
    s.push_str(&format!(
        r#"d={dir}; j={job}
{marker} || fail "cannot write the kill marker in $d"
[ -z "$j" ] && j=$(head -n 1 "$d/{JOB_ID_FILE}" 2>/dev/null)
# Never submitted: the marker keeps a late runner from starting the payload.
[ -n "$j" ] || exit 0
need squeue
need scancel
state() {{ st=$(sl squeue --noheader --states=all --jobs="$j,$j" -O 'State:|') || slfail squeue $?; st=${{st%%|*}}; }}
state
case "$st" in
    RUNNING|SUSPENDED|STOPPED|SIGNALING|RESIZING|CONFIGURING)
        if ! command -v srun >/dev/null 2>&1 ||
            ! slt {step_secs} srun --jobid="$j" --overlap --nodes=1 --ntasks=1 --quiet --job-name=openclaw-kill /bin/sh -s <<'OPENCLAW_KILL'
{tree_kill}OPENCLAW_KILL
        then
            sl scancel --full --signal=TERM "$j" 2>/dev/null
            sleep {grace_secs}
            sl scancel --full --signal=KILL "$j" 2>/dev/null
        fi
        i=0
        while [ $i -lt 30 ]; do
            state
            case "$st" in RUNNING|COMPLETING|SUSPENDED|STOPPED|SIGNALING|RESIZING|STAGE_OUT|CONFIGURING) ;; *) exit 0 ;; esac
            sleep 0.1
            i=$((i + 1))
        done
        sl scancel "$j" || slfail scancel $?
        ;;
    # Unknown to Slurm by now, ending, or over.
    ''|COMPLETING|STAGE_OUT) ;;
    COMPLETED|CANCELLED|FAILED|TIMEOUT|NODE_FAIL|PREEMPTED|BOOT_FAIL|DEADLINE|OUT_OF_MEMORY) ;;
    *) sl scancel "$j" || slfail scancel $? ;;
esac
exit 0
"#,
        dir = sh_quote(task_dir),
        job = sh_quote(job_id.unwrap_or_default()),
        marker = write_kill_marker(reason),
        step_secs = grace_secs + SLURM_COMMAND_SECS,
    ));
    s
}

/// Cancels the job if it may still be queued or running, then removes the task dir.
pub fn remove(place: &str, task_dir: &str, job_id: Option<&str>, cancel: bool) -> String {
    let mut s = prelude(place);
    s.push_str(&format!(
        "d={dir}; j={job}\n[ -z \"$j\" ] && j=$(head -n 1 \"$d/{JOB_ID_FILE}\" 2>/dev/null)\n",
        dir = sh_quote(task_dir),
        job = sh_quote(job_id.unwrap_or_default()),
    ));
    if cancel {
        s.push_str(
            "if [ -n \"$j\" ] && command -v scancel >/dev/null 2>&1; then sl scancel \"$j\" || slfail scancel $?; fi\n",
        );
    }
    s.push_str("rm -rf -- \"$d\"\n");
    s
}

/// Reports Slurm's version (`V …`), the partitions (`P name avail nodes state`),
/// and the versions of the agent CLIs (`A<i> …`).
pub fn check(place: &str, partition: Option<&str>, programs: &[&str]) -> String {
    let mut s = prelude(place);
    let partition = partition
        .map(|p| format!(" --partition={}", sh_quote(p)))
        .unwrap_or_default();
    s.push_str(&format!(
        r#"need sinfo
need sbatch
echo "V $(sl sinfo --version 2>/dev/null)"
p=$(sl sinfo --noheader{partition} --format='%P %a %D %t') || slfail sinfo $?
[ -n "$p" ] && printf '%s\n' "$p" | sed 's/^/P /'
"#
    ));
    s.push_str(&executor_remote::scripts::agent_versions(programs));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_exported_not_passed() {
        let env = vec![("API_KEY".to_owned(), "s3cr'et".to_owned())];
        let script = launch(&Submission {
            place: "",
            task_root: None,
            task_dir: "/t/d",
            workspace: "",
            files: &[],
            env: &env,
            sbatch_args: &["--parsable".to_owned()],
        });
        assert!(
            script.contains("export API_KEY='s3cr'\\''et'\n"),
            "{script}"
        );
        let sbatch = script.lines().find(|l| l.contains("sl sbatch")).unwrap();
        assert!(!sbatch.contains("s3cr"), "{sbatch}");
    }

    #[test]
    fn batch_script_quotes_the_dir() {
        let script = batch_script("/t/it's");
        assert!(script.contains("dir='/t/it'\\''s'\n"), "{script}");
    }

    #[test]
    fn batch_script_exits_with_the_recorded_code() {
        // The real runner records the code; the job must end with it so that
        // Slurm's own state (FAILED/COMPLETED) agrees.
        for (command, code) in [("exit 3", 3), ("true", 0)] {
            let dir = tempfile::tempdir().unwrap();
            let task_dir = dir.path().to_str().unwrap();
            std::fs::write(dir.path().join(runner::RUNNER_FILE), runner::RUNNER_SCRIPT).unwrap();
            std::fs::write(dir.path().join(runner::PAYLOAD_FILE), command).unwrap();
            let status = std::process::Command::new("sh")
                .arg("-c")
                .arg(batch_script(task_dir))
                .status()
                .unwrap();
            assert_eq!(status.code(), Some(code), "{command}");
        }
    }
}
