# shellcheck shell=bash
# Sourced by scripts/test and scripts/bench (and by any script that must leave
# the machine as it found it). Two pieces:
#
# scratch_isolate /abs/path/of/script "$@"
#   Runs the script again with nothing of the caller's to write to, and removes
#   what the run made when it ends, however it ends (pass, fail, Ctrl-C):
#   - a scratch dir /var/tmp/openclaw-scratch.XXXXXX, removed at the end;
#   - HOME, XDG_{DATA,CONFIG,CACHE,STATE}_HOME and XDG_RUNTIME_DIR point into it
#     (CARGO_HOME, RUSTUP_HOME and npm's user config are pinned first, so the
#     toolchain is still found); OPENCLAW_CONFIG and the variables that choose
#     the user's own Docker/Podman engine are unset;
#   - as root, a new PID namespace (whatever the run starts ends with it) and
#     mount namespace in which /tmp and /var/tmp are the scratch's and /run is
#     a private tmpfs (mounts made by the run go with it). /etc stays shared:
#     packages installed by the run may add their system accounts.
#   In the caller it never returns (it exits with the run's status); in the run
#   it returns, with SCRATCH_DIR naming the scratch dir and SCRATCH_MOUNTS=1
#   when its mounts are its own. scratch_run is the caller's half alone,
#   returning the run's status.
#
# scratch_fresh_tmp
#   In a run with mounts of its own, /tmp becomes a new journaled ext4 file
#   system (a sparse image in the scratch dir, loop-mounted; it goes with the
#   run). What the run measures there does not depend on what this machine
#   created and deleted before (see the function).
#
# scratch_sshd DIR USER...
#   A private OpenSSH server on 127.0.0.1 (root only) for which the unprivileged
#   accounts USER... exist: it runs in its own mount namespace whose /etc/passwd
#   and /etc/group add them (uids free on this machine, homes under DIR/home),
#   so they vanish with the server and its sessions; nothing is written to /etc.
#   Sets SCRATCH_SSHD_PORT, SCRATCH_SSHD_PID, SCRATCH_SSHD_KEY (the client key
#   every USER accepts) and SCRATCH_SSHD_KNOWN_HOSTS. Stop it with
#   `kill "$SCRATCH_SSHD_PID"`; inside scratch_isolate it ends with the run anyway.

scratch_isolate() {
    if [ -n "${OPENCLAW_SCRATCH:-}" ]; then
        scratch_enter
        return 0
    fi
    local rc=0
    scratch_run "$@" || rc=$?
    exit "$rc"
}

# scratch_run /abs/path/of/script "$@": the caller's half of scratch_isolate,
# returning the run's status (the script itself calls scratch_isolate).
scratch_run() {
    local script=$1
    shift
    export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
    export NPM_CONFIG_USERCONFIG="${NPM_CONFIG_USERCONFIG:-$HOME/.npmrc}"
    local scratch rc=0
    scratch=$(mktemp -d /var/tmp/openclaw-scratch.XXXXXX)
    chmod 755 "$scratch"
    # Ctrl-C reaches the run too (same process group): it cleans up and exits,
    # and this shell waits for it before removing the scratch dir.
    trap ':' INT TERM HUP
    if [ "$(id -u)" = 0 ] && command -v unshare >/dev/null 2>&1; then
        OPENCLAW_SCRATCH=$scratch OPENCLAW_SCRATCH_NS=1 unshare --pid --fork --mount-proc \
            --mount --propagation private --kill-child -- "$script" "$@" || rc=$?
    else
        OPENCLAW_SCRATCH=$scratch "$script" "$@" || rc=$?
    fi
    rm -rf "$scratch"
    trap - INT TERM HUP
    return "$rc"
}

# In the run: the mounts (as root) and the environment.
scratch_enter() {
    local s=$OPENCLAW_SCRATCH
    SCRATCH_DIR=$s
    SCRATCH_MOUNTS=
    mkdir -p "$s/home" "$s/tmp" "$s/var-tmp" "$s/xdg/data" "$s/xdg/config" "$s/xdg/cache" \
        "$s/xdg/state" "$s/xdg/runtime"
    chmod 1777 "$s/tmp" "$s/var-tmp"
    chmod 700 "$s/xdg/runtime"
    export TMPDIR="$s/tmp"
    # Ctrl-C and kill end the run through its EXIT trap (its own clean-up). As
    # PID 1 of its namespace it would otherwise ignore them.
    trap 'exit 130' INT
    trap 'exit 143' TERM
    if [ -n "${OPENCLAW_SCRATCH_NS:-}" ]; then
        # resolv.conf may link into /run (systemd-resolved): keep what it says.
        local resolv
        resolv=$(readlink -f /etc/resolv.conf 2>/dev/null || true)
        [ -f "$resolv" ] && cp "$resolv" "$s/resolv.conf"
        mount --bind "$s/tmp" /tmp
        # The scratch dir itself lives in /var/tmp: seen at the same path in the new one.
        mkdir -p "$s/var-tmp/${s##*/}"
        mount --bind "$s" "$s/var-tmp/${s##*/}"
        mount --rbind "$s/var-tmp" /var/tmp
        mount -t tmpfs -o mode=755 openclaw-run /run
        mkdir -p -m 1777 /run/lock
        case $resolv in
        /run/*) mkdir -p "$(dirname "$resolv")" && cp "$s/resolv.conf" "$resolv" ;;
        esac
        export TMPDIR=/tmp
        SCRATCH_MOUNTS=1
    fi
    # A script the run starts isolates itself anew.
    unset OPENCLAW_SCRATCH OPENCLAW_SCRATCH_NS
    export HOME="$s/home" XDG_DATA_HOME="$s/xdg/data" XDG_CONFIG_HOME="$s/xdg/config" \
        XDG_CACHE_HOME="$s/xdg/cache" XDG_STATE_HOME="$s/xdg/state" XDG_RUNTIME_DIR="$s/xdg/runtime"
    unset OPENCLAW_CONFIG OPENCLAW_SSH_CONTROL_DIR DOCKER_HOST DOCKER_CONTEXT DOCKER_CONFIG \
        CONTAINER_HOST CONTAINER_CONNECTION CONTAINERS_CONF CONTAINERS_STORAGE_CONF
}

scratch_fresh_tmp() {
    # An ext4 without a journal (this VM's root file system) skips, on every
    # inode allocation, the inodes freed in the last minutes while their table
    # blocks are dirty: after a run that deleted many files, every case that
    # creates files was several times slower, for minutes
    # (docs/benchmark-findings.md). A file system with a journal, what users
    # have, does not do that; one made for the run also starts empty.
    [ -n "$SCRATCH_MOUNTS" ] || {
        echo "scratch: /tmp stays the machine's: no mount namespace of its own (not root?)" >&2
        return 1
    }
    local img=$SCRATCH_DIR/tmp-fs.img avail_kib size_kib
    avail_kib=$(df --output=avail -k "$SCRATCH_DIR" | tail -n 1)
    # 24 GiB at most, and 4 GiB left to the machine; sparse, so it takes only
    # what the run writes.
    size_kib=$((avail_kib - 4 * 1024 * 1024))
    [ "$size_kib" -le $((24 * 1024 * 1024)) ] || size_kib=$((24 * 1024 * 1024))
    [ "$size_kib" -ge $((4 * 1024 * 1024)) ] || {
        echo "scratch: too little free space in $SCRATCH_DIR for a file system of the run's own" >&2
        return 1
    }
    truncate -s "${size_kib}K" "$img"
    # Inode tables and journal written now, not by a kernel thread in the
    # background of what the run measures.
    mkfs.ext4 -q -F -N 2000000 -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$img"
    mount -o loop "$img" /tmp
    chmod 1777 /tmp
}

# Prints N numeric ids free as both uid and gid on this machine, from 20000 up.
scratch_free_ids() {
    awk -F: -v n="$1" '{ used[$3] = 1 }
        END { for (id = 20000; n > 0; id++) if (!(id in used)) { print id; n-- } }' \
        /etc/passwd /etc/group
}

scratch_sshd() {
    local dir=$1
    shift
    mkdir -p "$dir/home" /run/sshd
    chmod 755 "$dir" "$dir/home"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/hostkey"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/clientkey"
    cp "$dir/clientkey.pub" "$dir/authorized_keys"
    chmod 644 "$dir/authorized_keys"
    # The view: this machine's accounts (none of the same names) plus ours.
    local users_re
    users_re="^($(printf '%s|' "$@" | sed 's/|$//')):"
    grep -Ev "$users_re" /etc/passwd >"$dir/passwd" || true
    grep -Ev "$users_re" /etc/group >"$dir/group" || true
    local user id
    local ids=()
    mapfile -t ids < <(scratch_free_ids $#)
    for user in "$@"; do
        id=${ids[0]}
        ids=("${ids[@]:1}")
        mkdir -p "$dir/home/$user"
        chown "$id:$id" "$dir/home/$user"
        # '*': no password, but not locked ('!'), which sshd would refuse.
        echo "$user:*:$id:$id::$dir/home/$user:/bin/sh" >>"$dir/passwd"
        echo "$user:x:$id:" >>"$dir/group"
    done
    SCRATCH_SSHD_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$dir/sshd_config" <<CONF
Port $SCRATCH_SSHD_PORT
ListenAddress 127.0.0.1
HostKey $dir/hostkey
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin no
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
CONF
    unshare --mount --propagation private -- sh -c \
        'mount --bind "$1/passwd" /etc/passwd && mount --bind "$1/group" /etc/group &&
         exec /usr/sbin/sshd -f "$1/sshd_config" -E "$1/sshd.log"' sh "$dir"
    local i
    SCRATCH_SSHD_PID=
    for i in $(seq 100); do
        SCRATCH_SSHD_PID=$(cat "$dir/sshd.pid" 2>/dev/null) && [ -n "$SCRATCH_SSHD_PID" ] && break
        sleep 0.05
    done
    [ -n "$SCRATCH_SSHD_PID" ] || { echo "scratch_sshd: sshd did not start:" >&2; cat "$dir/sshd.log" >&2; return 1; }
    SCRATCH_SSHD_KEY=$dir/clientkey
    SCRATCH_SSHD_KNOWN_HOSTS=$dir/known_hosts
    echo "[127.0.0.1]:$SCRATCH_SSHD_PORT $(cat "$dir/hostkey.pub")" >"$SCRATCH_SSHD_KNOWN_HOSTS"
}
