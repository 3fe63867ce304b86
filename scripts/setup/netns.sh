# Sourced by scripts/test: what the remote fault tests need
# (crates/executor-cli/tests/cli/faults.rs, test-support/src/netns.rs). They
# build "hosts" from network namespaces (iproute2: ip netns, veth), PID and mount
# namespaces (util-linux: unshare, nsenter) with a perl reaper as init, drop
# packets with iptables' statistic match, and skew the client's clock with
# libfaketime. Root only: as another user the tests say they are skipped.
if [ "$(id -u)" = 0 ]; then
    netns_packages=()
    command -v ip >/dev/null 2>&1 || netns_packages+=(iproute2)
    command -v iptables >/dev/null 2>&1 || netns_packages+=(iptables)
    command -v nsenter >/dev/null 2>&1 || netns_packages+=(util-linux)
    command -v perl >/dev/null 2>&1 || netns_packages+=(perl-base)
    [ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || netns_packages+=(libfaketime)
    if [ ${#netns_packages[@]} -gt 0 ]; then
        apt_install "${netns_packages[@]}"
    fi
    need ip "iproute2"
    need iptables "iptables"
    need unshare "util-linux"
    need nsenter "util-linux"
    need perl "perl-base"
fi
