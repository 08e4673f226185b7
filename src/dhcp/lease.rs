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

/// Whether a router address can be a next hop: not a broadcast, multicast or loopback
/// address, which the kernel would refuse or send nowhere.
fn is_gateway(a: Ipv4Addr) -> bool {
    !(a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

/// Builds a lease from an ACK. Errors name the value that makes the ACK unusable.
pub fn from_ack(reply: &Reply) -> Result<Lease, String> {
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
    let prefix_len = match o.subnet_mask {
        Some(m) => match prefix_of_mask(m) {
            Some(p) if p <= 30 => p,
            _ => {
                rejected.push(format!("subnet mask {m} (option 1)"));
                default_prefix(reply.yiaddr)
            }
        },
        None => default_prefix(reply.yiaddr),
    };
    let routes = match &o.classless_routes {
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
                _ => (Some(l / 2), Some(l.mul_f64(0.875))),
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
