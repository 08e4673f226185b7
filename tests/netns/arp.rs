//! A host on the bench's LAN that speaks ARP: it records every ARP packet it sees on its
//! interface, with the time, and sends the ARP packets a test writes (a rival claiming
//! the client's address). Its packet socket is made in the namespace by a short-lived
//! thread; a socket stays in the namespace it was made in, whichever thread uses it.

use super::Netns;
use super::dhcp_server::enter_netns;
use etherparse::{ArpEthIpv4Packet, ArpOperation, ArpPacketSlice};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg, setsockopt, sockopt};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const ETH_P_ARP: u16 = 0x0806;

/// An ARP packet seen on the wire.
#[derive(Debug, Clone)]
pub struct Seen {
    /// When the reader thread got it (comparable with other `Instant`s of the test).
    pub at: Instant,
    /// When the kernel received it (SO_TIMESTAMPNS, realtime): exact spacing between
    /// packets, whatever the scheduling of the reader thread.
    pub wire: Duration,
    pub arp: ArpEthIpv4Packet,
}

impl Seen {
    /// An RFC 5227 probe for `address`: a request from 0.0.0.0.
    pub fn is_probe_for(&self, address: Ipv4Addr) -> bool {
        self.arp.operation == ArpOperation::REQUEST
            && self.arp.sender_ipv4_addr().is_unspecified()
            && self.arp.target_ipv4_addr() == address
    }

    /// An RFC 5227 announcement of `address`: a request with sender and target `address`.
    pub fn is_announcement_of(&self, address: Ipv4Addr) -> bool {
        self.arp.operation == ArpOperation::REQUEST
            && self.arp.sender_ipv4_addr() == address
            && self.arp.target_ipv4_addr() == address
    }
}

pub struct ArpHost {
    sock: Socket,
    ifindex: u32,
    pub mac: [u8; 6],
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

fn link_addr(ifindex: u32, to: Option<[u8; 6]>) -> SockAddr {
    // SAFETY: a zeroed sockaddr_storage holds the sockaddr_ll filled in here, and the
    // length given is that of sockaddr_ll.
    unsafe {
        SockAddr::try_init(|storage, len| {
            let ll = storage.cast::<nix::libc::sockaddr_ll>();
            (*ll).sll_family = nix::libc::AF_PACKET as u16;
            (*ll).sll_protocol = ETH_P_ARP.to_be();
            (*ll).sll_ifindex = i32::try_from(ifindex).unwrap();
            if let Some(mac) = to {
                (*ll).sll_halen = 6;
                let mut addr = [0u8; 8];
                addr[..6].copy_from_slice(&mac);
                (*ll).sll_addr = addr;
            }
            *len = std::mem::size_of::<nix::libc::sockaddr_ll>() as nix::libc::socklen_t;
            Ok(())
        })
    }
    .unwrap()
    .1
}

/// The Ethernet address of `dev` in `ns`.
pub fn mac_of(ns: &Netns, dev: &str) -> [u8; 6] {
    let line = ns.ip(&["-o", "link", "show", "dev", dev]);
    let text = line
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC for {dev} in {}: {line}", ns.name));
    let bytes: Vec<u8> = text
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect();
    <[u8; 6]>::try_from(bytes).unwrap()
}

/// As `ip` and dnsmasq write it: 52:54:00:12:34:56.
pub fn mac_text(mac: [u8; 6]) -> String {
    mac.map(|b| format!("{b:02x}")).join(":")
}

impl ArpHost {
    /// Listens (and can speak) on `dev` in `ns`.
    pub fn start(ns: &Netns, dev: &str) -> ArpHost {
        let mac = mac_of(ns, dev);
        let (name, dev) = (ns.name.clone(), dev.to_owned());
        let (sock, ifindex) = thread::spawn(move || {
            enter_netns(&name).unwrap();
            let ifindex = nix::net::if_::if_nametoindex(dev.as_str()).unwrap();
            let proto = Protocol::from(i32::from(ETH_P_ARP.to_be()));
            let sock = Socket::new(Domain::PACKET, Type::DGRAM, Some(proto)).unwrap();
            sock.bind(&link_addr(ifindex, None)).unwrap();
            setsockopt(&sock, sockopt::ReceiveTimestampns, &true).unwrap();
            (sock, ifindex)
        })
        .join()
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reader = sock.try_clone().unwrap();
        let (s, st) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = thread::spawn(move || {
            let mut buf = [0u8; 128];
            while !st.load(Ordering::Relaxed) {
                let mut fds = [PollFd::new(reader.as_fd(), PollFlags::POLLIN)];
                if poll(&mut fds, PollTimeout::from(50u16)).unwrap_or(0) == 0 {
                    continue;
                }
                let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
                let (n, wire) = {
                    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
                    let Ok(msg) = recvmsg::<()>(
                        std::os::fd::AsRawFd::as_raw_fd(&reader),
                        &mut iov,
                        Some(&mut cmsg),
                        MsgFlags::MSG_DONTWAIT,
                    ) else {
                        continue;
                    };
                    let wire = msg.cmsgs().unwrap().find_map(|c| match c {
                        ControlMessageOwned::ScmTimestampns(t) => Some(Duration::from(t)),
                        _ => None,
                    });
                    (
                        msg.bytes,
                        wire.expect("SO_TIMESTAMPNS gives every packet a time"),
                    )
                };
                let at = Instant::now();
                let arp = ArpPacketSlice::from_slice(&buf[..n])
                    .ok()
                    .and_then(|p| p.to_packet().try_eth_ipv4().ok());
                if let Some(arp) = arp {
                    s.lock().unwrap().push(Seen { at, wire, arp });
                }
            }
        });
        ArpHost {
            sock,
            ifindex,
            mac,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    /// Every ARP packet seen so far (ours included: a packet socket sees what it sends).
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Broadcasts an ARP request from this host's MAC.
    pub fn send(&self, op: ArpOperation, sender: Ipv4Addr, target: Ipv4Addr) {
        let p = ArpEthIpv4Packet {
            operation: op,
            sender_mac: self.mac,
            sender_ipv4: sender.octets(),
            target_mac: [0; 6],
            target_ipv4: target.octets(),
        };
        let to = link_addr(self.ifindex, Some([0xff; 6]));
        self.sock.send_to(&p.to_bytes(), &to).unwrap();
    }
}

impl Drop for ArpHost {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
