//! Sharing a task directory between the host user and the container's user.
//!
//! The task dir is private (`0700`, files `0600`) and owned by the user running
//! openclaw-agent. Inside the container the runner may run as someone else: root
//! of a rootful engine (whose files the host user then cannot read), or the
//! numeric `user` of the executor (who cannot enter the dir). POSIX ACLs give
//! exactly those users access, nobody else: an access ACL on the dir and the files
//! already in it, and a default ACL so that the files the runner creates inherit
//! it (a default ACL also overrides the runner's `umask 077`).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const ACL_VERSION: u32 = 2;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
const UNDEFINED_ID: u32 = u32::MAX;

/// Who needs access to a task dir besides its owner: `host_uid` (this process)
/// when the container may write as another user, and the container's own uid
/// when it is known and differs.
pub fn extra_users(host_uid: u32, container_uid: Option<u32>) -> Vec<u32> {
    let mut users = Vec::new();
    // Root reads everything anyway; anyone else needs an entry for files that
    // container root (or another container uid) creates.
    if host_uid != 0 && container_uid != Some(host_uid) {
        users.push(host_uid);
    }
    if let Some(uid) = container_uid
        && uid != host_uid
        && uid != 0
    {
        users.push(uid);
    }
    users.sort_unstable();
    users.dedup();
    users
}

/// Grants `users` read/write access to `dir`, to its files, and to every file
/// created in it later.
pub fn share_dir(dir: &Path, users: &[u32]) -> std::io::Result<()> {
    if users.is_empty() {
        return Ok(());
    }
    set_acl(dir, "system.posix_acl_access", &encode(users, 7, 7))?;
    set_acl(dir, "system.posix_acl_default", &encode(users, 7, 7))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            set_acl(
                &entry.path(),
                "system.posix_acl_access",
                &encode(users, 6, 6),
            )?;
        }
    }
    Ok(())
}

/// The kernel's xattr form of an ACL: the owner gets `owner` bits, each of
/// `users` and the mask get `granted` bits, group and others nothing.
fn encode(users: &[u32], owner: u16, granted: u16) -> Vec<u8> {
    let mut entries: Vec<(u16, u16, u32)> = vec![(USER_OBJ, owner, UNDEFINED_ID)];
    entries.extend(users.iter().map(|uid| (USER, granted, *uid)));
    entries.push((GROUP_OBJ, 0, UNDEFINED_ID));
    entries.push((MASK, granted, UNDEFINED_ID));
    entries.push((OTHER, 0, UNDEFINED_ID));
    let mut bytes = ACL_VERSION.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        bytes.extend_from_slice(&tag.to_le_bytes());
        bytes.extend_from_slice(&perm.to_le_bytes());
        bytes.extend_from_slice(&id.to_le_bytes());
    }
    bytes
}

fn set_acl(path: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes())?;
    let name = CString::new(name)?;
    // SAFETY: both strings are NUL-terminated and `value` is valid for its length.
    let result = unsafe {
        libc::setxattr(
            path.as_ptr(),
            name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
fn get_acl(path: &Path, name: &str) -> Option<Vec<u8>> {
    let path = CString::new(path.as_os_str().as_bytes()).ok()?;
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 1024];
    // SAFETY: as above; the buffer is valid for its length.
    let len = unsafe {
        libc::getxattr(
            path.as_ptr(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    (len >= 0).then(|| {
        buf.truncate(len as usize);
        buf
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn who_needs_access() {
        assert_eq!(extra_users(0, None), Vec::<u32>::new());
        assert_eq!(extra_users(0, Some(0)), Vec::<u32>::new());
        assert_eq!(extra_users(0, Some(1000)), [1000]);
        assert_eq!(extra_users(1000, None), [1000]);
        assert_eq!(extra_users(1000, Some(1000)), Vec::<u32>::new());
        assert_eq!(extra_users(1000, Some(2000)), [1000, 2000]);
    }

    #[test]
    fn new_files_inherit_the_grant() {
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("task");
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        std::fs::write(dir.join("runner.sh"), "x").unwrap();
        match share_dir(&dir, &[4242]) {
            Ok(()) => {}
            // A file system without ACLs cannot show the rest.
            Err(err) if err.raw_os_error() == Some(libc::EOPNOTSUPP) => return,
            Err(err) => panic!("{err}"),
        }
        // The group bits are now the ACL's mask (rwx): still a usable task dir,
        // though not a private dir (a data dir shared so would be refused).
        executor_core::fsutil::check_task_dir(&dir).unwrap();
        assert!(executor_core::fsutil::check_private_dir(&dir).is_err());
        // As a shell's `>` creates files: mode 0666 (the umask does not apply).
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o666)
            .open(dir.join("exit.json"))
            .unwrap();
        // The kernel masks the inherited entries with the file's mode: owner and
        // mask lose `x`, so user 4242 may read and write the file.
        let mut inherited = encode(&[4242], 6, 7);
        let mask_perm = 4 + 8 * 3 + 2;
        inherited[mask_perm] = 6;
        assert_eq!(
            get_acl(&dir.join("exit.json"), "system.posix_acl_access"),
            Some(inherited)
        );
        assert_eq!(
            get_acl(&dir.join("runner.sh"), "system.posix_acl_access"),
            Some(encode(&[4242], 6, 6))
        );
        assert_eq!(
            get_acl(&dir, "system.posix_acl_default"),
            Some(encode(&[4242], 7, 7))
        );
    }
}
