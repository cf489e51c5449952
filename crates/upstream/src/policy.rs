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

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::RwLock;

use ipnet::IpNet;

use super::allow::AllowedHost;

/// IPv4 ranges refused by default: (network, prefix length, name).
const V4_RANGES: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "this-network"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private"),
    (Ipv4Addr::new(100, 64, 0, 0), 10, "shared (CGNAT)"),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback"),
    (Ipv4Addr::new(169, 254, 0, 0), 16, "link-local"),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private"),
    (Ipv4Addr::new(192, 0, 0, 0), 24, "IETF protocol assignments"),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking"),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved or broadcast"),
];

/// IPv6 ranges refused by default, after IPv4 forms are unwrapped.
const V6_RANGES: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified"),
    (Ipv6Addr::LOCALHOST, 128, "loopback"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "NAT64 local-use",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique-local",
    ),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10, "link-local"),
    (Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0), 10, "site-local"),
    (Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0), 8, "multicast"),
];

/// The IPv4 address an IPv6 address stands for, if it embeds one
/// (`::ffff:a.b.c.d`, the deprecated `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`),
/// so every form of 127.0.0.1 is judged as 127.0.0.1.
pub fn canonical(ip: IpAddr) -> IpAddr {
    let IpAddr::V6(v6) = ip else {
        return ip;
    };
    if let Some(v4) = v6.to_ipv4_mapped() {
        return IpAddr::V4(v4);
    }
    let segments = v6.segments();
    let embedded = Ipv4Addr::from_bits(v6.to_bits() as u32);
    let compatible =
        segments[..6] == [0; 6] && v6 != Ipv6Addr::UNSPECIFIED && v6 != Ipv6Addr::LOCALHOST;
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if compatible || nat64 {
        return IpAddr::V4(embedded);
    }
    ip
}

/// The name of the refused range holding `ip` (already canonical), if any.
pub fn reserved_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(ip) => V4_RANGES.iter().find_map(|(net, len, name)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*len)).unwrap_or(0);
            (u32::from(ip) & mask == u32::from(*net)).then_some(*name)
        }),
        IpAddr::V6(ip) => V6_RANGES.iter().find_map(|(net, len, name)| {
            let mask = u128::MAX.checked_shl(128 - u32::from(*len)).unwrap_or(0);
            (ip.to_bits() & mask == net.to_bits()).then_some(*name)
        }),
    }
}

/// The operator's `--outbound-allow-networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Networks(pub Vec<IpNet>);

/// Parses `--outbound-allow-networks`: comma-separated CIDRs or single
/// addresses; an empty value (an unset variable in an env file) is none.
pub fn parse_networks(text: &str) -> Result<Networks, String> {
    text.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(parse_network)
        .collect::<Result<_, _>>()
        .map(Networks)
}

fn parse_network(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{text:?} is not an IP network (CIDR) or address"))
}

/// Why an address was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
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
pub struct AddressPolicy {
    allow_networks: Vec<IpNet>,
    /// Learnt once the host has bound its listeners (after start-up).
    listeners: RwLock<Vec<SocketAddr>>,
}

impl AddressPolicy {
    pub fn new(allow_networks: Vec<IpNet>) -> Self {
        Self {
            allow_networks,
            listeners: RwLock::default(),
        }
    }

    /// Records the addresses this host listens on.
    pub fn set_listeners(&self, listeners: Vec<SocketAddr>) {
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
    pub fn check_resolved(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        match reserved_range(ip) {
            Some(range) if !self.in_allowed_network(ip) => Err(Refusal::Reserved(range)),
            _ if self.reaches_listener(ip, None) => Err(Refusal::OwnListener),
            _ => Ok(()),
        }
    }

    /// The check for an address known before connecting (an IP literal, or
    /// `localhost`), reached through allow-list entry `entry` on `port`.
    pub fn check_known(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("test address")
    }

    #[test]
    fn every_default_refused_range_is_refused() {
        for (address, range) in [
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("0.0.0.0", "this-network"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared (CGNAT)"),
            ("169.254.169.254", "link-local"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved or broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fe80::1", "link-local"),
            ("fd00::1", "unique-local"),
            ("fc00::1", "unique-local"),
            ("ff02::1", "multicast"),
        ] {
            assert_eq!(
                reserved_range(canonical(ip(address))),
                Some(range),
                "{address}"
            );
        }
    }

    #[test]
    fn public_addresses_pass() {
        for address in [
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "2001:db8::1",
        ] {
            assert_eq!(reserved_range(canonical(ip(address))), None, "{address}");
        }
    }

    #[test]
    fn ipv4_forms_inside_ipv6_are_judged_as_ipv4() {
        for address in [
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "::127.0.0.1",
            "64:ff9b::127.0.0.1",
        ] {
            assert_eq!(canonical(ip(address)), ip("127.0.0.1"), "{address}");
        }
        assert_eq!(
            reserved_range(canonical(ip("::ffff:10.0.0.1"))),
            Some("private")
        );
    }

    #[test]
    fn an_operator_network_opens_names_onto_it() {
        let policy = AddressPolicy::new(vec![parse_network("10.0.0.0/8").expect("CIDR")]);
        assert_eq!(policy.check_resolved(ip("10.2.3.4")), Ok(()));
        assert_eq!(
            policy.check_resolved(ip("::ffff:10.2.3.4")),
            Ok(()),
            "mapped form"
        );
        assert_eq!(
            policy.check_resolved(ip("192.168.0.1")),
            Err(Refusal::Reserved("private"))
        );
    }

    #[test]
    fn a_literal_entry_opens_its_range_but_not_a_listener_on_another_port() {
        let policy = AddressPolicy::default();
        policy.set_listeners(vec!["127.0.0.1:8081".parse().expect("address")]);
        let any_port = AllowedHost::parse("127.0.0.1").expect("entry");
        let pinned = AllowedHost::parse("127.0.0.1:8081").expect("entry");
        let lo = ip("127.0.0.1");
        assert_eq!(policy.check_known(lo, 9000, &any_port, true), Ok(()));
        assert_eq!(
            policy.check_known(lo, 8081, &any_port, true),
            Err(Refusal::OwnListener)
        );
        assert_eq!(policy.check_known(lo, 8081, &pinned, true), Ok(()));
        let unspecified = AllowedHost::parse("0.0.0.0").expect("entry");
        assert_eq!(
            policy.check_known(ip("0.0.0.0"), 8081, &unspecified, true),
            Err(Refusal::OwnListener),
            "0.0.0.0 connects to the local machine"
        );
    }

    #[test]
    fn localhost_opens_loopback_only() {
        let policy = AddressPolicy::default();
        let localhost = AllowedHost::parse("localhost").expect("entry");
        let other = AllowedHost::parse("example.com").expect("entry");
        assert_eq!(
            policy.check_known(ip("127.0.0.1"), 80, &localhost, false),
            Ok(())
        );
        assert_eq!(
            policy.check_known(ip("127.0.0.1"), 80, &other, false),
            Err(Refusal::Reserved("loopback"))
        );
    }

    #[test]
    fn names_never_resolve_onto_a_listener_address() {
        let policy = AddressPolicy::new(vec![parse_network("127.0.0.0/8").expect("CIDR")]);
        policy.set_listeners(vec!["127.0.0.1:8081".parse().expect("address")]);
        assert_eq!(
            policy.check_resolved(ip("127.0.0.1")),
            Err(Refusal::OwnListener)
        );
        assert_eq!(policy.check_resolved(ip("127.0.0.2")), Ok(()));
    }

    #[test]
    fn a_network_list_may_be_empty_or_spaced() {
        assert_eq!(parse_networks(""), Ok(Networks::default()));
        let list = parse_networks(" 10.0.0.0/8 , fd00::/8,").expect("two networks");
        assert_eq!(list.0.len(), 2);
        assert!(parse_networks("10.0.0.0/8,nonsense").is_err());
    }

    #[test]
    fn networks_parse_as_cidrs_or_single_addresses() {
        assert_eq!(
            parse_network("10.1.2.3/8").expect("CIDR").to_string(),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_network("fd00::1").expect("address").to_string(),
            "fd00::1/128"
        );
        assert!(parse_network("10.0.0.0/33").is_err());
        assert!(parse_network("example.com").is_err());
    }
}
