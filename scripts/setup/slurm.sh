# Sourced by scripts/test: a real single-node Slurm cluster for the Slurm
# executor's tests (crates/executor-cli/tests/cli/slurm.rs), private to this run:
# munged on its own socket, slurmctld and slurmd on their own ports, all state,
# spool, logs and the config under one temp dir, nothing in /etc or /run.
# Exports SLURM_CONF (every Slurm command reads it) and OPENCLAW_TEST_SLURM=1.
# Everything it starts is stopped by the `cleanups` of scripts/test.

oc_slurm_setup() {
    if [ "$(id -u)" != 0 ]; then
        echo "== slurm: not root, so no private Slurm cluster: the Slurm tests will say they are skipped" >&2
        return 0
    fi
    local packages=()
    command -v slurmctld >/dev/null 2>&1 || packages+=(slurmctld)
    command -v slurmd >/dev/null 2>&1 || packages+=(slurmd)
    command -v sbatch >/dev/null 2>&1 || packages+=(slurm-client)
    command -v munged >/dev/null 2>&1 || packages+=(munge)
    if [ ${#packages[@]} -gt 0 ]; then
        apt_install "${packages[@]}"
    fi
    need slurmctld "slurmctld"
    need slurmd "slurmd"
    need sbatch "slurm-client"
    need munged "munge"

    local dir
    dir=$(mktemp -d /tmp/openclaw-slurm.XXXXXX)
    # munged refuses a socket directory that others cannot traverse (700 fails).
    chmod 755 "$dir"
    mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
    chmod 755 "$dir/munge"
    cleanups+=("rm -rf '$dir'")

    # munge: a fresh key, its own socket.
    local sock="$dir/munge/munge.sock"
    dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge/munge.key"
    munged --socket="$sock" --key-file="$dir/munge/munge.key" \
        --log-file="$dir/munge/munged.log" --pid-file="$dir/munge/munged.pid" \
        --seed-file="$dir/munge/munged.seed" || {
        echo "scripts/test: munged did not start; its log:" >&2
        tail -n 20 "$dir/munge/munged.log" >&2
        exit 1
    }
    local munged_pid
    munged_pid=$(cat "$dir/munge/munged.pid")
    cleanups+=("oc_slurm_stop $munged_pid")
    munge --socket="$sock" -n | unmunge --socket="$sock" >/dev/null || {
        echo "scripts/test: munge does not work; its log:" >&2
        tail -n 20 "$dir/munge/munged.log" >&2
        exit 1
    }

    # Two free ports of our own (slurmctld, slurmd).
    local ports ctld_port slurmd_port
    ports=$(oc_free_ports 2)
    ctld_port=${ports%% *}
    slurmd_port=${ports##* }
    local host
    host=$(hostname -s)
    cat >"$dir/slurm.conf" <<CONF
ClusterName=openclaw-test
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue/scontrol for 5 minutes.
MinJobAge=300
# Time limits and kills act quickly: the tests wait for them.
KillWait=5
NodeName=$host NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF="$dir/slurm.conf"

    slurmctld -c -i || {
        echo "scripts/test: slurmctld did not start; its log:" >&2
        tail -n 20 "$dir/log/slurmctld.log" >&2
        exit 1
    }
    local i ctld_pid=
    for i in $(seq 100); do
        ctld_pid=$(cat "$dir/slurmctld.pid" 2>/dev/null) && [ -n "$ctld_pid" ] && break
        sleep 0.1
    done
    [ -n "$ctld_pid" ] || { echo "scripts/test: slurmctld wrote no pid file" >&2; exit 1; }
    # Stopped last of the Slurm daemons (cleanups run in reverse order).
    cleanups+=("oc_slurm_stop $ctld_pid")
    slurmd || {
        echo "scripts/test: slurmd did not start; its log:" >&2
        tail -n 20 "$dir/log/slurmd.log" >&2
        exit 1
    }
    local slurmd_pid=
    for i in $(seq 100); do
        slurmd_pid=$(cat "$dir/slurmd.pid" 2>/dev/null) && [ -n "$slurmd_pid" ] && break
        sleep 0.1
    done
    [ -n "$slurmd_pid" ] || { echo "scripts/test: slurmd wrote no pid file" >&2; exit 1; }
    cleanups+=("oc_slurm_stop $slurmd_pid")
    # Runs first: cancels what the tests left in this private cluster.
    cleanups+=("SLURM_CONF='$SLURM_CONF' oc_slurm_drain")

    # Ready when the node is idle: bounded, 30 s.
    local state=
    for i in $(seq 300); do
        state=$(sinfo --noheader --format=%t 2>/dev/null | head -n 1)
        [ "$state" = idle ] && break
        sleep 0.1
    done
    if [ "$state" != idle ]; then
        echo "scripts/test: the Slurm node is not idle after 30 s (state: ${state:-none}); logs:" >&2
        tail -n 10 "$dir/log/slurmctld.log" "$dir/log/slurmd.log" >&2
        exit 1
    fi
    export OPENCLAW_TEST_SLURM=1
    echo "== slurm: slurmctld pid $ctld_pid (port $ctld_port), slurmd pid $slurmd_pid (port $slurmd_port), munged pid $munged_pid; SLURM_CONF=$SLURM_CONF"
}

# Prints N distinct free TCP ports of 127.0.0.1.
oc_free_ports() {
    local n=$1 found=() port
    while [ ${#found[@]} -lt "$n" ]; do
        port=$((20000 + RANDOM % 20000))
        case " ${found[*]} " in *" $port "*) continue ;; esac
        # Free if nothing accepts a connection on it.
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            found+=("$port")
        fi
    done
    echo "${found[*]}"
}

# Stops one daemon this script started, by pid: SIGTERM, then SIGKILL after 10 s.
oc_slurm_stop() {
    kill "$1" 2>/dev/null || return 0
    local i
    for i in $(seq 100); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null || true
}

# Cancels every job of the private cluster and waits (10 s at most) until they are gone.
oc_slurm_drain() {
    [ -n "$(squeue --noheader --format=%i 2>/dev/null)" ] || return 0
    scancel --quiet --partition=debug 2>/dev/null
    local i
    for i in $(seq 100); do
        [ -n "$(squeue --noheader --format=%i --states=PENDING,RUNNING,COMPLETING 2>/dev/null)" ] || return 0
        sleep 0.1
    done
}

oc_slurm_setup
