//! The outbound client's DNS resolver: the system resolver, with every
//! answer put through the [`AddressPolicy`] before reqwest may connect.
//!
//! Checking a name's addresses anywhere else (resolving first, then letting
//! the client resolve again to connect) would lose to DNS rebinding: the
//! second answer is the one used. Here the answer checked is the answer
//! used. Addresses the policy refuses are dropped; a name left with none
//! fails with [`BlockedName`], which the client reports to the guest as a
//! denial rather than a transport failure.
//!
//! `localhost` is answered here, as loopback, without asking the system
//! (RFC 6761 section 6.3): its addresses must be the ones the policy
//! checked before connecting, not whatever `/etc/hosts` says.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::allow::is_localhost;
use super::policy::{AddressPolicy, Refusal};

/// The addresses `localhost` stands for.
pub(crate) const LOCALHOST: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
];

/// A name that resolved only to refused addresses.
#[derive(Debug, thiserror::Error)]
#[error("{name} resolves only to refused addresses ({reason})")]
pub(crate) struct BlockedName {
    pub(crate) name: String,
    pub(crate) reason: Refusal,
}

/// See the module documentation.
pub(crate) struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl GuardedResolver {
    pub(crate) fn new(policy: Arc<AddressPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        let name = name.as_str().to_string();
        Box::pin(async move {
            if is_localhost(&name) {
                let addrs: Addrs = Box::new(LOCALHOST.map(|ip| SocketAddr::new(ip, 0)).into_iter());
                return Ok(addrs);
            }
            let mut refused = None;
            let permitted: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|addr| match policy.check_resolved(addr.ip()) {
                    Ok(()) => true,
                    Err(reason) => {
                        tracing::warn!(name = %super::shown(&name), address = %addr.ip(), %reason, "outbound name resolved to a refused address");
                        refused = Some(reason);
                        false
                    }
                })
                .collect();
            match (permitted.is_empty(), refused) {
                (true, Some(reason)) => {
                    let error: Box<dyn std::error::Error + Send + Sync> =
                        Box::new(BlockedName { name, reason });
                    Err(error)
                }
                _ => {
                    let addrs: Addrs = Box::new(permitted.into_iter());
                    Ok(addrs)
                }
            }
        })
    }
}
