# Sourced by scripts/test: the real Claude Code CLI, pinned, in a cache outside
# the tracked tree, installed once. Exports OPENCLAW_TEST_CLAUDE.
CLAUDE_VERSION=2.1.197
# As root the cache goes where the tests' non-root SSH user can run it too.
if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/openclaw-agent-tests; else default_cache="${XDG_CACHE_HOME:-$HOME/.cache}/openclaw-agent-tests"; fi
cache="${OPENCLAW_TEST_CACHE:-$default_cache}"
claude_dir="$cache/claude-code-$CLAUDE_VERSION"
claude="$claude_dir/node_modules/.bin/claude"
if ! "$claude" --version 2>/dev/null | grep -q "$CLAUDE_VERSION"; then
    if ! command -v npm >/dev/null 2>&1; then
        apt_install nodejs npm
    fi
    need npm "install Node.js and npm"
    echo "== installing @anthropic-ai/claude-code@$CLAUDE_VERSION into $claude_dir"
    mkdir -p "$claude_dir"
    npm install --prefix "$claude_dir" --no-audit --no-fund --loglevel=error \
        "@anthropic-ai/claude-code@$CLAUDE_VERSION"
    "$claude" --version | grep -q "$CLAUDE_VERSION" ||
        { echo "scripts/test: claude $CLAUDE_VERSION did not install" >&2; exit 1; }
fi
export OPENCLAW_TEST_CLAUDE="$claude"
