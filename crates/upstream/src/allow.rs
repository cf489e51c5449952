//! The outbound allow-list: which hosts a component may call.
//!
//! Entries go through the same WHATWG URL parser as the URLs guests send,
//! and are compared as parsed hosts, never as text: `2130706433`,
//! `0x7f000001`, `0177.0.0.1` and `127.0.0.1` are one address to both
//! sides, IPv6 literals compare as addresses, names compare lower-cased and
//! IDNA-encoded. Comparing what the guest wrote with what the manifest wrote
//! would let one spelling of an address through that another was meant to
//! stop (or refuse an entry the operator wrote in an unusual spelling).

use std::fmt;
use std::net::Ipv6Addr;

use url::{Host, Url};

/// One allow-list entry: a host, optionally pinned to a port.
///
/// Written as `host`, `host:port`, or a base URL (`https://host[:port]/...`,
/// in which case the URL's effective port is pinned), so a manifest can
/// reuse the same `${STRATA_UPSTREAM_URL}` it passes to the component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: Host<String>,
    port: Option<u16>,
}

impl AllowedHost {
    /// Parses one manifest entry (see the type); the error says what is wrong
    /// with it. Whitespace, credentials and schemes other than `http` and
    /// `https` are refused, and so is a path unless the entry is a URL.
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("empty entry".into());
        }
        // The URL parser silently drops tabs and newlines; an entry holding
        // any whitespace or control character is a mistake, not a host.
        if entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{entry:?} contains whitespace"));
        }
        // A bare IPv6 address (`::1`) reads as host and port to a URL parser.
        if let Ok(ip) = entry.parse::<Ipv6Addr>() {
            return Ok(Self {
                host: Host::Ipv6(ip),
                port: None,
            });
        }
        let (url, port) = if entry.contains("://") {
            let url =
                Url::parse(entry).map_err(|e| format!("{entry:?} is not a valid URL: {e}"))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!("scheme {:?} is not http or https", url.scheme()));
            }
            let port = url.port_or_known_default();
            (url, port)
        } else {
            let bad = |e: url::ParseError| format!("{entry:?} is not a host name: {e}");
            let as_http = Url::parse(&format!("http://{entry}")).map_err(bad)?;
            if as_http.path() != "/" || as_http.query().is_some() || as_http.fragment().is_some() {
                return Err(format!("{entry:?} is not a host name"));
            }
            // `http:` forgets an explicit `:80` (its default port); `https:`
            // keeps it, so between them every explicit port is seen.
            let port = as_http.port().or_else(|| {
                Url::parse(&format!("https://{entry}"))
                    .ok()
                    .and_then(|url| url.port())
            });
            (as_http, port)
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{entry:?} carries credentials"));
        }
        let host = url
            .host()
            .ok_or_else(|| format!("{entry:?} has no host"))?
            .to_owned();
        Ok(Self { host, port })
    }

    /// Whether `url` is covered by this entry.
    pub(crate) fn permits(&self, url: &Url) -> bool {
        let host_matches = match (url.host(), &self.host) {
            (Some(Host::Domain(name)), Host::Domain(allowed)) => name.eq_ignore_ascii_case(allowed),
            (Some(Host::Ipv4(ip)), Host::Ipv4(allowed)) => ip == *allowed,
            (Some(Host::Ipv6(ip)), Host::Ipv6(allowed)) => ip == *allowed,
            _ => false,
        };
        host_matches
            && self
                .port
                .is_none_or(|port| url.port_or_known_default() == Some(port))
    }

    /// The host as parsed (a name or an address).
    pub(crate) fn host(&self) -> &Host<String> {
        &self.host
    }

    /// Whether the entry pins `port` (rather than allowing every port).
    pub(crate) fn pins_port(&self, port: u16) -> bool {
        self.port == Some(port)
    }

    /// Whether the entry is the name `localhost`, which names loopback.
    pub(crate) fn is_localhost(&self) -> bool {
        matches!(&self.host, Host::Domain(name) if is_localhost(name))
    }
}

/// `localhost`, the one name that means loopback (RFC 6761 section 6.3).
pub(crate) fn is_localhost(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost")
}

/// `host` or `host:port`, IPv6 in brackets: the entry's label in metrics.
impl fmt::Display for AllowedHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).expect("test URL")
    }

    #[test]
    fn a_base_url_pins_host_and_port() {
        let allowed = AllowedHost::parse("http://127.0.0.1:9100").expect("parses");
        assert!(allowed.permits(&url("http://127.0.0.1:9100/api/v3/global")));
        assert!(!allowed.permits(&url("http://127.0.0.1:9200/api/v3/global")));
    }

    #[test]
    fn an_https_base_url_pins_port_443() {
        let allowed = AllowedHost::parse("https://api.coingecko.com").expect("parses");
        assert!(allowed.permits(&url("https://api.coingecko.com/api/v3/global")));
        assert!(!allowed.permits(&url("http://api.coingecko.com/api/v3/global")));
    }

    #[test]
    fn a_bare_host_allows_any_port() {
        let allowed = AllowedHost::parse("Example.com").expect("parses");
        assert!(allowed.permits(&url("https://example.com:8443/x")));
        assert!(!allowed.permits(&url("https://example.com.evil.net/x")));
    }

    #[test]
    fn host_and_port_entries_pin_the_port() {
        let allowed = AllowedHost::parse("localhost:8080").expect("parses");
        assert!(allowed.permits(&url("http://localhost:8080/")));
        assert!(!allowed.permits(&url("http://localhost:8081/")));
    }

    #[test]
    fn an_explicit_port_80_is_pinned() {
        let allowed = AllowedHost::parse("example.com:80").expect("parses");
        assert!(allowed.permits(&url("http://example.com/")));
        assert!(!allowed.permits(&url("http://example.com:8080/")));
        assert_eq!(allowed.to_string(), "example.com:80");
    }

    #[test]
    fn every_spelling_of_an_ipv4_address_is_that_address() {
        for entry in [
            "2130706433",
            "0x7f000001",
            "0177.0.0.1",
            "127.1",
            "127.0.0.1",
        ] {
            let allowed = AllowedHost::parse(entry).expect(entry);
            assert_eq!(allowed.to_string(), "127.0.0.1", "{entry}");
            assert!(allowed.permits(&url("http://0x7f.0.0.1:9/")), "{entry}");
            assert!(!allowed.permits(&url("http://127.0.0.2/")), "{entry}");
        }
    }

    #[test]
    fn ipv6_entries_compare_as_addresses() {
        for entry in ["[::1]", "::1", "[0:0:0:0:0:0:0:1]", "http://[::1]:80"] {
            let allowed = AllowedHost::parse(entry).expect(entry);
            assert!(allowed.permits(&url("http://[0::1]/")), "{entry}");
        }
        let loopback = AllowedHost::parse("127.0.0.1").expect("parses");
        assert!(
            !loopback.permits(&url("http://[::ffff:127.0.0.1]/")),
            "a mapped IPv6 form is another host, never the IPv4 entry"
        );
    }

    #[test]
    fn malformed_entries_are_rejected() {
        for bad in [
            "",
            "host:notaport",
            "a/b",
            "user@host",
            "http://user:pw@host",
            "ftp://host",
            "a\nb",
            "tab\there",
            "host?q",
        ] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }
}
