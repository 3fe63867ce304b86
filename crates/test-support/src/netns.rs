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

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::sshd::{descendants, ensure_account, run, signal};

/// The host's address, as seen from the client namespace. Every pair of
/// namespaces is a network of its own, so hosts of parallel tests can share it.
pub const HOST_ADDR: &str = "10.77.0.2";
const CLIENT_ADDR: &str = "10.77.0.1";
/// Where the delaying relay listens on the host (it forwards to sshd on 22).
pub const RELAY_PORT: u16 = 2200;

static COUNTER: AtomicU32 = AtomicU32::new(0);

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

fn ip(args: &[&str]) {
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
        std::fs::create_dir_all("/run/sshd").ok();
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
    fn boot(&mut self) {
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
        let script = format!(
            "{mount}mkdir -p /run/sshd && \
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
    fn start_sshd(&mut self) {
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

    /// Lets `user` in (the key is in the shared authorized_keys file).
    pub fn allow(&self, user: &str, useradd_args: &[&str]) {
        ensure_account(user, useradd_args);
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

    fn halt(&mut self) {
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

fn wait_gone(pid: u32) {
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

/// Moves the calling thread into network namespace `ns` (a thread's network
/// namespace is its own: the rest of the process stays where it was).
fn enter_netns(ns: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(format!("/run/netns/{ns}"))?;
    // SAFETY: setns on a valid descriptor; it changes only this thread's namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Where a [`Relay`] sends what it accepts.
enum Target {
    /// A port on the host's own loopback (its sshd).
    HostLoopback(u16),
    /// A port on this machine's loopback, outside every test namespace.
    RootLoopback(u16),
}

/// A TCP relay listening inside the host namespace that holds every chunk for
/// a fixed time before passing it on, in each direction: latency without netem.
/// Also the forwarder to this machine's loopback (with no delay).
pub struct Relay {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Connect = std::sync::mpsc::Sender<std::io::Result<TcpStream>>;

impl Relay {
    fn start(ns: &str, listen: (&'static str, u16), target: Target, one_way: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        // A socket belongs to the namespace of the thread that creates it:
        // connections to this machine's loopback are made by a thread that
        // stays here.
        let (connect_tx, connect_rx) = std::sync::mpsc::channel::<Connect>();
        if let Target::RootLoopback(port) = target {
            std::thread::spawn(move || {
                for reply in connect_rx {
                    let _ = reply.send(TcpStream::connect(("127.0.0.1", port)));
                }
            });
        }
        let ns = ns.to_owned();
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            enter_netns(&ns).expect("enter the host's network namespace");
            let listener = TcpListener::bind(listen).expect("relay listens on the host");
            listener.set_nonblocking(true).expect("nonblocking");
            ready_tx.send(()).expect("ready");
            while !flag.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((inbound, _)) => {
                        inbound.set_nonblocking(false).expect("blocking");
                        let outbound = match target {
                            // Created by this thread: inside the host's namespace.
                            Target::HostLoopback(port) => TcpStream::connect(("127.0.0.1", port)),
                            Target::RootLoopback(_) => {
                                let (reply, answer) = std::sync::mpsc::channel();
                                if connect_tx.send(reply).is_err() {
                                    break;
                                }
                                answer.recv().unwrap_or_else(|_| {
                                    Err(std::io::Error::other("connector gone"))
                                })
                            }
                        };
                        let Ok(outbound) = outbound else { continue };
                        pipe_delayed(&inbound, &outbound, one_way);
                        pipe_delayed(&outbound, &inbound, one_way);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        ready_rx
            .recv_timeout(Duration::from_secs(5))
            .expect("relay started");
        Self {
            stop,
            thread: Some(thread),
        }
    }

    fn stop(mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Copies `from` to `to`, each chunk held back `delay` from when it was read.
fn pipe_delayed(from: &TcpStream, to: &TcpStream, delay: Duration) {
    let (mut from, mut to) = (
        from.try_clone().expect("clone"),
        to.try_clone().expect("clone"),
    );
    let (tx, rx) = std::sync::mpsc::channel::<(Instant, Vec<u8>)>();
    std::thread::spawn(move || {
        let mut buf = vec![0; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = from.shutdown(Shutdown::Read);
    });
    std::thread::spawn(move || {
        for (due, bytes) in rx {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            if to.write_all(&bytes).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
