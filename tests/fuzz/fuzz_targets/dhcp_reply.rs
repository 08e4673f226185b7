//! A DHCP reply, from bytes through wire::parse_reply (header checks, options walk,
//! overload, RFC 3396 concatenation) and options::ReplyOptions to lease::from_ack.
//! Each input is a UDP payload as a server sends it (the corpus holds real ones from
//! dnsmasq and from qemu's user network).
//!
//! It is parsed twice: as a reply to a client of another xid and MAC, which must refuse
//! it unless they match, and as a reply to the client it names (its own xid and chaddr),
//! so that every input gets past the first checks. What is accepted must be sane: a
//! unicast address, a lease whose times are ordered, names that validate, and every line
//! for the log free of control characters.

#![no_main]

mod common;

use common::{assert_clean_line, assert_clean_lines, is_unicast};
use dhcproto::v4::MessageType;
use libfuzzer_sys::fuzz_target;
use qinit::dhcp::lease::from_ack;
use qinit::dhcp::wire::{Reply, parse_reply};
use std::net::Ipv4Addr;
use std::time::Duration;

const XID: u32 = 0x1234_5678;
const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

fuzz_target!(|data: &[u8]| {
    match parse_reply(data, XID, &MAC) {
        Ok(reply) => {
            assert_eq!(
                data.get(4..8),
                Some(&XID.to_be_bytes()[..]),
                "another xid accepted"
            );
            assert_eq!(data.get(28..34), Some(&MAC[..]), "another chaddr accepted");
            check(data, &reply);
        }
        Err(why) => assert_clean_line("refusal", &why),
    }
    let (Some(xid), Some(mac)) = (data.get(4..8), data.get(28..34)) else {
        return;
    };
    let xid = u32::from_be_bytes(xid.try_into().unwrap());
    let mac: [u8; 6] = mac.try_into().unwrap();
    match parse_reply(data, xid, &mac) {
        Ok(reply) => check(data, &reply),
        Err(why) => assert_clean_line("refusal", &why),
    }
});

fn check(data: &[u8], reply: &Reply) {
    assert_eq!(data.first(), Some(&2), "not a BOOTREPLY, accepted");
    assert_eq!(
        data.get(1..3),
        Some(&[1u8, 6][..]),
        "not Ethernet, accepted"
    );
    assert!(
        matches!(
            reply.kind,
            MessageType::Offer | MessageType::Ack | MessageType::Nak
        ),
        "{:?} accepted as a reply",
        reply.kind
    );
    let yiaddr: [u8; 4] = data.get(16..20).unwrap().try_into().unwrap();
    assert_eq!(reply.yiaddr, Ipv4Addr::from(yiaddr));
    if reply.kind != MessageType::Nak {
        assert!(is_unicast(reply.yiaddr), "yiaddr {} accepted", reply.yiaddr);
    }
    assert_eq!(Some(reply.server), reply.opts.server_id);
    assert!(
        is_unicast(reply.server),
        "server identifier {} accepted",
        reply.server
    );
    assert_clean_lines("dropped option", &reply.opts.dropped);
    for d in &reply.opts.search {
        assert_eq!(
            qinit::names::domain(d.as_bytes()).as_ref(),
            Ok(d),
            "search {d:?}"
        );
    }

    let lease = match from_ack(reply) {
        Ok(l) => l,
        Err(why) => return assert_clean_line("unusable ACK", &why),
    };
    assert_eq!(lease.address, reply.yiaddr);
    assert_eq!(lease.server, reply.server);
    assert!(lease.prefix_len <= 32, "prefix /{}", lease.prefix_len);
    for r in &lease.routes {
        assert!(r.prefix_len <= 32, "route {r:?}");
        let gw = r.gateway;
        assert!(
            gw.is_unspecified() || !(gw.is_broadcast() || gw.is_multicast() || gw.is_loopback()),
            "route {r:?}"
        );
    }
    if let Some(gw) = lease.router() {
        assert!(!gw.is_unspecified() && !gw.is_broadcast(), "router {gw}");
    }
    for a in &lease.dns {
        assert!(!a.is_unspecified() && !a.is_broadcast(), "name server {a}");
    }
    match (lease.lease_time, lease.t1, lease.t2) {
        (None, None, None) => {}
        (Some(l), Some(t1), Some(t2)) => {
            assert!(
                Duration::ZERO < t1 && t1 < t2 && t2 < l,
                "times out of order: T1 {t1:?}, T2 {t2:?}, lease {l:?}"
            );
        }
        times => panic!("lease, T1 and T2 must come together: {times:?}"),
    }
    if let Some(m) = lease.mtu {
        assert!(m >= 576, "MTU {m}");
    }
    if let Some(h) = &lease.hostname {
        let (again, _) = qinit::names::hostname(h.as_bytes()).expect("a bound host name validates");
        assert_eq!(&again, h);
        assert!(!h.contains('.'), "host name {h:?} holds a domain");
    }
    for d in lease.domain.iter().chain(&lease.search) {
        assert_eq!(
            qinit::names::domain(d.as_bytes()).as_ref(),
            Ok(d),
            "domain {d:?}"
        );
    }
    assert_clean_lines("rejected value", &lease.rejected);
}
