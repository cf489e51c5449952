//! The host's own endpoints, in one table.
//!
//! Routing, the admin check, metrics labels and the OpenAPI document all
//! read [`ENDPOINTS`], so there is one answer to "is this an admin
//! endpoint": the one of the entry a request matched. Matching works on
//! path segments with empty ones dropped (the component router does the
//! same), so `/clear-cache`, `/clear-cache/` and `//clear-cache` are one
//! endpoint and get one verdict, instead of a string comparison on the raw
//! path that another spelling walks around.
//!
//! Some entries are the seed's names for the same things (`/admin/cache/..`,
//! `/api/crypto/dashboard-summary/cached`), kept because clients of the
//! system Strata replaces still call them (issue #21).

use hyper::Method;

/// What an endpoint does; the handler is chosen from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Page,
    Stylesheet,
    Script,
    LiveFeed,
    Health,
    Metrics,
    OpenApi,
    CacheStats,
    ClearCache,
    /// The cached dashboard summary, read from the cache only.
    CachedSummary,
    ListComponents,
    /// `POST` deploys, `DELETE` removes.
    Component,
    Rollback,
    PublishReport,
    /// `GET` shows the active manifest, `POST` deploys one.
    Apps,
    AppRollback,
    Instances,
}

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone who reaches the listener.
    Public,
    /// Only the loopback admin listener, or a bearer token on the public one.
    Admin,
}

/// One host endpoint.
#[derive(Debug)]
pub struct Endpoint {
    /// The path as in the OpenAPI document; `{name}` matches one segment.
    pub path: &'static str,
    pub methods: &'static [Method],
    pub kind: Kind,
    pub access: Access,
    /// Endpoints that belong on the public listener only: the browser-facing
    /// ones, and data the admin listener does not serve (it serves no
    /// public component routes, so neither their host-side stand-ins).
    pub public_listener_only: bool,
    /// Methods answered only to a caller that presented the bearer token.
    /// A state-changing `GET` can be fired by a link prefetcher or another
    /// site's page without a preflight, and the loopback listener checks no
    /// token; a browser never attaches a bearer token by itself, so only the
    /// token shows that the caller meant it. Elsewhere these methods get a
    /// 405 naming the safe ones.
    pub token_methods: &'static [Method],
}

impl Endpoint {
    /// Whether `method` is one this endpoint answers.
    pub fn allows(&self, method: &Method) -> bool {
        self.methods.contains(method)
    }

    /// Whether `method` is answered only to a bearer-token caller.
    pub fn needs_token(&self, method: &Method) -> bool {
        self.token_methods.contains(method)
    }

    /// The methods a caller may use, for an `Allow` header: without a
    /// presented token, those needing one are left out.
    pub fn allowed(&self, by_token: bool) -> Vec<String> {
        self.methods
            .iter()
            .filter(|m| by_token || !self.needs_token(m))
            .map(|m| m.as_str().to_string())
            .collect()
    }

    pub fn is_admin(&self) -> bool {
        self.access == Access::Admin
    }
}

const fn public(path: &'static str, methods: &'static [Method], kind: Kind) -> Endpoint {
    Endpoint {
        path,
        methods,
        kind,
        access: Access::Public,
        public_listener_only: false,
        token_methods: &[],
    }
}

const fn browser(path: &'static str, kind: Kind) -> Endpoint {
    Endpoint {
        path,
        methods: &[Method::GET],
        kind,
        access: Access::Public,
        public_listener_only: true,
        token_methods: &[],
    }
}

/// A public `GET` of data that stands in for a component route, so it is
/// served where component routes are: on the public listener only.
const fn data(path: &'static str, kind: Kind) -> Endpoint {
    browser(path, kind)
}

const fn admin(path: &'static str, methods: &'static [Method], kind: Kind) -> Endpoint {
    Endpoint {
        path,
        methods,
        kind,
        access: Access::Admin,
        public_listener_only: false,
        token_methods: &[],
    }
}

impl Endpoint {
    /// The same endpoint with `methods` answered to bearer-token callers only.
    const fn needing_token_for(mut self, methods: &'static [Method]) -> Self {
        self.token_methods = methods;
        self
    }
}

/// Every endpoint the host answers itself, before component routes.
pub const ENDPOINTS: &[Endpoint] = &[
    browser("/", Kind::Page),
    browser("/app.css", Kind::Stylesheet),
    browser("/app.js", Kind::Script),
    browser("/ws", Kind::LiveFeed),
    public("/health", &[Method::GET], Kind::Health),
    public("/metrics", &[Method::GET], Kind::Metrics),
    public("/openapi.json", &[Method::GET], Kind::OpenApi),
    public("/cache-stats", &[Method::GET], Kind::CacheStats),
    admin("/clear-cache", &[Method::POST], Kind::ClearCache),
    admin("/admin/components", &[Method::GET], Kind::ListComponents),
    admin(
        "/admin/components/{name}",
        &[Method::POST, Method::DELETE],
        Kind::Component,
    ),
    admin(
        "/admin/components/{name}/rollback",
        &[Method::POST],
        Kind::Rollback,
    ),
    admin("/admin/reports", &[Method::POST], Kind::PublishReport),
    admin("/admin/apps", &[Method::GET, Method::POST], Kind::Apps),
    admin("/admin/apps/rollback", &[Method::POST], Kind::AppRollback),
    admin("/admin/instances", &[Method::GET], Kind::Instances),
    // The seed's names (issue #21). Its clear was a GET: kept for callers
    // with the token, deprecated in openapi.json.
    admin("/admin/cache/stats", &[Method::GET], Kind::CacheStats),
    admin(
        "/admin/cache/clear",
        &[Method::POST, Method::GET],
        Kind::ClearCache,
    )
    .needing_token_for(&[Method::GET]),
    data("/api/crypto/dashboard-summary/cached", Kind::CachedSummary),
];

/// A request path matched to an endpoint.
#[derive(Debug)]
pub struct Matched<'a> {
    pub endpoint: &'static Endpoint,
    /// The `{name}` segment, when the endpoint has one.
    pub name: Option<&'a str>,
}

/// The endpoint `path` names, whatever the method. Every request asks
/// (before the manifest's routes), so it compares segments as it splits
/// them, without allocating; most endpoints differ at the first one.
pub fn find(path: &str) -> Option<Matched<'_>> {
    ENDPOINTS.iter().find_map(|endpoint| {
        let name = match_segments(endpoint.path, path)?;
        Some(Matched { endpoint, name })
    })
}

/// Whether `path` has `pattern`'s segments (empty ones ignored); the
/// `{name}` segment's value, if it has one.
fn match_segments<'a>(pattern: &str, path: &'a str) -> Option<Option<&'a str>> {
    let mut want = pattern.split('/').filter(|s| !s.is_empty());
    let mut got = path.split('/').filter(|s| !s.is_empty());
    let mut name = None;
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(name),
            (Some("{name}"), Some(value)) => name = Some(value),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// Whether a manifest route of this exact literal path would be hidden by
/// a host endpoint (host endpoints are matched first).
pub fn shadows(route_path: &str) -> Option<&'static str> {
    if route_path.contains(['{', '*']) {
        return None;
    }
    find(route_path).map(|m| m.endpoint.path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_an_admin_path_matches_the_admin_endpoint() {
        for path in [
            "/clear-cache",
            "/clear-cache/",
            "//clear-cache",
            "/clear-cache//",
            "///clear-cache///",
        ] {
            let matched = find(path).unwrap_or_else(|| panic!("{path} matches"));
            assert_eq!(matched.endpoint.kind, Kind::ClearCache, "{path}");
            assert!(matched.endpoint.is_admin(), "{path}");
        }
        for path in [
            "/admin/components/",
            "//admin//components",
            "/admin/reports/",
        ] {
            assert!(find(path).expect(path).endpoint.is_admin(), "{path}");
        }
    }

    #[test]
    fn named_segments_are_captured() {
        let matched = find("/admin/components/market/rollback/").expect("matches");
        assert_eq!(matched.endpoint.kind, Kind::Rollback);
        assert_eq!(matched.name, Some("market"));
    }

    #[test]
    fn other_paths_are_left_to_component_routes() {
        for path in [
            "/api/market/btc",
            "/clear-cachex",
            "/clear%2Dcache",
            "/admin",
            "/admin/components/a/b/c",
        ] {
            assert!(find(path).is_none(), "{path}");
        }
    }

    #[test]
    fn the_root_page_is_the_empty_path() {
        assert_eq!(find("/").expect("root").endpoint.kind, Kind::Page);
        assert_eq!(find("//").expect("root").endpoint.kind, Kind::Page);
    }

    #[test]
    fn every_spelling_of_a_compat_path_matches_its_endpoint() {
        for (path, kind) in [
            ("/admin/cache/stats/", Kind::CacheStats),
            ("//admin//cache/stats", Kind::CacheStats),
            ("/admin/cache/clear//", Kind::ClearCache),
            ("///admin/cache/clear", Kind::ClearCache),
            ("/api/crypto/dashboard-summary/cached/", Kind::CachedSummary),
            (
                "//api//crypto/dashboard-summary/cached",
                Kind::CachedSummary,
            ),
        ] {
            assert_eq!(find(path).expect(path).endpoint.kind, kind, "{path}");
        }
        for path in [
            "/admin/cache",
            "/admin/cache/clear/x",
            "/admin/cache/clearx",
        ] {
            assert!(find(path).is_none(), "{path}");
        }
    }

    #[test]
    fn the_get_clear_needs_the_token_and_the_post_does_not() {
        let clear = find("/admin/cache/clear").expect("clear").endpoint;
        assert!(clear.is_admin());
        assert!(clear.needs_token(&Method::GET));
        assert!(!clear.needs_token(&Method::POST));
        assert_eq!(clear.allowed(false), ["POST"]);
        assert_eq!(clear.allowed(true), ["POST", "GET"]);
    }

    #[test]
    fn only_admin_endpoints_have_token_methods_and_they_are_among_their_methods() {
        for endpoint in ENDPOINTS {
            for method in endpoint.token_methods {
                assert!(
                    endpoint.is_admin(),
                    "{}: public listeners check no token",
                    endpoint.path
                );
                assert!(endpoint.allows(method), "{method} {}", endpoint.path);
            }
        }
    }

    #[test]
    fn the_cached_summary_is_public_and_on_the_public_listener_only() {
        let cached = find("/api/crypto/dashboard-summary/cached")
            .expect("cached")
            .endpoint;
        assert!(!cached.is_admin());
        assert!(cached.public_listener_only);
        assert_eq!(cached.allowed(false), ["GET"]);
    }

    #[test]
    fn paths_in_the_table_are_unique() {
        let mut paths: Vec<&str> = ENDPOINTS.iter().map(|e| e.path).collect();
        paths.sort_unstable();
        paths.dedup();
        assert_eq!(paths.len(), ENDPOINTS.len());
    }
}
