# Sourced by scripts/test: tmux, in which the dashboard tests run the real
# binary on a real terminal (crates/executor-cli/tests/cli/dashboard.rs).
if ! command -v tmux >/dev/null 2>&1; then
    apt_install tmux
fi
need tmux "tmux"
