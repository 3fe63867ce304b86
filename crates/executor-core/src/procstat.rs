//! `/proc/<pid>/stat` lines: what liveness checks need of a process, on this
//! machine or read back from a remote one.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    pub ppid: u32,
    pub pgrp: u32,
    /// Session id: a task's payload leads its own session and process group.
    pub session: u32,
    pub zombie: bool,
    /// Start time in clock ticks since boot: with the boot id, a process's identity.
    pub start_ticks: u64,
}

impl ProcessInfo {
    /// `boot_id:start_ticks`: names one process for the lifetime of the machine.
    pub fn identity(&self, boot_id: &str) -> String {
        format!("{boot_id}:{}", self.start_ticks)
    }
}

/// Parses one `/proc/<pid>/stat` line.
pub fn parse(stat: &str) -> Option<ProcessInfo> {
    let pid = stat.split_once(' ')?.0.parse().ok()?;
    // The command name may hold spaces and parentheses; fields resume after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcessInfo {
        pid,
        zombie: matches!(*fields.first()?, "Z" | "X"),
        ppid: fields.get(1)?.parse().ok()?,
        pgrp: fields.get(2)?.parse().ok()?,
        session: fields.get(3)?.parse().ok()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

/// A live process of this machine, with its command line.
pub struct Process {
    pub info: ProcessInfo,
    pub cmdline: Vec<u8>,
}

/// The live (not zombie) processes of this machine.
pub fn process_table() -> Vec<Process> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let info = parse(&stat).filter(|i| !i.zombie)?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            Some(Process { info, cmdline })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn odd_command_names() {
        let stat = "42 (a) b (c)) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
        let info = super::parse(stat).unwrap();
        assert_eq!(
            (
                info.pid,
                info.ppid,
                info.pgrp,
                info.session,
                info.start_ticks
            ),
            (42, 1, 42, 42, 98765)
        );
        assert!(!info.zombie);
        assert_eq!(info.identity("b"), "b:98765");
    }
}
