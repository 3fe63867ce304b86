//! The faults a test inflicts on a host: link cuts, packet loss, delay, sshd
//! restarts and reboots.

use std::process::Command;
use std::time::Duration;

use super::host::{ip, wait_gone};
use super::relay::{Relay, Target};
use super::{NetnsHost, RELAY_PORT};
use crate::sshd::{descendants, run, signal};

impl NetnsHost {
    /// Cuts the link: the host's end goes down; packets are lost, no one is told.
    pub fn cut_link(&self) {
        ip(&["-n", &self.host_ns, "link", "set", &self.veth_host, "down"]);
    }

    pub fn restore_link(&self) {
        ip(&["-n", &self.host_ns, "link", "set", &self.veth_host, "up"]);
    }

    /// Drops each packet crossing the host's end with `probability`, both ways.
    pub fn add_loss(&self, probability: f64) {
        for (chain, dir) in [("INPUT", "-i"), ("OUTPUT", "-o")] {
            run(Command::new("ip")
                .args(["netns", "exec", &self.host_ns, "iptables", "-A", chain])
                .args([dir, &self.veth_host])
                .args(["-m", "statistic", "--mode", "random", "--probability"])
                .arg(probability.to_string())
                .args(["-j", "DROP"]));
        }
    }

    /// Delays every byte by `one_way` in each direction: a relay inside the host
    /// listens on [`RELAY_PORT`] and forwards to sshd. Call before writing the
    /// executor config.
    pub fn delay(&mut self, one_way: Duration) {
        self.relay = Some(Relay::start(
            &self.host_ns,
            ("0.0.0.0", RELAY_PORT),
            Target::HostLoopback(22),
            one_way,
        ));
    }

    /// Makes this machine's `127.0.0.1:port` (e.g. a slurmctld) reachable on
    /// the host's own `127.0.0.1:port`, through the test process rather than
    /// the link: it stays up when the link is cut.
    pub fn forward_loopback(&mut self, port: u16) {
        self.forwards.push(Relay::start(
            &self.host_ns,
            ("127.0.0.1", port),
            Target::RootLoopback(port),
            Duration::ZERO,
        ));
    }

    /// Adds `NAME=value` to the environment of every SSH session on the host
    /// (sshd's `SetEnv`), and restarts sshd to take it.
    pub fn session_env(&mut self, assignment: &str) {
        let config = self.dir.path().join("sshd_config");
        let mut text = std::fs::read_to_string(&config).expect("sshd_config");
        text.push_str(&format!("SetEnv {assignment}\n"));
        std::fs::write(&config, text).expect("sshd_config");
        self.restart_sshd();
    }

    /// Ends the sshd listener and every session it serves, then starts it again.
    pub fn restart_sshd(&mut self) {
        if let Some(pid) = self.sshd.take() {
            let children = descendants(pid);
            signal(pid, libc::SIGTERM);
            for child in children {
                signal(child, libc::SIGKILL);
            }
            wait_gone(pid);
        }
        self.start_sshd();
    }

    /// Every process on the host dies at once, its `/tmp` is gone; then it boots
    /// again with an empty `/tmp` and starts sshd.
    pub fn reboot(&mut self) {
        self.halt();
        self.boot();
        self.start_sshd();
    }
}
