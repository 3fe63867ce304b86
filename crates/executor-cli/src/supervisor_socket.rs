//! The supervisor's socket, `daemon.sock` in the data dir (private to its
//! owner like the rest of it), and how a command reaches it: one connection
//! per request, whose header names the request and the configuration the
//! command runs with (see [`crate::rounds`] and [`crate::handoff`]).

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub const SOCKET: &str = "daemon.sock";

/// Names the configuration a process runs with: the file and its last change.
pub fn fingerprint(config_path: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let stamp = std::fs::metadata(config_path)
        .map(|m| {
            format!(
                "{}:{}:{}.{}:{}",
                m.dev(),
                m.ino(),
                m.mtime(),
                m.mtime_nsec(),
                m.len()
            )
        })
        .unwrap_or_else(|_| "none".to_owned());
    // One line on the wire: a path with a newline cannot break it.
    format!("{stamp}:{}", config_path.display()).replace('\n', "?")
}

/// Connects to the store's supervisor and sends a `verb` request: its header
/// (the verb and this configuration's fingerprint), then the `body` made
/// once connected, in one write. `None` when no supervisor listens;
/// `Some(Err)` when it did not take all of the request.
pub fn connect(
    explicit_config: Option<&Path>,
    verb: &str,
    wait: Duration,
    body: impl FnOnce() -> Vec<u8>,
) -> Option<std::io::Result<UnixStream>> {
    let (config_path, _) = executor_core::paths::config_path(explicit_config).ok()?;
    let paths = executor_core::Paths::from_env().ok()?;
    let mut stream = UnixStream::connect(paths.data_dir.join(SOCKET)).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    stream.set_write_timeout(Some(wait)).ok()?;
    let mut request = format!("{verb} {}\n", fingerprint(&config_path)).into_bytes();
    request.extend(body());
    Some(stream.write_all(&request).map(|()| stream))
}
