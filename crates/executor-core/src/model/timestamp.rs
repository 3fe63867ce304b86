//! A point in time as the task files and the index keep it: RFC 3339 text.
//!
//! The text is kept exactly as it was written (by this program, by a runner's
//! `exit.json` or by an older version), so that what is read back is written
//! out again byte for byte; it is parsed only where time is compared.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(String);

impl Timestamp {
    /// Now, in UTC with millisecond precision.
    pub fn now() -> Self {
        Self(crate::time::now_rfc3339())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// The instant, when the text is RFC 3339.
    pub fn instant(&self) -> Option<jiff::Timestamp> {
        self.0.parse().ok()
    }

    /// Whole seconds elapsed since this time, when the text parses.
    pub fn seconds_since(&self) -> Option<i64> {
        crate::time::seconds_since(&self.0)
    }
}

impl From<String> for Timestamp {
    fn from(text: String) -> Self {
        Self(text)
    }
}

impl From<&str> for Timestamp {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl AsRef<str> for Timestamp {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_survives_a_round_trip() {
        // Second precision, as an old runner wrote it: kept as is, not reformatted.
        let t = Timestamp::from("2026-11-27T09:00:00Z");
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            "\"2026-11-27T09:00:00Z\""
        );
        assert!(t.instant().is_some());
        assert!(
            Timestamp::now()
                .seconds_since()
                .is_some_and(|s| s.abs() < 5)
        );
    }
}
