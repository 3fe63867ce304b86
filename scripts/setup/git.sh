# Sourced by scripts/test: git, which worktree tasks (docs/worktrees.md) run on
# every executing host and which their tests drive (commits, clones, diffs).
# The container images need none: for containers the git work happens here.
if ! command -v git >/dev/null 2>&1; then
    apt_install git
fi
need git "git"
