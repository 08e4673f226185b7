//! DNS from router advertisements (RFC 8106): the RDNSS (servers) and DNSSL (search
//! domains) options, and the list of what is still valid. Pure: the kernel hands over
//! the options (`net` reads them from netlink); this parses them, refuses what must not
//! reach resolv.conf, and keeps each server and domain until its lifetime ends.
//! etherparse frames the ND options; it has no type for these two, so their bodies are
//! read here.

use crate::clock::Uptime;
use etherparse::icmpv6::{NdpOptionSlice, NdpOptionsIterator};
use std::net::Ipv6Addr;
use std::time::Duration;

const RDNSS: u8 = 25;
const DNSSL: u8 = 31;
/// At most this many servers and domains are kept (all interfaces together); more are
/// dropped and logged. resolv.conf uses 3 servers and 6 domains at most anyway.
pub const MAX_SERVERS: usize = 8;
pub const MAX_DOMAINS: usize = 8;

/// What one advertisement says about DNS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Advert {
    /// Each server with its lifetime in seconds (0: remove it; u32::MAX: for ever).
    pub servers: Vec<(Ipv6Addr, u32)>,
    pub domains: Vec<(String, u32)>,
    /// What was refused, one line each, for the log.
    pub refused: Vec<String>,
}

/// Reads the RDNSS and DNSSL options among `options` (ND options as in an RA).
pub fn parse(options: &[u8]) -> Advert {
    let mut advert = Advert::default();
    for opt in NdpOptionsIterator::from_slice(options) {
        let opt = match opt {
            Ok(NdpOptionSlice::Unknown(o)) => o,
            Ok(_) => continue,
            Err(e) => {
                advert.refused.push(format!("bad ND option: {e}"));
                break;
            }
        };
        // After type and length: 2 reserved bytes, the lifetime, then the body.
        let data = opt.data();
        let (Some(life), Some(body)) = (
            data.get(2..6).and_then(|l| <[u8; 4]>::try_from(l).ok()),
            data.get(6..),
        ) else {
            advert.refused.push("RA DNS option too short".into());
            continue;
        };
        let lifetime = u32::from_be_bytes(life);
        match opt.option_type().0 {
            RDNSS => servers(body, lifetime, &mut advert),
            DNSSL => domains(body, lifetime, &mut advert),
            _ => {}
        }
    }
    advert
}

fn servers(body: &[u8], lifetime: u32, advert: &mut Advert) {
    if body.is_empty() || !body.len().is_multiple_of(16) {
        advert
            .refused
            .push(format!("RDNSS with a body of {} bytes", body.len()));
        return;
    }
    for chunk in body.chunks_exact(16) {
        let mut a = [0u8; 16];
        a.copy_from_slice(chunk);
        let addr = Ipv6Addr::from(a);
        if addr.is_unspecified()
            || addr.is_loopback()
            || addr.is_multicast()
            || addr.is_unicast_link_local()
        {
            advert.refused.push(format!(
                "RDNSS server {addr}: not a routable unicast address"
            ));
        } else {
            advert.servers.push((addr, lifetime));
        }
    }
}

/// DNSSL names are in DNS wire form (length-prefixed labels, a zero length ends a
/// name); zero bytes pad the option's end.
fn domains(body: &[u8], lifetime: u32, advert: &mut Advert) {
    let mut rest = body;
    let mut name: Vec<u8> = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        if len == 0 {
            if !name.is_empty() {
                match crate::names::domain(&name) {
                    Ok(d) => advert.domains.push((d, lifetime)),
                    Err(e) => advert.refused.push(format!("DNSSL: {e}")),
                }
                name.clear();
            }
            rest = tail;
            continue;
        }
        let Some((label, tail)) = tail.split_at_checked(len) else {
            advert
                .refused
                .push("DNSSL: a label runs past the option".into());
            return;
        };
        if len > 63 {
            advert
                .refused
                .push("DNSSL: a label longer than 63 bytes".into());
            return;
        }
        if !name.is_empty() {
            name.push(b'.');
        }
        name.extend_from_slice(label);
        rest = tail;
    }
    if !name.is_empty() {
        advert.refused.push("DNSSL: a name without its end".into());
    }
}

/// The servers and domains still valid, each with when it ends (None: never), in the
/// order they first came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RaDns {
    pub servers: Vec<(Ipv6Addr, Option<Uptime>)>,
    pub domains: Vec<(String, Option<Uptime>)>,
}

fn until(now: Uptime, lifetime: u32) -> Option<Uptime> {
    (lifetime != u32::MAX).then(|| now + Duration::from_secs(u64::from(lifetime)))
}

fn merge<T: PartialEq + Clone>(
    list: &mut Vec<(T, Option<Uptime>)>,
    items: &[(T, u32)],
    now: Uptime,
    max: usize,
    dropped: &mut usize,
) {
    for (item, lifetime) in items {
        let pos = list.iter().position(|(i, _)| i == item);
        match (pos, *lifetime) {
            (Some(p), 0) => {
                list.remove(p);
            }
            (None, 0) => {}
            (Some(p), l) => {
                if let Some(e) = list.get_mut(p) {
                    e.1 = until(now, l);
                }
            }
            (None, l) if list.len() < max => list.push((item.clone(), until(now, l))),
            (None, _) => *dropped += 1,
        }
    }
}

impl RaDns {
    /// Takes in an advertisement at `now`: new entries are added, known ones get their
    /// new lifetime, a lifetime of 0 removes. Returns how many were dropped over the caps.
    pub fn update(&mut self, now: Uptime, advert: &Advert) -> usize {
        let mut dropped = 0;
        merge(
            &mut self.servers,
            &advert.servers,
            now,
            MAX_SERVERS,
            &mut dropped,
        );
        merge(
            &mut self.domains,
            &advert.domains,
            now,
            MAX_DOMAINS,
            &mut dropped,
        );
        dropped
    }

    /// Removes what ended by `now`; says whether anything did.
    pub fn expire(&mut self, now: Uptime) -> bool {
        let before = self.servers.len() + self.domains.len();
        self.servers.retain(|(_, t)| t.is_none_or(|t| t > now));
        self.domains.retain(|(_, t)| t.is_none_or(|t| t > now));
        self.servers.len() + self.domains.len() != before
    }

    /// When the next entry ends.
    pub fn next_expiry(&self) -> Option<Uptime> {
        let s = self.servers.iter().filter_map(|(_, t)| *t);
        let d = self.domains.iter().filter_map(|(_, t)| *t);
        s.chain(d).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdnss(lifetime: u32, addrs: &[Ipv6Addr]) -> Vec<u8> {
        let len = 1 + 2 * addrs.len();
        let mut o = vec![RDNSS, len as u8, 0, 0];
        o.extend_from_slice(&lifetime.to_be_bytes());
        for a in addrs {
            o.extend_from_slice(&a.octets());
        }
        o
    }

    fn dnssl(lifetime: u32, names: &[&str]) -> Vec<u8> {
        let mut body = Vec::new();
        for n in names {
            for l in n.split('.') {
                body.push(l.len() as u8);
                body.extend_from_slice(l.as_bytes());
            }
            body.push(0);
        }
        while (body.len() + 8) % 8 != 0 {
            body.push(0);
        }
        let mut o = vec![DNSSL, ((body.len() + 8) / 8) as u8, 0, 0];
        o.extend_from_slice(&lifetime.to_be_bytes());
        o.extend(body);
        o
    }

    const A: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 53);

    #[test]
    fn reads_servers_and_domains_and_skips_other_options() {
        let mut opts = vec![1, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]; // source link-layer
        opts.extend(rdnss(600, &[A, B]));
        opts.extend(dnssl(600, &["corp.test", "Example.TEST"]));
        let a = parse(&opts);
        assert_eq!(a.servers, vec![(A, 600), (B, 600)]);
        assert_eq!(
            a.domains,
            vec![("corp.test".into(), 600), ("example.test".into(), 600)]
        );
        assert!(a.refused.is_empty(), "{:?}", a.refused);
    }

    #[test]
    fn refuses_link_local_multicast_and_bad_names() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let mc: Ipv6Addr = "ff02::1".parse().unwrap();
        let mut opts = rdnss(600, &[ll, mc, A]);
        opts.extend(dnssl(600, &["-bad.test", "ok.test"]));
        // A name with a newline in a label.
        let mut evil = dnssl(600, &["xx.test"]);
        evil[9] = b'\n';
        opts.extend(evil);
        let a = parse(&opts);
        assert_eq!(a.servers, vec![(A, 600)]);
        assert_eq!(a.domains, vec![("ok.test".into(), 600)]);
        assert_eq!(a.refused.len(), 4, "{:?}", a.refused);
        assert!(a.refused.iter().all(|r| !r.contains('\n')));
    }

    #[test]
    fn truncated_and_garbage_options_never_panic() {
        let opts = rdnss(600, &[A]);
        for n in 0..opts.len() {
            let _ = parse(opts.get(..n).unwrap());
        }
        let mut bad = dnssl(600, &["a.test"]);
        bad[8] = 200; // a label longer than the option
        assert!(parse(&bad).domains.is_empty());
        for seed in 0u32..2000 {
            let bytes: Vec<u8> = (0..40u32)
                .map(|i| (seed.wrapping_mul(2654435761).wrapping_add(i * 97) >> 7) as u8)
                .collect();
            let _ = parse(&bytes);
        }
    }

    #[test]
    fn lifetimes_expire_renew_and_zero_removes() {
        let s = Duration::from_secs;
        let mut dns = RaDns::default();
        dns.update(
            s(10),
            &parse(&[rdnss(30, &[A, B]), dnssl(20, &["d.test"])].concat()),
        );
        assert_eq!(dns.next_expiry(), Some(s(30)));
        assert!(!dns.expire(s(29)));
        assert!(dns.expire(s(30)));
        assert_eq!(dns.servers.len(), 2);
        assert!(dns.domains.is_empty());
        // A new advertisement renews A; B ends by itself.
        dns.update(s(35), &parse(&rdnss(100, &[A])));
        assert!(dns.expire(s(40)));
        assert_eq!(dns.servers, vec![(A, Some(s(135)))]);
        // Lifetime 0 removes at once; u32::MAX never ends.
        dns.update(s(50), &parse(&rdnss(0, &[A])));
        assert!(dns.servers.is_empty());
        dns.update(s(50), &parse(&rdnss(u32::MAX, &[B])));
        assert_eq!(dns.next_expiry(), None);
    }

    #[test]
    fn a_flood_of_servers_is_capped() {
        let many: Vec<Ipv6Addr> = (1..=100u16)
            .map(|i| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i))
            .collect();
        let mut dns = RaDns::default();
        // 100 servers need 201 8-byte units: more than one option holds (255): 2 options.
        let opts = [rdnss(600, &many[..50]), rdnss(600, &many[50..])].concat();
        let dropped = dns.update(Duration::ZERO, &parse(&opts));
        assert_eq!(dns.servers.len(), MAX_SERVERS);
        assert_eq!(dropped, 100 - MAX_SERVERS);
    }
}
