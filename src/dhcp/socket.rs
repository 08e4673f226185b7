//! The client's socket: UDP on 0.0.0.0:68 bound to the interface. Broadcast from
//! 0.0.0.0 with SO_BINDTODEVICE works on Linux before the interface has an address, and
//! replies broadcast to 255.255.255.255:68 (qemu's slirp always broadcasts) reach it.
//! Its BPF filter (see `filter`) lets through only replies to the live exchange.

use super::client::Destination;
use super::filter::{Expect, Layer, compile, program};
use super::wire::{CLIENT_PORT, SERVER_PORT};
use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

pub struct DhcpSocket {
    sock: UdpSocket,
    iface: String,
    /// The exchange whose replies the filter lets through; None: nothing passes.
    expect: Option<u32>,
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
        // Nothing passes until an exchange starts.
        sock.attach_filter(&compile(&program(Layer::Udp, None)))
            .map_err(|e| ctx("BPF filter", e))?;
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT);
        sock.bind(&SockAddr::from(any))
            .map_err(|e| ctx("bind 0.0.0.0:68", e))?;
        Ok(DhcpSocket {
            sock: UdpSocket::from(sock),
            iface: iface.to_string(),
            expect: None,
        })
    }

    /// Lets through replies to exchange `xid` for `mac` only, or nothing (None: while
    /// the packet socket receives, or no exchange is live). What queued before is
    /// dropped when the filter closes: the packet socket has its copy.
    pub fn set_expect(&mut self, xid: Option<u32>, mac: [u8; 6]) -> Result<(), String> {
        if xid == self.expect {
            return Ok(());
        }
        let expect = xid.map(|xid| Expect { xid, mac });
        SockRef::from(&self.sock)
            .attach_filter(&compile(&program(Layer::Udp, expect)))
            .map_err(|e| format!("dhcp socket on {}: BPF filter: {e}", self.iface))?;
        self.expect = xid;
        if xid.is_none() {
            let mut buf = Vec::new();
            while self.recv(&mut buf).is_some() {}
        }
        Ok(())
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
