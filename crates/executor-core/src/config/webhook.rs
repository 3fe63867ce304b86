//! Checks of `defaults.webhook_url`.

/// Whether `url` can be POSTed to; the error says why not, without the URL's credentials.
pub(super) fn check(url: &str) -> Result<(), String> {
    if url.starts_with("http://") || url.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("`{url}` is not an http:// or https:// URL"))
    }
}
