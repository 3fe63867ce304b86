//! A remote "host" whose link can really fail: its own network namespace, joined
//! by a veth pair to a "client" namespace in which the CLI under test runs.
//!
//! Layout (TESTING.md's network rule: namespace addresses are reached only from
//! inside a namespace):
//!
//! ```text
//!   client netns  [CLI, ssh, ControlMaster]  10.77.0.1 --veth-- 10.77.0.2  host netns
//!                                                          [pid ns + mount ns: sshd,
//!                                                           task runners, tmpfs /tmp]
//! ```
//!
//! The host side runs in a PID namespace of its own whose init is a small reaper,
//! and a mount namespace with a private tmpfs on `/tmp` (the default task root
//! lives there). So:
//! - a link cut is `ip link set down` on the host's end of the veth: packets
//!   vanish, nothing is told to either side, as when a cable or a route goes;
//! - an sshd restart ends the listener and every session it serves;
//! - a reboot SIGKILLs the PID namespace's init (the kernel ends every process
//!   in it) and drops its `/tmp`; the host comes back with an empty `/tmp`, the
//!   same address and the same host key;
//! - loss is `iptables -m statistic --mode random` DROP rules on the host's end;
//! - delay is a userspace TCP relay inside the host namespace (see [`Relay`]):
//!   this machine's kernel has no `sch_netem`, so `tc qdisc … netem` is not
//!   available ("Specified qdisc kind is unknown").
//!
//! A Slurm login node ([`NetnsHost::start_keeping`]) keeps seeing chosen
//! directories of this machine's `/tmp` (the test cluster's config and munge
//! socket) through its private one, bound in again at every boot.
//!
//! Everything is torn down in `Drop`: processes in both namespaces by PID, the
//! namespaces (and with them the veth pair and the tmpfs), the temp dir.

mod access;
mod faults;
mod host;
mod relay;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::sshd::signal;

pub use relay::Relay;

/// The host's address, as seen from the client namespace. Every pair of
/// namespaces is a network of its own, so hosts of parallel tests can share it.
pub const HOST_ADDR: &str = "10.77.0.2";
const CLIENT_ADDR: &str = "10.77.0.1";
/// Where the delaying relay listens on the host (it forwards to sshd on 22).
pub const RELAY_PORT: u16 = 2200;

pub struct NetnsHost {
    pub client_ns: String,
    pub host_ns: String,
    veth_host: String,
    dir: tempfile::TempDir,
    pub client_key: PathBuf,
    pub known_hosts: PathBuf,
    /// Size of the host's `/tmp` tmpfs (e.g. `64m`).
    tmp_size: String,
    /// Paths of this machine's `/tmp` the host keeps seeing through its own
    /// `/tmp` (bound in at every boot): a login node's Slurm config and munge
    /// socket, which a real one has on its own disk.
    keep: Vec<PathBuf>,
    /// `ip netns exec … unshare …`: the parent of the host's init.
    spawner: Option<Child>,
    /// The host's init (pid 1 inside), as a pid of this namespace.
    init: Option<u32>,
    /// The sshd listener, as a pid of this namespace.
    sshd: Option<u32>,
    relay: Option<Relay>,
    forwards: Vec<Relay>,
}

/// Pids of the processes inside network namespace `ns`.
fn pids_in(ns: &str) -> Vec<u32> {
    Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

impl Drop for NetnsHost {
    fn drop(&mut self) {
        if let Some(relay) = self.relay.take() {
            relay.stop();
        }
        for forward in self.forwards.drain(..) {
            forward.stop();
        }
        self.halt();
        // What the client side started (ssh masters, webhook deliverers) and
        // anything left on the host side: all of it this test's.
        for ns in [&self.client_ns, &self.host_ns] {
            for pid in pids_in(ns) {
                signal(pid, libc::SIGKILL);
            }
        }
        for ns in [&self.client_ns, &self.host_ns] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}
