//! Small filesystem helpers shared by the store and the executors.

use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` so that readers see the old or the new content, never a mix.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::other("path has no file name"))?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        use std::os::unix::fs::OpenOptionsExt;
        // Task files hold prompts and commands: owner-only, like the task dir.
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
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
        .open(path)?;
    file.write_all(bytes)
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
    fn tail_crosses_chunks() {
        let line = "y".repeat(1000);
        let content: String = (0..300).map(|i| format!("{i}{line}\n")).collect();
        let tail = tail_of(&content, 100);
        assert_eq!(tail.lines().count(), 100);
        assert!(tail.starts_with("200y"));
    }
}
