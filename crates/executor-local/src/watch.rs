//! Waking up when local runners exit: a pidfd per runner (Linux 5.3+), all
//! polled at once. A runner exits right after it records the task's end, so a
//! supervisor that waits here notices a local task's end at once instead of
//! at its next round.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use executor_core::TaskId;

use crate::process::same_process;

/// The runners watched, by task.
#[derive(Default)]
pub struct ExitWatch {
    fds: HashMap<TaskId, OwnedFd>,
    /// Tasks whose runner was gone when first watched: they are due at once.
    gone: Vec<TaskId>,
}

impl ExitWatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Watches exactly these runners (task, runner pid, runner identity):
    /// pidfds are opened for new ones and closed for those no longer given.
    pub fn watch(&mut self, runners: &[(TaskId, u32, Option<&str>)]) {
        let wanted: HashMap<TaskId, (u32, Option<&str>)> = runners
            .iter()
            .map(|(id, pid, identity)| (*id, (*pid, *identity)))
            .collect();
        // A task another command saw end first is no longer live: its
        // runner, if this process's child, is collected as it is let go.
        self.fds.retain(|id, fd| {
            let keep = wanted.contains_key(id);
            if !keep {
                reap_if_child(fd);
            }
            keep
        });
        self.gone.clear();
        for (id, (pid, identity)) in wanted {
            if self.fds.contains_key(&id) {
                continue;
            }
            match pidfd_open(pid).map(|fd| (same_process(pid, identity), fd)) {
                // Checked after opening: the pidfd pins the pid, so a process
                // that is the runner now stays the one watched.
                Ok((Some(false), fd)) => {
                    self.fds.insert(id, fd);
                }
                Ok((exited, fd)) => {
                    if exited == Some(true) {
                        reap_if_child(&fd);
                    }
                    self.gone.push(id);
                }
                Err(err) if err.raw_os_error() == Some(libc::ESRCH) => self.gone.push(id),
                // Out of descriptors (or no pidfds): not watched, so looked at
                // every round like a remote task; never taken for gone, which
                // would have it looked at on every wake-up.
                Err(_) => {}
            }
        }
    }

    /// Whether the runner of `id` is watched: its exit will be reported.
    pub fn is_watching(&self, id: &TaskId) -> bool {
        self.fds.contains_key(id)
    }

    /// How many runners are watched.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Blocks until a watched runner exits or `timeout` passes (or a signal
    /// arrives); returns the tasks whose runners have exited. Without pidfds
    /// (an old kernel) it just sleeps.
    pub fn wait(&mut self, timeout: Duration) -> Vec<TaskId> {
        self.wait_or(timeout, None).exited
    }

    /// As [`wait`](Self::wait), and also wakes when `wake` becomes readable
    /// (the supervisor's requests for a round); says which it was.
    pub fn wait_or(&mut self, timeout: Duration, wake: Option<BorrowedFd<'_>>) -> Woken {
        if !self.gone.is_empty() {
            return Woken {
                exited: std::mem::take(&mut self.gone),
                asked: false,
            };
        }
        let ids: Vec<TaskId> = self.fds.keys().copied().collect();
        let mut polled: Vec<libc::pollfd> = ids
            .iter()
            .map(|id| libc::pollfd {
                fd: self.fds[id].as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        if let Some(wake) = wake {
            polled.push(libc::pollfd {
                fd: wake.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        let mut woken = Woken::default();
        if polled.is_empty() {
            std::thread::sleep(timeout);
            return woken;
        }
        // SAFETY: `polled` is a valid array of `polled.len()` pollfds for the call.
        let ready =
            unsafe { libc::poll(polled.as_mut_ptr(), polled.len() as libc::nfds_t, millis) };
        if ready <= 0 {
            return woken;
        }
        woken.asked = wake.is_some() && polled.last().is_some_and(|p| p.revents != 0);
        woken.exited = ids
            .into_iter()
            .zip(&polled)
            .filter(|(_, p)| p.revents != 0)
            .map(|(id, _)| id)
            .collect();
        for id in &woken.exited {
            if let Some(fd) = self.fds.remove(id) {
                reap_if_child(&fd);
            }
        }
        woken
    }
}

/// Why [`ExitWatch::wait_or`] returned.
#[derive(Debug, Default)]
pub struct Woken {
    /// Tasks whose runners have exited.
    pub exited: Vec<TaskId>,
    /// The wake descriptor became readable.
    pub asked: bool,
}

/// Collects an exited runner that is this process's own child (one it
/// started for a command that handed it a dispatch, or from the queue), which
/// would otherwise stay a zombie for as long as the supervisor runs. Another
/// process's runner is its parent's or init's to collect: the call fails
/// (`ECHILD`) and nothing happens.
fn reap_if_child(pidfd: &OwnedFd) {
    // SAFETY: a zeroed siginfo_t is a valid out-parameter for waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid on a pidfd this watch owns, without blocking.
    unsafe {
        libc::waitid(
            libc::P_PIDFD,
            pidfd.as_raw_fd() as libc::id_t,
            &mut info,
            libc::WEXITED | libc::WNOHANG,
        )
    };
}

fn pidfd_open(pid: u32) -> std::io::Result<OwnedFd> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| std::io::Error::from_raw_os_error(libc::ESRCH))?;
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    let fd = libc::c_int::try_from(fd)
        .ok()
        .filter(|fd| *fd >= 0)
        .ok_or_else(std::io::Error::last_os_error)?;
    // SAFETY: `fd` was just returned by pidfd_open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Raises this process's soft limit on open files to its hard limit: a
/// supervisor watches a pidfd per live local runner, and a thousand of them
/// pass the usual soft limit of 1,024.
pub fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit read and write the one struct given.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::time::Instant;

    #[test]
    fn wakes_when_a_watched_process_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .expect("sleep starts");
        let id = TaskId::new();
        let mut watch = ExitWatch::new();
        watch.watch(&[(id, child.id(), None)]);
        assert_eq!(watch.len(), 1);
        let started = Instant::now();
        let mut exited = Vec::new();
        while exited.is_empty() && started.elapsed() < Duration::from_secs(5) {
            exited = watch.wait(Duration::from_secs(5));
        }
        assert_eq!(exited, vec![id]);
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(250), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        let _ = child.wait();
    }

    // The children are collected by the watch, which is what is tested.
    #[allow(clippy::zombie_processes)]
    #[test]
    fn exited_runners_of_this_process_are_collected_not_left_zombies() {
        let gone = |pid: u32| !Path::new(&format!("/proc/{pid}")).exists();
        let zombie = |pid: u32| crate::process::read_process(pid).is_some_and(|p| p.zombie);
        let until_zombie = |pid: u32| {
            let since = Instant::now();
            while !zombie(pid) && since.elapsed() < Duration::from_secs(5) {
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        // One ends before it is watched, one while it is, and one is let go
        // (another command saw its task end) after it ended unseen.
        let early = std::process::Command::new("true").spawn().expect("true");
        let late = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .expect("sleep");
        let dropped = std::process::Command::new("sleep")
            .arg("0.1")
            .spawn()
            .expect("sleep");
        until_zombie(early.id());
        let ids = [TaskId::new(), TaskId::new(), TaskId::new()];
        let mut watch = ExitWatch::new();
        watch.watch(&[
            (ids[0], early.id(), None),
            (ids[1], late.id(), None),
            (ids[2], dropped.id(), None),
        ]);
        assert!(gone(early.id()), "collected when first watched");
        until_zombie(dropped.id());
        watch.watch(&[(ids[1], late.id(), None)]);
        assert!(gone(dropped.id()), "collected when let go");
        let mut exited = watch.wait(Duration::from_secs(5));
        while !exited.contains(&ids[1]) {
            exited = watch.wait(Duration::from_secs(5));
        }
        assert!(gone(late.id()), "collected when its exit woke the watch");
    }

    #[test]
    fn a_process_already_gone_is_due_at_once() {
        let mut child = std::process::Command::new("true").spawn().expect("true");
        let pid = child.id();
        let _ = child.wait();
        let id = TaskId::new();
        let mut watch = ExitWatch::new();
        watch.watch(&[(id, pid, None)]);
        assert_eq!(watch.wait(Duration::from_secs(5)), vec![id]);
        assert!(watch.is_empty());
    }
}
