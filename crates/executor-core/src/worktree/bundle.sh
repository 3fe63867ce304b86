# Writes a git bundle of a task's branch ($2, from the repository $1) to
# stdout: its commits beyond the base ($3), for `fetch` over the connection.
cd -- "$1" || exit 1
if [ "$(git rev-parse "refs/heads/$2")" = "$3" ]; then
    # Nothing beyond the base: a bundle needs at least one commit.
    git bundle create -q - "refs/heads/$2"
else
    git bundle create -q - "refs/heads/$2" "^$3"
fi
