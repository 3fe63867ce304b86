//! Small filesystem helpers shared by the store and the executors.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` so that readers see the old or the new content, never a mix.
///
/// The temp file beside `path` is created exclusively and without following a
/// symbolic link, under a random name: a link planted at a guessable temp name
/// cannot redirect the write to another file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (mut file, tmp) = create_temp_beside(path)?;
    let result = file
        .write_all(bytes)
        .and_then(|()| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Attempts at a fresh temp name before giving up: a clash of 64 random bits is
/// already unheard of, so more than one retry means someone is squatting names.
const TEMP_ATTEMPTS: usize = 8;

/// Creates `.<name>.<random>.tmp` beside `path` (`0600`, `O_EXCL|O_NOFOLLOW`).
fn create_temp_beside(path: &Path) -> std::io::Result<(std::fs::File, PathBuf)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    for _ in 0..TEMP_ATTEMPTS {
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(file_name);
        let random = uuid::Uuid::new_v4().simple().to_string();
        tmp_name.push(format!(".{}.tmp", &random[..16]));
        let tmp = path.with_file_name(tmp_name);
        // Task files hold prompts and commands: owner-only, like the task dir.
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp);
        match opened {
            Ok(file) => return Ok((file, tmp)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(err),
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        "no free temporary file name",
    ))
}

/// Creates a directory readable only by its owner (task dirs hold prompts).
pub fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

/// Like `create_dir_all`, with directories it creates readable only by their owner.
pub fn create_private_dir_all(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Writes a new file readable only by its owner.
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    file.write_all(bytes)
}

/// Why a directory that openclaw-agent writes into is not used.
#[derive(Debug, thiserror::Error)]
pub enum DirError {
    #[error("refusing to use {}: it is a symbolic link", .path.display())]
    Symlink { path: PathBuf },
    #[error("refusing to use {}: it is not a directory", .path.display())]
    NotDir { path: PathBuf },
    #[error(
        "refusing to use {}: it is owned by uid {owner}, not by this user (uid {user})",
        .path.display()
    )]
    NotOwned {
        path: PathBuf,
        owner: u32,
        user: u32,
    },
    #[error(
        "refusing to use {}: it is writable by others (mode {mode:04o}); run `chmod go-w {}`",
        .path.display(), .path.display()
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error("cannot create data directory {}", .path.display())]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read directory {}", .path.display())]
    Stat {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl DirError {
    /// As an I/O error, for callers that report those (the message is kept whole).
    pub fn into_io(self) -> std::io::Error {
        match self {
            Self::Create { source, .. } | Self::Stat { source, .. } => source,
            other => std::io::Error::new(std::io::ErrorKind::PermissionDenied, other),
        }
    }
}

/// Creates `path` (and missing parents) `0700` if it is missing, then checks it
/// with [`check_private_dir`].
pub fn ensure_private_dir(path: &Path) -> Result<(), DirError> {
    if std::fs::symlink_metadata(path).is_err() {
        // Missing, or a parent is not a directory: creating says which.
        create_private_dir_all(path).map_err(|source| DirError::Create {
            path: path.to_owned(),
            source,
        })?;
    }
    check_private_dir(path)
}

/// Checks that `path` is a directory of this user that no one else can write
/// into: not a symbolic link, owned by the effective uid, no group or other
/// write bit. Anyone who can write into a directory can plant links in it and
/// swap files under a process that trusts it (root running `status`, say).
pub fn check_private_dir(path: &Path) -> Result<(), DirError> {
    check_dir(path, false)
}

/// [`check_private_dir`] for a task dir, which may also be shared through a
/// POSIX ACL: the container executor grants the container's user access that
/// way, and then the group bits are the ACL's mask, not a group's grant.
pub fn check_task_dir(path: &Path) -> Result<(), DirError> {
    check_dir(path, true)
}

fn check_dir(path: &Path, acl_allowed: bool) -> Result<(), DirError> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).map_err(|source| DirError::Stat {
        path: path.to_owned(),
        source,
    })?;
    let path = path.to_owned();
    if meta.file_type().is_symlink() {
        return Err(DirError::Symlink { path });
    }
    if !meta.is_dir() {
        return Err(DirError::NotDir { path });
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let user = unsafe { libc::geteuid() };
    if meta.uid() != user {
        return Err(DirError::NotOwned {
            path,
            owner: meta.uid(),
            user,
        });
    }
    let mode = meta.mode() & 0o7777;
    let other_write = mode & 0o002 != 0;
    let group_write = mode & 0o020 != 0 && !(acl_allowed && has_access_acl(&path));
    if other_write || group_write {
        return Err(DirError::Writable { path, mode });
    }
    Ok(())
}

/// Whether `path` carries a POSIX access ACL (then its group bits are the ACL mask).
fn has_access_acl(path: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: both strings are NUL-terminated and outlive the call; a null
    // buffer of size 0 only asks for the attribute's size.
    let size = unsafe {
        libc::lgetxattr(
            c_path.as_ptr(),
            c"system.posix_acl_access".as_ptr(),
            std::ptr::null_mut(),
            0,
        )
    };
    size > 0
}

/// Opens (creating it `0600` if missing) a file only its owner may read and
/// write, and narrows its mode to `0600` if it is wider, whatever the umask:
/// the task index and the lock files. Does not follow a symbolic link.
pub fn open_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o7777;
    if mode != 0o600 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(file)
}

/// The last `lines` lines of a file, read backwards from its end so the cost
/// does not grow with the file's size, and the offset where they end.
pub fn tail_lines(path: &Path, lines: usize) -> std::io::Result<(Vec<u8>, u64)> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    Ok((tail_of_file(&mut file, len, lines)?, len))
}

fn tail_of_file(file: &mut std::fs::File, len: u64, lines: usize) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    // Small first (50 lines of a build log fit in 16 KiB), then growing, so
    // that very long lines cost few reads and little copying.
    const FIRST_CHUNK: u64 = 16 * 1024;
    const MAX_CHUNK: u64 = 4 * 1024 * 1024;
    let mut chunk_size = FIRST_CHUNK;
    if lines == 0 || len == 0 {
        return Ok(Vec::new());
    }
    let mut end = len;
    let mut collected: Vec<u8> = Vec::new();
    // A final newline ends the last line; it does not start another one.
    // Saturating: `logs --lines` takes any number.
    let mut newlines_needed = lines.saturating_add(1);
    let mut skip_trailing = true;
    while end > 0 {
        let start = end.saturating_sub(chunk_size);
        chunk_size = (chunk_size * 4).min(MAX_CHUNK);
        let mut chunk = vec![0; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        let mut cut = None;
        for (index, byte) in chunk.iter().enumerate().rev() {
            if *byte != b'\n' {
                skip_trailing = false;
                continue;
            }
            if skip_trailing && start + index as u64 == len - 1 {
                continue;
            }
            newlines_needed -= 1;
            if newlines_needed == 1 {
                cut = Some(index + 1);
                break;
            }
        }
        match cut {
            Some(index) => {
                chunk.drain(..index);
                chunk.extend_from_slice(&collected);
                return Ok(chunk);
            }
            None => {
                chunk.extend_from_slice(&collected);
                collected = chunk;
                end = start;
            }
        }
    }
    Ok(collected)
}

/// Bytes of a file from `offset`, at most `max` of them.
pub fn read_from(path: &Path, offset: u64, max: usize) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut bytes = Vec::new();
    file.take(max as u64).read_to_end(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tail_of(content: &str, lines: usize) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, content).unwrap();
        String::from_utf8(tail_lines(&path, lines).unwrap().0).unwrap()
    }

    #[test]
    fn tail_matches_tail_n() {
        assert_eq!(tail_of("a\nb\nc\n", 2), "b\nc\n");
        assert_eq!(tail_of("a\nb\nc", 2), "b\nc");
        assert_eq!(tail_of("a\nb\nc\n", 5), "a\nb\nc\n");
        assert_eq!(tail_of("a\n\n\n", 2), "\n\n");
        assert_eq!(tail_of("", 3), "");
        assert_eq!(tail_of("x\n", 0), "");
    }

    /// `logs --lines 18446744073709551615` used to overflow (a panic in debug
    /// builds).
    #[test]
    fn tail_of_any_count_is_the_whole_file() {
        assert_eq!(tail_of("a\nb\n", usize::MAX), "a\nb\n");
        assert_eq!(tail_of("a\nb", usize::MAX - 1), "a\nb");
    }

    #[test]
    fn atomic_write_never_follows_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let target = dir.path().join("record.json");
        // Links at every temp name a writer could predict: the old `.<name>.<pid>.tmp`.
        let planted = dir
            .path()
            .join(format!(".record.json.{}.tmp", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        write_atomic(&target, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        // A link at the destination itself is replaced, not written through.
        std::fs::remove_file(&target).unwrap();
        std::os::unix::fs::symlink(&victim, &target).unwrap();
        write_atomic(&target, b"newer").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&target).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "newer");
        // Nothing left behind but the planted link.
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn new_private_files_refuse_links() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(write_private(&link, b"x").is_err());
        assert!(open_private_file(&link).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn private_files_are_narrowed_to_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index");
        std::fs::write(&path, "").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
        open_private_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o600);
    }

    fn mode_of(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::symlink_metadata(path)
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    }

    #[test]
    fn private_dirs_are_created_0700_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        ensure_private_dir(&dir).unwrap();
        assert_eq!(mode_of(&dir), 0o700);
        assert_eq!(mode_of(&root.path().join("a")), 0o700);
        ensure_private_dir(&dir).unwrap();

        for mode in [0o777, 0o770, 0o702, 0o1777] {
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
            let err = check_private_dir(&dir).unwrap_err();
            assert!(matches!(err, DirError::Writable { .. }), "{mode:o}: {err}");
            let text = err.to_string();
            assert!(text.contains("writable by others"), "{text}");
            assert!(!text.contains('\n'), "{text}");
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        check_private_dir(&dir).unwrap();

        let link = root.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        let err = ensure_private_dir(&link).unwrap_err();
        assert!(matches!(err, DirError::Symlink { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            format!("refusing to use {}: it is a symbolic link", link.display())
        );

        let file = root.path().join("file");
        std::fs::write(&file, "").unwrap();
        assert!(matches!(
            check_private_dir(&file),
            Err(DirError::NotDir { .. })
        ));
    }

    #[test]
    fn a_dir_of_another_user_is_refused() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI runs the tests as root; this one needs root to chown"
            );
            eprintln!("skipped: needs root to give a dir to another user");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("theirs");
        ensure_private_dir(&dir).unwrap();
        // nobody: a system uid that exists everywhere; no user is created.
        std::os::unix::fs::chown(&dir, Some(65534), Some(65534)).unwrap();
        let err = ensure_private_dir(&dir).unwrap_err();
        assert!(
            matches!(
                err,
                DirError::NotOwned {
                    owner: 65534,
                    user: 0,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("owned by uid 65534"), "{err}");
    }

    #[test]
    fn tail_crosses_chunks() {
        let line = "y".repeat(1000);
        let content: String = (0..300).map(|i| format!("{i}{line}\n")).collect();
        let tail = tail_of(&content, 100);
        assert_eq!(tail.lines().count(), 100);
        assert!(tail.starts_with("200y"));
    }
}
