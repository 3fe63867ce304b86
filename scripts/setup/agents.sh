# Sourced by scripts/test: the real Codex, Gemini CLI and opencode CLIs, pinned,
# in the same cache as claude (see claude.sh), installed once. Exports
# OPENCLAW_TEST_CODEX, OPENCLAW_TEST_GEMINI and OPENCLAW_TEST_OPENCODE.
if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/openclaw-agent-tests; else default_cache="${XDG_CACHE_HOME:-$HOME/.cache}/openclaw-agent-tests"; fi
agents_cache="${OPENCLAW_TEST_CACHE:-$default_cache}"
# strace: the Gemini CLI test checks every connect() the real CLI makes.
if ! command -v strace >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt_install strace
fi
need strace "strace"
# The caller's positional parameters are its own: this loop reads its words.
while read -r agent_dir agent_package agent_version agent_bin agent_var; do
    dir="$agents_cache/$agent_dir-$agent_version"
    bin="$dir/node_modules/.bin/$agent_bin"
    if ! "$bin" --version 2>/dev/null | grep -q "$agent_version"; then
        if ! command -v npm >/dev/null 2>&1; then
            apt_install nodejs npm
        fi
        need npm "install Node.js and npm"
        echo "== installing $agent_package@$agent_version into $dir"
        mkdir -p "$dir"
        npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
            "$agent_package@$agent_version" </dev/null
        "$bin" --version </dev/null | grep -q "$agent_version" ||
            { echo "scripts/test: $agent_package $agent_version did not install" >&2; exit 1; }
    fi
    export "$agent_var=$bin"
done <<'AGENTS'
codex @openai/codex 0.171.0 codex OPENCLAW_TEST_CODEX
gemini-cli @google/gemini-cli 0.61.0 gemini OPENCLAW_TEST_GEMINI
opencode opencode-ai 1.18.33 opencode OPENCLAW_TEST_OPENCODE
AGENTS
