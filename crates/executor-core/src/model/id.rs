//! Task identifiers and the prefixes users type for them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Shortest prefix (or part) accepted in place of a full task id.
pub const MIN_ID_PREFIX: usize = 4;

/// Characters in a task's short handle: the id's last group of 12 hex digits.
/// A UUIDv7 begins with its creation time, so tasks started close together
/// share their first characters; the last 48 bits are random (the low end of
/// a randomly seeded counter, then random bits), so the tail tells tasks apart
/// the way docker's 12 characters of a random id do.
pub const HANDLE_LEN: usize = 12;

/// A task identifier: a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(uuid::Uuid);

impl TaskId {
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }

    /// The short handle shown in listings; every `--task-id` accepts it.
    pub fn handle(&self) -> String {
        handle(&self.to_string()).to_owned()
    }
}

/// The short handle of a task id given as text (see [`HANDLE_LEN`]).
pub fn handle(id: &str) -> &str {
    id.get(id.len().saturating_sub(HANDLE_LEN)..).unwrap_or(id)
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl FromStr for TaskId {
    type Err = uuid::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::try_parse(s).map(Self)
    }
}

/// A user-supplied task id, id prefix or part of an id, checked to hold only characters of a
/// hyphenated UUID so that it can never name a path outside the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskIdPrefix(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TaskIdPrefixError {
    #[error("task id `{0}` is too short: give at least {MIN_ID_PREFIX} characters")]
    TooShort(String),
    #[error("`{0}` is not a task id: ids hold only hex digits and hyphens")]
    InvalidCharacters(String),
}

impl TaskIdPrefix {
    pub fn parse(input: &str) -> Result<Self, TaskIdPrefixError> {
        let normalized = input.trim().to_ascii_lowercase();
        let shown = || input.chars().take(64).collect::<String>();
        if normalized.len() > 36
            || !normalized
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            return Err(TaskIdPrefixError::InvalidCharacters(shown()));
        }
        if normalized.len() < MIN_ID_PREFIX {
            return Err(TaskIdPrefixError::TooShort(shown()));
        }
        Ok(Self(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The creation time (milliseconds since the epoch) a UUIDv7 id carries in its
/// first 48 bits, read from its text so listings need not parse the id.
pub fn created_ms(id: &str) -> Option<i64> {
    let hex = id.get(..13)?;
    let (high, low) = (hex.get(..8)?, hex.get(9..13)?);
    let high = i64::from_str_radix(high, 16).ok()?;
    let low = i64::from_str_radix(low, 16).ok()?;
    Some((high << 16) | low)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_reject_path_tricks() {
        assert!(matches!(
            TaskIdPrefix::parse("../../x"),
            Err(TaskIdPrefixError::InvalidCharacters(_))
        ));
        assert!(matches!(
            TaskIdPrefix::parse("ab"),
            Err(TaskIdPrefixError::TooShort(_))
        ));
        assert_eq!(TaskIdPrefix::parse("ABCD").unwrap().as_str(), "abcd");
    }

    #[test]
    fn handles_are_the_random_tail() {
        let id: TaskId = "01900000-0000-7000-8000-0123456789ab".parse().unwrap();
        assert_eq!(id.handle(), "0123456789ab");
        // Ids made in the same millisecond still differ in their handles.
        let many: std::collections::HashSet<String> =
            (0..10_000).map(|_| TaskId::new().handle()).collect();
        assert_eq!(many.len(), 10_000);
    }

    #[test]
    fn ids_sort_by_creation() {
        let first = TaskId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = TaskId::new();
        assert!(first.to_string() < second.to_string());
    }

    #[test]
    fn creation_time_from_the_id() {
        let id = TaskId::new();
        let ms = created_ms(&id.to_string()).unwrap();
        assert!((jiff::Timestamp::now().as_millisecond() - ms).abs() < 60_000);
    }
}
