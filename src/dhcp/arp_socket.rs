//! The ARP socket of address conflict detection: AF_PACKET, ETH_P_ARP, bound to one
//! interface, sending broadcast and receiving only what concerns the address watched.
//! A classic BPF filter keeps every other ARP packet of the LAN in the kernel (as
//! systemd's sd-ipv4acd does), and PACKET_IGNORE_OUTGOING our own frames. Cooked
//! (SOCK_DGRAM): the kernel adds and strips the Ethernet header.

use super::acd::ArpBytes;
use socket2::{Domain, SockAddr, SockFilter, Socket, Type};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

const ETH_P_ARP: u16 = 0x0806;
/// One classic BPF instruction: code, jump if true, jump if false, constant.
type Insn = (u16, u8, u8, u32);

const LDH_ABS: u16 = 0x28;
const LDW_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;
/// Bytes kept of an accepted packet: the 28 of ARP for IPv4 over Ethernet.
const SNAP: u32 = 28;

/// The filter: ARP for IPv4 over Ethernet whose sender is `address` (someone uses it),
/// or whose sender is 0.0.0.0 and target `address` (someone probes for it).
fn program(address: Ipv4Addr) -> [Insn; 13] {
    let a = u32::from(address);
    [
        (LDH_ABS, 0, 0, 0),    // 0: hardware type
        (JEQ_K, 0, 10, 1),     // 1: Ethernet ? next : drop
        (LDH_ABS, 0, 0, 2),    // 2: protocol type
        (JEQ_K, 0, 8, 0x0800), // 3: IPv4 ? next : drop
        (LDH_ABS, 0, 0, 4),    // 4: address lengths
        (JEQ_K, 0, 6, 0x0604), // 5: 6 and 4 ? next : drop
        (LDW_ABS, 0, 0, 14),   // 6: sender IP
        (JEQ_K, 3, 0, a),      // 7: ours ? accept : next
        (JEQ_K, 0, 3, 0),      // 8: 0.0.0.0 ? next : drop
        (LDW_ABS, 0, 0, 24),   // 9: target IP
        (JEQ_K, 0, 1, a),      // 10: ours ? accept : drop
        (RET_K, 0, 0, SNAP),   // 11: accept
        (RET_K, 0, 0, 0),      // 12: drop
    ]
}

/// Takes nothing: the socket at rest between two addresses. Closing a packet socket
/// waits for an RCU grace period (see `raw`); swapping the filter does not.
const DROP_ALL: [Insn; 1] = [(RET_K, 0, 0, 0)];

fn attach(sock: &Socket, insns: &[Insn]) -> std::io::Result<()> {
    let filter: Vec<SockFilter> = insns
        .iter()
        .map(|&(code, jt, jf, k)| SockFilter::new(code, jt, jf, k))
        .collect();
    sock.attach_filter(&filter)
}

/// A link-layer address on the interface: broadcast, or the bind address (no hardware
/// address).
fn link_addr(ifindex: u32, broadcast: bool) -> std::io::Result<SockAddr> {
    // SAFETY: a zeroed sockaddr_storage holds a sockaddr_ll that we fill in; the length
    // given is that of sockaddr_ll.
    unsafe {
        SockAddr::try_init(|storage, len| {
            let ll = storage.cast::<nix::libc::sockaddr_ll>();
            (*ll).sll_family = nix::libc::AF_PACKET as u16;
            (*ll).sll_protocol = ETH_P_ARP.to_be();
            (*ll).sll_ifindex = i32::try_from(ifindex).unwrap_or(0);
            if broadcast {
                (*ll).sll_halen = 6;
                (*ll).sll_addr = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0];
            }
            *len = std::mem::size_of::<nix::libc::sockaddr_ll>() as nix::libc::socklen_t;
            Ok(())
        })
    }
    .map(|((), a)| a)
}

pub struct ArpSocket {
    sock: Socket,
    iface: String,
    broadcast: SockAddr,
    /// The address the filter lets through; None while at rest.
    watching: Option<Ipv4Addr>,
}

impl ArpSocket {
    /// Opens the socket at rest (taking nothing); `watch` says for which address.
    pub fn open(iface: &str, ifindex: u32) -> Result<Self, String> {
        let ctx = |what: &str, e: std::io::Error| format!("ARP socket on {iface}: {what}: {e}");
        // Protocol 0 here, named at bind (see `raw`: registering twice costs a grace period).
        let sock = Socket::new(Domain::PACKET, Type::DGRAM.nonblocking().cloexec(), None)
            .map_err(|e| ctx("socket", e))?;
        attach(&sock, &DROP_ALL).map_err(|e| ctx("BPF filter", e))?;
        let one: nix::libc::c_int = 1;
        // SAFETY: setsockopt with a pointer to a live c_int and its size.
        let rc = unsafe {
            nix::libc::setsockopt(
                sock.as_raw_fd(),
                nix::libc::SOL_PACKET,
                nix::libc::PACKET_IGNORE_OUTGOING,
                std::ptr::from_ref(&one).cast(),
                std::mem::size_of::<nix::libc::c_int>() as nix::libc::socklen_t,
            )
        };
        if rc != 0 {
            // Before Linux 4.20: our frames come back, and `acd` knows them by our MAC.
            crate::debug!(
                "ARP socket on {iface}: PACKET_IGNORE_OUTGOING: {}",
                std::io::Error::last_os_error()
            );
        }
        let bind = link_addr(ifindex, false).map_err(|e| ctx("address", e))?;
        sock.bind(&bind).map_err(|e| ctx("bind", e))?;
        let broadcast = link_addr(ifindex, true).map_err(|e| ctx("address", e))?;
        Ok(ArpSocket {
            sock,
            iface: iface.to_string(),
            broadcast,
            watching: None,
        })
    }

    /// Lets through what concerns `address` (None: nothing), dropping what was queued.
    pub fn watch(&mut self, address: Option<Ipv4Addr>) -> Result<(), String> {
        if address == self.watching {
            return Ok(());
        }
        let r = match address {
            Some(a) => attach(&self.sock, &program(a)),
            None => attach(&self.sock, &DROP_ALL),
        };
        r.map_err(|e| format!("ARP socket on {}: BPF filter: {e}", self.iface))?;
        self.watching = address;
        while self.recv().is_some() {}
        Ok(())
    }

    pub fn watching(&self) -> Option<Ipv4Addr> {
        self.watching
    }

    pub fn send(&self, packet: &ArpBytes) -> Result<(), String> {
        self.sock
            .send_to(packet, &self.broadcast)
            .map(|_| ())
            .map_err(|e| format!("ARP on {}: send: {e}", self.iface))
    }

    /// The next ARP packet, or None when nothing is waiting.
    pub fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = [0u8; 64];
        let n = nix::sys::socket::recv(
            self.sock.as_raw_fd(),
            &mut buf,
            nix::sys::socket::MsgFlags::MSG_DONTWAIT,
        )
        .ok()?;
        Some(buf.get(..n).unwrap_or(&[]).to_vec())
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::acd::arp_request;
    use etherparse::{ArpEthIpv4Packet, ArpOperation};

    /// Runs a classic BPF program the way the kernel does, for the few instructions used
    /// here; returns how many bytes it keeps (0: dropped).
    fn run(prog: &[Insn], packet: &[u8]) -> u32 {
        let load = |at: u32, n: usize| -> Option<u32> {
            let at = usize::try_from(at).unwrap();
            let b = packet.get(at..at + n)?;
            Some(b.iter().fold(0u32, |acc, &x| acc << 8 | u32::from(x)))
        };
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let (code, jt, jf, k) = prog[pc];
            pc += 1;
            match code {
                LDH_ABS => match load(k, 2) {
                    Some(v) => acc = v,
                    None => return 0, // the kernel drops a packet read out of bounds
                },
                LDW_ABS => match load(k, 4) {
                    Some(v) => acc = v,
                    None => return 0,
                },
                JEQ_K => pc += usize::from(if acc == k { jt } else { jf }),
                RET_K => return k,
                other => panic!("instruction {other:#x} not modelled"),
            }
        }
    }

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const OTHER: [u8; 6] = [2, 0, 0, 0, 0, 2];
    const ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 4, 20);

    fn reply(sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
        ArpEthIpv4Packet {
            operation: ArpOperation::REPLY,
            sender_mac: OTHER,
            sender_ipv4: sender.octets(),
            target_mac: MAC,
            target_ipv4: target.octets(),
        }
        .to_bytes()
        .to_vec()
    }

    #[test]
    fn the_filter_takes_only_what_concerns_the_address() {
        let p = program(ADDR);
        let gw = Ipv4Addr::new(10, 99, 4, 1);
        let zero = Ipv4Addr::UNSPECIFIED;
        // Someone uses the address, or probes for it: kept, whole.
        assert_eq!(run(&p, &reply(ADDR, zero)), 28);
        assert_eq!(run(&p, &arp_request(OTHER, ADDR, gw)), 28);
        assert_eq!(run(&p, &arp_request(OTHER, zero, ADDR)), 28);
        // The rest of the LAN's ARP: dropped in the kernel.
        assert_eq!(run(&p, &arp_request(OTHER, gw, ADDR)), 0, "asks for us");
        assert_eq!(
            run(&p, &arp_request(OTHER, gw, Ipv4Addr::new(10, 99, 4, 9))),
            0
        );
        assert_eq!(
            run(&p, &arp_request(OTHER, zero, gw)),
            0,
            "a probe for another"
        );
        assert_eq!(run(&p, &reply(Ipv4Addr::new(10, 99, 4, 21), ADDR)), 0);
        // Not IPv4 over Ethernet, or cut short.
        let mut q = reply(ADDR, zero);
        q[1] = 6; // IEEE 802
        assert_eq!(run(&p, &q), 0);
        let mut q = reply(ADDR, zero);
        q[2] = 0x86;
        assert_eq!(run(&p, &q), 0);
        let mut q = reply(ADDR, zero);
        q[4] = 8;
        assert_eq!(run(&p, &q), 0);
        assert_eq!(run(&p, &reply(ADDR, zero)[..10]), 0);
        // Another address's filter does not take this one's packets.
        assert_eq!(run(&program(gw), &reply(ADDR, zero)), 0);
        assert_eq!(run(&DROP_ALL, &reply(ADDR, zero)), 0);
    }
}
