//! The local side of a task on disk, and the one module that touches it: the
//! task directory under the data dir (the "mirror": every file a task was
//! dispatched with, its `.meta.json`, and for the local executor the runner's
//! own records too) and the completion record under
//! `~/.openclaw-agent/completions/`. The index is a cache of what is here;
//! `reindex` reads it back.

mod lock;
mod shared;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::completion::CompletionRecord;
use crate::fsutil;
use crate::model::{TaskId, TaskMeta, TaskRecord, TaskType};
use crate::paths::Paths;
use crate::procstat::Process;
use crate::runner::{self, TaskFile};

pub use lock::{DispatchLock, LOCK_FILE, Probe};

/// A dir without a dispatch lock file this young may be a dispatch that has
/// just created it (the lock file comes next).
const YOUNG: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum TaskDirError {
    #[error("cannot {action} task file {path}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A directory someone else could write into, or a link in its place.
    #[error(transparent)]
    Dir(#[from] fsutil::DirError),
}

fn err<'p>(
    action: &'static str,
    path: &'p Path,
) -> impl FnOnce(std::io::Error) -> TaskDirError + 'p {
    move |source| TaskDirError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The task directories and completion records of one data dir.
#[derive(Debug, Clone)]
pub struct TaskDirs {
    paths: Paths,
}

/// A task directory found by [`TaskDirs::scan`].
pub struct FoundDir {
    pub id: TaskId,
    pub path: PathBuf,
}

impl TaskDirs {
    pub fn new(paths: Paths) -> Self {
        Self { paths }
    }

    pub fn paths(&self) -> &Paths {
        &self.paths
    }

    pub fn dir(&self, id: &TaskId) -> PathBuf {
        self.paths.task_dir(id)
    }

    /// Creates the task dir of `id`, takes its dispatch lock, then writes
    /// `files` (docs/ARCHITECTURE.md, "Dispatch": until the index row exists
    /// the dir is an orphan that `cleanup --orphans` removes). The dir is new:
    /// a second dispatch of the same id fails instead of mixing files. On an
    /// error the dir is removed again, as no row will ever name it.
    pub fn create(&self, id: &TaskId, files: &[TaskFile]) -> Result<DispatchLock, TaskDirError> {
        let dir = self.dir(id);
        fsutil::create_private_dir(&dir).map_err(err("write", &dir))?;
        let written = (|| {
            let lock = DispatchLock::create(&dir).map_err(err("write", &dir.join(LOCK_FILE)))?;
            let tasks = self.paths.tasks_dir();
            for file in files {
                let path = dir.join(file.name);
                shared::place(tasks.parent(), &path, &file.contents)
                    .map_err(err("write", &path))?;
            }
            Ok(lock)
        })();
        if written.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        written
    }

    /// Takes the dispatch lock of task `id` if nobody holds it; with `create`,
    /// making the lock file of a task an older version dispatched.
    pub fn try_lock(&self, id: &TaskId, create: bool) -> std::io::Result<Probe> {
        DispatchLock::try_take(&self.dir(id), create)
    }

    pub fn exists(&self, id: &TaskId) -> bool {
        self.dir(id).exists()
    }

    /// The files a queued task was dispatched with, to launch it from: its
    /// text, payload and runner. (Its `.meta.json` is rebuilt from the row, so
    /// a dispatch interrupted before writing it still starts.)
    pub fn launch_files(&self, record: &TaskRecord) -> Result<Vec<TaskFile>, TaskDirError> {
        let dir = self.dir(&record.id);
        let mut files = Vec::new();
        let worktree = record.worktree.as_ref().map(|w| {
            if w.on_host {
                runner::WORKTREE_HOST_FILE
            } else {
                runner::WORKTREE_FILE
            }
        });
        let bundle = record
            .worktree
            .as_ref()
            .filter(|w| w.synced)
            .map(|_| runner::BUNDLE_FILE);
        for name in [
            payload_file(record.task_type),
            runner::PAYLOAD_FILE,
            runner::RUNNER_FILE,
        ]
        .into_iter()
        .chain(worktree)
        .chain(bundle)
        {
            let path = dir.join(name);
            let contents = std::fs::read(&path).map_err(err("read", &path))?;
            files.push(TaskFile { name, contents });
        }
        Ok(files)
    }

    /// The full prompt or command of `record`.
    pub fn payload_text(&self, record: &TaskRecord) -> Option<String> {
        let path = self.dir(&record.id).join(payload_file(record.task_type));
        let bytes = std::fs::read(path).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The `.meta.json` of `record` with its full text, as a file to dispatch.
    pub fn meta_file(record: &TaskRecord, payload_text: Option<String>) -> TaskFile {
        TaskFile {
            name: runner::META_FILE,
            contents: record.to_meta(payload_text).to_bytes(),
        }
    }

    /// Rewrites `.meta.json` from `record`; returns the bytes. Callers hold the
    /// index's write lock, so a slower process never writes an older state
    /// over a newer one.
    pub fn write_meta(&self, record: &TaskRecord) -> Result<Vec<u8>, TaskDirError> {
        let bytes = record.to_meta(self.payload_text(record)).to_bytes();
        let dir = self.dir(&record.id);
        match fsutil::check_task_dir(&dir) {
            Ok(()) => {}
            // The dir may have been cleaned up by another process meanwhile.
            Err(fsutil::DirError::Stat { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(bytes);
            }
            Err(e) => return Err(e.into()),
        }
        let path = dir.join(runner::META_FILE);
        match fsutil::write_atomic(&path, &bytes) {
            Ok(()) => Ok(bytes),
            // The dir may have been cleaned up by another process meanwhile.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(bytes),
            Err(source) => Err(err("write", &path)(source)),
        }
    }

    /// Reads the `.meta.json` of task `id`.
    pub fn read_meta(&self, id: &TaskId) -> Result<TaskMeta, String> {
        read_meta(&self.dir(id), id)
    }

    /// Writes the completion record of an ended task, atomically. The
    /// completions dir is created `0700` if missing and refused if anyone
    /// else could write into it.
    pub fn write_completion(&self, record: &TaskRecord) -> Result<(), TaskDirError> {
        let dir = &self.paths.completions_dir;
        fsutil::ensure_private_dir(dir)?;
        let path = self.paths.completion_path(&record.id);
        fsutil::write_atomic(&path, &CompletionRecord::of(record).to_json())
            .map_err(err("write", &path))
    }

    /// Removes the task dir of `id` (gone already is fine).
    pub fn remove(&self, id: &TaskId) -> Result<(), TaskDirError> {
        self.remove_dir(id)
            .map_err(|source| err("remove", &self.dir(id))(source))
    }

    /// [`TaskDirs::remove`], with the bare I/O error.
    pub fn remove_dir(&self, id: &TaskId) -> std::io::Result<()> {
        match std::fs::remove_dir_all(self.dir(id)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Whether any dir under `tasks/` is named by a task id.
    pub fn holds_any(&self) -> bool {
        std::fs::read_dir(self.paths.tasks_dir()).is_ok_and(|entries| {
            entries.filter_map(Result::ok).any(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .is_some_and(|name| name.parse::<TaskId>().is_ok())
            })
        })
    }

    /// Whether the dir of `id` is a candidate orphan: a dir without `.meta.json`.
    pub fn lacks_meta(&self, id: &TaskId) -> bool {
        let dir = self.dir(id);
        dir.is_dir() && !dir.join(runner::META_FILE).exists()
    }

    /// Whether the dir of `id` was changed so recently that a dispatch may
    /// just have created it.
    pub fn is_young(&self, id: &TaskId) -> bool {
        std::fs::metadata(self.dir(id))
            .and_then(|m| m.modified())
            .is_ok_and(|t| t.elapsed().is_ok_and(|age| age < YOUNG))
    }

    /// Whether a live process of `table` is the dir's runner or in its
    /// payload's group, or was started with a path inside the dir. A reused
    /// pid keeps a dir: better left than removed under a running task.
    pub fn in_use(&self, id: &TaskId, table: &[Process]) -> bool {
        use std::os::unix::ffi::OsStrExt;
        let dir = self.dir(id);
        let pid_in = |name: &str| {
            std::fs::read(dir.join(name))
                .ok()
                .and_then(|b| runner::parse_pid_file(&b))
        };
        let runner = pid_in(runner::RUNNER_PID_FILE);
        let group = pid_in(runner::PID_FILE);
        let prefix = dir.as_os_str().as_bytes();
        table.iter().any(|p| {
            Some(p.info.pid) == runner
                || Some(p.info.pgrp) == group
                || Some(p.info.pid) == group
                || p.cmdline
                    .split(|b| *b == 0)
                    .any(|arg| arg.starts_with(prefix) && arg.get(prefix.len()) == Some(&b'/'))
        })
    }

    /// Every task dir (entries not named by a task id, such as temp files, are
    /// no task).
    pub fn scan(&self) -> Result<Vec<FoundDir>, TaskDirError> {
        let tasks_dir = self.paths.tasks_dir();
        let mut found = Vec::new();
        for entry in std::fs::read_dir(&tasks_dir).map_err(err("read", &tasks_dir))? {
            let entry = entry.map_err(err("read", &tasks_dir))?;
            let Some(id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<TaskId>().ok())
            else {
                continue;
            };
            found.push(FoundDir {
                id,
                path: entry.path(),
            });
        }
        Ok(found)
    }
}

/// The file holding a task's prompt or command.
fn payload_file(task_type: TaskType) -> &'static str {
    match task_type {
        TaskType::ClaudeCode | TaskType::Codex | TaskType::Gemini | TaskType::Opencode => {
            runner::PROMPT_FILE
        }
        TaskType::ShellCommand => runner::COMMAND_FILE,
    }
}

fn read_meta(dir: &Path, id: &TaskId) -> Result<TaskMeta, String> {
    let bytes = std::fs::read(dir.join(runner::META_FILE))
        .map_err(|e| format!("cannot read {}: {e}", runner::META_FILE))?;
    let meta: TaskMeta = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} does not parse: {e}", runner::META_FILE))?;
    if meta.task_id != *id {
        return Err(format!(
            "{} names task {}, not its directory's",
            runner::META_FILE,
            meta.task_id
        ));
    }
    Ok(meta)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ExecutorType, Payload, TaskSpec, TaskStatus};

    fn dirs() -> (tempfile::TempDir, TaskDirs) {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path().join("data"), tmp.path().join("completions"));
        fsutil::ensure_private_dir(&paths.tasks_dir()).unwrap();
        (tmp, TaskDirs::new(paths))
    }

    fn record() -> TaskRecord {
        let spec = TaskSpec {
            executor: "local".into(),
            priority: 0,
            workspace: "/w".into(),
            payload: Payload::ShellCommand {
                command: "echo hi".into(),
            },
            parent: None,
            worktree: None,
            group: None,
        };
        TaskRecord::new(TaskId::new(), &spec, ExecutorType::LOCAL)
    }

    #[test]
    fn a_dispatched_dir_reads_back() {
        let (_tmp, dirs) = dirs();
        let task = record();
        let files = runner::task_files(
            &Payload::ShellCommand {
                command: "echo hi".into(),
            },
            "/x",
            "/w",
        );
        let lock = dirs.create(&task.id, &files).unwrap();
        assert!(matches!(
            dirs.try_lock(&task.id, false).unwrap(),
            Probe::Held
        ));
        drop(lock);
        // A second dispatch of the same id must not mix its files in.
        assert!(dirs.create(&task.id, &files).is_err());
        assert_eq!(dirs.payload_text(&task).as_deref(), Some("echo hi"));
        let written = dirs.write_meta(&task).unwrap();
        assert_eq!(
            std::fs::read(dirs.dir(&task.id).join(runner::META_FILE)).unwrap(),
            written
        );
        let meta = dirs.read_meta(&task.id).unwrap();
        assert_eq!(meta.command.as_deref(), Some("echo hi"));
        assert_eq!(meta.payload_text(), Some("echo hi"));
        let found: Vec<TaskId> = dirs.scan().unwrap().into_iter().map(|f| f.id).collect();
        assert_eq!(found, [task.id]);
    }

    #[test]
    fn meta_of_a_removed_dir_is_no_error_and_writes_nothing() {
        let (_tmp, dirs) = dirs();
        let task = record();
        dirs.write_meta(&task).unwrap();
        assert!(!dirs.dir(&task.id).exists());
        dirs.remove(&task.id).unwrap();
    }

    #[test]
    fn a_meta_naming_another_task_is_refused() {
        let (_tmp, dirs) = dirs();
        let task = record();
        let other = record();
        dirs.create(&task.id, &[TaskDirs::meta_file(&other, Some("x".into()))])
            .unwrap();
        let err = dirs.read_meta(&task.id).unwrap_err();
        assert!(err.contains("names task"), "{err}");
    }

    #[test]
    fn the_completion_record_lands_under_its_id() {
        let (_tmp, dirs) = dirs();
        let mut task = record();
        task.status = TaskStatus::Completed;
        task.exit_code = Some(0);
        task.ended_at = Some("2026-01-01T00:00:00.000Z".into());
        dirs.write_completion(&task).unwrap();
        let path = dirs.paths().completion_path(&task.id);
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(value["status"], "success");
        assert_eq!(value["task"]["status"], "completed");
    }
}
