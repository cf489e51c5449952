//! The incoming request as an owned value.

/// Header prefix through which the host's router passes matched route
/// parameters (`/api/market/{symbol}` → `strata-param-symbol: btc`). Using
/// headers keeps the contract inside plain `wasi:http` with no extra WIT.
pub const PARAM_HEADER_PREFIX: &str = "strata-param-";

/// An incoming HTTP request, fully read into memory.
///
/// Bodies are bounded by [`crate::MAX_BODY_BYTES`] before a handler sees them,
/// so holding them whole is cheap and lets handlers stay synchronous.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Upper-case method (`GET`, `POST`, ...).
    pub method: String,
    /// Path without the query string, as sent (not percent-decoded).
    pub path: String,
    /// Raw query string after `?`, if any.
    pub query: Option<String>,
    /// Header names are lower case (as `wasi:http` delivers them); values are
    /// decoded lossily because handlers only ever compare them as text.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// First value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Route parameter `name` as matched by the host's router.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| {
                key.len() == PARAM_HEADER_PREFIX.len() + name.len()
                    && key
                        .get(..PARAM_HEADER_PREFIX.len())
                        .is_some_and(|p| p.eq_ignore_ascii_case(PARAM_HEADER_PREFIX))
                    && key
                        .get(PARAM_HEADER_PREFIX.len()..)
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
            })
            .map(|(_, value)| value.as_str())
    }

    /// First value of query parameter `name`, percent-decoded (`+` is a
    /// space, as in HTML forms). An invalid escape is kept literally rather
    /// than failing the request.
    pub fn query_param(&self, name: &str) -> Option<String> {
        query_pairs(self.query.as_deref()?)
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }

    /// The path split on `/` with empty segments dropped, so routing does not
    /// care about a trailing or doubled slash.
    pub fn segments(&self) -> Vec<&str> {
        self.path.split('/').filter(|s| !s.is_empty()).collect()
    }
}

/// Decoded `key=value` pairs of a query string; a key without `=` has an
/// empty value.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key), percent_decode(value))
        })
}

/// Percent-decodes a query component. Bytes that do not form valid UTF-8 are
/// replaced rather than rejected: a handler compares the result as text.
pub fn percent_decode(input: &str) -> String {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match (
                bytes.get(i + 1).copied().and_then(hex_value),
                bytes.get(i + 2).copied().and_then(hex_value),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            other => out.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: Option<&str>, headers: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/api/market/btc".into(),
            query: query.map(str::to_string),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    #[test]
    fn query_params_are_decoded() {
        let req = request(Some("a=1&name=hello+world&sym=%42TC&flag"), &[]);
        assert_eq!(req.query_param("a").as_deref(), Some("1"));
        assert_eq!(req.query_param("name").as_deref(), Some("hello world"));
        assert_eq!(req.query_param("sym").as_deref(), Some("BTC"));
        assert_eq!(req.query_param("flag").as_deref(), Some(""));
        assert_eq!(req.query_param("missing"), None);
    }

    #[test]
    fn first_query_value_wins_and_no_query_means_none() {
        let req = request(Some("x=1&x=2"), &[]);
        assert_eq!(req.query_param("x").as_deref(), Some("1"));
        assert_eq!(request(None, &[]).query_param("x"), None);
    }

    #[test]
    fn broken_escapes_are_kept_literally() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%E2%82%AC"), "€");
    }

    #[test]
    fn params_come_from_strata_param_headers() {
        let req = request(
            None,
            &[
                ("strata-param-symbol", "btc"),
                ("Strata-Param-Period", "14"),
            ],
        );
        assert_eq!(req.param("symbol"), Some("btc"));
        assert_eq!(req.param("period"), Some("14"));
        assert_eq!(req.param("sym"), None);
        assert_eq!(req.header("STRATA-PARAM-SYMBOL"), Some("btc"));
    }

    #[test]
    fn segments_ignore_extra_slashes() {
        let mut req = request(None, &[]);
        req.path = "//api/market/btc/".into();
        assert_eq!(req.segments(), ["api", "market", "btc"]);
    }
}
