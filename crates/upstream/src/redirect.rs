//! Redirects, followed by the host one hop at a time.
//!
//! The client itself never follows a redirect (its policy would send the
//! guest to any host, up to ten times): [`super::Outbound`] takes each 3xx,
//! builds the next request here, and checks it like the first one (allow
//! list, address policy, breaker) before sending it. The rewriting follows
//! RFC 9110 section 15.4 as browsers apply it: 303 becomes `GET` (a `HEAD`
//! stays `HEAD`), 301 and 302 turn a `POST` into a `GET`, 307 and 308 keep
//! method and body; a body that is dropped takes its headers with it, and
//! credentials do not cross to another origin.

use bytes::Bytes;
use http::HeaderMap;
use reqwest::Method;
use url::Url;

use super::headers;

/// One request on the way to a final response.
#[derive(Debug, Clone)]
pub(crate) struct Hop {
    pub(crate) method: Method,
    pub(crate) url: Url,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
}

/// Whether `status` is a redirect this host follows.
pub(crate) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}

/// The request to send after `hop` was answered `status` with `location`
/// (relative to the hop's URL). `Err` when the location is not a URL.
pub(crate) fn next_hop(hop: &Hop, status: u16, location: &str) -> Result<Hop, String> {
    let url = hop
        .url
        .join(location)
        .map_err(|e| format!("redirect to {location:?}, which is not a URL: {e}"))?;
    let mut next = Hop { url, ..hop.clone() };
    let becomes_get = match status {
        303 => next.method != Method::HEAD,
        301 | 302 => next.method == Method::POST,
        _ => false,
    };
    if becomes_get {
        next.method = Method::GET;
        next.body = None;
        headers::strip_body_headers(&mut next.headers);
    }
    if next.url.origin() != hop.url.origin() {
        headers::strip_credentials(&mut next.headers);
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(url: &str) -> Hop {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer t".parse().expect("value"));
        headers.insert("content-type", "text/plain".parse().expect("value"));
        Hop {
            method: Method::POST,
            url: Url::parse(url).expect("URL"),
            headers,
            body: Some(Bytes::from_static(b"x")),
        }
    }

    #[test]
    fn a_303_becomes_a_get_without_body() {
        let next = next_hop(&post("http://a.test/x"), 303, "/y").expect("next");
        assert_eq!(next.method, Method::GET);
        assert_eq!(next.url.as_str(), "http://a.test/y");
        assert!(next.body.is_none());
        assert!(next.headers.get("content-type").is_none());
        assert!(next.headers.get("authorization").is_some(), "same origin");
    }

    #[test]
    fn a_302_turns_post_into_get_and_a_307_keeps_it() {
        let hop = post("http://a.test/x");
        assert_eq!(next_hop(&hop, 302, "/y").expect("302").method, Method::GET);
        let kept = next_hop(&hop, 307, "/y").expect("307");
        assert_eq!(kept.method, Method::POST);
        assert_eq!(kept.body.as_deref(), Some(&b"x"[..]));
    }

    #[test]
    fn credentials_do_not_cross_origins() {
        let hop = post("http://a.test/x");
        for location in [
            "http://b.test/",
            "https://a.test/",
            "http://a.test:8080/",
            "//b.test/",
        ] {
            let next = next_hop(&hop, 307, location).expect(location);
            assert!(next.headers.get("authorization").is_none(), "{location}");
        }
    }

    #[test]
    fn a_location_that_is_not_a_url_is_an_error() {
        assert!(next_hop(&post("http://a.test/x"), 302, "http://[::1").is_err());
    }
}
