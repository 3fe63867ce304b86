//! Directories openclaw-agent writes into: created private, and refused when
//! someone else could write into them.

use std::path::{Path, PathBuf};

use super::files::create_private_dir_all;

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

#[cfg(test)]
mod tests {
    use super::*;
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
}
