//! The access token: 32 random bytes, hex, created on first start in a `0600`
//! file of the data dir (written to a temporary file and renamed, so a crash
//! never leaves a half-written token), read back on every later start.

use std::path::{Path, PathBuf};

/// The token file's name in the data dir.
pub const TOKEN_FILE: &str = "web-token";

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read the access token {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot write the access token {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot make a random access token: {0}")]
    Random(String),
}

/// The token in `data_dir`, created if there is none (or none well-formed).
pub fn load_or_create(data_dir: &Path) -> Result<String, TokenError> {
    let path = data_dir.join(TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if is_token(text.trim()) => return Ok(text.trim().to_owned()),
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(TokenError::Read { path, source }),
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|err| TokenError::Random(err.to_string()))?;
    let token = hex::encode(bytes);
    let temp = data_dir.join(format!("{TOKEN_FILE}.{}.tmp", std::process::id()));
    let _ = std::fs::remove_file(&temp);
    let written = executor_core::fsutil::write_private(&temp, format!("{token}\n").as_bytes())
        .and_then(|()| std::fs::File::open(&temp)?.sync_all())
        .and_then(|()| std::fs::rename(&temp, &path));
    if let Err(source) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(TokenError::Write { path, source });
    }
    Ok(token)
}

fn is_token(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_private_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = super::load_or_create(dir.path()).expect("create");
        let path = dir.path().join(super::TOKEN_FILE);
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(first.len(), 64);
        assert_eq!(super::load_or_create(dir.path()).expect("load"), first);
        std::fs::write(&path, "garbage").expect("write");
        let second = super::load_or_create(dir.path()).expect("replace");
        assert_ne!(second, first);
        assert!(super::is_token(&second));
    }
}
