//! Conflict detection for an interface's leased address: runs `dhcp::acd` (RFC 5227)
//! over the interface's ARP socket, in the background of a lease already applied, and
//! tells the interface's driver when another host uses the address so it can decline
//! it. It counts conflicts in a row for the back-off before the next DISCOVER.

use crate::clock::Uptime;
use crate::dhcp::acd::{self, Acd, Action, Conflict};
use crate::dhcp::arp_socket::ArpSocket;
use crate::{debug, info};
use std::net::Ipv4Addr;
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// ARP packets read per `readable`: a flood waits for the next turn of the loop
/// instead of holding it (the filter already keeps out what does not concern us).
const READ_AT_MOST: usize = 32;

pub struct ConflictWatch {
    iface: String,
    ifindex: u32,
    mac: [u8; 6],
    /// Opened for the first address and kept: between addresses only its filter changes.
    sock: Option<ArpSocket>,
    acd: Option<Acd>,
    /// Conflicts since an address was last claimed without one.
    conflicts: u32,
    /// The socket could not be opened: said once, not at every renewal.
    unavailable: bool,
    rng: u64,
}

impl ConflictWatch {
    pub fn new(iface: &str, ifindex: u32, mac: [u8; 6], seed: u64) -> ConflictWatch {
        ConflictWatch {
            iface: iface.to_string(),
            ifindex,
            mac,
            sock: None,
            acd: None,
            conflicts: 0,
            unavailable: false,
            rng: seed | 1,
        }
    }

    /// The address being probed or defended.
    pub fn watching(&self) -> Option<Ipv4Addr> {
        self.acd.as_ref().map(Acd::address)
    }

    /// Starts probing `address`, unless it is already watched. Only the state machine
    /// is made here: the socket waits for the first probe (see `ready`), so the bind
    /// costs nothing more than it did.
    pub fn start(&mut self, now: Uptime, address: Ipv4Addr) {
        if self.watching() == Some(address) || self.unavailable {
            return;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.acd = Some(Acd::new(now, address, self.mac, self.rng));
        debug!(
            "dhcp {}: probing whether another host uses {address}",
            self.iface
        );
    }

    /// Opens the socket on first use (kept afterwards) and points its filter at the
    /// address watched. False, said once, when the interface cannot have one.
    fn ready(&mut self) -> bool {
        let Some(address) = self.watching() else {
            return false;
        };
        if self.sock.is_none() {
            match ArpSocket::open(&self.iface, self.ifindex) {
                Ok(s) => self.sock = Some(s),
                Err(e) => {
                    info!("dhcp {}: {e}; no address conflict detection", self.iface);
                    self.unavailable = true;
                    self.acd = None;
                    return false;
                }
            }
        }
        if let Some(s) = self.sock.as_mut()
            && let Err(e) = s.watch(Some(address))
        {
            info!("dhcp {}: {e}; no address conflict detection", self.iface);
            self.stop();
            return false;
        }
        true
    }

    /// The socket whose filter takes the watched address's packets.
    fn socket(&self) -> Option<&ArpSocket> {
        let a = self.watching()?;
        self.sock.as_ref().filter(|s| s.watching() == Some(a))
    }

    /// Stops watching (the address was removed, or the carrier lost).
    pub fn stop(&mut self) {
        self.acd = None;
        if let Some(s) = self.sock.as_mut()
            && let Err(e) = s.watch(None)
        {
            info!("dhcp {}: {e}", self.iface);
        }
    }

    /// The socket to poll while an address is watched.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.socket().map(ArpSocket::fd)
    }

    pub fn poll_at(&self) -> Option<Uptime> {
        self.acd.as_ref().and_then(Acd::poll_at)
    }

    /// How long to wait before the next DISCOVER after the conflicts so far.
    pub fn decline_wait(&self) -> Duration {
        acd::decline_wait(self.conflicts)
    }

    /// Sends the probes and announcements that are due.
    pub fn tick(&mut self, now: Uptime) -> Option<Conflict> {
        let acd = self.acd.as_mut()?;
        if acd.poll_at().is_none_or(|t| t > now) || !self.ready() {
            return None;
        }
        let actions = self.acd.as_mut()?.tick(now);
        self.run(actions)
    }

    /// Reads what the socket has (a bounded number of packets); a conflict ends it.
    pub fn readable(&mut self, now: Uptime) -> Option<Conflict> {
        for _ in 0..READ_AT_MOST {
            let packet = self.socket()?.recv()?;
            let actions = self.acd.as_mut()?.process(now, &packet);
            if let Some(c) = self.run(actions) {
                return Some(c);
            }
        }
        None
    }

    fn run(&mut self, actions: Vec<Action>) -> Option<Conflict> {
        let mut conflict = None;
        for action in actions {
            match action {
                Action::Send(bytes) => {
                    if let Some(Err(e)) = self.sock.as_ref().map(|s| s.send(&bytes)) {
                        info!("dhcp {}: {e}", self.iface);
                    }
                }
                Action::Note(n) => debug!("dhcp {}: {n}", self.iface),
                Action::Claimed => {
                    self.conflicts = 0;
                    if let Some(a) = self.watching() {
                        // Debug only: the usual outcome, and it comes seconds into the
                        // boot, on the console the user may be typing into.
                        debug!(
                            "dhcp {}: no other host uses {a} ({} ARP probes): announcing it",
                            self.iface,
                            acd::PROBE_NUM
                        );
                    }
                }
                Action::Conflict(c) => {
                    self.conflicts = self.conflicts.saturating_add(1);
                    conflict = Some(c);
                }
            }
        }
        if conflict.is_some() {
            self.stop();
        }
        conflict
    }
}
