//! Receiving before an address is bound: an AF_PACKET socket on the interface with a
//! classic BPF filter for UDP to port 68 (and, see `filter`, for replies to the live
//! exchange only), as udhcpc, dhcpcd, networkd and the kernel's ipconfig do. A UDP socket on an unconfigured interface misses unicast OFFERs and can
//! be hit by reverse-path filtering. IP and UDP headers are checked with etherparse.

use super::filter::{Expect, Layer, compile, program};
use etherparse::{Ipv4HeaderSlice, UdpHeaderSlice};
use socket2::{Domain, SockAddr, Socket, Type};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

const ETH_P_IP: u16 = 0x0800;

/// The DHCP payload of an IPv4/UDP packet, every length checked before it is used.
/// `csum_not_ready`: the kernel says the checksum was never computed (TP_STATUS_CSUMNOTREADY,
/// e.g. from a veth peer on the same host), so it cannot be checked.
pub fn udp_payload(packet: &[u8], csum_not_ready: bool) -> Result<&[u8], String> {
    let ip = Ipv4HeaderSlice::from_slice(packet).map_err(|e| format!("IPv4 header: {e}"))?;
    if ip.protocol() != etherparse::IpNumber::UDP {
        return Err("not UDP".into());
    }
    if ip.more_fragments() || ip.fragments_offset().value() != 0 {
        return Err("a fragment".into());
    }
    let total = usize::from(ip.total_len());
    let header_len = ip.slice().len();
    if total < header_len || total > packet.len() {
        return Err(format!(
            "IP total length {total} with {} bytes",
            packet.len()
        ));
    }
    // Ethernet pads short frames: the IP total length says where the packet ends.
    let rest = packet.get(header_len..total).unwrap_or(&[]);
    let udp = UdpHeaderSlice::from_slice(rest).map_err(|e| format!("UDP header: {e}"))?;
    if udp.destination_port() != 68 {
        return Err(format!("UDP port {}", udp.destination_port()));
    }
    let udp_len = usize::from(udp.length());
    if udp_len < 8 || udp_len > rest.len() {
        return Err(format!("UDP length {udp_len} with {} bytes", rest.len()));
    }
    let payload = rest.get(8..udp_len).unwrap_or(&[]);
    // A zero checksum means none was sent (RFC 768).
    if !csum_not_ready && udp.checksum() != 0 {
        let want = udp
            .to_header()
            .calc_checksum_ipv4_raw(ip.source(), ip.destination(), payload)
            .map_err(|e| format!("UDP checksum: {e}"))?;
        if want != udp.checksum() {
            return Err(format!("bad UDP checksum {:#06x}", udp.checksum()));
        }
    }
    Ok(payload)
}

pub struct RawReceiver {
    sock: Socket,
    mac: [u8; 6],
    /// The exchange whose replies the filter lets through; None: nothing passes.
    expect: Option<u32>,
}

impl RawReceiver {
    /// Opens the socket with a filter that takes nothing until `set_expect`.
    pub fn open(iface: &str, ifindex: u32, mac: [u8; 6]) -> Result<Self, String> {
        let ctx = |what: &str, e: std::io::Error| format!("packet socket on {iface}: {what}: {e}");
        // Protocol 0 at socket(): the bind below names it. Giving it here too registers
        // the socket twice, and the kernel waits for an RCU grace period in between.
        let sock = Socket::new(Domain::PACKET, Type::DGRAM.nonblocking().cloexec(), None)
            .map_err(|e| ctx("socket", e))?;
        sock.attach_filter(&compile(&program(Layer::Ip, None)))
            .map_err(|e| ctx("BPF filter", e))?;
        let one: nix::libc::c_int = 1;
        // SAFETY: setsockopt with a pointer to a live c_int and its size.
        let rc = unsafe {
            nix::libc::setsockopt(
                sock.as_raw_fd(),
                nix::libc::SOL_PACKET,
                nix::libc::PACKET_AUXDATA,
                std::ptr::from_ref(&one).cast(),
                std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(ctx("PACKET_AUXDATA", std::io::Error::last_os_error()));
        }
        // SAFETY: a zeroed sockaddr_storage holds a sockaddr_ll that we fill in; the length
        // given is that of sockaddr_ll.
        let addr = unsafe {
            SockAddr::try_init(|storage, len| {
                let ll = storage.cast::<nix::libc::sockaddr_ll>();
                (*ll).sll_family = nix::libc::AF_PACKET as u16;
                (*ll).sll_protocol = ETH_P_IP.to_be();
                (*ll).sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
                *len = std::mem::size_of::<nix::libc::sockaddr_ll>() as nix::libc::socklen_t;
                Ok(())
            })
        }
        .map(|((), a)| a)
        .map_err(|e| ctx("address", e))?;
        sock.bind(&addr).map_err(|e| ctx("bind", e))?;
        Ok(RawReceiver {
            sock,
            mac,
            expect: None,
        })
    }

    /// Whether replies pass at all.
    pub fn active(&self) -> bool {
        self.expect.is_some()
    }

    /// Lets through replies to exchange `xid` only, or nothing (None: how the socket is
    /// put to rest once the address is bound). Closing a packet socket (and opening one
    /// with a protocol) waits for an RCU grace period, 8-16 ms on a small VM; swapping
    /// the filter does not.
    pub fn set_expect(&mut self, xid: Option<u32>) -> Result<(), String> {
        if xid == self.expect {
            return Ok(());
        }
        let was_active = self.active();
        let expect = xid.map(|xid| Expect { xid, mac: self.mac });
        self.sock
            .attach_filter(&compile(&program(Layer::Ip, expect)))
            .map_err(|e| format!("packet socket filter: {e}"))?;
        self.expect = xid;
        if !was_active {
            // What queued under the old filter is stale.
            let mut buf = Vec::new();
            while self.recv(&mut buf).is_some() {}
        }
        Ok(())
    }

    /// The next packet, read into `buf`: where its DHCP payload lies in `buf`; None when
    /// nothing is waiting; Err says why a packet was dropped.
    pub fn recv(&self, buf: &mut Vec<u8>) -> Option<Result<Range<usize>, String>> {
        use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
        buf.resize(2048, 0);
        let mut cmsg = nix::cmsg_space!([u8; 64]);
        let (len, not_ready) = {
            let mut iov = [std::io::IoSliceMut::new(buf)];
            let msg = recvmsg::<()>(
                self.sock.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            )
            .ok()?;
            let mut not_ready = false;
            if let Ok(cmsgs) = msg.cmsgs() {
                for c in cmsgs {
                    if let ControlMessageOwned::Unknown(u) = c {
                        // struct tpacket_auxdata starts with __u32 tp_status.
                        let status = u
                            .data_bytes
                            .get(..4)
                            .and_then(|b| <[u8; 4]>::try_from(b).ok());
                        if let Some(s) = status {
                            not_ready =
                                u32::from_ne_bytes(s) & nix::libc::TP_STATUS_CSUMNOTREADY != 0;
                        }
                    }
                }
            }
            (msg.bytes, not_ready)
        };
        let packet = buf.get(..len).unwrap_or(&[]);
        let base = packet.as_ptr() as usize;
        Some(udp_payload(packet, not_ready).map(|p| {
            let start = (p.as_ptr() as usize).saturating_sub(base);
            start..start + p.len()
        }))
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn packet(port: u16, payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 2, 2], [255, 255, 255, 255], 64).udp(67, port);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn extracts_the_payload_and_trims_padding() {
        let mut p = packet(68, b"dhcp");
        p.extend_from_slice(&[0; 20]);
        assert_eq!(udp_payload(&p, false).unwrap(), b"dhcp");
    }

    #[test]
    fn checks_the_checksum_unless_the_kernel_says_it_is_not_ready() {
        let mut p = packet(68, b"dhcp");
        let last = p.len() - 1;
        p[last] ^= 1;
        assert!(udp_payload(&p, false).unwrap_err().contains("checksum"));
        assert!(udp_payload(&p, true).is_ok());
        // Zero: no checksum was sent.
        let mut p = packet(68, b"dhcp");
        p[26] = 0;
        p[27] = 0;
        assert!(udp_payload(&p, false).is_ok());
    }

    #[test]
    fn rejects_bad_lengths_and_other_ports() {
        assert!(udp_payload(&packet(67, b"x"), false).is_err());
        let p = packet(68, b"dhcp");
        assert!(udp_payload(&p[..p.len() - 2], false).is_err(), "truncated");
        let mut q = p.clone();
        q[24] = 0xff; // UDP length beyond the packet
        assert!(udp_payload(&q, true).is_err());
        let mut q = p.clone();
        q[3] = 10; // IP total length below the header
        assert!(udp_payload(&q, true).is_err());
        let mut q = p.clone();
        q[6] = 0x20; // more fragments
        assert!(udp_payload(&q, true).is_err());
        // Every cut short packet is refused, wherever the cut falls (header, UDP
        // header, payload): the IP total length says more than arrived.
        for n in 0..p.len() {
            assert!(udp_payload(&p[..n], false).is_err(), "cut at {n}");
            assert!(udp_payload(&p[..n], true).is_err(), "cut at {n}");
        }
    }
}
