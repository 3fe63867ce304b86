//! A real OpenSSH server on 127.0.0.1, private to one test, with its own view
//! of the accounts (see [`crate::accounts`]).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::accounts::{ROOT_USER, TEST_USER};

pub struct Sshd {
    pub dir: tempfile::TempDir,
    pub port: u16,
    /// Private key accepted for [`ROOT_USER`] and for [`TEST_USER`].
    pub client_key: PathBuf,
    /// known_hosts holding this server's key.
    pub known_hosts: PathBuf,
    pid: Option<u32>,
}

fn sshd_binary() -> Option<PathBuf> {
    let path = PathBuf::from("/usr/sbin/sshd");
    let found = path.is_file().then_some(path);
    if found.is_none() {
        crate::missing("OpenSSH server (/usr/sbin/sshd): apt-get install openssh-server");
    }
    found
}

pub(crate) fn run(command: &mut Command) {
    let output = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Sshd {
    /// Starts a server; `None` (with a message) when sshd is not installed or
    /// this is not root, outside CI.
    pub fn start() -> Option<Self> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            crate::missing("root (the test sshd runs in a mount namespace with its own accounts)");
            return None;
        }
        let sshd = sshd_binary()?;
        let dir = tempfile::tempdir().expect("temp dir");
        let d = dir.path();
        std::fs::create_dir_all("/run/sshd").ok();
        crate::accounts::write_view(d);
        for key in ["hostkey", "clientkey"] {
            if !d.join(key).exists() {
                run(Command::new("ssh-keygen")
                    .args(["-q", "-t", "ed25519", "-N", ""])
                    .arg("-f")
                    .arg(d.join(key)));
            }
        }
        let port = free_port();
        let client_pub = std::fs::read_to_string(d.join("clientkey.pub")).expect("client key");
        std::fs::write(d.join("authorized_keys"), &client_pub).expect("authorized_keys");
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n",
                d = d.display()
            ),
        )
        .expect("sshd_config");
        let host_pub = std::fs::read_to_string(d.join("hostkey.pub")).expect("host key");
        let known_hosts = d.join("known_hosts");
        std::fs::write(&known_hosts, format!("[127.0.0.1]:{port} {host_pub}"))
            .expect("known_hosts");
        let mut server = Self {
            client_key: d.join("clientkey"),
            known_hosts,
            port,
            pid: None,
            dir,
        };
        let _ = sshd;
        server.resume();
        Some(server)
    }

    /// Starts (again) the listener, on the same port with the same keys.
    pub fn resume(&mut self) {
        let d = self.dir.path();
        let _ = std::fs::remove_file(d.join("sshd.pid"));
        // In a mount namespace of its own, where the accounts are the view's;
        // the daemon keeps it alive, its sessions live in it.
        let script = format!(
            "{}exec /usr/sbin/sshd -f '{d}/sshd_config' -E '{d}/sshd.log'",
            crate::accounts::mount_view(d),
            d = d.display()
        );
        run(Command::new("unshare")
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(script));
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(pid) = std::fs::read_to_string(d.join("sshd.pid"))
                && let Ok(pid) = pid.trim().parse()
                && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            {
                self.pid = Some(pid);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("sshd did not start: {}", self.log());
    }

    /// Stops the listener and every connection it serves (the tests' link drop).
    /// Makes the host hang: the server and every connection it serves are
    /// stopped (SIGSTOP), so clients connect but hear nothing until [`Self::thaw`].
    pub fn freeze(&self) {
        if let Some(pid) = self.pid {
            signal(pid, libc::SIGSTOP);
            for child in descendants(pid) {
                signal(child, libc::SIGSTOP);
            }
        }
    }

    /// Undoes [`Self::freeze`].
    pub fn thaw(&self) {
        if let Some(pid) = self.pid {
            for child in descendants(pid) {
                signal(child, libc::SIGCONT);
            }
            signal(pid, libc::SIGCONT);
        }
    }

    pub fn stop(&mut self) {
        let Some(pid) = self.pid.take() else { return };
        // Connections are served by children of the listener; they are ours to end.
        let children = descendants(pid);
        signal(pid, libc::SIGTERM);
        // A frozen server (see `freeze`) acts on SIGTERM only once continued.
        signal(pid, libc::SIGCONT);
        for child in children {
            signal(child, libc::SIGKILL);
        }
        let started = Instant::now();
        while Path::new(&format!("/proc/{pid}")).exists()
            && started.elapsed() < Duration::from_secs(5)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// The home of `user` ([`ROOT_USER`] or [`TEST_USER`]) on this server.
    pub fn home(&self, user: &str) -> PathBuf {
        crate::accounts::home_in(self.dir.path(), user)
    }

    /// The executor config lines that reach this server as `user`.
    pub fn executor_yaml(&self, name: &str, user: &str) -> String {
        format!(
            "  - name: {name}\n    type: ssh\n    host: 127.0.0.1\n    port: {port}\n    user: {user}\n    \
             identity_file: {key}\n    known_hosts_file: {kh}\n    ssh_config: /dev/null\n",
            port = self.port,
            key = self.client_key.display(),
            kh = self.known_hosts.display(),
        )
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn signal(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory-safety preconditions; these are our processes.
        unsafe { libc::kill(pid, signal) };
    }
}

/// Processes below `root` in the process tree.
pub(crate) fn descendants(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<u32>().ok());
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = Vec::new();
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (pid, _) in parents.iter().filter(|(_, p)| *p == parent) {
            found.push(*pid);
            frontier.push(*pid);
        }
    }
    found
}
