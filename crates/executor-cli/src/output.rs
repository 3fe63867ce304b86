//! How tasks are shown: JSON objects and tables.

use std::io::Write;
use std::time::Duration;

use executor_core::model::stalled_for;
use executor_core::store::TableRow;
use executor_core::{TaskType, time};

pub fn icon(task_type: TaskType) -> &'static str {
    match task_type {
        TaskType::ClaudeCode => "🤖",
        TaskType::ShellCommand => "⚙️",
    }
}

/// Writes the table header for task rows.
pub fn table_header(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "   {:<12}  {:<12}  {:<9}  {:>5}  {:>4}  {:>8}  TASK",
        "ID", "EXECUTOR", "STATUS", "AGE", "EXIT", "COST"
    )
}

/// Characters in UTF-8 `text`: bytes that do not continue a character.
fn char_count(text: &[u8]) -> usize {
    text.iter().filter(|b| (**b & 0xC0) != 0x80).count()
}

/// Writes `text`, its control and bidi characters made visible
/// ([`crate::terminal`]), cut to `max` characters (ending in `…` when cut) and
/// padded with spaces to `width` (left-aligned unless `right`).
fn cell(
    out: &mut impl Write,
    text: &[u8],
    max: usize,
    width: usize,
    right: bool,
) -> std::io::Result<()> {
    const SPACES: &[u8] = &[b' '; 64];
    let text = crate::terminal::safe_bytes(text);
    let text = text.as_ref();
    let (shown, cut) = if text.len() <= max || char_count(text) <= max {
        (text, false)
    } else {
        // The byte where character number `max - 1` starts.
        let end = text
            .iter()
            .enumerate()
            .filter(|(_, b)| (**b & 0xC0) != 0x80)
            .nth(max.saturating_sub(1))
            .map_or(text.len(), |(i, _)| i);
        (&text[..end], true)
    };
    let used = char_count(shown) + usize::from(cut);
    let fill = width.saturating_sub(used).min(SPACES.len());
    if right {
        out.write_all(&SPACES[..fill])?;
    }
    out.write_all(shown)?;
    if cut {
        out.write_all("…".as_bytes())?;
    }
    if !right {
        out.write_all(&SPACES[..fill])?;
    }
    Ok(())
}

/// Writes one task as a table row. Listings print one per task, so this avoids
/// the formatting machinery where plain writes do.
pub fn table_row(
    out: &mut impl Write,
    task: &TableRow<'_>,
    now: jiff::Timestamp,
    stall_timeout: Duration,
) -> std::io::Result<()> {
    let age = task
        .created_ms()
        .map(|created| time::human_age((now.as_millisecond() - created) / 1000))
        .unwrap_or_default();
    let mut exit = itoa_buffer();
    let exit = task
        .exit_code
        .map(|c| format_int(&mut exit, i64::from(c)))
        .unwrap_or("");
    let cost = task
        .cost_usd
        .map(|c| format!("${c:.4}"))
        .unwrap_or_default();
    let stalled = task.agent.as_ref().is_some_and(|stats| {
        stalled_for(
            task.task_type,
            task.status,
            task.started_at,
            stats,
            stall_timeout,
            now,
        )
        .is_some()
    });
    let status = if stalled {
        "stalled"
    } else {
        task.status.as_str()
    };
    out.write_all(icon(task.task_type).as_bytes())?;
    out.write_all(b" ")?;
    // The short handle: what `-t` takes, and what tells tasks apart.
    let id = task.id;
    cell(
        out,
        &id[id.len().saturating_sub(executor_core::model::HANDLE_LEN)..],
        12,
        12,
        false,
    )?;
    out.write_all(b"  ")?;
    cell(out, task.executor, 12, 12, false)?;
    out.write_all(b"  ")?;
    cell(out, status.as_bytes(), 9, 9, false)?;
    out.write_all(b"  ")?;
    cell(out, age.as_bytes(), 5, 5, true)?;
    out.write_all(b"  ")?;
    cell(out, exit.as_bytes(), 4, 4, true)?;
    out.write_all(b"  ")?;
    cell(out, cost.as_bytes(), 8, 8, true)?;
    out.write_all(b"  ")?;
    cell(out, task.summary, 60, 0, false)?;
    out.write_all(b"\n")
}

fn itoa_buffer() -> [u8; 24] {
    [0; 24]
}

/// Formats an integer into `buffer` without allocating.
fn format_int(buffer: &mut [u8; 24], value: i64) -> &str {
    let mut cursor = std::io::Cursor::new(&mut buffer[..]);
    let _ = write!(cursor, "{value}");
    let len = cursor.position() as usize;
    std::str::from_utf8(&buffer[..len]).unwrap_or("")
}

/// `text` cut to `max_chars` characters (with an ellipsis), borrowed when it fits.
pub fn truncate(text: &str, max_chars: usize) -> std::borrow::Cow<'_, str> {
    // Byte length bounds the character count: most rows need no counting at all.
    if text.len() <= max_chars || text.chars().count() <= max_chars {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut short: String = text.chars().take(max_chars.saturating_sub(1)).collect();
    short.push('…');
    std::borrow::Cow::Owned(short)
}

/// Counts of tasks per status, for summaries.
pub fn status_line(counts: &[(executor_core::TaskStatus, u64)]) -> String {
    counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{n} {status}"))
        .collect::<Vec<_>>()
        .join(", ")
}
