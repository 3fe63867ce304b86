//! Reading the Linux process table, for liveness checks that survive pid reuse
//! and for finding every process of a task's tree.

use std::sync::OnceLock;

pub use executor_core::procstat::ProcessInfo;

pub fn read_process(pid: u32) -> Option<ProcessInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    executor_core::procstat::parse(&stat)
}

fn boot_id() -> &'static str {
    static BOOT_ID: OnceLock<String> = OnceLock::new();
    BOOT_ID.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
}

/// A string that names one process for the lifetime of the machine.
pub fn identity(info: &ProcessInfo) -> String {
    info.identity(boot_id())
}

/// Whether `pid` is still the process recorded as `expected_identity`, and running.
pub fn is_same_live_process(pid: u32, expected_identity: Option<&str>) -> bool {
    match read_process(pid) {
        Some(info) if !info.zombie => {
            expected_identity.is_none_or(|expected| identity(&info) == expected)
        }
        _ => false,
    }
}

/// Whether a live process was started with `script` as an argument (how the
/// runner is started: `/bin/sh <task dir>/runner.sh <task dir>`). Until it
/// execs, a forked runner still holds its launcher's dispatch lock.
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
        std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
            cmdline.split(|b| *b == 0).any(|arg| arg == script)
                && read_process(pid).is_some_and(|p| !p.zombie)
        })
    })
}

/// Every process visible in /proc.
pub fn process_table() -> Vec<ProcessInfo> {
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

/// Live processes that are in process group `pgrp` or descend from `root` (not `root` itself).
pub fn task_tree(table: &[ProcessInfo], root: Option<u32>, pgrp: Option<u32>) -> Vec<ProcessInfo> {
    let mut members: Vec<ProcessInfo> = Vec::new();
    let mut frontier: Vec<u32> = root.into_iter().collect();
    while let Some(parent) = frontier.pop() {
        for info in table.iter().filter(|p| p.ppid == parent) {
            if !members.iter().any(|m| m.pid == info.pid) {
                members.push(*info);
                frontier.push(info.pid);
            }
        }
    }
    if let Some(pgrp) = pgrp {
        for info in table.iter().filter(|p| p.pgrp == pgrp) {
            if !members.iter().any(|m| m.pid == info.pid) {
                members.push(*info);
            }
        }
    }
    members.retain(|p| !p.zombie && Some(p.pid) != root);
    members
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive() {
        let me = read_process(std::process::id()).unwrap();
        assert!(is_same_live_process(me.pid, Some(&identity(&me))));
        assert!(!is_same_live_process(me.pid, Some("other-boot:1")));
    }
}
