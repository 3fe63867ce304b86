//! Building a namespace host, booting its init and sshd, and halting it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::{CLIENT_ADDR, HOST_ADDR, NetnsHost, RELAY_PORT};
use crate::sshd::{descendants, run, signal};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether this machine can build namespace hosts; prints (or, in CI, fails
/// with) what is missing. Probed once per test binary.
fn available() -> bool {
    static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let available = *AVAILABLE.get_or_init(probe);
    if !available {
        crate::missing("network namespace hosts (see the message above)");
    }
    available
}

fn probe() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        crate::missing("root (network namespaces for the remote fault tests)");
        return false;
    }
    for (binary, package) in [
        ("/usr/sbin/sshd", "openssh-server"),
        ("/usr/bin/perl", "perl-base"),
        ("/usr/bin/unshare", "util-linux"),
        ("/usr/bin/nsenter", "util-linux"),
    ] {
        if !Path::new(binary).exists() {
            crate::missing(&format!("{binary}: apt-get install {package}"));
            return false;
        }
    }
    let probe = format!("ocprobe{}", std::process::id());
    let works = Command::new("ip")
        .args(["netns", "add", &probe])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _ = Command::new("ip").args(["netns", "del", &probe]).status();
    if !works {
        crate::missing("`ip netns` (iproute2, and a kernel with network namespaces)");
    }
    works
}

pub(super) fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

impl NetnsHost {
    /// Builds and boots a host with a `/tmp` of `tmp_size` (tmpfs `size=`);
    /// `None` (with a message) when the machine cannot, outside CI.
    pub fn start(tmp_size: &str) -> Option<Self> {
        Self::build(tmp_size, &[])
    }

    /// A host with a private `/tmp` of `tmp_size` (gone at each reboot) that
    /// still sees `keep`, directories of this machine's `/tmp`, at the same paths.
    pub fn start_keeping(tmp_size: &str, keep: &[PathBuf]) -> Option<Self> {
        Self::build(tmp_size, keep)
    }

    fn build(tmp_size: &str, keep: &[PathBuf]) -> Option<Self> {
        if !available() {
            return None;
        }
        let tag = format!(
            "{:x}{}",
            std::process::id() & 0xffff,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // Outside /tmp: the host mounts its own /tmp over it.
        let dir = tempfile::Builder::new()
            .prefix("openclaw-netns-")
            .tempdir_in("/var/tmp")
            .expect("temp dir");
        let d = dir.path();
        for key in ["hostkey", "clientkey"] {
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", ""])
                .arg("-f")
                .arg(d.join(key)));
        }
        std::fs::copy(d.join("clientkey.pub"), d.join("authorized_keys")).expect("keys");
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port 22\nListenAddress 0.0.0.0\nHostKey {d}/hostkey\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n",
                d = d.display()
            ),
        )
        .expect("sshd_config");
        let host_pub = std::fs::read_to_string(d.join("hostkey.pub")).expect("host key");
        let known_hosts = d.join("known_hosts");
        std::fs::write(
            &known_hosts,
            format!("{HOST_ADDR} {host_pub}[{HOST_ADDR}]:{RELAY_PORT} {host_pub}"),
        )
        .expect("known_hosts");
        crate::accounts::write_view(d);
        let mut host = Self {
            client_ns: format!("occ-{tag}"),
            host_ns: format!("och-{tag}"),
            veth_host: format!("ocvh{tag}"),
            client_key: d.join("clientkey"),
            known_hosts,
            dir,
            tmp_size: tmp_size.to_owned(),
            keep: keep.to_vec(),
            spawner: None,
            init: None,
            sshd: None,
            relay: None,
            forwards: Vec::new(),
        };
        let veth_client = format!("ocvc{tag}");
        ip(&["netns", "add", &host.client_ns]);
        ip(&["netns", "add", &host.host_ns]);
        ip(&[
            "link",
            "add",
            &veth_client,
            "type",
            "veth",
            "peer",
            "name",
            &host.veth_host,
        ]);
        ip(&["link", "set", &veth_client, "netns", &host.client_ns]);
        ip(&["link", "set", &host.veth_host, "netns", &host.host_ns]);
        let (c, h) = (host.client_ns.clone(), host.host_ns.clone());
        ip(&[
            "-n",
            &c,
            "addr",
            "add",
            &format!("{CLIENT_ADDR}/30"),
            "dev",
            &veth_client,
        ]);
        ip(&[
            "-n",
            &h,
            "addr",
            "add",
            &format!("{HOST_ADDR}/30"),
            "dev",
            &host.veth_host,
        ]);
        for (ns, dev) in [(&c, veth_client.as_str()), (&h, host.veth_host.as_str())] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        host.boot();
        host.start_sshd();
        Some(host)
    }

    /// Starts the host's init: a new PID namespace (and mount namespace with a
    /// fresh tmpfs `/tmp`) in the host's network namespace.
    pub(super) fn boot(&mut self) {
        // The init reaps what is reparented to it (runners, once their
        // launching shell has gone), as a real init does.
        let mut mount = format!(
            "mount -t tmpfs -o size={},mode=1777 openclaw-host-tmp /tmp && ",
            self.tmp_size
        );
        if !self.keep.is_empty() {
            // Bound aside before the tmpfs hides them, moved back in after.
            let (mut aside, mut back) = (String::new(), String::new());
            for (i, path) in self.keep.iter().enumerate() {
                let stage = self.dir.path().join(format!("keep{i}"));
                aside.push_str(&format!(
                    "mkdir -p '{s}' && mount --bind '{p}' '{s}' && ",
                    s = stage.display(),
                    p = path.display()
                ));
                back.push_str(&format!(
                    "mkdir -p '{p}' && mount --move '{s}' '{p}' && ",
                    s = stage.display(),
                    p = path.display()
                ));
            }
            mount = format!("{aside}{mount}{back}");
        }
        // The host's accounts: the view (its own root home, the test user).
        let accounts = crate::accounts::mount_view(self.dir.path());
        // Its own /run, so sshd's /run/sshd is the host's.
        let script = format!(
            "{mount}{accounts}mount -t tmpfs -o mode=755 openclaw-host-run /run && mkdir -p /run/sshd && \
             exec perl -e '$SIG{{TERM}} = \"IGNORE\"; while (1) {{ sleep 1 if wait() == -1 }}'"
        );
        let spawner = Command::new("ip")
            .args(["netns", "exec", &self.host_ns])
            .args([
                "unshare",
                "--pid",
                "--mount",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ])
            .stdin(Stdio::null())
            .stderr(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.path().join("host.log"))
                    .expect("host log"),
            )
            .spawn()
            .expect("start the host's init");
        let parent = spawner.id();
        self.spawner = Some(spawner);
        let started = Instant::now();
        let init = loop {
            // unshare forks the init; once it is perl, /tmp is mounted.
            let child = descendants(parent).into_iter().find(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c.starts_with(b"perl"))
            });
            if let Some(pid) = child {
                break pid;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the host's init did not start"
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        self.init = Some(init);
    }

    /// Starts sshd inside the host (it daemonizes; its parent becomes the init).
    pub(super) fn start_sshd(&mut self) {
        let init = self.init.expect("booted").to_string();
        let d = self.dir.path();
        let _ = std::fs::remove_file(d.join("sshd.pid"));
        run(Command::new("nsenter")
            .args(["-t", &init, "-p", "-m", "-n", "--", "/usr/sbin/sshd", "-f"])
            .arg(d.join("sshd_config"))
            .arg("-E")
            .arg(d.join("sshd.log")));
        let started = Instant::now();
        loop {
            // The pid file holds sshd's pid inside the host; it is written once
            // the listener is bound.
            let inner = std::fs::read_to_string(d.join("sshd.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok());
            if let Some(outer) = inner.and_then(|p| self.outer_pid(p)) {
                self.sshd = Some(outer);
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "sshd did not start on the host: {}",
                self.sshd_log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// This namespace's pid of the host's process `inner`.
    fn outer_pid(&self, inner: u32) -> Option<u32> {
        let init = self.init?;
        std::iter::once(init).chain(descendants(init)).find(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("NSpid:"))
                        .and_then(|l| l.split_whitespace().last())
                        .and_then(|p| p.parse::<u32>().ok())
                })
                == Some(inner)
        })
    }

    pub(super) fn halt(&mut self) {
        if let Some(init) = self.init.take() {
            // The kernel ends every process of a PID namespace whose init dies.
            signal(init, libc::SIGKILL);
            wait_gone(init);
        }
        if let Some(mut spawner) = self.spawner.take() {
            let _ = spawner.kill();
            let _ = spawner.wait();
        }
        self.sshd = None;
    }
}

pub(super) fn wait_gone(pid: u32) {
    let started = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() && started.elapsed() < Duration::from_secs(5)
    {
        // A zombie child of ours is reaped by its Child handle; others by their parent.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
