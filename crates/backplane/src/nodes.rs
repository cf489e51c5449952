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
    /// Host name or IP address, as the seed URL or `CLUSTER NODES` gives it.
    pub host: String,
    /// The node's client port (not its cluster bus port).
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
mod tests;
