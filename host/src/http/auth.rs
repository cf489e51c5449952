//! Who may call the admin endpoints.
//!
//! With `STRATA_ADMIN_TOKEN` set, admin endpoints are served on the public
//! listener and require `Authorization: Bearer <token>`. Tokens are compared
//! through their SHA-256 digests in constant time, so neither the content nor
//! the length of the configured token leaks through response timing. Without
//! a token, admin endpoints exist only on a loopback-only listener.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// How a listener treats admin requests.
#[derive(Clone)]
pub enum AdminAccess {
    /// Admin endpoints need this token (its digest is kept, not the token).
    Token([u8; 32]),
    /// This is the loopback admin listener: admin endpoints are open.
    Loopback,
    /// This listener does not serve admin endpoints at all.
    Closed,
}

impl AdminAccess {
    pub fn token(token: &str) -> Self {
        AdminAccess::Token(Sha256::digest(token.as_bytes()).into())
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
}

/// Checks the `Authorization` header value against `access`.
pub fn check(access: &AdminAccess, authorization: Option<&str>) -> Verdict {
    match access {
        AdminAccess::Loopback => Verdict::Allowed,
        AdminAccess::Closed => Verdict::NotHere,
        AdminAccess::Token(expected) => {
            let presented = authorization
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_bearer_token_is_allowed() {
        let access = AdminAccess::token("s3cret");
        assert_eq!(check(&access, Some("Bearer s3cret")), Verdict::Allowed);
    }

    #[test]
    fn a_missing_or_wrong_token_is_unauthorized() {
        let access = AdminAccess::token("s3cret");
        assert_eq!(check(&access, None), Verdict::Unauthorized);
        assert_eq!(check(&access, Some("Bearer nope")), Verdict::Unauthorized);
        assert_eq!(
            check(&access, Some("s3cret")),
            Verdict::Unauthorized,
            "scheme required"
        );
        assert_eq!(check(&access, Some("Bearer ")), Verdict::Unauthorized);
    }

    #[test]
    fn the_loopback_listener_needs_no_token_and_others_do_not_serve_admin() {
        assert_eq!(check(&AdminAccess::Loopback, None), Verdict::Allowed);
        assert_eq!(
            check(&AdminAccess::Closed, Some("Bearer x")),
            Verdict::NotHere
        );
    }
}
