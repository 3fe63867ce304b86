//! Text from tasks (commands, prompts, agent output, host messages) made safe
//! to print on a terminal.
//!
//! A command or prompt can hold bytes a terminal acts on: ESC starts control
//! sequences (move the cursor, retitle the window, rewrite what was shown), CR
//! and BS overwrite a line, BEL rings, bidi controls such as U+202E reorder
//! what is shown so that it reads differently from what runs. The human views
//! show such characters as visible escapes instead:
//!
//! | Character | Shown as |
//! |---|---|
//! | NUL, BEL, BS, TAB, LF, VT, FF, CR, ESC | `\0` `\a` `\b` `\t` `\n` `\v` `\f` `\r` `\e` |
//! | other C0 controls and DEL | `\x01` … `\x1f`, `\x7f` |
//! | C1 controls (U+0080–U+009F) | `\u{80}` … `\u{9f}` |
//! | bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069) | `\u{61c}`, `\u{202e}`, … |
//!
//! Multi-line text (the rendered agent activity of `logs`) keeps its line
//! breaks and tabs. A backslash is shown as it is: this is for reading, and
//! `--json` / `--raw` give the exact bytes.

use std::borrow::Cow;

/// `text` for one line of a terminal: every control and bidi character escaped.
pub fn safe(text: &str) -> Cow<'_, str> {
    escape(text, false)
}

/// `text` for a terminal, keeping its line breaks and tabs.
pub fn safe_lines(text: &str) -> Cow<'_, str> {
    escape(text, true)
}

/// [`safe`] for bytes that should be UTF-8 (invalid sequences become U+FFFD).
pub fn safe_bytes(text: &[u8]) -> Cow<'_, [u8]> {
    // Printable ASCII, what nearly every cell holds, needs no decoding.
    if text.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Cow::Borrowed(text);
    }
    match String::from_utf8_lossy(text) {
        Cow::Borrowed(valid) => match safe(valid) {
            Cow::Borrowed(_) => Cow::Borrowed(text),
            Cow::Owned(escaped) => Cow::Owned(escaped.into_bytes()),
        },
        Cow::Owned(repaired) => Cow::Owned(safe(&repaired).into_owned().into_bytes()),
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

fn needs_escape(c: char, keep_lines: bool) -> bool {
    if keep_lines && (c == '\n' || c == '\t') {
        return false;
    }
    c.is_control() || is_bidi_control(c)
}

fn escape(text: &str, keep_lines: bool) -> Cow<'_, str> {
    let Some(first) = text.find(|c| needs_escape(c, keep_lines)) else {
        return Cow::Borrowed(text);
    };
    let mut out = String::with_capacity(text.len() + 8);
    out.push_str(&text[..first]);
    for c in text[first..].chars() {
        if !needs_escape(c, keep_lines) {
            out.push(c);
            continue;
        }
        match c {
            '\0' => out.push_str("\\0"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0b}' => out.push_str("\\v"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_bidi_become_visible() {
        assert_eq!(
            safe("a\u{1b}[2Jb\u{7}c\rd\0e\u{202e}f\u{7f}g\u{9b}h\u{1}i\u{2066}j"),
            "a\\e[2Jb\\ac\\rd\\0e\\u{202e}f\\x7fg\\u{9b}h\\x01i\\u{2066}j"
        );
        assert_eq!(safe("one\ntwo\tthree"), "one\\ntwo\\tthree");
        assert_eq!(safe_lines("one\ntwo\tthree\r"), "one\ntwo\tthree\\r");
        for c in ['\u{61c}', '\u{200e}', '\u{200f}', '\u{202a}', '\u{2069}'] {
            assert!(!safe(&c.to_string()).contains(c));
        }
    }

    #[test]
    fn plain_text_is_borrowed() {
        for text in ["echo hi > out", "ünïcødé ✓ 🤖 日本語", "back\\slash", ""] {
            assert!(matches!(safe(text), Cow::Borrowed(t) if t == text));
        }
        assert!(matches!(safe_bytes(b"plain"), Cow::Borrowed(b"plain")));
        assert_eq!(safe_bytes(b"\xff\x1b").as_ref(), "\u{fffd}\\e".as_bytes());
    }
}
