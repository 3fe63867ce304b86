//! A userspace TCP relay inside a host's namespace: the delay fault, and the
//! forwarder to this machine's loopback.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
pub(super) enum Target {
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
    pub(super) fn start(
        ns: &str,
        listen: (&'static str, u16),
        target: Target,
        one_way: Duration,
    ) -> Self {
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

    pub(super) fn stop(mut self) {
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
