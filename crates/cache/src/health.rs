//! The L2 tier's health, as `/health` and `/cache-stats` report it.
//!
//! The cache keeps serving without Redis, so "is Redis there" is not a
//! request failure but something an operator must be able to see: a live
//! round trip for the detailed check, and one word for the public
//! endpoints, which say what is down but never why.

use crate::TieredCache;

/// The L2 tier's state in one word, as the public endpoints show it
/// (`/health`, `/cache-stats`): what is down, never why.
pub fn l2_state(configured: bool, healthy: bool) -> &'static str {
    match (configured, healthy) {
        (false, _) => "not configured",
        (true, true) => "connected",
        (true, false) => "unavailable",
    }
}

/// State of the L2 tier for health checks.
#[derive(Debug, Clone, serde::Serialize)]
pub struct L2Health {
    /// Whether an L2 is configured at all; false means L1 only.
    pub configured: bool,
    /// "standalone", "cluster" or "none".
    pub mode: &'static str,
    /// Whether a PING just now reached Redis (every primary of a cluster).
    pub healthy: bool,
    /// "connected", "not configured (L1 only)" or the Redis error. The error
    /// may name hosts and users: log it, never show it on a public endpoint.
    pub status: String,
}

impl TieredCache {
    /// The L2 tier's state, with a live round trip when it is configured.
    pub async fn l2_health(&self) -> L2Health {
        match &self.l2 {
            None => L2Health {
                configured: false,
                mode: "none",
                healthy: false,
                status: "not configured (L1 only)".into(),
            },
            Some(l2) => match l2.ping().await {
                Ok(()) => L2Health {
                    configured: true,
                    mode: l2.backplane().topology().mode(),
                    healthy: true,
                    status: "connected".into(),
                },
                Err(e) => L2Health {
                    configured: true,
                    mode: l2.backplane().topology().mode(),
                    healthy: false,
                    status: e.to_string(),
                },
            },
        }
    }
}
