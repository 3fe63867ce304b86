//! What can go wrong with the index.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Dir(#[from] crate::fsutil::DirError),
    #[error("cannot open task index {path}")]
    OpenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open task index {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "task index {path} has schema version {found}, newer than this openclaw-agent ({supported}); upgrade openclaw-agent"
    )]
    TooNew {
        path: PathBuf,
        found: usize,
        supported: usize,
    },
    #[error("task index query failed")]
    Query(#[from] rusqlite::Error),
    #[error("no task matches id `{0}`")]
    NotFound(String),
    #[error("task id `{prefix}` is ambiguous: it matches {}", .candidates.join(", "))]
    Ambiguous {
        prefix: String,
        candidates: Vec<String>,
    },
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the index file itself is damaged (not a database, or
    /// malformed): `reindex` moves it aside and rebuilds it.
    pub fn is_damaged_index(&self) -> bool {
        let source = match self {
            Self::Open { source, .. } | Self::Query(source) => source,
            _ => return false,
        };
        matches!(
            source.sqlite_error_code(),
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
        )
    }
}
