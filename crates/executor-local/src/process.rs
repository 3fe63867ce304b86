//! Reading the Linux process table, for liveness checks that survive pid reuse
//! and for finding every process of a task's tree.

use std::collections::HashMap;
use std::sync::OnceLock;

pub use executor_core::procstat::ProcessInfo;

pub fn read_process(pid: u32) -> Option<ProcessInfo> {
    let stat = read_proc_file(&format!("/proc/{pid}/stat")).ok()?;
    executor_core::procstat::parse(&stat)
}

/// A small /proc file, read in one go: /proc reports no size, so
/// `fs::read_to_string` would `stat` it and grow its buffer from 32 bytes
/// (nine system calls for a `stat` line instead of four). Every look at a
/// live local task reads one, and a bulk kill one per process per tick.
fn read_proc_file(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    // Not `File::read_to_string`, which `stat`s the file for a size hint.
    let mut file = std::fs::File::open(path)?;
    let mut bytes = vec![0; 1024];
    let mut len = 0;
    loop {
        if len == bytes.len() {
            bytes.resize(len * 2, 0);
        }
        match file.read(&mut bytes[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    bytes.truncate(len);
    String::from_utf8(bytes)
        .map_err(|err| std::io::Error::new(std::io::ErrorKind::InvalidData, err))
}

fn boot_id() -> &'static str {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    BOOT_ID.get_or_init(|| {
        read_proc_file("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
}

/// A string that names one process for the lifetime of the machine.
pub fn identity(info: &ProcessInfo) -> String {
    info.identity(boot_id())
}

/// The start time (clock ticks since boot) in an identity from [`identity`]:
/// `Some(0)` when there is none to go by, `None` when it is of another boot
/// (no process of that boot is alive).
pub fn started_after(identity: Option<&str>) -> Option<u64> {
    let Some(identity) = identity else {
        return Some(0);
    };
    let (boot, ticks) = identity.rsplit_once(':')?;
    if boot != boot_id() {
        return None;
    }
    ticks.parse().ok()
}

/// Whether `pid` is still the process recorded as `expected_identity`, and running.
pub fn is_same_live_process(pid: u32, expected_identity: Option<&str>) -> bool {
    same_process(pid, expected_identity).is_some_and(|zombie| !zombie)
}

/// Whether `pid` is the process recorded as `expected_identity` (`None`:
/// any): `Some(true)` when it has exited and waits for its parent.
pub(crate) fn same_process(pid: u32, expected_identity: Option<&str>) -> Option<bool> {
    let info = read_process(pid)?;
    // Compared in place: a refresh checks a thousand runners.
    let same = expected_identity.is_none_or(|expected| {
        expected
            .rsplit_once(':')
            .is_some_and(|(boot, ticks)| boot == boot_id() && ticks.parse() == Ok(info.start_ticks))
    });
    same.then_some(info.zombie)
}

static UMASK: OnceLock<Option<String>> = OnceLock::new();

/// This process's umask as `umask` prints it (`0022`): as [`remember_umask`]
/// found it, or else from /proc; read once (a batch launches many runners).
pub fn own_umask() -> Option<String> {
    UMASK.get_or_init(read_umask).clone()
}

/// Notes this process's umask with two `umask` calls instead of a read of
/// `/proc/self/status` (a dozen system calls, and the kernel formats the
/// whole file). Reading it that way sets it for a moment, so this is only for
/// a program's start, before it has other threads that could create a file
/// or a process meanwhile.
pub fn remember_umask() {
    UMASK.get_or_init(|| Some(umask_by_setting()));
}

fn umask_by_setting() -> String {
    // SAFETY: umask cannot fail; the old mask is put back at once.
    let mask = unsafe {
        let mask = libc::umask(0o077);
        libc::umask(mask);
        mask
    };
    format!("{:04o}", mask & 0o777)
}

fn read_umask() -> Option<String> {
    let status = read_proc_file("/proc/self/status").ok()?;
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))?
        .trim();
    (!mask.is_empty() && mask.bytes().all(|b| (b'0'..=b'7').contains(&b))).then(|| mask.to_owned())
}

/// Whether a live process names `script` as an argument: a runner
/// (`/bin/sh <task dir>/runner.sh <task dir> …`), or a batch's forker and its
/// parked subshells, whose command line names every runner of the batch.
pub fn runs_script(script: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let script = script.as_os_str().as_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.filter_map(Result::ok).any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            return false;
        };
        command_line(pid).is_some_and(|cmdline| {
            cmdline.split(|b| *b == 0).any(|arg| arg == script)
                && read_process(pid).is_some_and(|p| !p.zombie)
        })
    })
}

/// How long a process may show no command line while it execs.
const EXEC_WINDOW: std::time::Duration = std::time::Duration::from_secs(1);

/// The command line of `pid`, waiting out an exec: between switching to the
/// new program's memory and laying out its arguments, a process shows an
/// empty one, and a runner that has just been let go of its gate (or spawned)
/// must not look absent then. Kernel threads, whose command line is always
/// empty, are the children of `kthreadd` (pid 2).
pub(crate) fn command_line(pid: u32) -> Option<Vec<u8>> {
    let started = std::time::Instant::now();
    loop {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        if !cmdline.is_empty() || started.elapsed() > EXEC_WINDOW {
            return Some(cmdline);
        }
        let info = read_process(pid)?;
        if info.zombie || pid == 2 || info.ppid == 2 {
            return Some(cmdline);
        }
        std::thread::sleep(std::time::Duration::from_micros(200));
    }
}

/// How many times this process has read the whole process table: a bulk
/// kill must read it once per tick for all its tasks, never once per task
/// (a test holds it to that through `OPENCLAW_DEBUG_COUNTS`).
pub static TABLE_SCANS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Every process visible in /proc.
pub fn process_table() -> Vec<ProcessInfo> {
    TABLE_SCANS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            read_process(pid)
        })
        .collect()
}

/// The process group a task's payload leads: its id (the payload's pid), and
/// the start time its members cannot predate (the runner's), so that a group
/// id reused after the task's group emptied is not taken for it.
#[derive(Debug, Clone, Copy)]
pub struct PayloadGroup {
    pub pgid: u32,
    pub since: u64,
}

impl PayloadGroup {
    /// The payload's group did setsid: its members share its session too.
    fn holds(&self, info: &ProcessInfo) -> bool {
        info.pgrp == self.pgid && info.session == self.pgid && info.start_ticks >= self.since
    }
}

/// One read of the process table, indexed by parent and by group, so that
/// the trees of a thousand tasks are found in one pass over it.
pub struct ProcessIndex {
    by_pid: HashMap<u32, ProcessInfo>,
    children: HashMap<u32, Vec<u32>>,
    groups: HashMap<u32, Vec<u32>>,
}

impl ProcessIndex {
    pub fn scan() -> Self {
        Self::of(process_table())
    }

    pub fn of(table: Vec<ProcessInfo>) -> Self {
        let mut index = Self {
            by_pid: HashMap::with_capacity(table.len()),
            children: HashMap::new(),
            groups: HashMap::new(),
        };
        for info in table {
            index.children.entry(info.ppid).or_default().push(info.pid);
            index.groups.entry(info.pgrp).or_default().push(info.pid);
            index.by_pid.insert(info.pid, info);
        }
        index
    }

    /// Live processes that are in the payload's group or descend from
    /// `root` (not `root` itself).
    pub fn tree(&self, root: Option<u32>, group: Option<PayloadGroup>) -> Vec<ProcessInfo> {
        let mut members: Vec<ProcessInfo> = Vec::new();
        let mut found = std::collections::HashSet::new();
        let mut frontier: Vec<u32> = root.into_iter().collect();
        while let Some(parent) = frontier.pop() {
            for pid in self.children.get(&parent).into_iter().flatten() {
                if found.insert(*pid) {
                    members.push(self.by_pid[pid]);
                    frontier.push(*pid);
                }
            }
        }
        if let Some(group) = group {
            for pid in self.groups.get(&group.pgid).into_iter().flatten() {
                let info = self.by_pid[pid];
                if group.holds(&info) && found.insert(*pid) {
                    members.push(info);
                }
            }
        }
        members.retain(|p| !p.zombie && Some(p.pid) != root);
        members
    }

    /// Whether `seen` is still running as the same process (not a zombie, not
    /// a reused pid) in this table.
    pub fn runs(&self, seen: &ProcessInfo) -> bool {
        self.by_pid
            .get(&seen.pid)
            .is_some_and(|now| !now.zombie && now.start_ticks == seen.start_ticks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proc_file_is_read_whole_whatever_its_length() {
        let status = read_proc_file("/proc/self/status").expect("status");
        assert!(status.len() > 1024, "longer than the first buffer");
        assert!(status.starts_with("Name:") && status.ends_with('\n'));
        let stat = read_proc_file(&format!("/proc/{}/stat", std::process::id())).expect("stat");
        assert_eq!(
            executor_core::procstat::parse(&stat).map(|p| p.pid),
            Some(std::process::id())
        );
    }

    #[test]
    fn the_umask_set_and_put_back_is_the_one_proc_reports() {
        let from_proc = read_umask().expect("Umask in /proc/self/status");
        assert_eq!(umask_by_setting(), from_proc);
        assert_eq!(
            read_umask().as_deref(),
            Some(from_proc.as_str()),
            "put back"
        );
    }

    #[test]
    fn own_process_is_alive() {
        let me = read_process(std::process::id()).unwrap();
        assert!(is_same_live_process(me.pid, Some(&identity(&me))));
        assert!(!is_same_live_process(me.pid, Some("other-boot:1")));
    }
}
