//! Task files whose content every task shares (the runner script): one copy
//! per data dir, hard-linked into each task dir. A link makes no inode and
//! writes no data; creating a task's files is most of a batch's work.

use std::path::{Path, PathBuf};

use crate::fsutil;
use crate::runner;

/// The shared copy of `contents` in `data_dir`, named by a hash of them:
/// builds with another runner script link to another copy.
fn shared_path(data_dir: &Path, contents: &[u8]) -> PathBuf {
    // FNV-1a: the name only tells contents apart, it guards nothing (the
    // data dir is the user's own, 0700).
    let hash = contents.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    data_dir.join(format!(".{}-{hash:016x}", runner::RUNNER_FILE))
}

/// Puts `contents` at `path` (a new file) as a link to the shared copy when
/// they are the runner script, else writes them; any link failure (another
/// file system, too many links) falls back to writing.
pub(super) fn place(data_dir: Option<&Path>, path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(data_dir) = data_dir
        && contents == runner::RUNNER_SCRIPT.as_bytes()
    {
        let shared = shared_path(data_dir, contents);
        let linked = std::fs::hard_link(&shared, path).or_else(|err| {
            if err.kind() != std::io::ErrorKind::NotFound {
                return Err(err);
            }
            // Whole or absent, never partial: a racing dispatch writes the
            // same bytes under the same name.
            fsutil::write_atomic(&shared, contents)?;
            std::fs::hard_link(&shared, path)
        });
        if linked.is_ok() {
            return Ok(());
        }
    }
    fsutil::write_private(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn runner_scripts_share_one_inode_and_other_files_do_not() {
        let data = tempfile::tempdir().expect("temp dir");
        let runner = runner::RUNNER_SCRIPT.as_bytes();
        for name in ["a", "b"] {
            place(Some(data.path()), &data.path().join(name), runner).expect("place");
        }
        place(Some(data.path()), &data.path().join("c"), b"echo hi").expect("place");
        let meta = |n: &str| std::fs::metadata(data.path().join(n)).expect("meta");
        assert_eq!(meta("a").ino(), meta("b").ino());
        assert_eq!(meta("a").nlink(), 3, "the shared copy and two links");
        assert_eq!(meta("a").mode() & 0o777, 0o600);
        assert_eq!(meta("c").nlink(), 1);
        assert_eq!(std::fs::read(data.path().join("b")).expect("read"), runner);
        // An existing name is an error, as for a written file.
        assert!(place(Some(data.path()), &data.path().join("a"), runner).is_err());
    }
}
