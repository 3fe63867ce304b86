//! Quoting for POSIX `sh`, shared by the runner's files, the agent CLIs'
//! command lines and the remote backends' scripts. A leaf: it imports nothing.

/// Quotes `s` for a POSIX shell: single quotes, with embedded ones spliced in.
pub fn sh_quote(s: &str) -> String {
    let mut quoted = String::with_capacity(s.len() + 2);
    quoted.push('\'');
    for c in s.chars() {
        if c == '\'' {
            quoted.push_str("'\\''");
        } else {
            quoted.push(c);
        }
    }
    quoted.push('\'');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_hostile_text() {
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
    }
}
