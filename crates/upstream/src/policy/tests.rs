//! The policy's verdicts on operator networks, allow-list entries and
//! this host's own listeners, which only make sense together.

use std::net::IpAddr;

use super::{AddressPolicy, Refusal};
use crate::allow::AllowedHost;
use crate::networks::parse_network;

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
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
