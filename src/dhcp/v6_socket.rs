//! The DHCPv6 client's socket: UDP on `[::]:546` bound to the interface. Messages go to
//! All_DHCP_Relay_Agents_and_Servers (ff02::1:2) on port 547 from the link-local address
//! the kernel picks; servers answer that address, unicast, on port 546.

use super::v6_wire::{ALL_SERVERS, CLIENT_PORT, SERVER_PORT};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{Ipv6Addr, SocketAddrV6, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

pub struct Dhcp6Socket {
    sock: UdpSocket,
    iface: String,
    index: u32,
}

impl Dhcp6Socket {
    pub fn open(iface: &str, index: u32) -> Result<Self, String> {
        let ctx = |what: &str, e: std::io::Error| format!("dhcpv6 socket on {iface}: {what}: {e}");
        let sock = Socket::new(
            Domain::IPV6,
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )
        .map_err(|e| ctx("socket", e))?;
        sock.set_only_v6(true).map_err(|e| ctx("IPV6_V6ONLY", e))?;
        // One client per interface, each bound to its own device on the same port.
        sock.set_reuse_address(true)
            .map_err(|e| ctx("SO_REUSEADDR", e))?;
        sock.bind_device(Some(iface.as_bytes()))
            .map_err(|e| ctx("SO_BINDTODEVICE", e))?;
        sock.set_multicast_if_v6(index)
            .map_err(|e| ctx("IPV6_MULTICAST_IF", e))?;
        let any = SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, CLIENT_PORT, 0, 0);
        sock.bind(&SockAddr::from(any))
            .map_err(|e| ctx("bind [::]:546", e))?;
        Ok(Dhcp6Socket {
            sock: UdpSocket::from(sock),
            iface: iface.to_string(),
            index,
        })
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), String> {
        let to = SocketAddrV6::new(ALL_SERVERS, SERVER_PORT, 0, self.index);
        self.sock
            .send_to(bytes, to)
            .map(|_| ())
            .map_err(|e| format!("dhcpv6 {}: send to {ALL_SERVERS}: {e}", self.iface))
    }

    /// One datagram from a server's port, or None when nothing is waiting.
    pub fn recv(&self, buf: &mut Vec<u8>) -> Option<usize> {
        buf.resize(1500, 0);
        loop {
            let (n, from) = self.sock.recv_from(buf).ok()?;
            // Servers and relays answer from port 547; anything else is not for us.
            if from.port() == SERVER_PORT {
                return Some(n);
            }
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}
