//! When the router's M and O flags change: the kernel keeps the last advertisement's
//! flags per interface and tells RTNLGRP_IPV6_IFINFO (an RTM_NEWLINK of family AF_INET6)
//! when they change; `Netlink::ra_flags` then reads them (IFLA_INET6_FLAGS). An
//! advertisement with neither flag changes nothing and sends nothing: the DHCPv6 driver
//! has its own bound for that case.

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{Socket, protocols::NETLINK_ROUTE};
use std::os::fd::{AsFd, BorrowedFd};

const RTNLGRP_IPV6_IFINFO: u32 = 12;

pub struct RaFlagEvents {
    sock: Socket,
}

impl RaFlagEvents {
    pub fn open() -> Result<Self, String> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| format!("netlink socket: {e}"))?;
        sock.bind_auto().map_err(|e| format!("netlink bind: {e}"))?;
        sock.add_membership(RTNLGRP_IPV6_IFINFO)
            .map_err(|e| format!("netlink IPv6 interface info group: {e}"))?;
        sock.set_non_blocking(true)
            .map_err(|e| format!("netlink non-blocking: {e}"))?;
        Ok(RaFlagEvents { sock })
    }

    /// The interfaces whose IPv6 flags changed since the last call.
    pub fn read(&self) -> Vec<u32> {
        let mut out = Vec::new();
        while let Ok((data, _)) = self.sock.recv_from_full() {
            let mut rest: &[u8] = &data;
            while !rest.is_empty() {
                let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(rest) else {
                    break;
                };
                if let NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(l)) = &msg.payload
                    && !out.contains(&l.header.index)
                {
                    out.push(l.header.index);
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
