# Removes a task's worktree ($2) from its repository ($1) and, unless $4 is
# `keep`, its branch ($3). A repository that is gone has nothing to clean.
cd -- "$1" 2>/dev/null || exit 0
git rev-parse --git-dir >/dev/null 2>&1 || exit 0
if ! git worktree remove --force -- "$2" 2>/dev/null; then
    rm -rf -- "$2"
    git worktree prune || exit 1
fi
if [ "$4" != keep ] && git show-ref --verify --quiet "refs/heads/$3"; then
    git branch -D -q -- "$3" || exit 1
fi
exit 0
