//! Who a browser request comes from, for the endpoints a web page must not
//! drive: the admin API on the loopback listener (DNS rebinding, cross-site
//! requests) and the WebSocket feed (cross-site WebSocket hijacking).
//!
//! Browsers always send `Origin` on cross-origin POSTs and WebSocket
//! handshakes and cannot forge it; non-browser clients usually send none.
//! A DNS-rebinding page reaches a loopback port under its own host name, so
//! the `Host` it sends is not a loopback name.

use std::net::IpAddr;

use hyper::header::{HOST, ORIGIN};

/// The authority the client addressed: the request target's own (an
/// absolute-form target, or HTTP/2's `:authority`), which wins over `Host`
/// (RFC 9112, 3.2.2), else the `Host` header.
pub fn authority<B>(req: &hyper::Request<B>) -> Option<&str> {
    req.uri()
        .authority()
        .map(|a| a.as_str())
        .or_else(|| req.headers().get(HOST).and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|a| !a.is_empty())
}

/// The host part of an authority: no port, no IPv6 brackets, lower case.
pub fn host_of(authority: &str) -> String {
    let authority = authority.trim();
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, port)| {
                if port.chars().all(|c| c.is_ascii_digit()) {
                    host
                } else {
                    authority
                }
            })
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `host` (from [`host_of`]) names this machine's loopback.
pub fn is_loopback_name(host: &str) -> bool {
    host == "localhost"
        || host.ends_with(".localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The `Origin` header, when the client sent one.
pub fn origin<B>(req: &hyper::Request<B>) -> Option<&str> {
    req.headers().get(ORIGIN).map(|v| v.to_str().unwrap_or("?"))
}

/// Whether `origin` (`http[s]://host[:port]`) names the same authority the
/// request was addressed to. An opaque origin (`null`) never does. The
/// scheme is not compared (a TLS proxy in front changes it), only required
/// to be a web one.
pub fn same_origin(origin: &str, authority: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    rest.trim_end_matches('/')
        .eq_ignore_ascii_case(authority.trim())
}

/// Whether `origin` is the request's own or one of `allowed` (compared as
/// written, case-insensitively: `https://app.example.com`).
pub fn origin_allowed(origin: &str, authority: Option<&str>, allowed: &[String]) -> bool {
    authority.is_some_and(|a| same_origin(origin, a))
        || allowed.iter().any(|a| {
            a.trim_end_matches('/')
                .eq_ignore_ascii_case(origin.trim_end_matches('/'))
        })
}

/// Whether the browser says the request was made by another site's page
/// (`Sec-Fetch-Site`), which no endpoint guarded here ever expects.
pub fn from_another_site<B>(req: &hyper::Request<B>) -> bool {
    req.headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.eq_ignore_ascii_case("cross-site") || v.eq_ignore_ascii_case("same-site")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_of_strips_ports_brackets_and_case() {
        assert_eq!(host_of("127.0.0.1:8081"), "127.0.0.1");
        assert_eq!(host_of("[::1]:8081"), "::1");
        assert_eq!(host_of("LocalHost"), "localhost");
        assert_eq!(host_of("localhost.:80"), "localhost");
        assert_eq!(host_of("evil.example"), "evil.example");
    }

    #[test]
    fn loopback_names_are_recognised() {
        for host in [
            "localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "app.localhost",
        ] {
            assert!(is_loopback_name(host), "{host}");
        }
        for host in [
            "evil.example",
            "10.0.0.1",
            "localhost.evil.example",
            "0.0.0.0",
        ] {
            assert!(!is_loopback_name(host), "{host}");
        }
    }

    #[test]
    fn same_origin_compares_the_whole_authority() {
        assert!(same_origin("http://127.0.0.1:8081", "127.0.0.1:8081"));
        assert!(!same_origin("http://127.0.0.1:9999", "127.0.0.1:8081"));
        assert!(!same_origin("https://evil.example", "127.0.0.1:8081"));
        assert!(!same_origin("null", "127.0.0.1:8081"));
        assert!(!same_origin("evil://127.0.0.1:8081", "127.0.0.1:8081"));
        assert!(same_origin("https://127.0.0.1:8081", "127.0.0.1:8081"));
    }
}
