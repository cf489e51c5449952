//! The cluster's membership as `CLUSTER NODES` reports it.
//!
//! A keyspace walk must visit every primary (SCAN is per node in a
//! cluster), and a subscriber count must add up every node's subscribers,
//! so the host asks a live node for the member list instead of trusting
//! the configured seeds to be complete.

use std::fmt;

/// A node's client address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeAddr {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for NodeAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// One cluster member that is believed to be up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub addr: NodeAddr,
    /// Primaries own slots; replicas only mirror them.
    pub primary: bool,
}

/// The members of a `CLUSTER NODES` reply that can take commands: nodes
/// flagged failed, without an address or still in handshake are left out.
/// Lines that do not parse are skipped rather than failing the whole list.
pub fn parse_cluster_nodes(reply: &str) -> Vec<Member> {
    reply.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Member> {
    let mut fields = line.split_whitespace();
    let _id = fields.next()?;
    let address = fields.next()?;
    let flags: Vec<&str> = fields.next()?.split(',').collect();
    if flags
        .iter()
        .any(|flag| matches!(*flag, "fail" | "noaddr" | "handshake"))
    {
        return None;
    }
    // `ip:port@cport[,hostname]`; the client port is before the `@`.
    let client = address.split(['@', ',']).next()?;
    let (host, port) = client.rsplit_once(':')?;
    let port = port.parse().ok().filter(|port| *port != 0)?;
    if host.is_empty() {
        return None;
    }
    Some(Member {
        addr: NodeAddr {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
        },
        primary: flags.contains(&"master"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,hostname4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master,fail - 1426238317741 1426238314232 3 disconnected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460
6ec23923021cf3ffec47632106199cb7f496ce01 :0@0 master,noaddr - 1426238316232 1426238316232 5 disconnected
";

    fn addr(port: u16) -> NodeAddr {
        NodeAddr {
            host: "127.0.0.1".into(),
            port,
        }
    }

    #[test]
    fn failed_and_addressless_nodes_are_left_out() {
        let ports: Vec<u16> = parse_cluster_nodes(REPLY)
            .iter()
            .map(|m| m.addr.port)
            .collect();
        assert_eq!(ports, [30004, 30002, 30001]);
    }

    #[test]
    fn primaries_are_told_from_replicas() {
        let members = parse_cluster_nodes(REPLY);
        let primaries: Vec<&NodeAddr> = members
            .iter()
            .filter(|m| m.primary)
            .map(|m| &m.addr)
            .collect();
        assert_eq!(primaries, [&addr(30002), &addr(30001)]);
    }

    #[test]
    fn a_node_suspected_but_not_yet_failed_is_kept() {
        let line = "abc 127.0.0.1:7000@17000 master,fail? - 0 0 1 connected 0-100";
        assert_eq!(parse_cluster_nodes(line).len(), 1);
    }

    #[test]
    fn garbage_lines_are_skipped() {
        assert!(parse_cluster_nodes("nonsense\n\nid host-without-port master").is_empty());
    }

    #[test]
    fn ipv6_addresses_keep_their_host_part() {
        let line = "abc [::1]:7000@17000 master - 0 0 1 connected 0-100";
        let members = parse_cluster_nodes(line);
        assert_eq!(members[0].addr.host, "::1");
        assert_eq!(members[0].addr.port, 7000);
    }
}
