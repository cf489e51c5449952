//! What a guest may say in the headers of an outbound request.
//!
//! The host owns the connection, so a guest owns only the end-to-end
//! headers. `Host` is the client's to write from the URL: the allow-list
//! checked the URL, so a guest-chosen `Host` would reach another virtual
//! host behind an allowed address. Hop-by-hop headers (RFC 9110 section
//! 7.6.1: `Connection`, `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`,
//! `Transfer-Encoding`, `Upgrade`, and any header `Connection` names)
//! describe a connection the guest neither sees nor owns. `Content-Length`
//! and `Transfer-Encoding` frame the body: framing that disagrees with the
//! body actually sent is request smuggling against the upstream. All of
//! these are dropped and the client writes its own from the URL and body.
//!
//! On a redirect to another origin the credentials the guest meant for the
//! first one (`Authorization`, `Cookie`) are dropped; when a redirect turns
//! the request into a body-less `GET`, the headers describing the body go.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers a guest may not set (besides `Proxy-*` and those `Connection`
/// names), lower case.
const CONNECTION_HEADERS: &[&str] = &[
    "host",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "http2-settings",
];

/// The guest's headers as a `HeaderMap`, without the ones the client owns.
/// A name or value that is not valid HTTP (a CR or LF in a value, say) is
/// refused rather than dropped: the guest asked for something unsendable.
pub(crate) fn from_guest(pairs: &[(String, String)]) -> Result<HeaderMap, String> {
    let named_by_connection: Vec<String> = pairs
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .collect();
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a valid header name"))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| format!("the value of header {name} is not valid"))?;
        let owned_by_client = CONNECTION_HEADERS.contains(&name.as_str())
            || name.as_str().starts_with("proxy-")
            || named_by_connection.iter().any(|n| n == name.as_str());
        if owned_by_client {
            tracing::debug!(header = %name, "guest header dropped from an outbound request");
            continue;
        }
        headers.append(name, value);
    }
    Ok(headers)
}

/// Drops credentials before a hop to another origin.
pub(crate) fn strip_credentials(headers: &mut HeaderMap) {
    for name in [
        header::AUTHORIZATION,
        header::COOKIE,
        header::PROXY_AUTHORIZATION,
    ] {
        headers.remove(name);
    }
    headers.remove("cookie2");
}

/// Drops the headers that describe a request body once it is gone.
pub(crate) fn strip_body_headers(headers: &mut HeaderMap) {
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_ENCODING,
        header::CONTENT_LANGUAGE,
        header::CONTENT_LOCATION,
    ] {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn connection_and_framing_headers_are_dropped() {
        let headers = from_guest(&pairs(&[
            ("Host", "admin.internal"),
            ("Transfer-Encoding", "chunked"),
            ("Content-Length", "0"),
            ("Connection", "keep-alive, X-Secret"),
            ("X-Secret", "1"),
            ("Proxy-Authorization", "Basic eA=="),
            ("Upgrade", "h2c"),
            ("Accept", "application/json"),
        ]))
        .expect("valid headers");
        let names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["accept"]);
    }

    #[test]
    fn a_value_with_a_line_break_is_refused() {
        assert!(from_guest(&pairs(&[("X-A", "1\r\nHost: evil")])).is_err());
        assert!(from_guest(&pairs(&[("Bad Name", "1")])).is_err());
    }
}
