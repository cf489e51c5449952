//! Small HTTP helpers shared by the API and control handlers: JSON responses,
//! the uniform `{"error": "..."}` error type, and query-string parsing.
//!
//! Kept dependency-free on purpose (no router, no url crate): the simulator
//! has a handful of fixed routes, and owning the parsing keeps error
//! messages exactly as the tests expect.

use bytes::Bytes;
use http::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderValue, Response, StatusCode};
use http_body_util::Full;
use serde::Serialize;

/// The response type produced by every handler.
pub type HttpResponse = Response<Full<Bytes>>;

/// Serialises `value` as a JSON response with the given status.
///
/// Serialisation of the simulator's own types cannot realistically fail, but
/// if it ever does the client gets a JSON 500 rather than a dropped
/// connection.
pub fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> HttpResponse {
    match serde_json::to_vec(value) {
        Ok(body) => raw_json(status, body),
        Err(err) => {
            tracing::error!(%err, "failed to serialise response");
            raw_json(
                StatusCode::INTERNAL_SERVER_ERROR,
                br#"{"error":"internal serialisation error"}"#.to_vec(),
            )
        }
    }
}

fn raw_json(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// An error answered as `{"error": message}` with a specific status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    allow: Option<&'static str>,
    retry_after: Option<u32>,
}

impl ApiError {
    /// An error with an arbitrary status.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            allow: None,
            retry_after: None,
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404 Not Found.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 405 Method Not Allowed, advertising the accepted methods in `Allow`.
    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("method not allowed (allowed: {allow})"),
            )
        }
    }

    /// 429 Too Many Requests with a `Retry-After` header.
    pub fn rate_limited(retry_after_secs: u32) -> Self {
        Self {
            retry_after: Some(retry_after_secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit exceeded (injected fault)",
            )
        }
    }

    /// Renders the error as a JSON response.
    pub fn into_response(self) -> HttpResponse {
        #[derive(Serialize)]
        struct Body<'a> {
            error: &'a str,
        }
        let mut response = json(
            self.status,
            &Body {
                error: &self.message,
            },
        );
        let headers = response.headers_mut();
        if let Some(allow) = self.allow {
            headers.insert(ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(secs) = self.retry_after {
            headers.insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Decoded query-string parameters, in request order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses `a=1&b=x%2Cy` (the part after `?`), percent-decoding keys and
    /// values and treating `+` as a space, as HTML forms and most clients do.
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (key, value) = part.split_once('=').unwrap_or((part, ""));
                (percent_decode(key), percent_decode(value))
            })
            .collect();
        Self { pairs }
    }

    /// The first value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of `key` split on commas, trimmed, lower-cased and
    /// without empty entries — the shape of CoinGecko's `ids`/`symbols` lists.
    pub fn list(&self, key: &str) -> Option<Vec<String>> {
        self.get(key).map(|v| {
            v.split(',')
                .map(|s| s.trim().to_ascii_lowercase())
                .filter(|s| !s.is_empty())
                .collect()
        })
    }

    /// Whether `key` is present with the value `true` (case-insensitive).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// Percent-decodes a URL component; invalid escapes are kept literally and
/// invalid UTF-8 is replaced, because a malformed query should yield a clean
/// 400/empty result rather than an error path of its own.
pub fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).and_then(|h| {
                    std::str::from_utf8(h)
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                });
                if let Some(byte) = hex {
                    out.push(byte);
                    i += 2;
                } else {
                    out.push(b'%');
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decodes_lists() {
        let q = Query::parse(Some("ids=Bitcoin%2CEthereum,+tether&x"));
        assert_eq!(
            q.list("ids"),
            Some(vec!["bitcoin".into(), "ethereum".into(), "tether".into()])
        );
        assert_eq!(q.get("x"), Some(""));
        assert_eq!(q.get("y"), None);
    }

    #[test]
    fn keeps_malformed_escapes_literally() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%e2%82%ac"), "€");
    }

    #[test]
    fn flags_require_true() {
        let q = Query::parse(Some("a=TRUE&b=1"));
        assert!(q.flag("a"));
        assert!(!q.flag("b"));
        assert!(!q.flag("c"));
    }
}
