//! The cluster's membership and slot ownership, as `CLUSTER NODES` reports
//! them, and the hash slot of a key.
//!
//! A keyspace walk must visit every primary (SCAN is per node in a
//! cluster), a subscriber count must add up every node's subscribers, and
//! the cache keeps one circuit breaker per primary so that losing one
//! primary does not switch L2 off for the keys the others hold. All three
//! need to know the members and which of them owns a key's slot.

use std::fmt;
use std::ops::RangeInclusive;

/// Hash slots in a Redis Cluster.
pub(crate) const SLOTS: usize = 16_384;

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

/// One cluster member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) addr: NodeAddr,
    /// Primaries own slots; replicas only mirror them.
    pub(crate) primary: bool,
    /// False when the cluster has flagged the node as failed.
    pub(crate) up: bool,
    /// Slots this node serves (primaries only).
    pub(crate) slots: Vec<RangeInclusive<u16>>,
}

/// Every member of a `CLUSTER NODES` reply that has an address. Lines
/// that do not parse are skipped rather than failing the whole list.
pub(crate) fn parse_cluster_nodes(reply: &str) -> Vec<Member> {
    reply.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Member> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (address, flags) = (fields.get(1)?, fields.get(2)?);
    let flags: Vec<&str> = flags.split(',').collect();
    if flags
        .iter()
        .any(|flag| matches!(*flag, "noaddr" | "handshake"))
    {
        return None;
    }
    // `ip:port@cport[,hostname]`; the client port is before the `@`.
    let client = address.split(['@', ',']).next()?;
    let (host, port) = client.rsplit_once(':')?;
    let port = port.parse().ok().filter(|port| *port != 0)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return None;
    }
    // Slot fields follow the link state (field 8): `0-5460` or `5461`;
    // `[slot->-id]` marks a migration and is left to the owner listed.
    let slots = fields
        .iter()
        .skip(8)
        .filter(|field| !field.starts_with('['))
        .filter_map(|field| parse_slot_range(field))
        .collect();
    Some(Member {
        addr: NodeAddr {
            host: host.to_string(),
            port,
        },
        primary: flags.contains(&"master"),
        up: !flags.contains(&"fail"),
        slots,
    })
}

fn parse_slot_range(field: &str) -> Option<RangeInclusive<u16>> {
    let (start, end) = field.split_once('-').unwrap_or((field, field));
    let (start, end): (u16, u16) = (start.parse().ok()?, end.parse().ok()?);
    (start <= end && usize::from(end) < SLOTS).then_some(start..=end)
}

/// The hash slot Redis Cluster assigns to `key`: CRC16 (XMODEM) of the key,
/// or of its `{hash tag}` when it has a non-empty one, modulo 16384.
pub(crate) fn hash_slot(key: &[u8]) -> u16 {
    let hashed = key
        .iter()
        .position(|b| *b == b'{')
        .and_then(|open| {
            let rest = &key[open + 1..];
            let close = rest.iter().position(|b| *b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(key);
    crc16_xmodem(hashed) % SLOTS as u16
}

fn crc16_xmodem(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, byte| {
        (0..8).fold(crc ^ (u16::from(*byte) << 8), |crc, _| {
            if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REPLY: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,hostname4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master,fail - 1426238317741 1426238314232 3 disconnected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5459 5460 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
6ec23923021cf3ffec47632106199cb7f496ce01 :0@0 master,noaddr - 1426238316232 1426238316232 5 disconnected
";

    fn ports(members: &[Member]) -> Vec<u16> {
        members.iter().map(|m| m.addr.port).collect()
    }

    #[test]
    fn addressless_nodes_are_left_out() {
        assert_eq!(
            ports(&parse_cluster_nodes(REPLY)),
            [30004, 30002, 30003, 30001]
        );
    }

    #[test]
    fn failed_nodes_are_kept_but_marked_down() {
        let members = parse_cluster_nodes(REPLY);
        let down: Vec<u16> = members
            .iter()
            .filter(|m| !m.up)
            .map(|m| m.addr.port)
            .collect();
        assert_eq!(down, [30003]);
    }

    #[test]
    fn a_node_suspected_but_not_yet_failed_counts_as_up() {
        let line = "abc 127.0.0.1:7000@17000 master,fail? - 0 0 1 connected 0-100";
        assert!(parse_cluster_nodes(line)[0].up);
    }

    #[test]
    fn primaries_are_told_from_replicas() {
        let members = parse_cluster_nodes(REPLY);
        let primaries: Vec<u16> = members
            .iter()
            .filter(|m| m.primary)
            .map(|m| m.addr.port)
            .collect();
        assert_eq!(primaries, [30002, 30003, 30001]);
    }

    #[test]
    fn slot_ranges_and_single_slots_are_read_and_migrations_skipped() {
        let members = parse_cluster_nodes(REPLY);
        let own = members
            .iter()
            .find(|m| m.addr.port == 30001)
            .expect("node 30001");
        assert_eq!(own.slots, [0..=5459, 5460..=5460]);
        assert!(members[0].slots.is_empty(), "replicas own no slots");
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

    #[test]
    fn hash_slots_match_what_redis_computes() {
        // Each pair was read from `CLUSTER KEYSLOT` on redis-server 7.0.
        for (key, slot) in [
            ("foo", 12182),
            ("bar", 5061),
            ("somekey", 11058),
            ("foo{hash_tag}", 2515),
            ("{user1000}.following", 3443),
            ("user1000", 3443),
            ("a{}b", 13694),
            ("{}x", 10595),
            ("x{y", 2740),
        ] {
            assert_eq!(hash_slot(key.as_bytes()), slot, "{key}");
        }
    }
}
