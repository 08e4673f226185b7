//! Address conflict detection (RFC 5227) for one IPv4 address, as a sans-IO state
//! machine: the probes, the announcements, and the defence of the address afterwards.
//! qinit binds a DHCP lease at once and runs this beside it, so a clean link costs the
//! boot nothing and a conflict costs a DHCPDECLINE and another lease. Fed with the time
//! and ARP packets (`process`, `tick`), it returns actions; `poll_at` says when it next
//! wants to run. ARP packets are read and built with etherparse.

use crate::clock::Uptime;
use etherparse::{ArpEthIpv4Packet, ArpOperation, ArpPacketSlice};
use std::net::Ipv4Addr;
use std::time::Duration;

// RFC 5227 section 1.1.
pub const PROBE_WAIT: Duration = Duration::from_secs(1);
pub const PROBE_NUM: u32 = 3;
pub const PROBE_MIN: Duration = Duration::from_secs(1);
pub const PROBE_MAX: Duration = Duration::from_secs(2);
pub const ANNOUNCE_WAIT: Duration = Duration::from_secs(2);
pub const ANNOUNCE_NUM: u32 = 2;
pub const ANNOUNCE_INTERVAL: Duration = Duration::from_secs(2);
pub const MAX_CONFLICTS: u32 = 10;
pub const RATE_LIMIT_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFEND_INTERVAL: Duration = Duration::from_secs(10);
/// RFC 2131 3.1 (5): after a DHCPDECLINE, wait at least ten seconds before DISCOVER.
pub const DECLINE_WAIT: Duration = Duration::from_secs(10);

/// An ARP packet for IPv4 over Ethernet, without the Ethernet header.
pub type ArpBytes = [u8; ArpEthIpv4Packet::LEN];

/// How long to wait before looking for another address after `conflicts` conflicts in a
/// row on the interface: RFC 2131's ten seconds, and RFC 5227 2.1.1's one attempt per
/// RATE_LIMIT_INTERVAL from MAX_CONFLICTS on.
pub fn decline_wait(conflicts: u32) -> Duration {
    if conflicts >= MAX_CONFLICTS {
        RATE_LIMIT_INTERVAL
    } else {
        DECLINE_WAIT
    }
}

/// A MAC address as people write it.
pub fn mac_text(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Another host uses the address: it must be given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conflict {
    pub address: Ipv4Addr,
    /// The other host's hardware address.
    pub by: [u8; 6],
    /// Found while probing (RFC 5227 2.1.1), or a second conflict within DEFEND_INTERVAL
    /// once the address was announced (2.4 (b)).
    pub probing: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Broadcast this ARP packet on the interface.
    Send(ArpBytes),
    /// The address is in use by another host; the machine has stopped.
    Conflict(Conflict),
    /// Probing found no other user and the first announcement is going out.
    Claimed,
    /// A line for the debug log.
    Note(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// `sent` probes have gone; the next (or, after PROBE_NUM, the first announcement)
    /// goes at `next_at`. The whole of it is the probe window of RFC 5227 2.1.1.
    Probing { sent: u32, next_at: Uptime },
    /// The address is ours and defended; `sent` announcements have gone.
    Announcing {
        sent: u32,
        next_at: Uptime,
        last_conflict: Option<Uptime>,
    },
    /// Announced; watching for another user (RFC 5227 2.4).
    Defending { last_conflict: Option<Uptime> },
    /// A conflict ended it.
    Stopped,
}

#[derive(Debug, Clone)]
pub struct Acd {
    address: Ipv4Addr,
    mac: [u8; 6],
    state: State,
    rng: u64,
}

impl Acd {
    /// Starts probing for `address`: the first probe goes after a random wait of up to
    /// PROBE_WAIT (RFC 5227 2.1.1), drawn from `seed`.
    pub fn new(now: Uptime, address: Ipv4Addr, mac: [u8; 6], seed: u64) -> Acd {
        let mut acd = Acd {
            address,
            mac,
            state: State::Stopped,
            rng: seed | 1,
        };
        let wait = acd.random_between(Duration::ZERO, PROBE_WAIT);
        acd.state = State::Probing {
            sent: 0,
            next_at: now + wait,
        };
        acd
    }

    pub fn address(&self) -> Ipv4Addr {
        self.address
    }

    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Probing { .. } => "probing",
            State::Announcing { .. } => "announcing",
            State::Defending { .. } => "defending",
            State::Stopped => "stopped",
        }
    }

    /// When `tick` next has something to do; None once only packets matter.
    pub fn poll_at(&self) -> Option<Uptime> {
        match self.state {
            State::Probing { next_at, .. } | State::Announcing { next_at, .. } => Some(next_at),
            State::Defending { .. } | State::Stopped => None,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64, as the DHCP client's jitter: no cryptographic quality needed.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Uniform in [lo, hi], to the millisecond.
    fn random_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        let span = u64::try_from(hi.saturating_sub(lo).as_millis()).unwrap_or(0);
        lo + Duration::from_millis(self.random() % (span + 1))
    }

    /// Sender 0.0.0.0, target our address (RFC 5227 2.1.1).
    fn probe(&self) -> ArpBytes {
        arp_request(self.mac, Ipv4Addr::UNSPECIFIED, self.address)
    }

    /// Sender and target our address (RFC 5227 2.3).
    fn announcement(&self) -> ArpBytes {
        arp_request(self.mac, self.address, self.address)
    }

    /// Sends what is due at `now`; timers count from the send, so late ticks never
    /// bring two packets closer than the RFC allows.
    pub fn tick(&mut self, now: Uptime) -> Vec<Action> {
        let mut out = Vec::new();
        self.state = match self.state {
            State::Probing { sent, next_at } if now >= next_at && sent < PROBE_NUM => {
                out.push(Action::Send(self.probe()));
                let sent = sent + 1;
                let wait = if sent < PROBE_NUM {
                    self.random_between(PROBE_MIN, PROBE_MAX)
                } else {
                    ANNOUNCE_WAIT
                };
                State::Probing {
                    sent,
                    next_at: now + wait,
                }
            }
            State::Probing { next_at, .. } if now >= next_at => {
                out.push(Action::Claimed);
                out.push(Action::Send(self.announcement()));
                self.after_announcement(now, 1, None)
            }
            State::Announcing {
                sent,
                next_at,
                last_conflict,
            } if now >= next_at => {
                out.push(Action::Send(self.announcement()));
                self.after_announcement(now, sent + 1, last_conflict)
            }
            other => other,
        };
        out
    }

    fn after_announcement(&self, now: Uptime, sent: u32, last_conflict: Option<Uptime>) -> State {
        if sent >= ANNOUNCE_NUM {
            State::Defending { last_conflict }
        } else {
            State::Announcing {
                sent,
                next_at: now + ANNOUNCE_INTERVAL,
                last_conflict,
            }
        }
    }

    /// An ARP packet received on the interface (without its Ethernet header).
    pub fn process(&mut self, now: Uptime, packet: &[u8]) -> Vec<Action> {
        let arp = match parse(packet) {
            Ok(a) => a,
            Err(why) => return vec![Action::Note(format!("dropped an ARP packet: {why}"))],
        };
        let sender_ip = arp.sender_ipv4_addr();
        if arp.sender_mac == self.mac {
            return vec![Action::Note(format!(
                "ignored our own ARP packet about {}",
                arp.target_ipv4_addr()
            ))];
        }
        let conflict = Conflict {
            address: self.address,
            by: arp.sender_mac,
            probing: true,
        };
        let mut out = Vec::new();
        self.state = match self.state {
            State::Probing { .. } => {
                // 2.1.1: any ARP from the address, or another host's probe for it.
                let probe_for_it = arp.operation == ArpOperation::REQUEST
                    && sender_ip.is_unspecified()
                    && arp.target_ipv4_addr() == self.address;
                if sender_ip == self.address || probe_for_it {
                    out.push(Action::Conflict(conflict));
                    State::Stopped
                } else {
                    out.push(ignored(&arp));
                    self.state
                }
            }
            State::Announcing {
                last_conflict: Some(at),
                ..
            }
            | State::Defending {
                last_conflict: Some(at),
            } if sender_ip == self.address && now.saturating_sub(at) < DEFEND_INTERVAL => {
                // 2.4 (b): a second conflict within DEFEND_INTERVAL: cease using it.
                out.push(Action::Conflict(Conflict {
                    probing: false,
                    ..conflict
                }));
                State::Stopped
            }
            State::Announcing { sent, next_at, .. } if sender_ip == self.address => {
                self.defend(&arp, &mut out);
                State::Announcing {
                    sent,
                    next_at,
                    last_conflict: Some(now),
                }
            }
            State::Defending { .. } if sender_ip == self.address => {
                self.defend(&arp, &mut out);
                State::Defending {
                    last_conflict: Some(now),
                }
            }
            other => {
                out.push(ignored(&arp));
                other
            }
        };
        out
    }

    /// 2.4 (b): one announcement; the caller remembers the time of the conflict.
    fn defend(&self, arp: &ArpEthIpv4Packet, out: &mut Vec<Action>) {
        out.push(Action::Note(format!(
            "{} claims {}: defended it with one announcement",
            mac_text(&arp.sender_mac),
            self.address
        )));
        out.push(Action::Send(self.announcement()));
    }
}

fn ignored(arp: &ArpEthIpv4Packet) -> Action {
    Action::Note(format!(
        "ignored ARP {} from {} ({}) about {}",
        if arp.operation == ArpOperation::REPLY {
            "reply"
        } else {
            "request"
        },
        arp.sender_ipv4_addr(),
        mac_text(&arp.sender_mac),
        arp.target_ipv4_addr()
    ))
}

/// An ARP request from `mac`, target hardware address zero (RFC 5227 2.1.1 and 2.3).
pub fn arp_request(mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> ArpBytes {
    ArpEthIpv4Packet {
        operation: ArpOperation::REQUEST,
        sender_mac: mac,
        sender_ipv4: sender.octets(),
        target_mac: [0; 6],
        target_ipv4: target.octets(),
    }
    .to_bytes()
}

/// An ARP packet for IPv4 over Ethernet; anything else says why not.
pub fn parse(packet: &[u8]) -> Result<ArpEthIpv4Packet, String> {
    let slice = ArpPacketSlice::from_slice(packet).map_err(|e| e.to_string())?;
    slice.to_packet().try_eth_ipv4().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    const OTHER: [u8; 6] = [0x52, 0x54, 0, 0xaa, 0xbb, 0xcc];
    const ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
    const SEC: Duration = Duration::from_secs(1);
    const T0: Uptime = Duration::from_secs(100);

    fn packet(op: ArpOperation, mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
        ArpEthIpv4Packet {
            operation: op,
            sender_mac: mac,
            sender_ipv4: sender.octets(),
            target_mac: [0; 6],
            target_ipv4: target.octets(),
        }
        .to_bytes()
        .to_vec()
    }

    /// What Linux answers to our probe when it holds the address.
    fn reply_from_holder() -> Vec<u8> {
        packet(ArpOperation::REPLY, OTHER, ADDR, Ipv4Addr::UNSPECIFIED)
    }

    fn sent(actions: &[Action]) -> Vec<ArpEthIpv4Packet> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(b) => Some(parse(b).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn conflict(actions: &[Action]) -> Option<Conflict> {
        actions.iter().find_map(|a| match a {
            Action::Conflict(c) => Some(*c),
            _ => None,
        })
    }

    /// Runs the timers until nothing is left; each send with its time.
    fn run_out(acd: &mut Acd) -> Vec<(Uptime, ArpEthIpv4Packet, bool)> {
        let mut log = Vec::new();
        while let Some(at) = acd.poll_at() {
            let acts = acd.tick(at);
            let claimed = acts.contains(&Action::Claimed);
            let s = sent(&acts);
            assert_eq!(s.len(), 1, "one packet per timer: {acts:?}");
            log.extend(s.into_iter().map(|p| (at, p, claimed)));
            assert!(log.len() < 10, "the timers never end: {log:?}");
        }
        log
    }

    /// A machine that has probed and announced, and `now` just after.
    fn defending() -> (Acd, Uptime) {
        let mut acd = Acd::new(T0, ADDR, MAC, 7);
        let log = run_out(&mut acd);
        assert_eq!(acd.state_name(), "defending");
        (acd, log.last().unwrap().0 + SEC)
    }

    #[test]
    fn probes_and_announces_within_the_rfc_bounds() {
        for seed in [1, 2, 3, 42, 0xdead_beef, u64::MAX] {
            let mut acd = Acd::new(T0, ADDR, MAC, seed);
            assert_eq!(acd.state_name(), "probing");
            let log = run_out(&mut acd);
            let n = usize::try_from(PROBE_NUM + ANNOUNCE_NUM).unwrap();
            assert_eq!(log.len(), n, "{log:?}");
            let (probes, announcements) = log.split_at(usize::try_from(PROBE_NUM).unwrap());
            assert!(log[0].0 >= T0 && log[0].0 <= T0 + PROBE_WAIT, "{log:?}");
            for (_, p, claimed) in probes {
                assert_eq!(p.operation, ArpOperation::REQUEST);
                assert_eq!(p.sender_mac, MAC);
                assert_eq!(p.sender_ipv4_addr(), Ipv4Addr::UNSPECIFIED);
                assert_eq!(p.target_ipv4_addr(), ADDR);
                assert_eq!(p.target_mac, [0; 6]);
                assert!(!claimed);
            }
            for w in probes.windows(2) {
                let gap = w[1].0 - w[0].0;
                assert!((PROBE_MIN..=PROBE_MAX).contains(&gap), "{gap:?}");
            }
            assert_eq!(announcements[0].0 - probes[2].0, ANNOUNCE_WAIT);
            assert_eq!(announcements[1].0 - announcements[0].0, ANNOUNCE_INTERVAL);
            assert!(announcements[0].2, "claimed with the first announcement");
            assert!(!announcements[1].2);
            for (_, p, _) in announcements {
                assert_eq!(p.operation, ArpOperation::REQUEST);
                assert_eq!(p.sender_ipv4_addr(), ADDR);
                assert_eq!(p.target_ipv4_addr(), ADDR);
                assert_eq!(p.sender_mac, MAC);
            }
            assert_eq!(acd.state_name(), "defending");
            assert_eq!(acd.poll_at(), None);
        }
    }

    #[test]
    fn the_random_waits_differ_with_the_seed() {
        let firsts: Vec<Uptime> = (1..20)
            .map(|seed| Acd::new(T0, ADDR, MAC, seed).poll_at().unwrap())
            .collect();
        assert!(firsts.iter().any(|t| *t != firsts[0]), "{firsts:?}");
    }

    #[test]
    fn a_late_tick_sends_one_probe_and_keeps_the_spacing() {
        let mut acd = Acd::new(T0, ADDR, MAC, 5);
        let late = T0 + 30 * SEC;
        assert_eq!(sent(&acd.tick(late)).len(), 1);
        assert!(acd.poll_at().unwrap() >= late + PROBE_MIN);
        // Early ticks do nothing.
        assert!(acd.tick(late).is_empty());
    }

    #[test]
    fn an_answer_while_probing_is_a_conflict_and_stops_the_machine() {
        let mut acd = Acd::new(T0, ADDR, MAC, 9);
        let at = acd.poll_at().unwrap();
        acd.tick(at);
        let acts = acd.process(at + Duration::from_millis(3), &reply_from_holder());
        assert_eq!(
            conflict(&acts),
            Some(Conflict {
                address: ADDR,
                by: OTHER,
                probing: true
            })
        );
        assert!(sent(&acts).is_empty());
        assert_eq!(acd.state_name(), "stopped");
        assert_eq!(acd.poll_at(), None);
        assert!(acd.tick(at + 10 * SEC).is_empty());
        // Stopped means stopped: nothing more comes of another packet.
        let again = acd.process(at + SEC, &reply_from_holder());
        assert_eq!(conflict(&again), None);
        assert!(sent(&again).is_empty());
    }

    #[test]
    fn a_conflict_counts_until_announce_wait_after_the_last_probe() {
        let mut acd = Acd::new(T0, ADDR, MAC, 11);
        let mut last = T0;
        for _ in 0..PROBE_NUM {
            last = acd.poll_at().unwrap();
            acd.tick(last);
        }
        // Just before the first announcement: still the probe window.
        let acts = acd.process(last + ANNOUNCE_WAIT - Duration::from_millis(1), &{
            packet(
                ArpOperation::REQUEST,
                OTHER,
                ADDR,
                Ipv4Addr::new(10, 0, 2, 2),
            )
        });
        assert!(conflict(&acts).is_some_and(|c| c.probing), "{acts:?}");
    }

    #[test]
    fn another_hosts_probe_for_the_address_is_a_conflict_while_probing() {
        let mut acd = Acd::new(T0, ADDR, MAC, 13);
        let probe = packet(ArpOperation::REQUEST, OTHER, Ipv4Addr::UNSPECIFIED, ADDR);
        let acts = acd.process(T0, &probe);
        assert_eq!(conflict(&acts).map(|c| c.by), Some(OTHER), "{acts:?}");
    }

    #[test]
    fn our_own_packets_are_never_a_conflict() {
        let mut acd = Acd::new(T0, ADDR, MAC, 17);
        let ours = [
            packet(ArpOperation::REQUEST, MAC, Ipv4Addr::UNSPECIFIED, ADDR),
            packet(ArpOperation::REQUEST, MAC, ADDR, ADDR),
            packet(ArpOperation::REPLY, MAC, ADDR, Ipv4Addr::new(10, 0, 2, 2)),
        ];
        for p in &ours {
            let acts = acd.process(T0, p);
            assert_eq!(conflict(&acts), None);
            assert!(sent(&acts).is_empty());
        }
        let (mut acd, now) = defending();
        for p in &ours {
            let acts = acd.process(now, p);
            assert!(
                acts.iter().all(|a| matches!(a, Action::Note(_))),
                "{acts:?}"
            );
        }
        assert_eq!(acd.state_name(), "defending");
    }

    #[test]
    fn arp_about_other_addresses_is_ignored() {
        let other_ip = Ipv4Addr::new(10, 0, 2, 16);
        let gateway = Ipv4Addr::new(10, 0, 2, 2);
        let harmless = [
            // Someone asks who has our address: they are looking for us.
            packet(ArpOperation::REQUEST, OTHER, gateway, ADDR),
            packet(ArpOperation::REPLY, OTHER, other_ip, gateway),
            // Another host probing for another address.
            packet(
                ArpOperation::REQUEST,
                OTHER,
                Ipv4Addr::UNSPECIFIED,
                other_ip,
            ),
        ];
        let mut acd = Acd::new(T0, ADDR, MAC, 19);
        for p in &harmless {
            let acts = acd.process(T0, p);
            assert!(
                acts.iter().all(|a| matches!(a, Action::Note(_))),
                "{acts:?}"
            );
        }
        assert_eq!(acd.state_name(), "probing");
        let (mut acd, now) = defending();
        // Once the address is ours, the kernel answers another host's probe for it.
        let probe = packet(ArpOperation::REQUEST, OTHER, Ipv4Addr::UNSPECIFIED, ADDR);
        for p in harmless.iter().chain([&probe]) {
            let acts = acd.process(now, p);
            assert!(
                acts.iter().all(|a| matches!(a, Action::Note(_))),
                "{acts:?}"
            );
        }
        assert_eq!(acd.state_name(), "defending");
    }

    #[test]
    fn bad_packets_are_dropped_with_a_note() {
        let mut acd = Acd::new(T0, ADDR, MAC, 23);
        let mut not_ipv4 = reply_from_holder();
        not_ipv4[2] = 0x86; // protocol 0x86dd
        not_ipv4[3] = 0xdd;
        let mut long_hw = reply_from_holder();
        long_hw[4] = 8;
        for p in [
            &[][..],
            &[0u8; 7][..],
            &reply_from_holder()[..27],
            &not_ipv4,
            &long_hw,
        ] {
            let acts = acd.process(T0, p);
            assert!(
                matches!(&acts[..], [Action::Note(n)] if n.contains("dropped")),
                "{p:?}: {acts:?}"
            );
        }
        assert_eq!(acd.state_name(), "probing");
    }

    #[test]
    fn a_conflict_after_announcing_is_defended_once_then_the_address_is_given_up() {
        let (mut acd, now) = defending();
        let acts = acd.process(now, &reply_from_holder());
        assert_eq!(conflict(&acts), None, "{acts:?}");
        let s = sent(&acts);
        assert_eq!(s.len(), 1, "one defending announcement: {acts:?}");
        assert_eq!(s[0].sender_ipv4_addr(), ADDR);
        assert_eq!(s[0].target_ipv4_addr(), ADDR);
        assert_eq!(acd.state_name(), "defending");
        // Another one within DEFEND_INTERVAL: give up.
        let acts = acd.process(now + DEFEND_INTERVAL - SEC, &reply_from_holder());
        assert_eq!(
            conflict(&acts),
            Some(Conflict {
                address: ADDR,
                by: OTHER,
                probing: false
            })
        );
        assert!(sent(&acts).is_empty());
        assert_eq!(acd.state_name(), "stopped");
    }

    #[test]
    fn conflicts_further_apart_than_defend_interval_are_each_defended() {
        let (mut acd, mut now) = defending();
        for _ in 0..3 {
            let acts = acd.process(now, &reply_from_holder());
            assert_eq!(conflict(&acts), None, "{acts:?}");
            assert_eq!(sent(&acts).len(), 1);
            now += DEFEND_INTERVAL;
        }
    }

    #[test]
    fn a_conflict_between_the_announcements_is_defended() {
        let mut acd = Acd::new(T0, ADDR, MAC, 29);
        let mut at = T0;
        while acd.state_name() == "probing" {
            at = acd.poll_at().unwrap();
            acd.tick(at);
        }
        assert_eq!(acd.state_name(), "announcing");
        let acts = acd.process(at + SEC, &reply_from_holder());
        assert_eq!(conflict(&acts), None);
        assert_eq!(sent(&acts).len(), 1);
        // The second announcement still goes on time, and the conflict is remembered.
        let next = acd.poll_at().unwrap();
        assert_eq!(next, at + ANNOUNCE_INTERVAL);
        assert_eq!(sent(&acd.tick(next)).len(), 1);
        assert_eq!(acd.state_name(), "defending");
        let acts = acd.process(next + SEC, &reply_from_holder());
        assert!(conflict(&acts).is_some_and(|c| !c.probing), "{acts:?}");
    }

    #[test]
    fn packets_are_rfc_5227_probes_and_announcements_byte_for_byte() {
        let probe = arp_request(MAC, Ipv4Addr::UNSPECIFIED, ADDR);
        #[rustfmt::skip]
        let want = [
            0, 1, 8, 0, 6, 4, 0, 1,        // Ethernet, IPv4, 6, 4, request
            0x52, 0x54, 0, 0x12, 0x34, 0x56, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 10, 0, 2, 15,
        ];
        assert_eq!(probe, want);
        let announce = arp_request(MAC, ADDR, ADDR);
        assert_eq!(&announce[14..18], &[10, 0, 2, 15]);
        assert_eq!(&announce[24..28], &[10, 0, 2, 15]);
    }

    #[test]
    fn the_back_off_is_ten_seconds_then_the_rate_limit() {
        assert_eq!(decline_wait(0), Duration::from_secs(10));
        assert_eq!(decline_wait(MAX_CONFLICTS - 1), Duration::from_secs(10));
        assert_eq!(decline_wait(MAX_CONFLICTS), RATE_LIMIT_INTERVAL);
        assert_eq!(decline_wait(u32::MAX), RATE_LIMIT_INTERVAL);
    }

    #[test]
    fn macs_are_written_in_colon_hex() {
        assert_eq!(mac_text(&OTHER), "52:54:00:aa:bb:cc");
    }
}
