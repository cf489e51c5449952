//! Outbound HTTP through the host's shared client.
//!
//! The host applies the component's host allow-list, timeouts, retries, a
//! per-upstream circuit breaker and the operator's request budget per
//! upstream, so handlers make one plain call and only decide what a failure
//! means for their response.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::bindings::strata::host::outbound as wit;

/// An outbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: String,
    /// Absolute `http://` or `https://` URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Total budget; the host caps it at its own limit.
    pub timeout_ms: Option<u32>,
}

impl OutboundRequest {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET".to_string(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout_ms: None,
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn with_timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }
}

/// The final response after the host's retries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl OutboundResponse {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The `Retry-After` header in whole seconds, when it is given as a
    /// number (at least 1).
    pub fn retry_after_secs(&self) -> Option<u32> {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("retry-after"))
            .and_then(|(_, value)| value.trim().parse::<u32>().ok())
            .map(|seconds| seconds.max(1))
    }

    pub fn json<T: DeserializeOwned>(&self) -> Result<T, FetchError> {
        serde_json::from_slice(&self.body).map_err(|err| FetchError::Decode(err.to_string()))
    }
}

/// Why no usable response was obtained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// The URL's host is not on this component's allow-list.
    Denied(String),
    InvalidRequest(String),
    Timeout,
    /// The host's circuit breaker for this upstream is open.
    CircuitOpen(String),
    /// The response body exceeded the host's cap (bytes).
    TooLarge(u64),
    Transport(String),
    /// Nothing was sent: the upstream's request budget is spent (or it asked
    /// to wait with 429 and `Retry-After`). Serve what the cache has, or
    /// answer 503 with this `Retry-After`.
    RateLimited {
        retry_after_secs: u32,
    },
    /// The upstream answered with a non-2xx status (only from helpers that
    /// expect success, such as [`get_json`]).
    Status(u16),
    /// The body was not the JSON the caller expected.
    Decode(String),
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Denied(msg) => write!(f, "outbound request denied: {msg}"),
            FetchError::InvalidRequest(msg) => write!(f, "invalid outbound request: {msg}"),
            FetchError::Timeout => write!(f, "upstream timed out"),
            FetchError::CircuitOpen(host) => write!(f, "circuit open for upstream {host}"),
            FetchError::TooLarge(limit) => write!(f, "upstream response exceeds {limit} bytes"),
            FetchError::Transport(msg) => write!(f, "upstream transport error: {msg}"),
            FetchError::RateLimited { retry_after_secs } => write!(
                f,
                "upstream request budget spent; retry after {retry_after_secs} s"
            ),
            FetchError::Status(status) => write!(f, "upstream returned HTTP {status}"),
            FetchError::Decode(msg) => write!(f, "upstream returned unexpected JSON: {msg}"),
        }
    }
}

impl std::error::Error for FetchError {}

impl From<wit::FetchError> for FetchError {
    fn from(err: wit::FetchError) -> Self {
        match err {
            wit::FetchError::Denied(msg) => FetchError::Denied(msg),
            wit::FetchError::InvalidRequest(msg) => FetchError::InvalidRequest(msg),
            wit::FetchError::Timeout => FetchError::Timeout,
            wit::FetchError::CircuitOpen(msg) => FetchError::CircuitOpen(msg),
            wit::FetchError::TooLarge(limit) => FetchError::TooLarge(limit),
            wit::FetchError::Transport(msg) => FetchError::Transport(msg),
        }
    }
}

impl From<wit::SendError> for FetchError {
    fn from(err: wit::SendError) -> Self {
        match err {
            wit::SendError::Fetch(err) => err.into(),
            wit::SendError::RateLimited(retry_after_secs) => {
                FetchError::RateLimited { retry_after_secs }
            }
        }
    }
}

/// Sends `request`; any status counts as a response.
pub fn fetch(request: OutboundRequest) -> Result<OutboundResponse, FetchError> {
    let response = wit::send(&wit::Request {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: request.body,
        timeout_ms: request.timeout_ms,
    })?;
    Ok(OutboundResponse {
        status: response.status,
        headers: response.headers,
        body: response.body,
    })
}

/// GETs `url` and decodes a JSON body; a non-2xx status is
/// [`FetchError::Status`] so callers can tell "upstream said no" from
/// "upstream unreachable".
pub fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, FetchError> {
    fetch_json(OutboundRequest::get(url))
}

/// Sends `request` (asking for JSON) and decodes a JSON body, as
/// [`get_json`] does; for a request with its own timeout or headers. A
/// 429 whose `Retry-After` gives seconds is [`FetchError::RateLimited`],
/// as the host's own budget refusals are, so callers handle both alike.
pub fn fetch_json<T: DeserializeOwned>(request: OutboundRequest) -> Result<T, FetchError> {
    let response = fetch(request.with_header("accept", "application/json"))?;
    if response.status == 429
        && let Some(retry_after_secs) = response.retry_after_secs()
    {
        return Err(FetchError::RateLimited { retry_after_secs });
    }
    if !response.is_success() {
        return Err(FetchError::Status(response.status));
    }
    response.json()
}

/// Percent-encodes a URL path segment or query value (RFC 3986 unreserved
/// characters pass through), so user input can be placed into an upstream URL
/// without changing its structure.
pub fn encode_component(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for byte in input.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_component_escapes_structure() {
        assert_eq!(encode_component("bitcoin"), "bitcoin");
        assert_eq!(encode_component("a b/c?d&e"), "a%20b%2Fc%3Fd%26e");
        assert_eq!(encode_component("€"), "%E2%82%AC");
    }

    #[test]
    fn retry_after_is_read_in_whole_seconds() {
        let with = |value: &str| OutboundResponse {
            status: 429,
            headers: vec![("Retry-After".to_string(), value.to_string())],
            body: Vec::new(),
        };
        assert_eq!(with("30").retry_after_secs(), Some(30));
        assert_eq!(with("0").retry_after_secs(), Some(1));
        assert_eq!(
            with("Wed, 21 Oct 2015 07:28:00 GMT").retry_after_secs(),
            None
        );
        assert_eq!(with("-5").retry_after_secs(), None);
    }

    #[test]
    fn json_decoding_reports_errors() {
        let res = OutboundResponse {
            status: 200,
            headers: Vec::new(),
            body: b"{\"a\":1}".to_vec(),
        };
        let value: serde_json::Value = res.json().unwrap();
        assert_eq!(value["a"], 1);
        assert!(matches!(res.json::<Vec<u8>>(), Err(FetchError::Decode(_))));
    }
}
