//! The outbound allow-list: which hosts a component may call.

use url::Url;

/// One allow-list entry: a host, optionally pinned to a port.
///
/// Written as `host`, `host:port`, or a base URL (`https://host[:port]/...`,
/// in which case the URL's effective port is pinned), so a manifest can
/// reuse the same `${STRATA_UPSTREAM_URL}` it passes to the component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    pub fn parse(entry: &str) -> Result<Self, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("empty entry".into());
        }
        if entry.contains("://") {
            let url =
                Url::parse(entry).map_err(|e| format!("{entry:?} is not a valid URL: {e}"))?;
            let host = url
                .host_str()
                .ok_or_else(|| "URL has no host".to_string())?;
            return Ok(Self {
                host: host.to_ascii_lowercase(),
                port: url.port_or_known_default(),
            });
        }
        let (host, port) = match entry.rsplit_once(':') {
            Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?;
                (host, Some(port))
            }
            _ => (entry, None),
        };
        let host_chars =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':');
        if host.is_empty() || !host.chars().all(host_chars) {
            return Err(format!("{host:?} is not a host name"));
        }
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether `url` is covered by this entry.
    pub fn permits(&self, url: &Url) -> bool {
        let host_matches = url
            .host_str()
            .is_some_and(|host| host.eq_ignore_ascii_case(&self.host));
        host_matches
            && self
                .port
                .is_none_or(|port| url.port_or_known_default() == Some(port))
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
    fn malformed_entries_are_rejected() {
        for bad in ["", "host:notaport", "a/b", "user@host", "a\nb", "tab\there"] {
            assert!(AllowedHost::parse(bad).is_err(), "{bad}");
        }
    }
}
