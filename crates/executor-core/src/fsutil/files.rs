//! Files: atomic replacement, new private files, and reading a file's tail
//! or a slice of it.

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

    #[test]
    fn tail_crosses_chunks() {
        let line = "y".repeat(1000);
        let content: String = (0..300).map(|i| format!("{i}{line}\n")).collect();
        let tail = tail_of(&content, 100);
        assert_eq!(tail.lines().count(), 100);
        assert!(tail.starts_with("200y"));
    }
}
