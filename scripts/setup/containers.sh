# Sourced by scripts/test: real container engines for the container executor's
# tests (crates/executor-cli/tests/cli/container.rs), private to this run:
#  - a Docker Engine (dockerd) on its own socket, data and containerd namespace,
#    with no iptables and no bridge;
#  - Podman with runc and cgroupfs, its storage and state under the same temp dir;
#  - test images built from tarballs with `import` (no registry is reachable):
#    busybox, and busybox + glibc + bash + the real claude (OPENCLAW_TEST_CLAUDE,
#    from claude.sh, which runs first).
# Exports DOCKER_HOST, CONTAINERS_CONF, CONTAINERS_STORAGE_CONF and the
# OPENCLAW_TEST_* variables the tests read. Everything it starts is stopped by
# the `cleanups` of scripts/test.

oc_engines_setup() {
    if [ "$(id -u)" != 0 ]; then
        echo "== containers: not root, so no private dockerd/podman: the container tests will say they are skipped" >&2
        return 0
    fi
    local packages=()
    command -v dockerd >/dev/null 2>&1 || packages+=(docker.io)
    command -v podman >/dev/null 2>&1 || packages+=(podman)
    command -v runc >/dev/null 2>&1 || packages+=(runc)
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
        packages+=(busybox-static)
    if [ ${#packages[@]} -gt 0 ]; then
        apt_install "${packages[@]}"
    fi
    need dockerd "docker.io"
    need docker "docker.io"
    need podman "podman"
    need runc "runc"

    local dir
    dir=$(mktemp -d /tmp/openclaw-engines.XXXXXX)
    chmod 755 "$dir"
    cleanups+=("oc_engines_remove '$dir'")

    # Docker: everything under $dir, nothing in /etc, /var/lib/docker or iptables.
    local ns="openclaw-test-$$"
    dockerd --data-root "$dir/docker/data" --exec-root "$dir/docker/exec" \
        --pidfile "$dir/docker/dockerd.pid" -H "unix://$dir/docker/docker.sock" \
        --iptables=false --ip6tables=false --bridge=none \
        --containerd-namespace "$ns" --containerd-plugins-namespace "$ns-plugins" \
        >"$dir/dockerd.log" 2>&1 &
    local dockerd_pid=$!
    # Stop it (it stops its containers and its containerd), at most 30 s.
    cleanups+=("kill $dockerd_pid 2>/dev/null; for _ in \$(seq 300); do kill -0 $dockerd_pid 2>/dev/null || break; sleep 0.1; done")
    export DOCKER_HOST="unix://$dir/docker/docker.sock"
    local i
    for i in $(seq 300); do
        docker info >/dev/null 2>&1 && break
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            echo "scripts/test: dockerd exited; its log:" >&2
            tail -n 20 "$dir/dockerd.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    docker info >/dev/null 2>&1 || {
        echo "scripts/test: dockerd did not answer within 30 s; its log:" >&2
        tail -n 20 "$dir/dockerd.log" >&2
        exit 1
    }

    # Podman: runc and cgroupfs (crun fails on this kind of host), private storage.
    mkdir -p "$dir/podman"
    cat >"$dir/podman/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
log_driver = "k8s-file"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/podman/events.log"
tmp_dir = "$dir/podman/tmp"
[network]
network_config_dir = "$dir/podman/networks"
CONF
    cat >"$dir/podman/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$dir/podman/root"
runroot = "$dir/podman/runroot"
CONF
    export CONTAINERS_CONF="$dir/podman/containers.conf"
    export CONTAINERS_STORAGE_CONF="$dir/podman/storage.conf"
    # Runs before the dir is removed: stops what the tests left running
    # (conmon monitors), only in this private storage.
    cleanups+=("CONTAINERS_CONF='$CONTAINERS_CONF' CONTAINERS_STORAGE_CONF='$CONTAINERS_STORAGE_CONF' podman rm --all --force --time 0 >/dev/null 2>&1")
    podman info >/dev/null

    # Images. busybox: the static binary and its applets (sh, setsid, date, ...).
    local root="$dir/images/busybox"
    mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp" "$root/proc" "$root/sys" "$root/dev"
    chmod 1777 "$root/tmp"
    cp /bin/busybox "$root/bin/busybox"
    local applet
    for applet in $("$root/bin/busybox" --list); do
        [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    oc_import "$root" openclaw-test/busybox:latest "ENV PATH=/usr/local/bin:/usr/bin:/bin"
    export OPENCLAW_TEST_BUSYBOX_IMAGE=openclaw-test/busybox:latest

    # claude: busybox plus the glibc libraries claude and bash link, bash (the
    # agent's Bash tool wants a real shell) and the claude binary itself.
    if [ -n "${OPENCLAW_TEST_CLAUDE:-}" ] && [ -x "$OPENCLAW_TEST_CLAUDE" ]; then
        local croot="$dir/images/claude" lib
        cp -a "$root" "$croot"
        mkdir -p "$croot/lib/x86_64-linux-gnu" "$croot/lib64" "$croot/usr/local/bin"
        for lib in $(ldd "$OPENCLAW_TEST_CLAUDE" /bin/bash | awk '/=> \//{print $3}' | sort -u); do
            cp -L "$lib" "$croot/lib/x86_64-linux-gnu/"
        done
        cp -L /lib64/ld-linux-x86-64.so.2 "$croot/lib64/"
        rm -f "$croot/bin/bash"
        cp /bin/bash "$croot/bin/bash"
        cp "$(readlink -f "$OPENCLAW_TEST_CLAUDE")" "$croot/usr/local/bin/claude"
        oc_import "$croot" openclaw-test/claude:latest "ENV PATH=/usr/local/bin:/usr/bin:/bin"
        rm -rf "$croot"
        export OPENCLAW_TEST_CLAUDE_IMAGE=openclaw-test/claude:latest
    elif [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
        # The agent tests in containers need this image: in CI, no image is a
        # failed run, said here (claude.sh, sourced before this, exports it).
        echo "scripts/setup/containers.sh: no claude binary (OPENCLAW_TEST_CLAUDE) for the claude test image: source scripts/setup/claude.sh first" >&2
        exit 1
    else
        echo "== containers: no OPENCLAW_TEST_CLAUDE, so no claude test image: the agent tests in containers skip"
    fi
    export OPENCLAW_TEST_DOCKER_HOST="$DOCKER_HOST"
    export OPENCLAW_TEST_PODMAN=1
    echo "== containers: dockerd pid $dockerd_pid on $DOCKER_HOST, podman storage in $dir/podman"
}

# Removes the engines' temp dir, after unmounting what they left mounted there
# (dockerd keeps a bind mount of the network namespace under its exec-root).
oc_engines_remove() {
    local mounts
    mounts=$(awk -v dir="$1/" 'index($5, dir) == 1 {print $5}' /proc/self/mountinfo | sort -r)
    [ -z "$mounts" ] || printf '%s\n' "$mounts" | xargs -r -d '\n' umount -l
    rm -rf "$1"
}

# Imports a root file system into both engines as an image.
oc_import() {
    local engine log="$1.import.log"
    for engine in docker podman; do
        if ! tar -C "$1" -c . | "$engine" import --change "$3" - "$2" >"$log" 2>&1; then
            echo "scripts/test: $engine import of $2 failed:" >&2
            cat "$log" >&2
            exit 1
        fi
    done
}

oc_engines_setup
