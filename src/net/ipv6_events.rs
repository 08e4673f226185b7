//! IPv6 changes the DHCPv6 driver and the readiness wait follow. When the router's M and
//! O flags change, the kernel, which keeps the last advertisement's flags per interface,
//! tells RTNLGRP_IPV6_IFINFO (an RTM_NEWLINK of family AF_INET6); `Netlink::ra_flags`
//! then reads them (IFLA_INET6_FLAGS). An advertisement with neither flag changes
//! nothing and sends nothing: the DHCPv6 driver has its own bound for that case. And
//! RTNLGRP_IPV6_IFADDR tells of IPv6 addresses added, changed (DAD done) or removed;
//! `Netlink::global_ipv6` then lists the usable ones.

use crate::net::rtnl::Rtnl;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_sys::{Socket, protocols::NETLINK_ROUTE};
use std::os::fd::{AsFd, BorrowedFd};

const RTNLGRP_IPV6_IFADDR: u32 = 9;
const RTNLGRP_IPV6_IFINFO: u32 = 12;

/// What changed on an interface (by index).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Change {
    Flags(u32),
    Addresses(u32),
}

pub struct Ipv6Events {
    sock: Socket,
}

impl Ipv6Events {
    pub fn open() -> Result<Self, String> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| format!("netlink socket: {e}"))?;
        sock.bind_auto().map_err(|e| format!("netlink bind: {e}"))?;
        sock.add_membership(RTNLGRP_IPV6_IFINFO)
            .map_err(|e| format!("netlink IPv6 interface info group: {e}"))?;
        sock.add_membership(RTNLGRP_IPV6_IFADDR)
            .map_err(|e| format!("netlink IPv6 address group: {e}"))?;
        sock.set_non_blocking(true)
            .map_err(|e| format!("netlink non-blocking: {e}"))?;
        Ok(Ipv6Events { sock })
    }

    /// What changed since the last call, each change once.
    pub fn read(&self) -> Vec<Ipv6Change> {
        let mut out = Vec::new();
        while let Ok((data, _)) = self.sock.recv_from_full() {
            let mut rest: &[u8] = &data;
            while !rest.is_empty() {
                let Ok(msg) = NetlinkMessage::<Rtnl>::deserialize(rest) else {
                    break;
                };
                let change = match &msg.payload {
                    NetlinkPayload::InnerMessage(Rtnl::NewLink(l)) => {
                        Some(Ipv6Change::Flags(l.header.index))
                    }
                    NetlinkPayload::InnerMessage(Rtnl::NewAddress(a) | Rtnl::DelAddress(a)) => {
                        Some(Ipv6Change::Addresses(a.header.index))
                    }
                    _ => None,
                };
                if let Some(c) = change
                    && !out.contains(&c)
                {
                    out.push(c);
                }
                let len = usize::try_from(msg.header.length).unwrap_or(0);
                if len == 0 {
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
