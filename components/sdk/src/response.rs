//! The outgoing response as an owned value.

use serde::Serialize;

/// An HTTP response a handler returns; the SDK writes it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// A response with no headers and `body`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// Serializes `value` as the JSON body. Serialization can only fail for
    /// types serde cannot express as JSON (for example maps with non-string
    /// keys); that is a handler bug, reported as a 500 instead of a trap.
    pub fn json(status: u16, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self::json_bytes(status, body),
            Err(err) => Self::error(500, &format!("response serialization failed: {err}")),
        }
    }

    /// A JSON body that is already encoded (for example straight from the
    /// cache), skipping a decode/encode round trip.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Self {
        Self::new(status, body).with_header("content-type", "application/json")
    }

    /// An HTML page.
    pub fn html(status: u16, body: String) -> Self {
        Self::new(status, body).with_header("content-type", "text/html; charset=utf-8")
    }

    /// `{"error": message}`: the one error shape every Strata component
    /// returns, so clients parse failures uniformly.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, &serde_json::json!({ "error": message }))
    }

    /// Adds a header (keeping any existing one of the same name, since HTTP
    /// allows repeats).
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_json_objects() {
        let res = Response::error(404, "unknown symbol 'xyz'");
        assert_eq!(res.status, 404);
        assert_eq!(res.header("Content-Type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
        assert_eq!(body, serde_json::json!({ "error": "unknown symbol 'xyz'" }));
    }

    #[test]
    fn unserializable_values_become_500() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(vec![1u8], 1);
        assert_eq!(Response::json(200, &map).status, 500);
    }

    #[test]
    fn html_sets_charset_and_headers_accumulate() {
        let res = Response::html(200, "<p>hi</p>".into()).with_header("x-strata-cache", "miss");
        assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(res.header("x-strata-cache"), Some("miss"));
        assert_eq!(res.body, b"<p>hi</p>");
    }
}
