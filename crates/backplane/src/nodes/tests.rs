//! Pins the parser to real `CLUSTER NODES` output (replicas, failed and
//! address-less members, migrating slots) and the slot hash to Redis's own,
//! since a wrong owner would trip the wrong primary's breaker.

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
