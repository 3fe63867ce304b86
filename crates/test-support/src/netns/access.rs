//! What a test reads from the host (its paths, processes, sshd log) and the
//! executor config that reaches it.

use std::path::{Path, PathBuf};

use super::{HOST_ADDR, NetnsHost, RELAY_PORT};
use crate::sshd::descendants;

impl NetnsHost {
    /// A directory both sides see at the same path (outside the host's `/tmp`).
    pub fn shared_dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn sshd_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// How many logins sshd has accepted since the host was built.
    pub fn logins(&self) -> usize {
        self.sshd_log().matches("Accepted publickey").count()
    }

    /// A path on the host, as this namespace sees it (through the init's root).
    pub fn path(&self, on_host: &str) -> PathBuf {
        PathBuf::from(format!(
            "/proc/{}/root{on_host}",
            self.init.expect("booted")
        ))
    }

    /// Processes on the host (this namespace's pids), init and sshd excluded.
    pub fn processes(&self) -> Vec<u32> {
        let Some(init) = self.init else {
            return Vec::new();
        };
        let sshd: Vec<u32> = self
            .sshd
            .map(|s| std::iter::once(s).chain(descendants(s)).collect())
            .unwrap_or_default();
        descendants(init)
            .into_iter()
            .filter(|p| !sshd.contains(p))
            .collect()
    }

    /// The executor lines reaching this host as `user` (through the delaying
    /// relay when one runs).
    pub fn executor_yaml(&self, name: &str, user: &str) -> String {
        let port = if self.relay.is_some() { RELAY_PORT } else { 22 };
        format!(
            "  - name: {name}\n    type: ssh\n    host: {HOST_ADDR}\n    port: {port}\n    user: {user}\n    \
             identity_file: {key}\n    known_hosts_file: {kh}\n    ssh_config: /dev/null\n",
            key = self.client_key.display(),
            kh = self.known_hosts.display(),
        )
    }

    /// The home of `user` ([`crate::accounts::ROOT_USER`] or
    /// [`crate::accounts::TEST_USER`]) on the host.
    pub fn home(&self, user: &str) -> PathBuf {
        crate::accounts::home_in(self.dir.path(), user)
    }

    /// `ip netns exec <client ns>`: the prefix that runs a command as a client.
    pub fn client_prefix(&self) -> Vec<String> {
        vec![
            "ip".to_owned(),
            "netns".to_owned(),
            "exec".to_owned(),
            self.client_ns.clone(),
        ]
    }
}
