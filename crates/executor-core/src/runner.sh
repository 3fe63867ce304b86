#!/bin/sh
# openclaw-agent task runner, protocol 3.
# Usage: sh runner.sh TASK_DIR [UMASK [keep-background|"" [gated]]]
#
# Starts TASK_DIR/payload.sh in a session of its own (stdin closed, all output
# appended to task.log), writes the payload's pid to task.pid, and records the
# exit code in exit.json itself, so the truth is written down even when no
# openclaw-agent process is running. The end time is exit.json's mtime: a
# `date` process per task would cost more than the rest of the runner.
# Each record is one short line written by one write(), in place: a pid file
# is whole once it ends in a newline and exit.json once it is valid JSON
# (readers wait for that), so no temp file and no `mv` process are needed.
# Plain POSIX sh: remote hosts and container images do not have openclaw-agent.
#
# The payload runs with UMASK (the dispatching side's), else with the umask
# this runner started with; the runner's own files are private. Once the
# payload has exited, whatever it left in its process group (background jobs)
# is ended before exit.json is written, unless the third argument is
# `keep-background`.
#
# A task with its own git worktree brings worktree.sh: the worktree is made
# before the payload (exit 125 when it cannot be), and what the payload left
# is committed and recorded (result.json) before exit.json.
#
# `gated`: the runner was started parked, before its dispatch recorded it; it
# goes on once fd 3 (a pipe whose write end only the dispatcher holds) reaches
# its end, when the dispatcher lets it or dies.
if [ "$4" = gated ]; then
    read -r gate <&3
    exec 3<&-
fi
dir=$1
cd "$dir" || exit 120
mask=${2:-$(umask)}
umask 077
echo "$$" >runner.pid
record_exit() {
    printf '{"exit_code":%d}\n' "$1" >exit.json
}
# Killed before it began: the payload never starts.
if [ -e kill.requested ]; then
    record_exit 143
    exit 0
fi
if [ -e worktree.sh ]; then
    . ./worktree.sh
    if ! wt_setup >>task.log 2>&1; then
        echo "openclaw-agent: cannot make the task's git worktree" >>task.log
        record_exit 125
        exit 0
    fi
fi
# The redirections happen before `umask`: task.log stays private.
if command -v setsid >/dev/null 2>&1; then
    { umask "$mask" 2>/dev/null; exec setsid /bin/sh ./payload.sh; } </dev/null >>task.log 2>&1 &
else
    { umask "$mask" 2>/dev/null; exec /bin/sh ./payload.sh; } </dev/null >>task.log 2>&1 &
fi
child=$!
echo "$child" >task.pid
# A signal aimed at the runner goes on to the payload's group; the runner stays
# to record how the payload ended.
trap 'interrupted=1; kill -TERM "-$child" 2>/dev/null || kill -s TERM "$child" 2>/dev/null' HUP INT TERM
while :; do
    interrupted=
    wait "$child"
    code=$?
    # wait returns early when a trapped signal arrives; keep waiting for the payload then.
    [ -n "$interrupted" ] && kill -0 "$child" 2>/dev/null || break
done
# The payload's group outlives it only while background jobs hold it: they get
# SIGTERM, up to 2 s, then SIGKILL. An empty group costs no process here.
if [ "$3" != keep-background ] && kill -TERM "-$child" 2>/dev/null; then
    i=0
    while [ $i -lt 20 ] && kill -0 "-$child" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "-$child" 2>/dev/null
fi
[ -e worktree.sh ] && wt_finish
record_exit "$code"
