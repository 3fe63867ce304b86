# Checks, on the executing host, that a worktree task can start: git is
# there, the workspace ($1) is inside a repository, the base ($2) names a
# commit, the branch ($3) does not exist yet. Prints the base commit, the
# repository's top level and the workspace's place below it, NUL-separated.
command -v git >/dev/null 2>&1 || exit 90
cd -- "$1" 2>/dev/null || exit 91
top=$(git rev-parse --show-toplevel 2>/dev/null) || exit 91
[ -n "$top" ] || exit 91
prefix=$(git rev-parse --show-prefix 2>/dev/null) || exit 91
base=$(git rev-parse --verify --quiet "$2^{commit}" 2>/dev/null) || exit 92
git show-ref --verify --quiet "refs/heads/$3" && exit 93
printf '%s\0%s\0%s\0' "$base" "$top" "$prefix"
