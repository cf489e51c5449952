//! Who may call the admin endpoints (and admin-only component routes).
//!
//! With `STRATA_ADMIN_TOKEN` set, admin endpoints are served on the public
//! listener and require `Authorization: Bearer <token>`. Tokens are compared
//! through their SHA-256 digests in constant time, so neither the content nor
//! the length of the configured token leaks through response timing. Without
//! a token, admin endpoints exist only on a loopback-only listener.
//!
//! A loopback listener is still reachable from a browser on the same
//! machine: a page can POST to it (cross-site request) or rebind its own
//! DNS name to 127.0.0.1. So that listener also requires a loopback `Host`
//! (or one the operator lists), and every admin request with a foreign
//! `Origin` is refused. A bearer token is never sent by a browser on its
//! own, so the token listener does not need the `Host` rule.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use std::net::SocketAddr;

use super::error::ApiError;
use super::{ListenerRole, origin};

/// How a listener treats admin requests.
#[derive(Clone)]
pub enum AdminAccess {
    /// Admin endpoints need this token (its digest is kept, not the token).
    Token([u8; 32]),
    /// This is the loopback admin listener: admin endpoints are open to
    /// requests addressed to a loopback name or one of these hosts.
    Loopback { extra_hosts: Vec<String> },
    /// This listener does not serve admin endpoints at all.
    Closed,
}

impl AdminAccess {
    pub fn token(token: &str) -> Self {
        AdminAccess::Token(Sha256::digest(token.as_bytes()).into())
    }

    /// Whether a caller admitted here (by [`check`]) presented the bearer
    /// token: only then may a state-changing `GET` be honoured, since a
    /// browser never sends the token by itself.
    pub fn checks_token(&self) -> bool {
        matches!(self, AdminAccess::Token(_))
    }

    /// The loopback listener's access, also accepting `Host` names in
    /// `extra_hosts` (for a tunnel or a local proxy that rewrites it).
    pub fn loopback(extra_hosts: &[String]) -> Self {
        AdminAccess::Loopback {
            extra_hosts: extra_hosts
                .iter()
                .map(|h| origin::host_of(h))
                .filter(|h| !h.is_empty())
                .collect(),
        }
    }
}

/// Outcome of checking a request against [`AdminAccess`].
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// No or wrong credentials: 401.
    Unauthorized,
    /// Admin endpoints are not served here: 404, as if they did not exist.
    NotHere,
    /// The request comes from a browser page or a name that must not reach
    /// the admin API: 403, with the reason.
    Forbidden(&'static str),
}

/// Checks `req` against `access`.
pub fn check<B>(access: &AdminAccess, req: &hyper::Request<B>) -> Verdict {
    let verdict = match access {
        AdminAccess::Closed => return Verdict::NotHere,
        AdminAccess::Loopback { extra_hosts } => {
            let host = origin::authority(req).map(origin::host_of);
            match host {
                Some(host) if origin::is_loopback_name(&host) || extra_hosts.contains(&host) => {
                    Verdict::Allowed
                }
                _ => Verdict::Forbidden(
                    "the admin listener only answers requests addressed to a loopback name \
                     (or a host listed in STRATA_ADMIN_ALLOWED_HOSTS)",
                ),
            }
        }
        AdminAccess::Token(expected) => {
            let presented = req
                .headers()
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .map(str::trim)
                .unwrap_or_default();
            let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
            if !presented.is_empty() && bool::from(digest.ct_eq(expected)) {
                Verdict::Allowed
            } else {
                Verdict::Unauthorized
            }
        }
    };
    if verdict != Verdict::Allowed {
        return verdict;
    }
    let foreign_origin = origin::origin(req)
        .is_some_and(|o| !origin::authority(req).is_some_and(|a| origin::same_origin(o, a)));
    if foreign_origin || origin::from_another_site(req) {
        return Verdict::Forbidden("admin requests from another site's page are refused");
    }
    Verdict::Allowed
}

/// Refuses a request for an admin endpoint (or admin-only route) that this
/// listener does not serve or this caller may not use.
pub(super) fn require<B>(
    role: &ListenerRole,
    req: &hyper::Request<B>,
    peer: SocketAddr,
) -> Result<(), ApiError> {
    match check(&role.admin, req) {
        Verdict::Allowed => Ok(()),
        Verdict::NotHere => Err(ApiError::NotFound {
            method: req.method().to_string(),
            path: req.uri().path().to_string(),
        }),
        Verdict::Unauthorized => {
            let presented = req.headers().contains_key(hyper::header::AUTHORIZATION);
            tracing::warn!(%peer, path = %req.uri().path(), presented, "admin request refused: bad or missing token");
            Err(ApiError::Unauthorized)
        }
        Verdict::Forbidden(reason) => {
            tracing::warn!(%peer, path = %req.uri().path(), reason, "admin request refused");
            Err(ApiError::Forbidden(reason.into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&str, &str)]) -> hyper::Request<()> {
        let mut builder = hyper::Request::builder().uri("/clear-cache");
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request")
    }

    #[test]
    fn the_right_bearer_token_is_allowed() {
        let access = AdminAccess::token("s3cret");
        let req = request(&[("authorization", "Bearer s3cret")]);
        assert_eq!(check(&access, &req), Verdict::Allowed);
    }

    #[test]
    fn a_missing_or_wrong_token_is_unauthorized() {
        let access = AdminAccess::token("s3cret");
        for headers in [
            vec![],
            vec![("authorization", "Bearer nope")],
            vec![("authorization", "s3cret")],
            vec![("authorization", "Bearer ")],
        ] {
            assert_eq!(
                check(&access, &request(&headers)),
                Verdict::Unauthorized,
                "{headers:?}"
            );
        }
    }

    #[test]
    fn the_loopback_listener_needs_no_token_from_a_loopback_host() {
        let access = AdminAccess::loopback(&[]);
        for host in ["127.0.0.1:8081", "localhost:8081", "[::1]:8081"] {
            assert_eq!(
                check(&access, &request(&[("host", host)])),
                Verdict::Allowed
            );
        }
    }

    #[test]
    fn the_loopback_listener_refuses_foreign_host_names() {
        let access = AdminAccess::loopback(&[]);
        for headers in [vec![("host", "rebound.evil.example:8081")], vec![]] {
            assert!(matches!(
                check(&access, &request(&headers)),
                Verdict::Forbidden(_)
            ));
        }
        let listed = AdminAccess::loopback(&["admin.internal".into()]);
        assert_eq!(
            check(&listed, &request(&[("host", "admin.internal:8081")])),
            Verdict::Allowed
        );
    }

    #[test]
    fn a_foreign_origin_is_refused_even_with_a_loopback_host() {
        let access = AdminAccess::loopback(&[]);
        let req = request(&[
            ("host", "127.0.0.1:8081"),
            ("origin", "https://evil.example"),
        ]);
        assert!(matches!(check(&access, &req), Verdict::Forbidden(_)));
        let req = request(&[("host", "127.0.0.1:8081"), ("sec-fetch-site", "cross-site")]);
        assert!(matches!(check(&access, &req), Verdict::Forbidden(_)));
        let same = request(&[
            ("host", "127.0.0.1:8081"),
            ("origin", "http://127.0.0.1:8081"),
        ]);
        assert_eq!(check(&access, &same), Verdict::Allowed);
    }

    #[test]
    fn only_the_token_listener_admits_by_token() {
        assert!(AdminAccess::token("s3cret").checks_token());
        assert!(!AdminAccess::loopback(&[]).checks_token());
        assert!(!AdminAccess::Closed.checks_token());
    }

    #[test]
    fn other_listeners_do_not_serve_admin() {
        let req = request(&[("authorization", "Bearer x")]);
        assert_eq!(check(&AdminAccess::Closed, &req), Verdict::NotHere);
    }
}
