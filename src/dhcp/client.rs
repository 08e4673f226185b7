//! The DHCP client as a sans-IO state machine (RFC 2131 4.4): fed with the time and an
//! event, it returns actions. No socket, no clock, no sleep in here; the event loop does
//! the I/O and asks `next_wakeup()` when to call again.

use super::lease::{Lease, from_ack_fuzzed};
use super::wire::{ClientId, Reply, Request, addressed_to, build, parse_reply};
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
    /// When the last message of the exchange went out: a lease counts from there
    /// (RFC 2131 4.4.5).
    sent_at: Uptime,
    /// The `secs` of the last message sent.
    secs: u16,
    /// Send `secs` as it is: a REQUEST repeats its DISCOVER's (RFC 2131 4.4.1).
    keep_secs: bool,
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
    /// The last reply to us that was refused, and why (bad ACK, no server id, ...).
    /// Replies to other clients leave it alone.
    last_refusal: Option<(&'static str, String)>,
    /// Whether to build `Action::Note`s (the debug log); off, a dropped packet costs no
    /// formatting.
    notes: bool,
    /// Bumped by every event that may have changed what the client shows; a reply to
    /// another client does not.
    changes: u64,
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

/// The first wait for an ACK. The server has just offered, so it is alive and the link
/// works: a REQUEST is rarely lost, and a busy server (many clients at once) is better
/// given 2 to 3 s than a second copy after one.
const REQUEST_FIRST_WAIT: Duration = Duration::from_secs(2);

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
            notes: true,
            changes: 0,
        }
    }

    /// Whether to build debug notes (on by default).
    pub fn set_notes(&mut self, on: bool) {
        self.notes = on;
    }

    /// A number that changes whenever the state, the lease or `why_no_lease` may have:
    /// the caller rewrites what it shows only then.
    pub fn changes(&self) -> u64 {
        self.changes
    }

    fn note(&self, out: &mut Vec<Action>, line: impl FnOnce() -> String) {
        if self.notes {
            out.push(Action::Note(line()));
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
        } else if let Some((what, why)) = &self.last_refusal {
            format!("{what}: {why}")
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

    /// Whether an exchange with a server is under way: looking for a lease, asking for
    /// one, or renewing or confirming the one held (any state but init, backoff and bound).
    pub fn in_exchange(&self) -> bool {
        matches!(
            self.state,
            State::Selecting(_)
                | State::Requesting { .. }
                | State::Rebooting { .. }
                | State::Renewing { .. }
                | State::Rebinding { .. }
        )
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
            } => lease.lease_time.and_then(|l| bound_at.checked_add(l)),
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

    /// `REQUEST_FIRST_WAIT` plus 0 to 1 s.
    fn request_first_wait(&mut self) -> Duration {
        REQUEST_FIRST_WAIT + Duration::from_millis(self.random() % 1001)
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
            sent_at: now,
            secs: 0,
            keep_secs: false,
        }
    }

    pub fn next_wakeup(&self) -> Option<Uptime> {
        match &self.state {
            State::Init => None,
            State::Backoff { until } => Some(*until),
            State::Selecting(ex) | State::Requesting { ex, .. } => Some(ex.retry_at),
            // INIT-REBOOT retries only while the lease lasts.
            State::Rebooting { ex, .. } => Some(
                self.expires_at()
                    .map_or(ex.retry_at, |end| end.min(ex.retry_at)),
            ),
            State::Bound { lease, bound_at } => lease.t1.map(|t1| *bound_at + t1),
            State::Renewing { ex, .. } | State::Rebinding { ex, .. } => Some(ex.retry_at),
        }
    }

    pub fn handle(&mut self, now: Uptime, event: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        if !matches!(event, Event::Packet(_)) {
            self.changes = self.changes.wrapping_add(1);
        }
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
            Event::Packet(bytes) => {
                if self.packet(now, bytes, &mut out) {
                    self.changes = self.changes.wrapping_add(1);
                }
            }
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
                // A lease that ran out while the link was down is not asked for again.
                if ended(&lease, bound_at, now) {
                    self.state = self.expire(now, lease, out);
                    return;
                }
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
        ex: &mut Exchange,
        now: Uptime,
        to: Destination,
        out: &mut Vec<Action>,
    ) {
        let secs = if ex.keep_secs {
            ex.secs
        } else {
            u16::try_from(now.saturating_sub(ex.started).as_secs()).unwrap_or(u16::MAX)
        };
        match build(req, ex.xid, secs, &self.id) {
            Ok(bytes) => {
                self.sent = self.sent.saturating_add(1);
                ex.sent_at = now;
                ex.secs = secs;
                out.push(Action::Send { bytes, to })
            }
            Err(e) => out.push(Action::Note(e)),
        }
    }

    /// The lease has run out: remove it and look for another (once there is a carrier).
    fn expire(&mut self, now: Uptime, lease: Lease, out: &mut Vec<Action>) -> State {
        out.push(Action::Note(format!("lease on {} expired", lease.address)));
        out.push(Action::Remove(lease));
        if self.carrier {
            State::Selecting(self.restart(now, out))
        } else {
            State::Init
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
                self.send(Request::Discover, &mut ex, now, Destination::Broadcast, out);
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
                    self.send(req, &mut ex, now, Destination::Broadcast, out);
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
            } if now >= ex.retry_at || ended(&lease, bound_at, now) => {
                if ex.attempt >= 3 || ended(&lease, bound_at, now) {
                    // No answer: the lease is still ours until it expires (RFC 2131 3.2),
                    // on its own timers, which may have passed while the carrier was down.
                    self.lease_timers(now, lease, bound_at, None, out)
                } else {
                    let req = Request::Reboot {
                        requested: lease.address,
                    };
                    self.send(req, &mut ex, now, Destination::Broadcast, out);
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
            return self.expire(now, lease, out);
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
                &mut ex,
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
        self.send(Request::Discover, &mut ex, now, Destination::Broadcast, out);
        ex.retry_at = now + self.jitter(retransmit_delay(0));
        ex.attempt = 1;
        ex
    }

    /// At shutdown: DHCPRELEASE unicast to the server, then the lease's removal (RFC 2131
    /// 4.4.6). The client is left in INIT.
    pub fn release(&mut self, now: Uptime) -> Vec<Action> {
        let mut out = Vec::new();
        self.changes = self.changes.wrapping_add(1);
        if let Some(lease) = lease_in(std::mem::replace(&mut self.state, State::Init)) {
            let mut ex = self.new_exchange(now);
            let req = Request::Release {
                ciaddr: lease.address,
                server: lease.server,
            };
            self.send(
                req,
                &mut ex,
                now,
                Destination::Unicast(lease.server),
                &mut out,
            );
            out.push(Action::Remove(lease));
        }
        out
    }

    /// Another host uses the leased `address` (RFC 5227 found it): the address is
    /// removed, a DHCPDECLINE is broadcast from 0.0.0.0 (RFC 2131 4.4.1), and DISCOVER
    /// starts again after `wait` (at least ten seconds, RFC 2131 3.1). Nothing happens
    /// if the lease held is no longer for `address`.
    pub fn decline(&mut self, now: Uptime, address: Ipv4Addr, wait: Duration) -> Vec<Action> {
        let mut out = Vec::new();
        if self.lease().is_none_or(|l| l.address != address) {
            return out;
        }
        if let Some(lease) = lease_in(std::mem::replace(&mut self.state, State::Init)) {
            let server = lease.server;
            out.push(Action::Remove(lease));
            let mut ex = self.new_exchange(now);
            let req = Request::Decline {
                requested: address,
                server,
            };
            self.send(req, &mut ex, now, Destination::Broadcast, &mut out);
            self.refused(
                "the address was declined",
                format!("{address} was in use by another host"),
            );
            self.state = State::Backoff { until: now + wait };
            self.changes = self.changes.wrapping_add(1);
        }
        out
    }

    /// The xid of the exchange under way, whose replies are awaited; None: none is.
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

    /// Returns false for a datagram that was not a reply to us at all: that changes
    /// nothing, not even `why_no_lease`.
    fn packet(&mut self, now: Uptime, bytes: &[u8], out: &mut Vec<Action>) -> bool {
        let Some(xid) = self.current_xid() else {
            return false;
        };
        // Replies to other clients, the bulk of any flood, go first and cheaply.
        if let Err(why) = addressed_to(bytes, xid, &self.id.mac) {
            self.note(out, || format!("dropped a reply to another client: {why}"));
            return false;
        }
        let reply = match parse_reply(bytes, xid, &self.id.mac) {
            Ok(r) => r,
            Err(why) => {
                self.note(out, || format!("dropped a reply: {why}"));
                self.last_refusal = Some(("a reply was refused", why));
                return true;
            }
        };
        let state = std::mem::replace(&mut self.state, State::Init);
        self.state = match (state, reply.kind) {
            // RFC 4039: an ACK while selecting only when we asked and it says rapid commit.
            (State::Selecting(ex), MessageType::Ack)
                if self.id.rapid_commit && reply.opts.rapid_commit =>
            {
                match self.lease_from(&reply, out) {
                    Some(lease) => {
                        out.push(Action::Note(format!("rapid commit from {}", reply.server)));
                        self.bind(ex.sent_at, lease, out)
                    }
                    None => State::Selecting(ex),
                }
            }
            (State::Selecting(ex), MessageType::Offer) => {
                out.push(Action::Note(format!(
                    "offer of {} from {}",
                    reply.yiaddr, reply.server
                )));
                // Same xid, and the same `secs` as the DISCOVER (RFC 2131 4.4.1).
                let mut ex = Exchange {
                    retry_at: now,
                    attempt: 0,
                    keep_secs: true,
                    ..ex
                };
                let req = Request::Select {
                    requested: reply.yiaddr,
                    server: reply.server,
                };
                self.send(req, &mut ex, now, Destination::Broadcast, out);
                ex.retry_at = now + self.request_first_wait();
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
            ) if reply.server != server
                || (kind == MessageType::Ack && reply.yiaddr != address) =>
            {
                self.note(out, || {
                    format!(
                        "{kind:?} of {} from {}: we asked {server} for {address}",
                        reply.yiaddr, reply.server
                    )
                });
                if reply.server == server {
                    self.refused(
                        "an ACK was refused",
                        format!(
                            "{server} acknowledged {}, not the {address} we asked for",
                            reply.yiaddr
                        ),
                    );
                }
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
            ) => match self.lease_from(&reply, out) {
                Some(lease) => self.bind(ex.sent_at, lease, out),
                None => State::Requesting {
                    ex,
                    address,
                    server,
                },
            },
            (
                st @ (State::Renewing { .. } | State::Rebinding { .. } | State::Rebooting { .. }),
                MessageType::Ack,
            ) => match self.lease_from(&reply, out) {
                Some(new) => {
                    let sent_at = match &st {
                        State::Renewing { ex, .. }
                        | State::Rebinding { ex, .. }
                        | State::Rebooting { ex, .. } => ex.sent_at,
                        _ => now,
                    };
                    if let Some(old) = lease_in(st)
                        && new.address != old.address
                    {
                        out.push(Action::Remove(old));
                    }
                    self.bind(sent_at, new, out)
                }
                // An unusable ACK changes nothing: the state and its timers stay.
                None => st,
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
                self.note(out, || {
                    format!("ignored {kind:?} in state {}", state_label(&state))
                });
                state
            }
        };
        true
    }

    /// Records why a reply to us was refused.
    fn refused(&mut self, what: &'static str, why: String) {
        self.last_refusal = Some((what, why));
    }

    /// The lease an ACK grants, with fuzzed T1 and T2; None (and a note) if unusable.
    fn lease_from(&mut self, reply: &Reply, out: &mut Vec<Action>) -> Option<Lease> {
        let fuzz = self.random();
        match from_ack_fuzzed(reply, Some(fuzz)) {
            Ok(lease) => Some(lease),
            Err(e) => {
                out.push(Action::Note(format!("unusable ACK: {e}")));
                self.refused("an ACK was refused", e);
                None
            }
        }
    }

    /// `sent_at`: when the REQUEST that got this ACK went out, where the lease starts
    /// (RFC 2131 4.4.5), not when the ACK came.
    fn bind(&mut self, sent_at: Uptime, lease: Lease, out: &mut Vec<Action>) -> State {
        self.naks = 0;
        self.sent = 0;
        self.last_refusal = None;
        out.push(Action::Apply(lease.clone()));
        State::Bound {
            lease,
            bound_at: sent_at,
        }
    }
}

/// Whether a lease bound at `bound_at` has run out at `now`.
fn ended(lease: &Lease, bound_at: Uptime, now: Uptime) -> bool {
    lease
        .lease_time
        .and_then(|l| bound_at.checked_add(l))
        .is_some_and(|end| now >= end)
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
        assert!(!c.in_exchange());
        let (d, to) = only_send(&c.handle(t0, Event::CarrierUp));
        assert_eq!(d.opts().msg_type(), Some(MessageType::Discover));
        assert_eq!(to, Destination::Broadcast);
        assert!(c.in_exchange());
        let (r, _) = only_send(&c.handle(t0, Event::Packet(&answer(&d, 2, &[]))));
        assert_eq!(r.opts().msg_type(), Some(MessageType::Request));
        assert!(c.in_exchange());
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
        assert!(!c.in_exchange(), "bound: {}", c.state_name());
        // T1 is half the lease less a random tenth of it at most (RFC 2131 4.4.5).
        let t1 = c.next_wakeup().unwrap();
        assert!(
            t1 <= t0 + Duration::from_secs(43200) && t1 >= t0 + Duration::from_secs(38880),
            "{t1:?}"
        );
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
        // A reply to us that is unusable says why...
        let mut bad = answer(&d, 2, &[]);
        assert_eq!(&bad[240..243], &[53, 1, 2]);
        bad[242] = 8; // DHCPINFORM
        c.handle(3 * SEC, Event::Packet(&bad));
        let why = c.why_no_lease().unwrap();
        assert!(why.contains("Inform"), "{why}");
        // ...and a reply to another client (other MAC, other xid) leaves that as it was.
        let changes = c.changes();
        for (at, flip) in [(28, 1), (33, 0x80), (4, 0xff), (7, 1)] {
            let mut foreign = answer(&d, 2, &[]);
            foreign[at] ^= flip;
            c.handle(3 * SEC, Event::Packet(&foreign));
            assert_eq!(c.why_no_lease().as_deref(), Some(why.as_str()), "byte {at}");
        }
        assert_eq!(
            c.changes(),
            changes,
            "a foreign reply changes nothing to show"
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
        // An ACK while rebinding renews the lease from when the REQUEST went out
        // (RFC 2131 4.4.5), not from when the ACK came.
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
        assert_eq!(c.next_wakeup(), Some(t2 + Duration::from_secs(100)));
        assert_eq!(c.expires_at(), Some(t2 + Duration::from_secs(86400)));
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
    fn decline_removes_the_address_broadcasts_and_discovers_after_the_wait() {
        let (mut c, t0) = bound_client(&[]);
        let now = t0 + SEC;
        let other = Ipv4Addr::new(10, 0, 2, 16);
        assert!(
            c.decline(now, other, 10 * SEC).is_empty(),
            "not our address"
        );
        assert_eq!(c.state_name(), "bound");
        let acts = c.decline(now, Ipv4Addr::new(10, 0, 2, 15), 10 * SEC);
        // Removed before the DECLINE goes, so it leaves from 0.0.0.0.
        assert!(
            matches!(acts.first(), Some(Action::Remove(l)) if l.address == Ipv4Addr::new(10, 0, 2, 15)),
            "{acts:?}"
        );
        let (m, to) = only_send(&acts);
        assert_eq!(m.opts().msg_type(), Some(MessageType::Decline));
        assert_eq!(to, Destination::Broadcast);
        assert_eq!(
            m.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(Ipv4Addr::new(10, 0, 2, 15)))
        );
        assert_eq!(
            m.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(Ipv4Addr::new(10, 0, 2, 2)))
        );
        assert!(c.lease().is_none());
        assert_eq!(c.state_name(), "backoff");
        assert!(
            c.why_no_lease().unwrap().contains("in use"),
            "{:?}",
            c.why_no_lease()
        );
        assert_eq!(c.next_wakeup(), Some(now + 10 * SEC));
        assert!(c.handle(now + 9 * SEC, Event::Tick).is_empty());
        let (d, _) = only_send(&c.handle(now + 10 * SEC, Event::Tick));
        assert_eq!(d.opts().msg_type(), Some(MessageType::Discover));
        // A second decline without a lease does nothing.
        assert!(
            c.decline(now + 10 * SEC, Ipv4Addr::new(10, 0, 2, 15), 10 * SEC)
                .is_empty()
        );
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
    fn request_repeats_the_secs_of_the_discover() {
        let mut c = client();
        let t0 = Duration::from_secs(100);
        c.handle(t0, Event::CarrierUp);
        // Retransmit until a DISCOVER says 5 s or more.
        let d = loop {
            let at = c.next_wakeup().unwrap();
            let (d, _) = only_send(&c.handle(at, Event::Tick));
            if d.secs() >= 5 {
                break d;
            }
        };
        // The OFFER comes 3 s later; the REQUEST and its retransmit say what the
        // DISCOVER said (RFC 2131 4.4.1).
        let later = c.next_wakeup().unwrap() - 2 * SEC;
        let (r, _) = only_send(&c.handle(later, Event::Packet(&answer(&d, 2, &[]))));
        assert_eq!(r.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(r.secs(), d.secs());
        let at = c.next_wakeup().unwrap();
        let (r2, _) = only_send(&c.handle(at, Event::Tick));
        assert_eq!(r2.secs(), d.secs());
    }

    #[test]
    fn the_first_request_waits_two_to_three_seconds_for_its_ack() {
        for seed in 1..50u64 {
            let mut c = Client::new(
                ClientId {
                    mac: MAC,
                    hostname: None,
                    rapid_commit: false,
                },
                seed,
            );
            let t0 = Duration::from_secs(3);
            let (d, _) = only_send(&c.handle(t0, Event::CarrierUp));
            let (r, _) = only_send(&c.handle(t0, Event::Packet(&answer(&d, 2, &[]))));
            assert_eq!(r.opts().msg_type(), Some(MessageType::Request));
            let wait = c.next_wakeup().unwrap() - t0;
            assert!(
                (2 * SEC..=3 * SEC).contains(&wait),
                "seed {seed}: the REQUEST is repeated after {wait:?}"
            );
        }
    }

    #[test]
    fn an_ack_for_another_address_than_requested_is_refused() {
        let mut c = client();
        let t0 = Duration::from_secs(3);
        let (d, _) = only_send(&c.handle(t0, Event::CarrierUp));
        let (r, _) = only_send(&c.handle(t0, Event::Packet(&answer(&d, 2, &[]))));
        let mut ack = answer(&r, 5, &[]);
        ack[19] = 99; // yiaddr 10.0.2.99, not the 10.0.2.15 asked for
        let acts = c.handle(t0, Event::Packet(&ack));
        assert!(
            !acts.iter().any(|a| matches!(a, Action::Apply(_))),
            "{acts:?}"
        );
        assert_eq!(c.state_name(), "requesting");
        assert!(c.why_no_lease().unwrap().contains("10.0.2.99"));
        let acts = c.handle(t0, Event::Packet(&answer(&r, 5, &[])));
        assert!(
            acts.iter().any(|a| matches!(a, Action::Apply(_))),
            "{acts:?}"
        );
    }

    #[test]
    fn a_lease_counts_from_when_the_request_was_sent() {
        let mut c = client();
        let t0 = Duration::from_secs(3);
        let (d, _) = only_send(&c.handle(t0, Event::CarrierUp));
        let (r, _) = only_send(&c.handle(t0 + SEC, Event::Packet(&answer(&d, 2, &[]))));
        // The ACK takes 700 ms: the lease (86400 s) began when the REQUEST left.
        let acts = c.handle(
            t0 + SEC + Duration::from_millis(700),
            Event::Packet(&answer(&r, 5, &[])),
        );
        assert!(
            acts.iter().any(|a| matches!(a, Action::Apply(_))),
            "{acts:?}"
        );
        assert_eq!(c.expires_at(), Some(t0 + SEC + Duration::from_secs(86400)));
    }

    #[test]
    fn computed_t1_and_t2_are_fuzzed_per_client() {
        let mut t1s = Vec::new();
        for seed in 1..20u64 {
            let mut c = Client::new(
                ClientId {
                    mac: MAC,
                    hostname: None,
                    rapid_commit: false,
                },
                seed * 0x9e37_79b9,
            );
            let t0 = Duration::from_secs(1);
            let (d, _) = only_send(&c.handle(t0, Event::CarrierUp));
            let (r, _) = only_send(&c.handle(t0, Event::Packet(&answer(&d, 2, &[]))));
            c.handle(t0, Event::Packet(&answer(&r, 5, &[])));
            let l = c.lease().unwrap();
            let (t1, t2) = (l.t1.unwrap(), l.t2.unwrap());
            assert!(t1 <= Duration::from_secs(43200) && t1 >= Duration::from_secs(38880));
            assert!(t2 <= Duration::from_secs(75600) && t2 >= Duration::from_secs(68040));
            t1s.push(t1);
        }
        t1s.sort();
        t1s.dedup();
        assert!(t1s.len() > 10, "no fuzz: {t1s:?}");
        // T1 and T2 from the server are taken as they are.
        let times = [58, 4, 0, 0, 0, 100, 59, 4, 0, 0, 0, 150];
        let (c, _) = bound_client(&times);
        let l = c.lease().unwrap();
        assert_eq!((l.t1, l.t2), (Some(100 * SEC), Some(150 * SEC)));
    }

    #[test]
    fn init_reboot_does_not_ask_for_an_expired_lease() {
        // The carrier comes back after the lease ran out, with no tick in between.
        let (mut c, t0) = bound_client(&[]);
        c.handle(t0 + SEC, Event::CarrierDown);
        let acts = c.handle(t0 + Duration::from_secs(86401), Event::CarrierUp);
        assert!(
            acts.iter().any(|a| matches!(a, Action::Remove(_))),
            "{acts:?}"
        );
        let (m, _) = only_send(&acts);
        assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
        assert_eq!(c.state_name(), "selecting");

        // The carrier comes back 2 s before the end: INIT-REBOOT, unanswered, must not
        // outlive the lease.
        let (mut c, t0) = bound_client(&[]);
        c.handle(t0 + SEC, Event::CarrierDown);
        let end = t0 + Duration::from_secs(86400);
        let (m, _) = only_send(&c.handle(end - 2 * SEC, Event::CarrierUp));
        assert_eq!(c.state_name(), "init-reboot");
        assert!(m.opts().get(OptionCode::RequestedIpAddress).is_some());
        let mut now = end - 2 * SEC;
        for _ in 0..10 {
            if c.state_name() != "init-reboot" {
                break;
            }
            let next = c.next_wakeup().unwrap();
            assert!(next <= end, "a wakeup past the lease's end: {next:?}");
            now = next;
            c.handle(now, Event::Tick);
        }
        assert_eq!(now, end);
        assert!(c.lease().is_none());
        assert_eq!(c.state_name(), "selecting");
    }

    #[test]
    fn a_lease_that_ends_without_carrier_waits_for_it_to_discover() {
        let (mut c, t0) = bound_client(&[]);
        c.handle(t0 + SEC, Event::CarrierDown);
        let end = t0 + Duration::from_secs(86400);
        let acts = c.handle(end, Event::Tick);
        assert!(
            acts.iter().any(|a| matches!(a, Action::Remove(_))),
            "{acts:?}"
        );
        assert!(
            sends(&acts).is_empty(),
            "nothing to send without carrier: {acts:?}"
        );
        assert_eq!(c.next_wakeup(), None);
        let (m, _) = only_send(&c.handle(end + SEC, Event::CarrierUp));
        assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
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

    /// What the client shows: every part a reply may change.
    fn shown(c: &Client) -> (&'static str, Option<Lease>, Option<String>, Option<Uptime>) {
        (
            c.state_name(),
            c.lease().cloned(),
            c.why_no_lease(),
            c.next_wakeup(),
        )
    }

    /// What must hold after any event: a lease only in the states that hold one, with
    /// sane times; every message sent is a BOOTREQUEST of ours with the live xid.
    fn check(c: &Client, acts: &[Action]) -> Result<(), TestCaseError> {
        if let Some(l) = c.lease() {
            prop_assert!(
                matches!(
                    c.state_name(),
                    "bound" | "renewing" | "rebinding" | "init-reboot"
                ),
                "a lease in state {}",
                c.state_name()
            );
            prop_assert!(!l.address.is_unspecified() && !l.address.is_broadcast());
            if let (Some(len), Some(t1), Some(t2)) = (l.lease_time, l.t1, l.t2) {
                prop_assert!(!t1.is_zero() && t1 < t2 && t2 < len, "{l:?}");
            }
        }
        let applied = acts
            .iter()
            .filter(|a| matches!(a, Action::Apply(_)))
            .count();
        prop_assert!(applied <= 1, "{acts:?}");
        for a in acts {
            match a {
                Action::Apply(l) => prop_assert_eq!(Some(l), c.lease()),
                Action::Send { bytes, .. } => {
                    prop_assert_eq!(bytes.first(), Some(&1u8), "not a BOOTREQUEST");
                    prop_assert_eq!(bytes.get(28..34), Some(&MAC[..]));
                    let xid = bytes
                        .get(4..8)
                        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    // A RELEASE has its own xid and leaves the client without one.
                    if c.current_xid().is_some() {
                        prop_assert_eq!(xid, c.current_xid());
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    proptest! {
        /// Random bytes and mutated valid replies, fed in any state, never panic; a
        /// reply with another xid changes nothing; after every event the lease and the
        /// messages are sane; and ticking never spins on a timer in the past.
        #[test]
        fn replies_in_any_state_keep_the_client_sane(
            events in proptest::collection::vec(
                (0usize..4, proptest::collection::vec((any::<u16>(), any::<u8>()), 0..12),
                 0usize..400, any::<bool>(), any::<bool>(), 0u8..8),
                1..40,
            ),
            random in proptest::collection::vec(any::<u8>(), 0..600),
        ) {
            let mut c = Client::new(ClientId { mac: MAC, hostname: Some("h".into()), rapid_commit: true }, 7);
            let mut now = Duration::from_secs(1);
            let acts = c.handle(now, Event::CarrierUp);
            check(&c, &acts)?;
            let acts = c.handle(now, Event::Packet(&random));
            check(&c, &acts)?;
            let base = valid_replies();
            for (which, edits, cut, live_xid, tick, carrier) in events {
                let mut p = base[which].clone();
                // The client's live xid half of the time, so replies get deep; otherwise
                // another one, and then nothing may change.
                let xid = c.current_xid();
                let foreign = !live_xid || xid.is_none();
                let use_xid = match xid {
                    Some(x) if live_xid => x,
                    Some(x) => x ^ 0x0100_0000,
                    None => 0x1234_5678,
                };
                p[4..8].copy_from_slice(&use_xid.to_be_bytes());
                for (at, v) in edits {
                    // Mutations leave the xid alone, so a foreign reply stays foreign.
                    let i = usize::from(at) % p.len();
                    if !(4..8).contains(&i) {
                        p[i] = v;
                    }
                }
                p.truncate(cut.max(1).min(p.len()));
                let before = shown(&c);
                let changes = c.changes();
                let acts = c.handle(now, Event::Packet(&p));
                check(&c, &acts)?;
                if foreign {
                    prop_assert!(acts.iter().all(|a| matches!(a, Action::Note(_))), "{acts:?}");
                    prop_assert_eq!(&before, &shown(&c));
                    prop_assert_eq!(changes, c.changes());
                }
                // Now and then the link goes down or comes back.
                match carrier {
                    0 => { let acts = c.handle(now, Event::CarrierDown); check(&c, &acts)?; }
                    1 => { let acts = c.handle(now, Event::CarrierUp); check(&c, &acts)?; }
                    _ => {}
                }
                if tick {
                    now = c.next_wakeup().unwrap_or(now + Duration::from_secs(1)).max(now);
                    let mut spins = 0;
                    while c.next_wakeup().is_some_and(|w| w <= now) {
                        prop_assert!(spins < 4, "ticking at {now:?} never moves the timer on");
                        let acts = c.handle(now, Event::Tick);
                        check(&c, &acts)?;
                        spins += 1;
                    }
                }
            }
        }
    }
}
