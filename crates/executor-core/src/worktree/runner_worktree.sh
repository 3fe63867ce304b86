# Sourced by runner.sh, in the task dir, for a task with its own git worktree:
# wt_setup makes the worktree before the payload starts; wt_finish commits what
# the payload left (whatever its exit) on the task's branch and records the
# result: the patch first, then result.json, each renamed into place, both
# before exit.json. The user's checkout is never touched: `worktree add`
# writes only below .git (the worktree's admin dir and the new branch).

# A fixed identity, no hooks, no signing, no user diff settings: the commit
# must succeed where the user has no git config, run none of the
# repository's code, and the patch must apply anywhere.
wt_git() {
    GIT_AUTHOR_NAME=openclaw-agent GIT_AUTHOR_EMAIL=openclaw-agent@localhost \
    GIT_COMMITTER_NAME=openclaw-agent GIT_COMMITTER_EMAIL=openclaw-agent@localhost \
    git -c core.hooksPath=/dev/null -c commit.gpgSign=false -c core.quotePath=true \
        -c diff.noprefix=false -c diff.mnemonicPrefix=false -c diff.relative=false \
        -c diff.external= "$@"
}

wt_setup() {
    if ! command -v git >/dev/null 2>&1; then
        echo "openclaw-agent: git is not installed on this host" >&2
        return 1
    fi
    if [ -n "$wt_sync" ]; then
        # The repository came with the task as a bundle: a bare copy in the
        # task dir holds it, and the worktree is made from that.
        wt_repo=$PWD/repo.git
        if [ ! -d "$wt_repo" ]; then
            rm -rf repo.git.tmp
            git init -q --bare repo.git.tmp &&
                git -C repo.git.tmp fetch -q "$PWD/repo.bundle" '+refs/*:refs/openclaw-sync/*' &&
                mv repo.git.tmp repo.git || return 1
        fi
    fi
    # The checkout gets the payload's umask, not the runner's private one.
    n=0
    until (umask "$mask" 2>/dev/null; wt_git -C "$wt_repo" worktree add -q -b "$wt_branch" "$PWD/worktree" "$wt_base"); do
        # git reads every worktree's admin dir before it adds one, and dies on
        # one that another task's `worktree add` on this repository is making
        # right now. It died before making ours (no checkout yet): undo the
        # branch it made (the task's own, new at dispatch) and try again.
        n=$((n + 1))
        if [ $n -ge 10 ] || [ -e "$PWD/worktree" ]; then return 1; fi
        wt_git -C "$wt_repo" branch -D "$wt_branch" >/dev/null 2>&1
        sleep 1
    done
}

# One attempt at the commit and the records.
wt_record() {
    (
        cd worktree || exit 1
        # A git the kill ended midway leaves its lock; nothing else uses this
        # worktree once the payload has ended.
        rm -f "$(git rev-parse --git-dir 2>/dev/null)/index.lock"
        wt_git add -A . || exit 1
        if ! wt_git diff --cached --quiet; then
            wt_git commit -q --no-verify -m "openclaw-agent task $wt_task" || exit 1
        fi
        head=$(git rev-parse HEAD) || exit 1
        wt_git diff --binary --full-index --no-color --no-ext-diff --no-textconv \
            "$wt_base" "$head" >../result.patch.tmp || exit 1
        stat=$(wt_git diff --numstat --no-renames "$wt_base" "$head" |
            awk '{ f++; if ($1 != "-") i += $1; if ($2 != "-") d += $2 }
                 END { printf "%d %d %d", f, i, d }') || exit 1
        # shellcheck disable=SC2086
        set -- $stat
        printf '{"schema_version":1,"base":"%s","head":"%s","branch":"%s","files_changed":%d,"insertions":%d,"deletions":%d,"patch":"result.patch"}\n' \
            "$wt_base" "$head" "$wt_branch" "$1" "$2" "$3" >../result.json.tmp || exit 1
        mv -f ../result.patch.tmp ../result.patch && mv -f ../result.json.tmp ../result.json
    ) >>task.log 2>&1
}

wt_finish() {
    # Commit even while the task is being killed: `kill` sends TERM to every
    # process of the task's tree as it appears, and an ignored signal stays
    # ignored in the processes forked and exec'd from here on. Set in the
    # runner itself (the payload has ended; nothing is left to forward), so
    # no child is ever forked before it holds.
    trap '' HUP INT TERM
    # A kill's last sweep SIGKILLs whatever of the tree it finds then, git
    # included: the attempt is repeated once that sweep is over (the kill
    # waits at most 2 s for what it killed, and looks for nothing new).
    n=0
    until wt_record; do
        n=$((n + 1))
        if [ $n -ge 6 ]; then
            echo "openclaw-agent: could not record the worktree's result" >>task.log
            return 1
        fi
        sleep 1
    done
}
