//! The DHCP client state machine (dhcp::client::Client) driven through every state by a
//! sequence of operations read from the input: carrier up and down, ticks on a fake
//! clock (late, early, or exactly at the client's next wakeup), release, and replies,
//! either as given or patched with the client's live xid and our MAC so that they get
//! past the first checks and reach the states' logic.
//!
//! Input format (so that seeds can be written by hand or by make_seeds.py): one byte of
//! setup (bit 0: ask for rapid commit, bit 1: send a host name), then operations, each a
//! tag byte (its value mod 9) and its arguments, integers big-endian:
//! 0 carrier up; 1 carrier down; 2 advance the clock by a u32 of ms, then tick;
//! 3 go to the next wakeup plus a u16 of ms, then tick; 4 tick at the same instant;
//! 5 a reply (u16 length, bytes) patched with the live xid and our MAC; 6 the same, as
//! is; 7 release; 8 a reply made here: kind, yiaddr, server id (4 bytes each except
//! kind), lease, T1, T2 (u32 s each), mask (4 bytes), flags (bit 0 lease, 1 T1, 2 T2,
//! 3 mask, 4 rapid commit, 5 router = server id), patched like 5.
//!
//! After each operation, what a broken client would get wrong: it never binds an
//! address that is not unicast, applies and removes leases in pairs (the lease it holds
//! is the one the system has), never holds a lease past its expiry once ticked, sends
//! nothing before the first carrier and at most one message per event, each a
//! well-formed request with our MAC and its live xid (released: to a unicast server),
//! its timers move forward (after a tick its next wakeup is in the future), its ticks
//! send no storm (no more than 4 messages in any second from timers), and every line
//! it logs is free of control characters.

#![no_main]

mod common;

use arbitrary::Unstructured;
use common::{assert_clean_line, is_unicast};
use libfuzzer_sys::fuzz_target;
use qinit::dhcp::client::{Action, Client, Destination, Event};
use qinit::dhcp::lease::Lease;
use qinit::dhcp::wire::ClientId;
use std::collections::VecDeque;
use std::time::Duration;

const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
const MAGIC: [u8; 4] = [99, 130, 83, 99];

#[derive(Debug)]
enum Op {
    CarrierUp,
    CarrierDown,
    Advance(u32),
    ToWakeup(u16),
    Tick,
    Reply(Vec<u8>),
    Packet(Vec<u8>),
    Release,
    Made(Vec<u8>),
}

fn be<const N: usize>(u: &mut Unstructured<'_>) -> Option<[u8; N]> {
    u.bytes(N).ok()?.try_into().ok()
}

fn op(u: &mut Unstructured<'_>) -> Option<Op> {
    // Unstructured gives zeros once the input runs out: stop there.
    let tag = *u.bytes(1).ok()?.first()?;
    Some(match tag % 9 {
        0 => Op::CarrierUp,
        1 => Op::CarrierDown,
        2 => Op::Advance(u32::from_be_bytes(be(u)?)),
        3 => Op::ToWakeup(u16::from_be_bytes(be(u)?)),
        4 => Op::Tick,
        5 | 6 => {
            let len = usize::from(u16::from_be_bytes(be(u)?));
            let bytes = u.bytes(len.min(u.len())).ok()?.to_vec();
            if tag % 9 == 5 {
                Op::Reply(bytes)
            } else {
                Op::Packet(bytes)
            }
        }
        7 => Op::Release,
        _ => Op::Made(made(u)?),
    })
}

/// A reply with the fields a client reads, as a server would build it.
fn made(u: &mut Unstructured<'_>) -> Option<Vec<u8>> {
    let [kind] = be(u)?;
    let yiaddr: [u8; 4] = be(u)?;
    let server: [u8; 4] = be(u)?;
    let lease: [u8; 4] = be(u)?;
    let t1: [u8; 4] = be(u)?;
    let t2: [u8; 4] = be(u)?;
    let mask: [u8; 4] = be(u)?;
    let [flags] = be(u)?;
    let mut b = vec![2, 1, 6, 0];
    b.resize(16, 0);
    b.extend_from_slice(&yiaddr);
    b.resize(236, 0);
    b.extend_from_slice(&MAGIC);
    b.extend_from_slice(&[53, 1, kind, 54, 4]);
    b.extend_from_slice(&server);
    for (bit, code, value) in [(0, 51, lease), (1, 58, t1), (2, 59, t2), (3, 1, mask)] {
        if flags & (1 << bit) != 0 {
            b.extend_from_slice(&[code, 4]);
            b.extend_from_slice(&value);
        }
    }
    if flags & 16 != 0 {
        b.extend_from_slice(&[80, 0]);
    }
    if flags & 32 != 0 {
        b.extend_from_slice(&[3, 4]);
        b.extend_from_slice(&server);
    }
    b.push(255);
    Some(b)
}

/// Puts the client's live xid and our MAC where a reply carries them.
fn patch(bytes: &mut [u8], xid: Option<u32>) {
    if let (Some(xid), Some(field)) = (xid, bytes.get_mut(4..8)) {
        field.copy_from_slice(&xid.to_be_bytes());
    }
    if let Some(field) = bytes.get_mut(28..34) {
        field.copy_from_slice(&MAC);
    }
}

/// What the system holds, as the client's actions made it.
struct World {
    applied: Option<Lease>,
    carrier_seen: bool,
    /// When timers sent their last messages, for the storm check.
    timer_sends: VecDeque<Duration>,
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let setup: u8 = u.arbitrary().unwrap_or(0);
    let id = ClientId {
        mac: MAC,
        hostname: (setup & 2 != 0).then(|| "fuzz".to_string()),
        rapid_commit: setup & 1 != 0,
    };
    let mut c = Client::new(id, 0x5eed ^ u64::from(setup));
    let mut now = Duration::from_secs(1);
    let mut world = World {
        applied: None,
        carrier_seen: false,
        timer_sends: VecDeque::new(),
    };
    while let Some(op) = op(&mut u) {
        let before = c.next_wakeup();
        let released = matches!(op, Op::Release);
        let (event_now, actions, timer) = match op {
            Op::CarrierUp => {
                world.carrier_seen = true;
                (now, c.handle(now, Event::CarrierUp), false)
            }
            Op::CarrierDown => (now, c.handle(now, Event::CarrierDown), false),
            Op::Advance(ms) => {
                now += Duration::from_millis(u64::from(ms));
                (now, c.handle(now, Event::Tick), true)
            }
            Op::ToWakeup(late) => {
                now = match c.next_wakeup() {
                    Some(w) => w.max(now) + Duration::from_millis(u64::from(late)),
                    None => now + Duration::from_secs(1),
                };
                (now, c.handle(now, Event::Tick), true)
            }
            Op::Tick => (now, c.handle(now, Event::Tick), true),
            Op::Reply(mut b) | Op::Made(mut b) => {
                patch(&mut b, c.current_xid());
                (now, c.handle(now, Event::Packet(&b)), false)
            }
            Op::Packet(b) => (now, c.handle(now, Event::Packet(&b)), false),
            Op::Release => (now, c.release(now), false),
        };
        check(&c, &mut world, event_now, &actions, released, timer, before);
    }
});

fn check(
    c: &Client,
    world: &mut World,
    now: Duration,
    actions: &[Action],
    released: bool,
    timer: bool,
    before: Option<Duration>,
) {
    let sends = actions
        .iter()
        .filter(|a| matches!(a, Action::Send { .. }))
        .count();
    assert!(sends <= 1, "{sends} messages for one event: {actions:?}");
    for a in actions {
        match a {
            Action::Send { bytes, to } => {
                assert!(world.carrier_seen, "sent before any carrier: {actions:?}");
                assert!(bytes.len() >= 300, "a request of {} bytes", bytes.len());
                // The fixed header, read in place (wire.rs's unit tests decode whole ones).
                assert_eq!(bytes.get(..3), Some(&[1u8, 1, 6][..]), "not a BOOTREQUEST");
                assert_eq!(bytes.get(28..34), Some(&MAC[..]), "chaddr is not ours");
                assert_eq!(bytes.get(236..240), Some(&MAGIC[..]), "no magic cookie");
                if !released {
                    let xid = bytes
                        .get(4..8)
                        .map(|x| u32::from_be_bytes(x.try_into().unwrap()));
                    assert_eq!(xid, c.current_xid(), "sent with a stale xid");
                }
                if let Destination::Unicast(a) = to {
                    assert!(is_unicast(*a), "unicast to {a}");
                }
                if timer {
                    world.timer_sends.push_back(now);
                    if world.timer_sends.len() > 4
                        && let Some(first) = world.timer_sends.pop_front()
                    {
                        assert!(
                            now.saturating_sub(first) >= Duration::from_secs(1),
                            "5 timer sends within a second: {:?}",
                            world.timer_sends
                        );
                    }
                }
            }
            Action::Apply(l) => {
                assert!(!timer, "a lease applied on a tick");
                assert!(is_unicast(l.address), "bound {}", l.address);
                assert!(l.prefix_len <= 32);
                if let Some(old) = &world.applied {
                    assert_eq!(
                        old.address, l.address,
                        "applied {} over {} without removing it",
                        l.address, old.address
                    );
                }
                world.applied = Some(l.clone());
            }
            Action::Remove(l) => {
                assert_eq!(
                    world.applied.as_ref().map(|a| a.address),
                    Some(l.address),
                    "removed a lease that is not applied"
                );
                world.applied = None;
            }
            Action::Note(line) => assert_clean_line("note", line),
        }
    }
    assert_eq!(
        c.lease().map(|l| l.address),
        world.applied.as_ref().map(|l| l.address),
        "the client's lease is not the one applied (state {})",
        c.state_name()
    );
    assert_eq!(c.why_no_lease().is_some(), c.lease().is_none());
    if let Some(why) = c.why_no_lease() {
        assert_clean_line("why no lease", &why);
    }
    let after = c.next_wakeup();
    // A tick (or a carrier that starts DISCOVER, or a release) leaves the next deadline
    // in the future; another event may leave one that was already due as it was. An ACK
    // may leave its renewal already due: the lease counts from when the REQUEST went out
    // (RFC 2131 4.4.5), and that can be longer ago than T1 (a renewal retransmitted only
    // days later, for a long lease); the next tick must then move it on.
    let moved = after.is_none_or(|w| w > now);
    let bound = actions.iter().any(|a| matches!(a, Action::Apply(_)));
    assert!(
        moved
            || (!timer && !released && after == before && before.is_some_and(|b| b <= now))
            || (bound && !timer),
        "next wakeup {after:?} not after now {now:?} (was {before:?}) in state {}",
        c.state_name()
    );
    if timer && let Some(end) = c.expires_at() {
        assert!(end > now, "lease held past its expiry {end:?} at {now:?}");
    }
}
