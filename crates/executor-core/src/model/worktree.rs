//! A task's own git worktree (`--worktree`): where it was made from, and the
//! result the runner recorded once the payload ended.

use serde::{Deserialize, Serialize};

use super::id::TaskId;

/// Version of `result.json`'s schema.
pub const RESULT_SCHEMA_VERSION: u32 = 1;

/// Prefix of every branch a task works on; `cleanup` never deletes another.
pub const BRANCH_PREFIX: &str = "openclaw/";

/// What `start`/`run --worktree` asked for, before the executing host checked it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorktreeRequest {
    /// The commit-ish the worktree starts from (`None`: the workspace's `HEAD`).
    pub base: Option<String>,
    /// Ship the repository from this machine (`--sync`): the repository at
    /// this path here is bundled at the base and the worktree is made from
    /// the bundle on the executing host, which needs no clone.
    pub sync_from: Option<std::path::PathBuf>,
}

/// A task's worktree, as dispatched (and, once ended, with its result).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worktree {
    /// The branch the task's work is committed on (`openclaw/<short id>`).
    pub branch: String,
    /// The commit the worktree was made from.
    pub base: String,
    /// The repository's top level on the executing host.
    pub repo: String,
    /// Where the workspace lies below the top level (`""`: the top level), so
    /// the payload starts at the same place in its worktree.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subdir: String,
    /// The repository came with the task as a bundle (`--sync`): `repo` is
    /// the bare copy in the task dir.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub synced: bool,
    /// Made and committed on the dispatching machine rather than by the
    /// runner (containers: the payload cannot reach the repository's `.git`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_host: bool,
    /// Containers: where the worktree is mounted when not at the
    /// repository's own place there (`--sync`: at the task's workspace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mount: Option<String>,
    /// What the runner recorded when the payload ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<WorkResult>,
    /// When the result was last fetched or applied (`cleanup` warns before
    /// removing a result nobody has taken home).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
}

impl Worktree {
    /// The branch a task works on: named after its handle, the random tail
    /// of its id (the leading characters of a UUIDv7 are a clock, shared by
    /// tasks started within a minute), so `-t` and the branch say the same.
    pub fn branch_for(id: &TaskId) -> String {
        format!("{BRANCH_PREFIX}{}", id.handle())
    }
}

/// The runner's `result.json`: what the task's branch holds after the payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkResult {
    pub schema_version: u32,
    pub base: String,
    pub head: String,
    pub branch: String,
    pub files_changed: u64,
    pub insertions: u64,
    pub deletions: u64,
    /// The binary-safe patch from base to head, a file name in the task dir.
    pub patch: String,
}

impl WorkResult {
    /// `None` until the record is whole (the runner renames it into place, but
    /// a reader may still meet a damaged one).
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_differ_for_ids_of_the_same_millisecond() {
        let ids: Vec<TaskId> = (0..200).map(|_| TaskId::new()).collect();
        let mut branches: Vec<String> = ids.iter().map(Worktree::branch_for).collect();
        branches.sort();
        branches.dedup();
        assert_eq!(branches.len(), ids.len());
        let id: TaskId = "01900000-0000-7000-8000-0123456789ab".parse().unwrap();
        assert_eq!(Worktree::branch_for(&id), "openclaw/0123456789ab");
    }

    #[test]
    fn the_runner_record_parses() {
        let bytes = br#"{"schema_version":1,"base":"a","head":"b","branch":"openclaw/x","files_changed":2,"insertions":3,"deletions":1,"patch":"result.patch"}"#;
        let result = WorkResult::parse(bytes).unwrap();
        assert_eq!(
            (result.files_changed, result.insertions, result.deletions),
            (2, 3, 1)
        );
        assert_eq!(WorkResult::parse(&bytes[..20]), None);
    }
}
