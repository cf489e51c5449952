//! The operator's `--outbound-allow-networks`.
//!
//! Internal upstreams live in ranges the address policy refuses by
//! default; the operator opens them by naming them, and the flag's text
//! has to be parsed (forgivingly, as env files write it) before the policy
//! can use it.

use std::net::IpAddr;

use ipnet::IpNet;

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

pub(crate) fn parse_network(text: &str) -> Result<IpNet, String> {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| format!("{text:?} is not an IP network (CIDR) or address"))
}

#[cfg(test)]
mod tests {
    use super::*;

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
