//! Text helpers shared by the agent CLIs' renderers.

/// Shortens to one line of at most `max` characters.
pub fn shorten(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .collect();
    let flat = flat.trim();
    if flat.chars().count() <= max {
        return flat.to_owned();
    }
    let mut short: String = flat.chars().take(max.saturating_sub(1)).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortening_keeps_one_line() {
        assert_eq!(shorten(" a\nb\tc ", 10), "a b c");
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}
