#!/bin/sh
# openclaw-agent task runner, protocol 2.  Usage: sh runner.sh TASK_DIR
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
dir=$1
cd "$dir" || exit 120
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
if command -v setsid >/dev/null 2>&1; then
    setsid /bin/sh ./payload.sh </dev/null >>task.log 2>&1 &
else
    /bin/sh ./payload.sh </dev/null >>task.log 2>&1 &
fi
child=$!
echo "$child" >task.pid
# A signal aimed at the runner goes on to the payload's group; the runner stays
# to record how the payload ended.
trap 'interrupted=1; kill -s TERM -- "-$child" 2>/dev/null || kill -s TERM "$child" 2>/dev/null' HUP INT TERM
while :; do
    interrupted=
    wait "$child"
    code=$?
    # wait returns early when a trapped signal arrives; keep waiting for the payload then.
    [ -n "$interrupted" ] && kill -0 "$child" 2>/dev/null || break
done
record_exit "$code"
