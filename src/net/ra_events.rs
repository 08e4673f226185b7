//! Router advertisement options the kernel passes up (RTM_NEWNDUSEROPT on the rtnetlink
//! group RTNLGRP_ND_USEROPT): the kernel handles SLAAC and routes itself, and hands user
//! space the options it does not use, RDNSS and DNSSL among them. netlink-packet-route
//! 0.34 has no type for this message, so its fixed 16-byte header (`struct
//! nduseroptmsg`) is read here; the options go to `dhcp::ra_dns`.

use crate::dhcp::ra_dns::{self, Advert};
use netlink_packet_core::NetlinkBuffer;
use netlink_sys::{Socket, protocols::NETLINK_ROUTE};
use std::os::fd::{AsFd, BorrowedFd};

const RTNLGRP_ND_USEROPT: u32 = 20;
const RTM_NEWNDUSEROPT: u16 = 68;
const AF_INET6: u8 = 10;
const ND_ROUTER_ADVERT: u8 = 134;
const HEADER: usize = 16;

/// The options of one `nduseroptmsg` payload, if it is an RA's: the interface index and
/// what its DNS options say.
pub fn parse_useropt(payload: &[u8]) -> Option<(u32, Advert)> {
    let header = payload.get(..HEADER)?;
    let family = *header.first()?;
    let opts_len = usize::from(u16::from_ne_bytes(header.get(2..4)?.try_into().ok()?));
    let index = u32::from_ne_bytes(header.get(4..8)?.try_into().ok()?);
    let icmp_type = *header.get(8)?;
    if family != AF_INET6 || icmp_type != ND_ROUTER_ADVERT {
        return None;
    }
    let options = payload.get(HEADER..HEADER.checked_add(opts_len)?)?;
    Some((index, ra_dns::parse(options)))
}

/// The subscription to RA options.
pub struct RaEvents {
    sock: Socket,
}

impl RaEvents {
    pub fn open() -> Result<Self, String> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| format!("netlink socket: {e}"))?;
        sock.bind_auto().map_err(|e| format!("netlink bind: {e}"))?;
        sock.add_membership(RTNLGRP_ND_USEROPT)
            .map_err(|e| format!("netlink ND user option group: {e}"))?;
        sock.set_non_blocking(true)
            .map_err(|e| format!("netlink non-blocking: {e}"))?;
        Ok(RaEvents { sock })
    }

    /// Every advertisement's DNS options waiting, in order, with their interface index.
    pub fn read(&self) -> Vec<(u32, Advert)> {
        let mut out = Vec::new();
        while let Ok((data, _)) = self.sock.recv_from_full() {
            let mut rest: &[u8] = &data;
            while let Ok(msg) = NetlinkBuffer::new_checked(rest) {
                if msg.message_type() == RTM_NEWNDUSEROPT
                    && let Some(a) = parse_useropt(msg.payload())
                {
                    out.push(a);
                }
                // Messages are 4-byte aligned.
                let len = usize::try_from(msg.length())
                    .unwrap_or(0)
                    .next_multiple_of(4);
                if len == 0 || len >= rest.len() {
                    break;
                }
                rest = rest.get(len..).unwrap_or(&[]);
            }
        }
        out
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_ra_useropt_and_ignores_others() {
        let opts = [25u8, 3, 0, 0, 0, 0, 2, 88]
            .into_iter()
            .chain("fd00:77::1".parse::<std::net::Ipv6Addr>().unwrap().octets())
            .collect::<Vec<u8>>();
        let mut p = vec![AF_INET6, 0];
        p.extend((opts.len() as u16).to_ne_bytes());
        p.extend(3u32.to_ne_bytes());
        p.extend([ND_ROUTER_ADVERT, 0, 0, 0, 0, 0, 0, 0]);
        p.extend(&opts);
        let (index, advert) = parse_useropt(&p).unwrap();
        assert_eq!(index, 3);
        assert_eq!(advert.servers, vec![("fd00:77::1".parse().unwrap(), 600)]);
        // Truncated: no panic, nothing.
        assert!(parse_useropt(p.get(..20).unwrap()).is_none());
        let mut other = p.clone();
        other[8] = 133;
        assert!(parse_useropt(&other).is_none());
    }
}
