# Sourced by scripts/test: strace, with which the crash tests kill the CLI at
# chosen system calls (crates/executor-cli/tests/cli/crash.rs).
if ! command -v strace >/dev/null 2>&1; then
    apt_install strace
fi
need strace "strace"
