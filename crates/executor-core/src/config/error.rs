//! What can go wrong with the config file.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path} does not exist")]
    Missing { path: PathBuf },
    #[error("config file {path} is {what}, not a regular file")]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("config file {path} is larger than {limit} bytes")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: line {line}: {message}")]
    Invalid {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("config file {path} already exists; pass --force to overwrite it")]
    AlreadyExists { path: PathBuf },
    #[error("cannot write config file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Messages quote the file's values: control and bidi characters in them are
/// shown escaped, so that the error stays one line and cannot restyle a terminal.
pub(super) fn one_line(message: &str) -> String {
    let mut shown = String::with_capacity(message.len());
    for c in message.chars() {
        let bidi = matches!(
            c,
            '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
        );
        if c.is_control() || bidi {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}
