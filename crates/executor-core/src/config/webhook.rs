//! Checks of `defaults.webhook_url`: a URL the webhook client can POST to,
//! told in our words and never with its credentials.

use std::net::Ipv6Addr;

/// Whether `url` can be POSTed to; the error says why not, with the URL redacted.
pub(super) fn check(url: &str) -> Result<(), String> {
    problem(url).map_or(Ok(()), |why| {
        Err(format!("`{}` is not a usable URL: {why}", redact_url(url)))
    })
}

/// `url` with any `user:password@` replaced by `***@`, for messages and summaries.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => url.to_owned(),
    }
}

fn problem(url: &str) -> Option<&'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains spaces or control characters");
    }
    let Some(rest) = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
    else {
        return Some("it must start with http:// or https://");
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host_port = authority
        .rfind('@')
        .map_or(authority, |at| &authority[at + 1..]);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        let Some((address, after)) = bracketed.split_once(']') else {
            return Some("the IPv6 address has no closing `]`");
        };
        if address.parse::<Ipv6Addr>().is_err() {
            return Some("the IPv6 address in `[...]` is not valid");
        }
        match after {
            "" => (address, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (address, Some(port)),
                None => return Some("unexpected text after the IPv6 address"),
            },
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Some("it names no host");
    }
    let host_chars = |c: char| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | ':' | '%');
    if !host.chars().all(host_chars) {
        return Some("the host name has characters a host name cannot have");
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.chars().all(|c| c.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Some("the port must be a number from 1 to 65535");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_urls_are_named_without_credentials() {
        for (url, why) in [
            ("http://", "no host"),
            ("http://[::1", "closing `]`"),
            ("http://exa mple.com/", "spaces"),
            ("http://example.com:99999/", "port"),
            ("http://example.com:0/", "port"),
            ("ftp://example.com", "http://"),
            ("http://a%20b@/x", "no host"),
        ] {
            let err = check(url).expect_err(url);
            assert!(err.contains(why), "{url}: {err}");
        }
        let err = check("https://user:s3cret@host:99999/hook").expect_err("bad port");
        assert!(!err.contains("s3cret") && !err.contains("user"), "{err}");
        assert!(err.contains("https://***@host:99999/hook"), "{err}");
    }

    #[test]
    fn good_urls_pass() {
        for url in [
            "http://127.0.0.1:8080/hook",
            "https://example.com",
            "https://user:pw@example.com/x?y=1#z",
            "http://[::1]:9000/",
            "http://[::1]/",
            "https://hooks.example.com/a/b",
        ] {
            assert_eq!(check(url), Ok(()), "{url}");
        }
        assert_eq!(
            redact_url("https://example.com/a@b"),
            "https://example.com/a@b"
        );
    }
}
