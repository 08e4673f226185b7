//! The DHCP client as a sans-IO state machine (RFC 2131 4.4): fed with the time and an
//! event, it returns actions. No socket, no clock, no sleep in here; the event loop does
//! the I/O and asks `next_wakeup()` when to call again.

use super::lease::{Lease, from_ack};
use super::wire::{ClientId, Request, build, parse_reply};
use crate::clock::Uptime;
use dhcproto::v4::MessageType;
use std::net::Ipv4Addr;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Broadcast,
    Unicast(Ipv4Addr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send {
        bytes: Vec<u8>,
        to: Destination,
    },
    /// Configure this lease (a first one, or a renewed or changed one).
    Apply(Lease),
    /// Remove this lease's address and routes.
    Remove(Lease),
    /// A line for the debug log: why a packet was dropped, what changed.
    Note(String),
}

#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    CarrierUp,
    CarrierDown,
    Packet(&'a [u8]),
    /// A timer may be due: called at or after `next_wakeup()`.
    Tick,
}

/// A transaction being retransmitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Exchange {
    xid: u32,
    started: Uptime,
    retry_at: Uptime,
    attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// No carrier yet (or lost with no lease): nothing to send.
    Init,
    /// After a NAK: wait, then DISCOVER.
    Backoff {
        until: Uptime,
    },
    Selecting(Exchange),
    Requesting {
        ex: Exchange,
        address: Ipv4Addr,
        server: Ipv4Addr,
    },
    Bound {
        lease: Lease,
        bound_at: Uptime,
    },
    Renewing {
        lease: Lease,
        bound_at: Uptime,
        ex: Exchange,
    },
    Rebinding {
        lease: Lease,
        bound_at: Uptime,
        ex: Exchange,
    },
    /// INIT-REBOOT: carrier came back while we held a lease.
    Rebooting {
        lease: Lease,
        bound_at: Uptime,
        ex: Exchange,
    },
}

pub struct Client {
    id: ClientId,
    state: State,
    rng: u64,
    carrier: bool,
    naks: u32,
    /// Requests sent since the last lease, for `why_no_lease`.
    sent: u32,
    /// The last reply refused and why (wrong xid, bad ACK, ...).
    last_refusal: Option<String>,
}

/// RFC 2131 4.1: 4, 8, 16, 32, 64 s, each +-1 s. The first wait is one second: a server
/// on the link answers in milliseconds, and the first reply after carrier is often lost
/// (qemu's e1000 refuses receive for 1 s after each RCTL write, which the kernel makes
/// when IPv6 joins its multicast groups on carrier).
fn retransmit_delay(attempt: u32) -> Duration {
    match attempt {
        0 => Duration::from_secs(1),
        n => Duration::from_secs(2u64 << n.min(5)).min(Duration::from_secs(64)),
    }
}

impl Client {
    pub fn new(id: ClientId, seed: u64) -> Self {
        Client {
            id,
            state: State::Init,
            rng: seed | 1,
            carrier: false,
            naks: 0,
            sent: 0,
            last_refusal: None,
        }
    }

    pub fn lease(&self) -> Option<&Lease> {
        match &self.state {
            State::Bound { lease, .. }
            | State::Renewing { lease, .. }
            | State::Rebinding { lease, .. }
            | State::Rebooting { lease, .. } => Some(lease),
            _ => None,
        }
    }

    /// Why there is no lease, in words for the console and `qinit status`.
    pub fn why_no_lease(&self) -> Option<String> {
        if self.lease().is_some() {
            return None;
        }
        Some(if !self.carrier {
            "no carrier on the link".to_string()
        } else if self.naks > 0 {
            format!(
                "the server refused our request (NAK) {} time(s) in a row",
                self.naks
            )
        } else if let Some(r) = &self.last_refusal {
            r.clone()
        } else {
            format!("no answer to {} request(s)", self.sent)
        })
    }

    /// Before an address is bound, replies are read from a packet socket (see `raw`).
    pub fn wants_raw(&self) -> bool {
        matches!(
            self.state,
            State::Init
                | State::Backoff { .. }
                | State::Selecting(_)
                | State::Requesting { .. }
                | State::Rebooting { .. }
        )
    }

    pub fn state_name(&self) -> &'static str {
        state_label(&self.state)
    }

    /// When the lease ends, if we hold one (None also for an infinite lease).
    pub fn expires_at(&self) -> Option<Uptime> {
        match &self.state {
            State::Bound { lease, bound_at }
            | State::Renewing {
                lease, bound_at, ..
            }
            | State::Rebinding {
                lease, bound_at, ..
            }
            | State::Rebooting {
                lease, bound_at, ..
            } => lease.lease_time.map(|l| *bound_at + l),
            _ => None,
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64: jitter and xids need no cryptographic quality.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// +-1 s, or 0 to +100 ms on the short first wait.
    fn jitter(&mut self, d: Duration) -> Duration {
        let ms = if d <= Duration::from_secs(1) {
            i64::try_from(self.random() % 101).unwrap_or(0)
        } else {
            i64::try_from(self.random() % 2001).unwrap_or(1000) - 1000
        };
        let base = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Duration::from_millis(u64::try_from((base + ms).max(500)).unwrap_or(500))
    }

    fn new_exchange(&mut self, now: Uptime) -> Exchange {
        let xid = u32::try_from(self.random() >> 32).unwrap_or(0);
        Exchange {
            xid,
            started: now,
            retry_at: now,
            attempt: 0,
        }
    }

    pub fn next_wakeup(&self) -> Option<Uptime> {
        match &self.state {
            State::Init => None,
            State::Backoff { until } => Some(*until),
            State::Selecting(ex) | State::Requesting { ex, .. } => Some(ex.retry_at),
            // Retransmissions stop at the lease's end.
            State::Rebooting {
                ex,
                lease,
                bound_at,
            } => Some(
                lease
                    .lease_time
                    .map_or(ex.retry_at, |l| ex.retry_at.min(*bound_at + l)),
            ),
            State::Bound { lease, bound_at } => lease.t1.map(|t1| *bound_at + t1),
            State::Renewing { ex, .. } | State::Rebinding { ex, .. } => Some(ex.retry_at),
        }
    }

    pub fn handle(&mut self, now: Uptime, event: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        match event {
            Event::CarrierUp => self.carrier_up(now, &mut out),
            Event::CarrierDown => {
                self.carrier = false;
                // Without a lease there is nothing to keep; with one, its timers run on
                // and INIT-REBOOT checks it when the carrier returns.
                if self.lease().is_none() {
                    self.state = State::Init;
                }
            }
            Event::Packet(bytes) => self.packet(now, bytes, &mut out),
            Event::Tick => self.tick(now, &mut out),
        }
        out
    }

    fn carrier_up(&mut self, now: Uptime, out: &mut Vec<Action>) {
        let was = self.carrier;
        self.carrier = true;
        match std::mem::replace(&mut self.state, State::Init) {
            State::Init => {
                self.state = State::Selecting(self.new_exchange(now));
                self.tick(now, out);
            }
            State::Bound { lease, bound_at }
            | State::Renewing {
                lease, bound_at, ..
            }
            | State::Rebinding {
                lease, bound_at, ..
            } if !was => {
                let ex = self.new_exchange(now);
                self.state = State::Rebooting {
                    lease,
                    bound_at,
                    ex,
                };
                self.tick(now, out);
            }
            other => self.state = other,
        }
    }

    fn send(
        &mut self,
        req: Request,
        ex: &Exchange,
        now: Uptime,
        to: Destination,
        out: &mut Vec<Action>,
    ) {
        let secs = u16::try_from(now.saturating_sub(ex.started).as_secs()).unwrap_or(u16::MAX);
        match build(req, ex.xid, secs, &self.id) {
            Ok(bytes) => {
                self.sent = self.sent.saturating_add(1);
                out.push(Action::Send { bytes, to })
            }
            Err(e) => out.push(Action::Note(e)),
        }
    }

    fn tick(&mut self, now: Uptime, out: &mut Vec<Action>) {
        let state = std::mem::replace(&mut self.state, State::Init);
        self.state = match state {
            State::Backoff { until } if now >= until => {
                let ex = self.new_exchange(now);
                return {
                    self.state = State::Selecting(ex);
                    self.tick(now, out)
                };
            }
            State::Selecting(mut ex) if now >= ex.retry_at => {
                self.send(Request::Discover, &ex, now, Destination::Broadcast, out);
                ex.retry_at = now + self.jitter(retransmit_delay(ex.attempt));
                ex.attempt += 1;
                State::Selecting(ex)
            }
            State::Requesting {
                mut ex,
                address,
                server,
            } if now >= ex.retry_at => {
                if ex.attempt >= 4 {
                    out.push(Action::Note(format!(
                        "no ACK from {server}: back to DISCOVER"
                    )));
                    State::Selecting(self.restart(now, out))
                } else {
                    let req = Request::Select {
                        requested: address,
                        server,
                    };
                    self.send(req, &ex, now, Destination::Broadcast, out);
                    ex.retry_at = now + self.jitter(retransmit_delay(ex.attempt));
                    ex.attempt += 1;
                    State::Requesting {
                        ex,
                        address,
                        server,
                    }
                }
            }
            State::Rebooting {
                lease,
                bound_at,
                mut ex,
            } if now >= ex.retry_at || lease_ended(&lease, bound_at, now) => {
                if ex.attempt >= 3 || lease_ended(&lease, bound_at, now) {
                    // No answer: the lease is still ours until it expires (RFC 2131 3.2),
                    // on its own timers, which may have passed while the carrier was down.
                    self.lease_timers(now, lease, bound_at, None, out)
                } else {
                    let req = Request::Reboot {
                        requested: lease.address,
                    };
                    self.send(req, &ex, now, Destination::Broadcast, out);
                    ex.retry_at = now + self.jitter(retransmit_delay(ex.attempt));
                    ex.attempt += 1;
                    State::Rebooting {
                        lease,
                        bound_at,
                        ex,
                    }
                }
            }
            State::Bound { lease, bound_at } => self.lease_timers(now, lease, bound_at, None, out),
            State::Renewing {
                lease,
                bound_at,
                ex,
            } => self.lease_timers(now, lease, bound_at, Some((false, ex)), out),
            State::Rebinding {
                lease,
                bound_at,
                ex,
            } => self.lease_timers(now, lease, bound_at, Some((true, ex)), out),
            other => other,
        };
    }

    /// Bound, renewing and rebinding are one timeline: T1, T2, expiry (RFC 2131 4.4.5).
    fn lease_timers(
        &mut self,
        now: Uptime,
        lease: Lease,
        bound_at: Uptime,
        ex: Option<(bool, Exchange)>,
        out: &mut Vec<Action>,
    ) -> State {
        let (Some(len), Some(t1), Some(t2)) = (lease.lease_time, lease.t1, lease.t2) else {
            return State::Bound { lease, bound_at };
        };
        let (t1, t2, end) = (bound_at + t1, bound_at + t2, bound_at + len);
        if now >= end {
            out.push(Action::Note(format!("lease on {} expired", lease.address)));
            out.push(Action::Remove(lease));
            return State::Selecting(self.restart(now, out));
        }
        let rebinding = now >= t2;
        if now < t1 {
            return State::Bound { lease, bound_at };
        }
        let mut ex = match ex {
            // Entering rebinding starts a new exchange, sent at once.
            Some((was_rebinding, ex)) if was_rebinding == rebinding => ex,
            _ => self.new_exchange(now),
        };
        if now >= ex.retry_at {
            let (to, limit) = if rebinding {
                (Destination::Broadcast, end)
            } else {
                (Destination::Unicast(lease.server), t2)
            };
            self.send(
                Request::Renew {
                    ciaddr: lease.address,
                },
                &ex,
                now,
                to,
                out,
            );
            // RFC 2131 4.4.5: half the time left, at least 60 s, never past the limit.
            let wait = (limit.saturating_sub(now) / 2).max(Duration::from_secs(60));
            ex.retry_at = (now + wait).min(limit);
            ex.attempt += 1;
        }
        if rebinding {
            State::Rebinding {
                lease,
                bound_at,
                ex,
            }
        } else {
            State::Renewing {
                lease,
                bound_at,
                ex,
            }
        }
    }

    fn restart(&mut self, now: Uptime, out: &mut Vec<Action>) -> Exchange {
        let mut ex = self.new_exchange(now);
        self.send(Request::Discover, &ex, now, Destination::Broadcast, out);
        ex.retry_at = now + self.jitter(retransmit_delay(0));
        ex.attempt = 1;
        ex
    }

    /// At shutdown: DHCPRELEASE unicast to the server, then the lease's removal (RFC 2131
    /// 4.4.6). The client is left in INIT.
    pub fn release(&mut self, now: Uptime) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(lease) = lease_in(std::mem::replace(&mut self.state, State::Init)) {
            let ex = self.new_exchange(now);
            let req = Request::Release {
                ciaddr: lease.address,
                server: lease.server,
            };
            self.send(req, &ex, now, Destination::Unicast(lease.server), &mut out);
            out.push(Action::Remove(lease));
        }
        out
    }

    /// The xid a reply must carry now: the running exchange's, if there is one.
    pub fn current_xid(&self) -> Option<u32> {
        match &self.state {
            State::Selecting(ex)
            | State::Requesting { ex, .. }
            | State::Renewing { ex, .. }
            | State::Rebinding { ex, .. }
            | State::Rebooting { ex, .. } => Some(ex.xid),
            _ => None,
        }
    }

    fn packet(&mut self, now: Uptime, bytes: &[u8], out: &mut Vec<Action>) {
        let Some(xid) = self.current_xid() else {
            return;
        };
        let reply = match parse_reply(bytes, xid, &self.id.mac) {
            Ok(r) => r,
            Err(why) => {
                out.push(Action::Note(format!("dropped a reply: {why}")));
                self.last_refusal = Some(format!("a reply was refused: {why}"));
                return;
            }
        };
        let state = std::mem::replace(&mut self.state, State::Init);
        self.state = match (state, reply.kind) {
            // RFC 4039: an ACK while selecting only when we asked and it says rapid commit.
            (State::Selecting(ex), MessageType::Ack)
                if self.id.rapid_commit && reply.opts.rapid_commit =>
            {
                match from_ack(&reply) {
                    Ok(lease) => {
                        out.push(Action::Note(format!("rapid commit from {}", reply.server)));
                        self.bind(now, lease, out)
                    }
                    Err(e) => {
                        out.push(Action::Note(format!("unusable ACK: {e}")));
                        self.last_refusal = Some(format!("an ACK was refused: {e}"));
                        State::Selecting(ex)
                    }
                }
            }
            (State::Selecting(ex), MessageType::Offer) => {
                out.push(Action::Note(format!(
                    "offer of {} from {}",
                    reply.yiaddr, reply.server
                )));
                let mut ex = Exchange {
                    retry_at: now,
                    attempt: 0,
                    ..ex
                };
                let req = Request::Select {
                    requested: reply.yiaddr,
                    server: reply.server,
                };
                self.send(req, &ex, now, Destination::Broadcast, out);
                ex.retry_at = now + self.jitter(retransmit_delay(0));
                ex.attempt = 1;
                State::Requesting {
                    ex,
                    address: reply.yiaddr,
                    server: reply.server,
                }
            }
            (
                State::Requesting {
                    ex,
                    address,
                    server,
                },
                kind,
            ) if reply.server != server => {
                out.push(Action::Note(format!(
                    "{kind:?} from {}, not the chosen server",
                    reply.server
                )));
                State::Requesting {
                    ex,
                    address,
                    server,
                }
            }
            (
                State::Requesting {
                    ex,
                    address,
                    server,
                },
                MessageType::Ack,
            ) => match from_ack(&reply) {
                Ok(lease) => self.bind(now, lease, out),
                Err(e) => {
                    out.push(Action::Note(format!("unusable ACK: {e}")));
                    self.last_refusal = Some(format!("an ACK was refused: {e}"));
                    State::Requesting {
                        ex,
                        address,
                        server,
                    }
                }
            },
            (
                st @ (State::Renewing { .. } | State::Rebinding { .. } | State::Rebooting { .. }),
                MessageType::Ack,
            ) => match from_ack(&reply) {
                Ok(new) => {
                    if let Some(old) = lease_in(st)
                        && new.address != old.address
                    {
                        out.push(Action::Remove(old));
                    }
                    self.bind(now, new, out)
                }
                Err(e) => {
                    // An unusable ACK changes nothing: the state and its timers stay.
                    out.push(Action::Note(format!("unusable ACK: {e}")));
                    self.last_refusal = Some(format!("an ACK was refused: {e}"));
                    st
                }
            },
            (
                st @ (State::Requesting { .. }
                | State::Renewing { .. }
                | State::Rebinding { .. }
                | State::Rebooting { .. }),
                MessageType::Nak,
            ) => {
                if let Some(l) = lease_in(st) {
                    out.push(Action::Remove(l));
                }
                self.naks += 1;
                let wait =
                    Duration::from_secs(1u64 << self.naks.min(6)).min(Duration::from_secs(60));
                out.push(Action::Note(format!(
                    "NAK from {}: DISCOVER again in {} s",
                    reply.server,
                    wait.as_secs()
                )));
                State::Backoff { until: now + wait }
            }
            (state, kind) => {
                out.push(Action::Note(format!(
                    "ignored {kind:?} in state {}",
                    state_label(&state)
                )));
                state
            }
        };
    }

    fn bind(&mut self, now: Uptime, lease: Lease, out: &mut Vec<Action>) -> State {
        self.naks = 0;
        self.sent = 0;
        self.last_refusal = None;
        out.push(Action::Apply(lease.clone()));
        State::Bound {
            lease,
            bound_at: now,
        }
    }
}

/// Whether a lease bound at `bound_at` has run out at `now`.
fn lease_ended(lease: &Lease, bound_at: Uptime, now: Uptime) -> bool {
    lease.lease_time.is_some_and(|l| now >= bound_at + l)
}

fn lease_in(s: State) -> Option<Lease> {
    match s {
        State::Bound { lease, .. }
        | State::Renewing { lease, .. }
        | State::Rebinding { lease, .. }
        | State::Rebooting { lease, .. } => Some(lease),
        _ => None,
    }
}

fn state_label(s: &State) -> &'static str {
    match s {
        State::Init => "init",
        State::Backoff { .. } => "backoff",
        State::Selecting(_) => "selecting",
        State::Requesting { .. } => "requesting",
        State::Bound { .. } => "bound",
        State::Renewing { .. } => "renewing",
        State::Rebinding { .. } => "rebinding",
        State::Rebooting { .. } => "init-reboot",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::wire::tests::{MAC, reply};
    use dhcproto::v4::{DhcpOption, Message, OptionCode};
    use dhcproto::{Decodable, Decoder};

    const SEC: Duration = Duration::from_secs(1);

    fn client() -> Client {
        Client::new(
            ClientId {
                mac: MAC,
                hostname: None,
                rapid_commit: false,
            },
            42,
        )
    }

    fn sends(actions: &[Action]) -> Vec<(Message, Destination)> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send { bytes, to } => {
                    Some((Message::decode(&mut Decoder::new(bytes)).unwrap(), *to))
                }
                _ => None,
            })
            .collect()
    }

    fn only_send(actions: &[Action]) -> (Message, Destination) {
        let s = sends(actions);
        assert_eq!(s.len(), 1, "expected one message in {actions:?}");
        s.into_iter().next().unwrap()
    }

    /// A reply from 10.0.2.2 to the message `to`, with extra options (lease 86400 s).
    fn answer(to: &Message, kind: u8, extra: &[u8]) -> Vec<u8> {
        let mut b = reply(kind, [10, 0, 2, 15], extra);
        b[4..8].copy_from_slice(&to.xid().to_be_bytes());
        b
    }

    fn bound_client(extra: &[u8]) -> (Client, Uptime) {
        let mut c = client();
        let t0 = Duration::from_secs(10);
        let (d, _) = only_send(&c.handle(t0, Event::CarrierUp));
        let (r, _) = only_send(&c.handle(t0, Event::Packet(&answer(&d, 2, extra))));
        let acts = c.handle(t0, Event::Packet(&answer(&r, 5, extra)));
        assert!(
            acts.iter().any(|a| matches!(a, Action::Apply(_))),
            "{acts:?}"
        );
        assert_eq!(c.state_name(), "bound");
        (c, t0)
    }

    #[test]
    fn nothing_is_sent_before_carrier() {
        let mut c = client();
        assert!(c.handle(SEC, Event::Tick).is_empty());
        assert_eq!(c.next_wakeup(), None);
    }

    #[test]
    fn discovers_at_once_on_carrier_and_binds_on_ack() {
        let mut c = client();
        let t0 = Duration::from_secs(3);
        let (d, to) = only_send(&c.handle(t0, Event::CarrierUp));
        assert_eq!(d.opts().msg_type(), Some(MessageType::Discover));
        assert_eq!(to, Destination::Broadcast);
        let (r, _) = only_send(&c.handle(t0, Event::Packet(&answer(&d, 2, &[]))));
        assert_eq!(r.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(r.xid(), d.xid(), "REQUEST keeps the DISCOVER's xid");
        assert_eq!(
            r.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 2, 2)))
        );
        let acts = c.handle(t0, Event::Packet(&answer(&r, 5, &[])));
        let Some(Action::Apply(l)) = acts.iter().find(|a| matches!(a, Action::Apply(_))) else {
            panic!("no Apply in {acts:?}")
        };
        assert_eq!(l.address, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(c.next_wakeup(), Some(t0 + Duration::from_secs(43200)));
    }

    #[test]
    fn discover_retransmits_with_growing_jittered_intervals() {
        let mut c = client();
        let mut now = Duration::ZERO;
        c.handle(now, Event::CarrierUp);
        let mut waits = Vec::new();
        for _ in 0..7 {
            let next = c.next_wakeup().unwrap();
            waits.push(next - now);
            now = next;
            let (m, _) = only_send(&c.handle(now, Event::Tick));
            assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
            assert!(m.secs() >= 1);
        }
        assert!(
            waits[0] >= SEC && waits[0] <= Duration::from_millis(1100),
            "{waits:?}"
        );
        for (w, base) in waits[1..].iter().zip([4u64, 8, 16, 32, 64, 64]) {
            let base = Duration::from_secs(base);
            assert!(*w >= base - SEC && *w <= base + SEC, "{waits:?}");
        }
    }

    #[test]
    fn rapid_commit_binds_on_ack_only_when_asked() {
        let mut c = client();
        let (d, _) = only_send(&c.handle(SEC, Event::CarrierUp));
        assert!(d.opts().get(OptionCode::RapidCommit).is_none());
        // Not asked: an ACK with option 80 while selecting is ignored.
        let acts = c.handle(SEC, Event::Packet(&answer(&d, 5, &[80, 0])));
        assert!(!acts.iter().any(|a| matches!(a, Action::Apply(_))));
        assert_eq!(c.state_name(), "selecting");

        c.id.rapid_commit = true;
        let (d, _) = only_send(&c.handle(3 * SEC, Event::Tick));
        assert_eq!(
            d.opts().get(OptionCode::RapidCommit),
            Some(&DhcpOption::RapidCommit)
        );
        // Asked, but the ACK lacks option 80: ignored.
        let acts = c.handle(3 * SEC, Event::Packet(&answer(&d, 5, &[])));
        assert!(!acts.iter().any(|a| matches!(a, Action::Apply(_))));
        // An OFFER with option 80 is an ordinary offer.
        let acts = c.handle(3 * SEC, Event::Packet(&answer(&d, 2, &[80, 0])));
        let (r, _) = only_send(&acts);
        assert_eq!(r.opts().msg_type(), Some(MessageType::Request));
        // Start again and take a rapid ACK.
        let mut c = client();
        c.id.rapid_commit = true;
        let (d, _) = only_send(&c.handle(SEC, Event::CarrierUp));
        let acts = c.handle(SEC, Event::Packet(&answer(&d, 5, &[80, 0])));
        assert!(
            acts.iter().any(|a| matches!(a, Action::Apply(_))),
            "{acts:?}"
        );
        assert_eq!(c.state_name(), "bound");
    }

    #[test]
    fn says_why_there_is_no_lease() {
        let mut c = client();
        assert_eq!(c.why_no_lease().as_deref(), Some("no carrier on the link"));
        let (d, _) = only_send(&c.handle(SEC, Event::CarrierUp));
        c.handle(3 * SEC, Event::Tick);
        assert_eq!(
            c.why_no_lease().as_deref(),
            Some("no answer to 2 request(s)")
        );
        let mut bad = answer(&d, 2, &[]);
        bad[28] ^= 1;
        c.handle(3 * SEC, Event::Packet(&bad));
        assert!(
            c.why_no_lease().unwrap().contains("chaddr"),
            "{:?}",
            c.why_no_lease()
        );
        let (mut c, t0) = bound_client(&[]);
        assert_eq!(c.why_no_lease(), None);
        let (r, _) = only_send(&c.handle(t0 + Duration::from_secs(43200), Event::Tick));
        c.handle(
            t0 + Duration::from_secs(43200),
            Event::Packet(&answer(&r, 6, &[])),
        );
        assert!(c.why_no_lease().unwrap().contains("NAK"));
    }

    #[test]
    fn replies_with_another_xid_are_dropped() {
        let mut c = client();
        let (d, _) = only_send(&c.handle(SEC, Event::CarrierUp));
        let mut b = answer(&d, 2, &[]);
        b[4] ^= 0xff;
        let acts = c.handle(SEC, Event::Packet(&b));
        assert!(sends(&acts).is_empty());
        assert!(
            matches!(&acts[..], [Action::Note(n)] if n.contains("xid")),
            "{acts:?}"
        );
        assert_eq!(c.state_name(), "selecting");
    }

    #[test]
    fn renews_at_t1_unicast_and_rebinds_at_t2_broadcast() {
        // T1 100 s, T2 150 s (options 58, 59); the lease is 86400 s.
        let times = [58, 4, 0, 0, 0, 100, 59, 4, 0, 0, 0, 150];
        let (mut c, t0) = bound_client(&times);
        assert_eq!(c.next_wakeup(), Some(t0 + Duration::from_secs(100)));
        let (m, to) = only_send(&c.handle(t0 + Duration::from_secs(100), Event::Tick));
        assert_eq!(c.state_name(), "renewing");
        assert_eq!(m.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(to, Destination::Unicast(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(m.ciaddr(), Ipv4Addr::new(10, 0, 2, 15));
        assert!(m.opts().get(OptionCode::ServerIdentifier).is_none());
        assert!(m.opts().get(OptionCode::RequestedIpAddress).is_none());
        // RFC 2131 4.4.5: the next try is at T2 at the latest.
        assert!(c.next_wakeup().unwrap() <= t0 + Duration::from_secs(150));
        // The server does not answer: at T2 the client broadcasts.
        let t2 = t0 + Duration::from_secs(150);
        let (m, to) = only_send(&c.handle(t2, Event::Tick));
        assert_eq!(c.state_name(), "rebinding");
        assert_eq!(to, Destination::Broadcast);
        assert_eq!(m.ciaddr(), Ipv4Addr::new(10, 0, 2, 15));
        // An ACK while rebinding renews the lease from now.
        let now = t2 + SEC;
        let acts = c.handle(now, Event::Packet(&answer(&m, 5, &times)));
        assert!(
            acts.iter().any(|a| matches!(a, Action::Apply(_))),
            "{acts:?}"
        );
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Remove(_))),
            "same address: no removal"
        );
        assert_eq!(c.state_name(), "bound");
        assert_eq!(c.next_wakeup(), Some(now + Duration::from_secs(100)));
    }

    #[test]
    fn expiry_removes_the_lease_and_discovers_again() {
        let (mut c, t0) = bound_client(&[]);
        let end = t0 + Duration::from_secs(86400);
        let acts = c.handle(end, Event::Tick);
        assert!(
            acts.iter().any(|a| matches!(a, Action::Remove(_))),
            "{acts:?}"
        );
        let (m, _) = only_send(&acts);
        assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
        assert_eq!(c.state_name(), "selecting");
        assert!(c.lease().is_none());
    }

    #[test]
    fn nak_removes_lease_and_backs_off_before_discovering() {
        let (mut c, t0) = bound_client(&[]);
        let t1 = t0 + Duration::from_secs(43200);
        let (r, _) = only_send(&c.handle(t1, Event::Tick));
        let acts = c.handle(t1, Event::Packet(&answer(&r, 6, &[])));
        assert!(
            acts.iter().any(|a| matches!(a, Action::Remove(_))),
            "{acts:?}"
        );
        assert!(sends(&acts).is_empty());
        assert_eq!(c.state_name(), "backoff");
        let at = c.next_wakeup().unwrap();
        assert!(at > t1 && at <= t1 + Duration::from_secs(60));
        let (m, _) = only_send(&c.handle(at, Event::Tick));
        assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
    }

    #[test]
    fn carrier_back_sends_init_reboot_with_the_held_address() {
        let (mut c, t0) = bound_client(&[]);
        assert!(c.handle(t0 + SEC, Event::CarrierDown).is_empty());
        assert_eq!(c.state_name(), "bound");
        let (m, to) = only_send(&c.handle(t0 + 2 * SEC, Event::CarrierUp));
        assert_eq!(c.state_name(), "init-reboot");
        assert_eq!(to, Destination::Broadcast);
        assert_eq!(
            m.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 2, 15)))
        );
        let acts = c.handle(t0 + 2 * SEC, Event::Packet(&answer(&m, 5, &[])));
        assert!(acts.iter().any(|a| matches!(a, Action::Apply(_))));
        assert_eq!(c.state_name(), "bound");
    }

    // Found by the dhcp_client fuzz target: after unanswered INIT-REBOOTs the client
    // went back to BOUND with T1 already behind it, and kept a lease that had expired
    // while it retransmitted.
    #[test]
    fn unanswered_init_reboot_goes_on_with_the_lease_timers() {
        let (mut c, t0) = bound_client(&[]);
        c.handle(t0 + SEC, Event::CarrierDown);
        // Back after T1 (43200 s), before T2.
        let back = t0 + Duration::from_secs(50_000);
        only_send(&c.handle(back, Event::CarrierUp));
        let mut now = back;
        while c.state_name() == "init-reboot" {
            now = c.next_wakeup().unwrap();
            c.handle(now, Event::Tick);
        }
        assert_eq!(c.state_name(), "renewing");
        assert!(c.next_wakeup().unwrap() > now);
    }

    #[test]
    fn a_lease_that_ends_during_init_reboot_is_removed() {
        let (mut c, t0) = bound_client(&[]);
        c.handle(t0 + SEC, Event::CarrierDown);
        let end = t0 + Duration::from_secs(86_400);
        only_send(&c.handle(end - SEC / 2, Event::CarrierUp));
        assert_eq!(c.state_name(), "init-reboot");
        assert_eq!(c.next_wakeup(), Some(end));
        let acts = c.handle(end, Event::Tick);
        assert!(
            acts.iter().any(|a| matches!(a, Action::Remove(_))),
            "{acts:?}"
        );
        assert_eq!(c.lease(), None);
        assert_eq!(c.state_name(), "selecting");
    }

    #[test]
    fn an_unusable_ack_leaves_the_state_as_it_was() {
        let (mut c, t0) = bound_client(&[]);
        c.handle(t0 + SEC, Event::CarrierDown);
        let (m, _) = only_send(&c.handle(t0 + 2 * SEC, Event::CarrierUp));
        assert_eq!(c.state_name(), "init-reboot");
        let mut ack = answer(&m, 5, &[]);
        assert_eq!(&ack[267..269], &[51, 4]);
        ack[269..273].copy_from_slice(&[0, 0, 0, 0]); // lease time 0
        let acts = c.handle(t0 + 2 * SEC, Event::Packet(&ack));
        assert!(
            !acts
                .iter()
                .any(|a| matches!(a, Action::Apply(_) | Action::Remove(_)))
        );
        assert_eq!(c.state_name(), "init-reboot");
    }

    #[test]
    fn release_is_unicast_to_the_server_and_removes_the_lease() {
        let (mut c, t0) = bound_client(&[]);
        let acts = c.release(t0 + SEC);
        let (m, to) = only_send(&acts);
        assert_eq!(m.opts().msg_type(), Some(MessageType::Release));
        assert_eq!(to, Destination::Unicast(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(m.ciaddr(), Ipv4Addr::new(10, 0, 2, 15));
        assert!(acts.iter().any(|a| matches!(a, Action::Remove(_))));
        assert_eq!(c.state_name(), "init");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::dhcp::wire::tests::{MAC, reply};
    use proptest::prelude::*;

    fn valid_replies() -> Vec<Vec<u8>> {
        vec![
            reply(2, [10, 0, 2, 15], &[]),
            reply(
                5,
                [10, 0, 2, 15],
                &[12, 3, b'v', b'm', b'1', 58, 4, 0, 0, 0, 9],
            ),
            reply(6, [0, 0, 0, 0], &[]),
            reply(
                5,
                [10, 0, 2, 15],
                &[121, 5, 8, 10, 10, 0, 2, 52, 1, 3, 80, 0],
            ),
        ]
    }

    proptest! {
        /// Random bytes and mutated valid replies, fed in any state, never panic, and
        /// the client keeps answering with sane timers.
        #[test]
        fn no_packet_panics_the_client(
            events in proptest::collection::vec(
                (0usize..4, proptest::collection::vec((any::<u16>(), any::<u8>()), 0..12), 0usize..400, any::<bool>()),
                1..40,
            ),
            random in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut c = Client::new(ClientId { mac: MAC, hostname: Some("h".into()), rapid_commit: true }, 7);
            let mut now = Duration::from_secs(1);
            c.handle(now, Event::CarrierUp);
            let _ = c.handle(now, Event::Packet(&random));
            let base = valid_replies();
            for (which, edits, cut, tick) in events {
                let mut p = base[which].clone();
                // Use the client's current xid half of the time, so replies get deep.
                if let Some(xid) = c.current_xid() {
                    p[4..8].copy_from_slice(&xid.to_be_bytes());
                }
                for (at, v) in edits {
                    let i = usize::from(at) % p.len();
                    p[i] = v;
                }
                p.truncate(cut.max(1).min(p.len()));
                let _ = c.handle(now, Event::Packet(&p));
                if tick {
                    now = c.next_wakeup().unwrap_or(now + Duration::from_secs(1)).max(now);
                    let _ = c.handle(now, Event::Tick);
                }
                if let Some(w) = c.next_wakeup() {
                    prop_assert!(w + Duration::from_secs(1) >= now, "a timer in the past");
                }
            }
        }
    }
}
