//! A lease: what an ACK grants, with every name validated and every time made sane.
//! Applying it to the system is `net::configure`'s job; this is only data.

use super::wire::Reply;
use std::net::Ipv4Addr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub dest: Ipv4Addr,
    pub prefix_len: u8,
    /// 0.0.0.0 means on-link (RFC 3442).
    pub gateway: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub server: Ipv4Addr,
    /// Option 121 when present (it overrides option 3), else a default route per option 3.
    pub routes: Vec<Route>,
    pub dns: Vec<Ipv4Addr>,
    pub hostname: Option<String>,
    pub domain: Option<String>,
    pub search: Vec<String>,
    pub mtu: Option<u16>,
    /// None: infinite (0xffffffff).
    pub lease_time: Option<Duration>,
    pub t1: Option<Duration>,
    pub t2: Option<Duration>,
    /// Values from the server we refused, one line each, already escaped.
    pub rejected: Vec<String>,
}

impl Lease {
    pub fn router(&self) -> Option<Ipv4Addr> {
        self.routes
            .iter()
            .find(|r| r.prefix_len == 0 && !r.gateway.is_unspecified())
            .map(|r| r.gateway)
    }
}

/// Classful default when the server sends no subnet mask (RFC 2131 leaves it to us).
fn default_prefix(a: Ipv4Addr) -> u8 {
    match a.octets().first().copied().unwrap_or(0) {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

fn prefix_of_mask(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then(|| u8::try_from(ones).unwrap_or(32))
}

/// Whether `gw` lies in `address`/`prefix_len`, the subnet the address makes on-link.
fn in_subnet(gw: Ipv4Addr, address: Ipv4Addr, prefix_len: u8) -> bool {
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len.min(32)))
        .unwrap_or(0);
    u32::from(gw) & mask == u32::from(address) & mask
}

/// `d` less a random part of at most a tenth of it (RFC 2131 4.4.5: T1 and T2 "with some
/// random fuzz", so that clients that bound together do not renew together).
fn fuzzed(d: Duration, random: u32) -> Duration {
    let tenth = d.as_millis() / 10;
    let cut = u128::from(random) % (tenth + 1);
    d.saturating_sub(Duration::from_millis(u64::try_from(cut).unwrap_or(0)))
}

/// Whether a router address can be a next hop: not a broadcast, multicast or loopback
/// address, which the kernel would refuse or send nowhere.
fn is_gateway(a: Ipv4Addr) -> bool {
    !(a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

/// Builds a lease from an ACK, with T1 and T2 computed without fuzz. Errors name the
/// value that makes the ACK unusable.
pub fn from_ack(reply: &Reply) -> Result<Lease, String> {
    from_ack_fuzzed(reply, None)
}

/// Builds a lease from an ACK; T1 and T2, when the server gives none, are fuzzed with
/// `random` (None: exactly 0.5 and 0.875 of the lease).
pub fn from_ack_fuzzed(reply: &Reply, random: Option<u64>) -> Result<Lease, String> {
    let o = &reply.opts;
    let mut rejected: Vec<String> = o.dropped.clone();
    let lease_time = match o.lease_secs {
        Some(0) => return Err("lease time 0 (option 51)".into()),
        Some(u32::MAX) => None,
        Some(s) => Some(Duration::from_secs(u64::from(s))),
        // udhcpc's choice when a server leaves option 51 out.
        None => {
            rejected.push("no lease time (option 51): assuming 3600 s".into());
            Some(Duration::from_secs(3600))
        }
    };
    // /31 (RFC 3021) and /32 (a host alone, its gateway reached by an on-link route, as
    // Google Cloud leases are) stand as they are; /0 would make the whole Internet
    // on-link.
    let prefix_len = match o.subnet_mask {
        Some(m) => match prefix_of_mask(m) {
            Some(p) if p > 0 => p,
            _ => {
                rejected.push(format!("subnet mask {m} (option 1)"));
                default_prefix(reply.yiaddr)
            }
        },
        None => default_prefix(reply.yiaddr),
    };
    let mut routes: Vec<Route> = match &o.classless_routes {
        Some(r) => r
            .iter()
            .filter(|&&(dest, prefix_len, gateway)| {
                let usable = gateway.is_unspecified() || is_gateway(gateway);
                if !usable {
                    rejected.push(format!(
                        "route to {dest}/{prefix_len} via {gateway} (option 121)"
                    ));
                }
                usable
            })
            .map(|&(dest, prefix_len, gateway)| Route {
                dest,
                prefix_len,
                gateway,
            })
            .collect(),
        None => o
            .routers
            .iter()
            .find(|&&r| !r.is_unspecified() && is_gateway(r))
            .map(|&gateway| {
                vec![Route {
                    dest: Ipv4Addr::UNSPECIFIED,
                    prefix_len: 0,
                    gateway,
                }]
            })
            .unwrap_or_default(),
    };
    // A gateway outside the address's subnet (always so for a /32) is reached through an
    // on-link host route, first, unless an on-link route of the server's covers it.
    let on_link = |routes: &[Route], gw: Ipv4Addr| {
        in_subnet(gw, reply.yiaddr, prefix_len)
            || routes
                .iter()
                .any(|r| r.gateway.is_unspecified() && in_subnet(gw, r.dest, r.prefix_len))
    };
    let mut hosts: Vec<Route> = Vec::new();
    for gw in routes.iter().map(|r| r.gateway) {
        if !gw.is_unspecified() && !on_link(&routes, gw) && !on_link(&hosts, gw) {
            hosts.push(Route {
                dest: gw,
                prefix_len: 32,
                gateway: Ipv4Addr::UNSPECIFIED,
            });
        }
    }
    if !hosts.is_empty() {
        hosts.append(&mut routes);
        routes = hosts;
    }
    let mut hostname = None;
    let mut domain = None;
    if let Some(raw) = &o.hostname {
        match crate::names::hostname(raw) {
            Ok((h, d)) => {
                hostname = Some(h);
                domain = d;
            }
            Err(e) => rejected.push(format!("host name (option 12): {e}")),
        }
    }
    if let Some(raw) = &o.domain {
        match crate::names::domain(raw) {
            Ok(d) => domain = Some(d),
            Err(e) => rejected.push(format!("domain (option 15): {e}")),
        }
    }
    let mtu = match o.mtu {
        Some(m) if m < 576 => {
            rejected.push(format!("MTU {m} (option 26) is below 576"));
            None
        }
        m => m,
    };
    let (t1, t2) = match lease_time {
        Some(l) => {
            let t1 = o.t1_secs.map(|s| Duration::from_secs(u64::from(s)));
            let t2 = o.t2_secs.map(|s| Duration::from_secs(u64::from(s)));
            // Options 58/59 only when 0 < T1 < T2 < lease (RFC 2131 4.4.5).
            match (t1, t2) {
                (Some(a), Some(b)) if !a.is_zero() && a < b && b < l => (Some(a), Some(b)),
                _ => {
                    let (t1, t2) = (l / 2, l.mul_f64(0.875));
                    match random {
                        // Each loses at most a tenth: T1 <= 0.5 L < 0.7875 L <= T2 still.
                        Some(r) => (
                            Some(fuzzed(t1, (r & 0xffff_ffff) as u32)),
                            Some(fuzzed(t2, (r >> 32) as u32)),
                        ),
                        None => (Some(t1), Some(t2)),
                    }
                }
            }
        }
        None => (None, None),
    };
    let search = if o.search.is_empty() {
        domain.iter().cloned().collect()
    } else {
        o.search.clone()
    };
    Ok(Lease {
        address: reply.yiaddr,
        prefix_len,
        server: reply.server,
        routes,
        dns: o
            .dns
            .iter()
            .copied()
            .filter(|a| !a.is_unspecified() && !a.is_broadcast())
            .collect(),
        hostname,
        domain,
        search,
        mtu,
        lease_time,
        t1,
        t2,
        rejected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::wire::{parse_reply, tests::*};

    fn ack(extra: &[u8]) -> Result<Lease, String> {
        from_ack(&parse_reply(&reply(5, [10, 0, 2, 15], extra), XID, &MAC).unwrap())
    }

    #[test]
    fn slirp_ack_gives_address_route_dns() {
        let l = ack(&[]).unwrap();
        assert_eq!(l.address, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(l.prefix_len, 24);
        assert_eq!(l.router(), Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(l.dns, vec![Ipv4Addr::new(10, 0, 2, 3)]);
        assert_eq!(l.lease_time, Some(Duration::from_secs(86400)));
        assert_eq!(l.t1, Some(Duration::from_secs(43200)));
        assert_eq!(l.t2, Some(Duration::from_secs(75600)));
    }

    #[test]
    fn t1_t2_used_only_when_ordered() {
        let l = ack(&[58, 4, 0, 0, 0, 100, 59, 4, 0, 0, 0, 200]).unwrap();
        assert_eq!(
            (l.t1, l.t2),
            (
                Some(Duration::from_secs(100)),
                Some(Duration::from_secs(200))
            )
        );
        let l = ack(&[58, 4, 0, 0, 0, 200, 59, 4, 0, 0, 0, 100]).unwrap();
        assert_eq!(l.t1, Some(Duration::from_secs(43200)));
    }

    #[test]
    fn classless_routes_override_router() {
        // default via 10.0.2.9 and 1.0.0.0/8 on-link; option 3 (10.0.2.2) is ignored.
        let l = ack(&[121, 11, 0, 10, 0, 2, 9, 8, 1, 0, 0, 0, 0]).unwrap();
        assert_eq!(l.router(), Some(Ipv4Addr::new(10, 0, 2, 9)));
        assert_eq!(l.routes.len(), 2);
        assert!(l.routes.contains(&Route {
            dest: Ipv4Addr::new(1, 0, 0, 0),
            prefix_len: 8,
            gateway: Ipv4Addr::UNSPECIFIED
        }));
    }

    /// An ACK for `yiaddr` with subnet mask `mask` (instead of slirp's /24) and `extra`.
    fn ack_with_mask(yiaddr: [u8; 4], mask: [u8; 4], extra: &[u8]) -> Lease {
        let mut b = reply(5, yiaddr, extra);
        assert_eq!(&b[249..251], &[1, 4]);
        b[251..255].copy_from_slice(&mask);
        from_ack(&parse_reply(&b, XID, &MAC).unwrap()).unwrap()
    }

    fn on_link(dest: [u8; 4], prefix_len: u8) -> Route {
        Route {
            dest: dest.into(),
            prefix_len,
            gateway: Ipv4Addr::UNSPECIFIED,
        }
    }

    fn default_via(gw: [u8; 4]) -> Route {
        Route {
            dest: Ipv4Addr::UNSPECIFIED,
            prefix_len: 0,
            gateway: gw.into(),
        }
    }

    #[test]
    fn a_host_mask_with_classless_routes_is_kept_as_google_cloud_sends_it() {
        // 10.128.0.5/32; option 121: 10.128.0.1/32 on-link, default via 10.128.0.1.
        let l = ack_with_mask(
            [10, 128, 0, 5],
            [255; 4],
            &[121, 14, 32, 10, 128, 0, 1, 0, 0, 0, 0, 0, 10, 128, 0, 1],
        );
        assert_eq!(l.prefix_len, 32, "{:?}", l.rejected);
        assert!(l.rejected.is_empty(), "{:?}", l.rejected);
        assert_eq!(
            l.routes,
            vec![on_link([10, 128, 0, 1], 32), default_via([10, 128, 0, 1])]
        );
        assert_eq!(l.router(), Some(Ipv4Addr::new(10, 128, 0, 1)));
    }

    #[test]
    fn a_host_mask_with_only_a_router_gets_an_on_link_route_to_it() {
        // 10.0.2.15/32 via 10.0.2.2 (option 3): not a classful /8, and the router is
        // reached through a host route put before the default one.
        let l = ack_with_mask([10, 0, 2, 15], [255; 4], &[]);
        assert_eq!(l.prefix_len, 32);
        assert_eq!(
            l.routes,
            vec![on_link([10, 0, 2, 2], 32), default_via([10, 0, 2, 2])]
        );
        // /31 (RFC 3021): the router is the other address of the pair, on-link already.
        let l = ack_with_mask([10, 0, 2, 3], [255, 255, 255, 254], &[]);
        assert_eq!(l.prefix_len, 31);
        assert_eq!(l.routes, vec![default_via([10, 0, 2, 2])]);
        // A router inside a /24 needs no host route.
        assert_eq!(ack(&[]).unwrap().routes, vec![default_via([10, 0, 2, 2])]);
    }

    #[test]
    fn a_zero_mask_is_refused_for_the_classful_prefix() {
        let l = ack_with_mask([10, 0, 2, 15], [0; 4], &[]);
        assert_eq!(l.prefix_len, 8);
        assert!(
            l.rejected.iter().any(|r| r.contains("subnet mask 0.0.0.0")),
            "{:?}",
            l.rejected
        );
        let l = ack_with_mask([192, 168, 1, 7], [255, 0, 255, 0], &[]);
        assert_eq!(l.prefix_len, 24);
    }

    #[test]
    fn an_empty_or_short_classless_option_leaves_the_router() {
        for extra in [&[121, 0][..], &[121, 4, 0, 10, 0, 2]] {
            let l = ack(extra).unwrap();
            assert_eq!(l.router(), Some(Ipv4Addr::new(10, 0, 2, 2)), "{extra:?}");
            assert!(
                l.rejected.iter().any(|r| r.contains("option 121")),
                "{extra:?}"
            );
        }
    }

    #[test]
    fn computed_times_are_fuzzed_by_at_most_a_tenth_and_server_times_not() {
        let r = parse_reply(&reply(5, [10, 0, 2, 15], &[]), XID, &MAC).unwrap();
        let mut t1s = std::collections::BTreeSet::new();
        for i in 0..200u64 {
            let l = from_ack_fuzzed(&r, Some(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))).unwrap();
            let (t1, t2) = (l.t1.unwrap(), l.t2.unwrap());
            assert!((38880..=43200).contains(&t1.as_secs()), "{t1:?}");
            assert!(t2 >= Duration::from_secs(68040) && t2 <= Duration::from_secs(75600));
            t1s.insert(t1);
        }
        assert!(t1s.len() > 100, "{}", t1s.len());
        let r = parse_reply(
            &reply(
                5,
                [10, 0, 2, 15],
                &[58, 4, 0, 0, 0, 100, 59, 4, 0, 0, 0, 200],
            ),
            XID,
            &MAC,
        )
        .unwrap();
        let l = from_ack_fuzzed(&r, Some(12345)).unwrap();
        assert_eq!(l.t1, Some(Duration::from_secs(100)));
        assert_eq!(l.t2, Some(Duration::from_secs(200)));
    }

    // Found by the dhcp_reply fuzz target: option 121 gave a default route via
    // 255.255.255.255, which option 3 already refused.
    #[test]
    fn routes_via_broadcast_multicast_or_loopback_are_dropped() {
        let l = ack(&[
            121, 18, 0, 255, 255, 255, 255, 8, 10, 224, 0, 0, 1, 16, 10, 1, 10, 0, 2, 9,
        ])
        .unwrap();
        assert_eq!(
            l.routes,
            vec![Route {
                dest: Ipv4Addr::new(10, 1, 0, 0),
                prefix_len: 16,
                gateway: Ipv4Addr::new(10, 0, 2, 9),
            }]
        );
        assert_eq!(l.router(), None);
        assert_eq!(l.rejected.len(), 2, "{:?}", l.rejected);
    }

    #[test]
    fn hostile_names_are_rejected_and_the_lease_stands() {
        let l = ack(&[
            12, 9, b'a', b';', b'r', b'e', b'b', b'o', b'o', b't', b'\n', 15, 3, b'a', 0, b'b',
        ])
        .unwrap();
        assert_eq!(l.hostname, None);
        assert_eq!(l.domain, None);
        assert_eq!(l.rejected.len(), 2, "{:?}", l.rejected);
        assert!(l.rejected.iter().all(|r| !r.contains('\n')));
    }

    #[test]
    fn fqdn_hostname_gives_domain() {
        let l = ack(&[
            12, 16, b'v', b'm', b'1', b'.', b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b't',
            b'e', b's', b't',
        ])
        .unwrap();
        assert_eq!(l.hostname.as_deref(), Some("vm1"));
        assert_eq!(l.domain.as_deref(), Some("example.test"));
        assert_eq!(l.search, vec!["example.test".to_string()]);
    }

    #[test]
    fn zero_lease_is_refused_and_small_mtu_ignored() {
        let mut b = reply(5, [10, 0, 2, 15], &[]);
        assert_eq!(&b[267..269], &[51, 4]);
        b[269..273].copy_from_slice(&[0, 0, 0, 0]);
        let err = from_ack(&parse_reply(&b, XID, &MAC).unwrap()).unwrap_err();
        assert!(err.contains("lease time 0"), "{err}");
        let l = ack(&[26, 2, 0, 100]).unwrap();
        assert_eq!(l.mtu, None);
        assert!(prefix_of_mask(Ipv4Addr::new(255, 0, 255, 0)).is_none());
        assert_eq!(prefix_of_mask(Ipv4Addr::new(255, 255, 240, 0)), Some(20));
    }
}
