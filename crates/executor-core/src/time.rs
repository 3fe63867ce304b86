//! Timestamps: RFC 3339 in UTC, millisecond precision.

pub fn now_rfc3339() -> String {
    format!("{:.3}", jiff::Timestamp::now())
}

pub fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Seconds elapsed since an RFC 3339 timestamp, if it parses.
pub fn seconds_since(timestamp: &str) -> Option<i64> {
    let then: jiff::Timestamp = timestamp.parse().ok()?;
    Some(jiff::Timestamp::now().as_second() - then.as_second())
}

/// A compact age such as `42s`, `5m`, `3h`, `2d`.
pub fn human_age(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}
