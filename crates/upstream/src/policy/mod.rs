//! Which network addresses outbound calls may land on.
//!
//! The allow-list says which hosts a component may name; this says which
//! addresses any call may reach. An allowed name can still resolve to
//! 127.0.0.1 (or be made to, by whoever runs its DNS), and an allowed
//! upstream can redirect anywhere, so the check is made on the address the
//! connection will use, on every hop: by the DNS resolver for names (see
//! [`super::resolve`]; the client resolves names nowhere else, and uses no
//! proxy), and before connecting for IP literals and `localhost`, whose
//! addresses are known without DNS.
//!
//! Refused by default: loopback, unspecified, link-local, private
//! (RFC 1918), shared (CGNAT), unique-local, site-local, multicast,
//! broadcast and reserved ranges, in any IPv4-mapped, IPv4-compatible or
//! NAT64 IPv6 form, and every address a listener of this host is bound to.
//! A range is opened only by naming it: the allow-list entry that let the
//! URL through is that IP literal (or `localhost`, for loopback), or the
//! operator listed a network containing the address
//! (`--outbound-allow-networks`). A host listener is opened only by an
//! entry that names its address and pins its port: a component that can
//! reach the admin listener is an administrator, and one that can reach the
//! public listener can make the host call itself without end. Names never
//! reach a listener's address at all: the resolver does not know the port.

mod ranges;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::RwLock;

use ipnet::IpNet;

use crate::allow::AllowedHost;
use ranges::{canonical, reserved_range};

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// In a range refused by default (named).
    Reserved(&'static str),
    /// A listener of this host.
    OwnListener,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Reserved(range) => write!(f, "an address in the {range} range"),
            Refusal::OwnListener => f.write_str("this host's own listener"),
        }
    }
}

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct AddressPolicy {
    allow_networks: Vec<IpNet>,
    /// Learnt once the host has bound its listeners (after start-up).
    listeners: RwLock<Vec<SocketAddr>>,
}

impl AddressPolicy {
    pub(crate) fn new(allow_networks: Vec<IpNet>) -> Self {
        Self {
            allow_networks,
            listeners: RwLock::default(),
        }
    }

    /// Records the addresses this host listens on.
    pub(crate) fn set_listeners(&self, listeners: Vec<SocketAddr>) {
        *self.listeners.write().unwrap_or_else(|e| e.into_inner()) = listeners;
    }

    fn in_allowed_network(&self, ip: IpAddr) -> bool {
        self.allow_networks.iter().any(|net| net.contains(&ip))
    }

    /// Whether a connection to `ip` (canonical) on `port` (any port when
    /// `None`) could reach one of this host's listeners.
    fn reaches_listener(&self, ip: IpAddr, port: Option<u16>) -> bool {
        let listeners = self.listeners.read().unwrap_or_else(|e| e.into_inner());
        listeners.iter().any(|listener| {
            if port.is_some_and(|port| port != listener.port()) {
                return false;
            }
            let bound = canonical(listener.ip());
            // Connecting to 0.0.0.0 or :: reaches the local machine, and a
            // listener on the unspecified address answers every local one.
            bound == ip || ip.is_unspecified() || (bound.is_unspecified() && is_local(ip))
        })
    }

    /// The check for an address a name resolved to (port unknown).
    pub(crate) fn check_resolved(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        match reserved_range(ip) {
            Some(range) if !self.in_allowed_network(ip) => Err(Refusal::Reserved(range)),
            _ if self.reaches_listener(ip, None) => Err(Refusal::OwnListener),
            _ => Ok(()),
        }
    }

    /// The check for an address known before connecting (an IP literal, or
    /// `localhost`), reached through allow-list entry `entry` on `port`.
    pub(crate) fn check_known(
        &self,
        ip: IpAddr,
        port: u16,
        entry: &AllowedHost,
        literal: bool,
    ) -> Result<(), Refusal> {
        let canon = canonical(ip);
        let named = if literal {
            matches!(entry.host(), url::Host::Ipv4(a) if IpAddr::V4(*a) == ip)
                || matches!(entry.host(), url::Host::Ipv6(a) if IpAddr::V6(*a) == ip)
        } else {
            entry.is_localhost() && canon.is_loopback()
        };
        match reserved_range(canon) {
            Some(range) if !named && !self.in_allowed_network(canon) => {
                Err(Refusal::Reserved(range))
            }
            _ if self.reaches_listener(canon, Some(port)) && !(named && entry.pins_port(port)) => {
                Err(Refusal::OwnListener)
            }
            _ => Ok(()),
        }
    }
}

/// Whether `ip` is an address of this machine: binding a socket to it
/// succeeds only for local addresses (and costs one system call, no I/O).
fn is_local(ip: IpAddr) -> bool {
    ip.is_loopback() || ip.is_unspecified() || UdpSocket::bind(SocketAddr::new(ip, 0)).is_ok()
}
