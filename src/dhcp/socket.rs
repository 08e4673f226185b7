//! The client's socket: UDP on 0.0.0.0:68 bound to the interface. Broadcast from
//! 0.0.0.0 with SO_BINDTODEVICE works on Linux before the interface has an address, and
//! replies broadcast to 255.255.255.255:68 (qemu's slirp always broadcasts) reach it.

use super::client::Destination;
use super::wire::{CLIENT_PORT, SERVER_PORT};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

pub struct DhcpSocket {
    sock: UdpSocket,
    iface: String,
}

impl DhcpSocket {
    pub fn open(iface: &str) -> Result<Self, String> {
        let ctx = |what: &str, e: std::io::Error| format!("dhcp socket on {iface}: {what}: {e}");
        let sock = Socket::new(
            Domain::IPV4,
            Type::DGRAM.nonblocking().cloexec(),
            Some(Protocol::UDP),
        )
        .map_err(|e| ctx("socket", e))?;
        sock.set_reuse_address(true)
            .map_err(|e| ctx("SO_REUSEADDR", e))?;
        sock.set_broadcast(true)
            .map_err(|e| ctx("SO_BROADCAST", e))?;
        sock.bind_device(Some(iface.as_bytes()))
            .map_err(|e| ctx("SO_BINDTODEVICE", e))?;
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT);
        sock.bind(&SockAddr::from(any))
            .map_err(|e| ctx("bind 0.0.0.0:68", e))?;
        Ok(DhcpSocket {
            sock: UdpSocket::from(sock),
            iface: iface.to_string(),
        })
    }

    pub fn send(&self, bytes: &[u8], to: Destination) -> Result<(), String> {
        let ip = match to {
            Destination::Broadcast => Ipv4Addr::BROADCAST,
            Destination::Unicast(a) => a,
        };
        self.sock
            .send_to(bytes, SocketAddrV4::new(ip, SERVER_PORT))
            .map(|_| ())
            .map_err(|e| format!("dhcp {}: send to {ip}: {e}", self.iface))
    }

    /// One datagram, or None when nothing is waiting.
    pub fn recv(&self, buf: &mut Vec<u8>) -> Option<usize> {
        buf.resize(1500, 0);
        self.sock.recv(buf).ok()
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}
