//! The accounts a test's OpenSSH server logs in, without touching `/etc`.
//!
//! A server runs in its own mount namespace in which `/etc/passwd` and
//! `/etc/group` are bind-mounted copies: this machine's accounts, with root's
//! home moved into the server's dir and its shell a plain `/bin/sh` (the
//! machine's interactive set-up is not run, and agents write their `~/.claude`
//! there, not in the real root's home), plus [`TEST_USER`], an unprivileged
//! account with a uid free on this machine. The accounts exist only for the
//! server and the sessions it starts, and vanish with them.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The non-root account tests log in as (it exists only in the servers' views).
pub const TEST_USER: &str = "openclaw-test";
/// The uid-0 account tests log in as: root itself, with the server's own home.
pub const ROOT_USER: &str = "root";

/// [`TEST_USER`]'s uid and gid: free as both on this machine.
pub fn test_uid() -> u32 {
    static UID: OnceLock<u32> = OnceLock::new();
    *UID.get_or_init(|| {
        let used: Vec<u32> = ["/etc/passwd", "/etc/group"]
            .iter()
            .flat_map(|file| {
                std::fs::read_to_string(file)
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.split(':').nth(2)?.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .collect();
        (20_000..)
            .find(|id| !used.contains(id))
            .expect("a free uid")
    })
}

/// The home of `user` in the view written under `dir`.
pub fn home_in(dir: &Path, user: &str) -> PathBuf {
    dir.join("home").join(user)
}

/// Writes the view (`passwd`, `group`, the homes) under `dir`, which becomes
/// traversable by everyone so that [`TEST_USER`] reaches its home.
pub fn write_view(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).expect("chmod dir");
    let uid = test_uid();
    let ours = format!("{TEST_USER}:");
    let root_home = home_in(dir, ROOT_USER);
    let test_home = home_in(dir, TEST_USER);
    let mut passwd = String::new();
    for line in std::fs::read_to_string("/etc/passwd")
        .expect("/etc/passwd")
        .lines()
    {
        if line.starts_with(&ours) {
            continue;
        }
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() == 7 && fields[2] == "0" && fields[0] == "root" {
            passwd.push_str(&format!(
                "{}:{}:0:0:{}:{}:/bin/sh\n",
                fields[0],
                fields[1],
                fields[4],
                root_home.display()
            ));
        } else {
            passwd.push_str(line);
            passwd.push('\n');
        }
    }
    // '*': no password, yet not locked ('!'), which sshd would refuse.
    passwd.push_str(&format!(
        "{TEST_USER}:*:{uid}:{uid}::{}:/bin/sh\n",
        test_home.display()
    ));
    let mut group: String = std::fs::read_to_string("/etc/group")
        .expect("/etc/group")
        .lines()
        .filter(|l| !l.starts_with(&ours))
        .map(|l| format!("{l}\n"))
        .collect();
    group.push_str(&format!("{TEST_USER}:x:{uid}:\n"));
    std::fs::write(dir.join("passwd"), passwd).expect("passwd view");
    std::fs::write(dir.join("group"), group).expect("group view");
    std::fs::create_dir_all(&root_home).expect("root's home");
    std::fs::set_permissions(&root_home, std::fs::Permissions::from_mode(0o700))
        .expect("chmod root's home");
    std::fs::create_dir_all(&test_home).expect("test user's home");
    chown(&test_home, uid);
}

/// The shell commands (ending in `&& `) that put the view written under `dir`
/// in place, in a mount namespace of the server's own.
pub fn mount_view(dir: &Path) -> String {
    format!(
        "mount --bind '{d}/passwd' /etc/passwd && mount --bind '{d}/group' /etc/group && ",
        d = dir.display()
    )
}

/// Gives `path` (not what it holds) to `uid`:`uid`.
pub fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(uid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// Gives `path` and everything below it (links, not their targets) to [`TEST_USER`].
pub fn give_to_test_user(path: &Path) {
    let uid = test_uid();
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))
        .unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
    if !path.is_symlink() && path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read dir").flatten() {
            give_to_test_user(&entry.path());
        }
    }
}
