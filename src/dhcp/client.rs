//! The DHCP client as a sans-IO state machine (RFC 2131 4.4): fed with the time and an
//! event, it returns actions. No socket, no clock, no sleep in here; the event loop does
//! the I/O and asks `next_wakeup()` when to call again.

use super::lease::{from_ack, Lease};
use super::wire::{build, parse_reply, ClientId, Request};
use dhcproto::v4::MessageType;
use std::net::Ipv4Addr;
use std::time::Duration;

/// Time since boot (CLOCK_BOOTTIME), passed in by the caller.
pub type Instant = Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Broadcast,
    Unicast(Ipv4Addr),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send { bytes: Vec<u8>, to: Destination },
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
    started: Instant,
    retry_at: Instant,
    attempt: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// No carrier yet (or lost with no lease): nothing to send.
    Init,
    /// After a NAK: wait, then DISCOVER.
    Backoff { until: Instant },
    Selecting(Exchange),
    Requesting { ex: Exchange, address: Ipv4Addr, server: Ipv4Addr },
    Bound { lease: Lease, bound_at: Instant },
    Renewing { lease: Lease, bound_at: Instant, ex: Exchange },
    Rebinding { lease: Lease, bound_at: Instant, ex: Exchange },
    /// INIT-REBOOT: carrier came back while we held a lease.
    Rebooting { lease: Lease, bound_at: Instant, ex: Exchange },
}

pub struct Client {
    id: ClientId,
    state: State,
    rng: u64,
    carrier: bool,
    naks: u32,
}

/// RFC 2131 4.1: 4, 8, 16, 32, 64 s, each +-1 s. The first wait is shorter: a server on
/// the same link answers in milliseconds, and a DISCOVER lost to a link still settling
/// should not cost four seconds.
fn retransmit_delay(attempt: u32) -> Duration {
    match attempt {
        0 => Duration::from_secs(2),
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

    pub fn state_name(&self) -> &'static str {
        state_label(&self.state)
    }

    /// When the lease ends, if we hold one (None also for an infinite lease).
    pub fn expires_at(&self) -> Option<Instant> {
        match &self.state {
            State::Bound { lease, bound_at }
            | State::Renewing { lease, bound_at, .. }
            | State::Rebinding { lease, bound_at, .. }
            | State::Rebooting { lease, bound_at, .. } => lease.lease_time.map(|l| *bound_at + l),
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

    fn jitter(&mut self, d: Duration) -> Duration {
        let ms = i64::try_from(self.random() % 2001).unwrap_or(1000) - 1000;
        let base = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Duration::from_millis(u64::try_from((base + ms).max(500)).unwrap_or(500))
    }

    fn new_exchange(&mut self, now: Instant) -> Exchange {
        let xid = u32::try_from(self.random() >> 32).unwrap_or(0);
        Exchange {
            xid,
            started: now,
            retry_at: now,
            attempt: 0,
        }
    }

    pub fn next_wakeup(&self) -> Option<Instant> {
        match &self.state {
            State::Init => None,
            State::Backoff { until } => Some(*until),
            State::Selecting(ex) | State::Requesting { ex, .. } | State::Rebooting { ex, .. } => {
                Some(ex.retry_at)
            }
            State::Bound { lease, bound_at } => lease.t1.map(|t1| *bound_at + t1),
            State::Renewing { ex, .. } | State::Rebinding { ex, .. } => Some(ex.retry_at),
        }
    }

    pub fn handle(&mut self, now: Instant, event: Event<'_>) -> Vec<Action> {
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

    fn carrier_up(&mut self, now: Instant, out: &mut Vec<Action>) {
        let was = self.carrier;
        self.carrier = true;
        match std::mem::replace(&mut self.state, State::Init) {
            State::Init => {
                self.state = State::Selecting(self.new_exchange(now));
                self.tick(now, out);
            }
            State::Bound { lease, bound_at }
            | State::Renewing { lease, bound_at, .. }
            | State::Rebinding { lease, bound_at, .. }
                if !was =>
            {
                let ex = self.new_exchange(now);
                self.state = State::Rebooting { lease, bound_at, ex };
                self.tick(now, out);
            }
            other => self.state = other,
        }
    }

    fn send(&self, req: Request, ex: &Exchange, now: Instant, to: Destination, out: &mut Vec<Action>) {
        let secs = u16::try_from(now.saturating_sub(ex.started).as_secs()).unwrap_or(u16::MAX);
        match build(req, ex.xid, secs, &self.id) {
            Ok(bytes) => out.push(Action::Send { bytes, to }),
            Err(e) => out.push(Action::Note(e)),
        }
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Action>) {
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
            State::Requesting { mut ex, address, server } if now >= ex.retry_at => {
                if ex.attempt >= 4 {
                    out.push(Action::Note(format!("no ACK from {server}: back to DISCOVER")));
                    State::Selecting(self.restart(now, out))
                } else {
                    let req = Request::Select { requested: address, server };
                    self.send(req, &ex, now, Destination::Broadcast, out);
                    ex.retry_at = now + self.jitter(retransmit_delay(ex.attempt));
                    ex.attempt += 1;
                    State::Requesting { ex, address, server }
                }
            }
            State::Rebooting { lease, bound_at, mut ex } if now >= ex.retry_at => {
                if ex.attempt >= 3 {
                    // No answer: the lease is still ours until it expires (RFC 2131 3.2).
                    State::Bound { lease, bound_at }
                } else {
                    let req = Request::Reboot { requested: lease.address };
                    self.send(req, &ex, now, Destination::Broadcast, out);
                    ex.retry_at = now + self.jitter(retransmit_delay(ex.attempt));
                    ex.attempt += 1;
                    State::Rebooting { lease, bound_at, ex }
                }
            }
            State::Bound { lease, bound_at } => self.lease_timers(now, lease, bound_at, None, out),
            State::Renewing { lease, bound_at, ex } => {
                self.lease_timers(now, lease, bound_at, Some((false, ex)), out)
            }
            State::Rebinding { lease, bound_at, ex } => {
                self.lease_timers(now, lease, bound_at, Some((true, ex)), out)
            }
            other => other,
        };
    }

    /// Bound, renewing and rebinding are one timeline: T1, T2, expiry (RFC 2131 4.4.5).
    fn lease_timers(
        &mut self,
        now: Instant,
        lease: Lease,
        bound_at: Instant,
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
            self.send(Request::Renew { ciaddr: lease.address }, &ex, now, to, out);
            // RFC 2131 4.4.5: half the time left, at least 60 s, never past the limit.
            let wait = (limit.saturating_sub(now) / 2).max(Duration::from_secs(60));
            ex.retry_at = (now + wait).min(limit);
            ex.attempt += 1;
        }
        if rebinding {
            State::Rebinding { lease, bound_at, ex }
        } else {
            State::Renewing { lease, bound_at, ex }
        }
    }

    fn restart(&mut self, now: Instant, out: &mut Vec<Action>) -> Exchange {
        let mut ex = self.new_exchange(now);
        self.send(Request::Discover, &ex, now, Destination::Broadcast, out);
        ex.retry_at = now + self.jitter(retransmit_delay(0));
        ex.attempt = 1;
        ex
    }

    /// At shutdown: DHCPRELEASE unicast to the server, then the lease's removal (RFC 2131
    /// 4.4.6). The client is left in INIT.
    pub fn release(&mut self, now: Instant) -> Vec<Action> {
        let mut out = Vec::new();
        if let Some(lease) = lease_in(std::mem::replace(&mut self.state, State::Init)) {
            let ex = self.new_exchange(now);
            let req = Request::Release { ciaddr: lease.address, server: lease.server };
            self.send(req, &ex, now, Destination::Unicast(lease.server), &mut out);
            out.push(Action::Remove(lease));
        }
        out
    }

    fn current_xid(&self) -> Option<u32> {
        match &self.state {
            State::Selecting(ex)
            | State::Requesting { ex, .. }
            | State::Renewing { ex, .. }
            | State::Rebinding { ex, .. }
            | State::Rebooting { ex, .. } => Some(ex.xid),
            _ => None,
        }
    }

    fn packet(&mut self, now: Instant, bytes: &[u8], out: &mut Vec<Action>) {
        let Some(xid) = self.current_xid() else {
            return;
        };
        let reply = match parse_reply(bytes, xid, &self.id.mac) {
            Ok(r) => r,
            Err(why) => {
                out.push(Action::Note(format!("dropped a reply: {why}")));
                return;
            }
        };
        let state = std::mem::replace(&mut self.state, State::Init);
        self.state = match (state, reply.kind) {
            (State::Selecting(ex), MessageType::Offer) => {
                out.push(Action::Note(format!("offer of {} from {}", reply.yiaddr, reply.server)));
                let mut ex = Exchange { retry_at: now, attempt: 0, ..ex };
                let req = Request::Select { requested: reply.yiaddr, server: reply.server };
                self.send(req, &ex, now, Destination::Broadcast, out);
                ex.retry_at = now + self.jitter(retransmit_delay(0));
                ex.attempt = 1;
                State::Requesting { ex, address: reply.yiaddr, server: reply.server }
            }
            (State::Requesting { ex, address, server }, kind) if reply.server != server => {
                out.push(Action::Note(format!("{kind:?} from {}, not the chosen server", reply.server)));
                State::Requesting { ex, address, server }
            }
            (State::Requesting { ex, address, server }, MessageType::Ack) => match from_ack(&reply) {
                Ok(lease) => self.bind(now, lease, out),
                Err(e) => {
                    out.push(Action::Note(format!("unusable ACK: {e}")));
                    State::Requesting { ex, address, server }
                }
            },
            (
                State::Renewing { lease, bound_at, ex }
                | State::Rebinding { lease, bound_at, ex }
                | State::Rebooting { lease, bound_at, ex },
                MessageType::Ack,
            ) => match from_ack(&reply) {
                Ok(new) => {
                    if new.address != lease.address {
                        out.push(Action::Remove(lease));
                    }
                    self.bind(now, new, out)
                }
                Err(e) => {
                    out.push(Action::Note(format!("unusable ACK: {e}")));
                    State::Renewing { lease, bound_at, ex }
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
                let wait = Duration::from_secs(1u64 << self.naks.min(6)).min(Duration::from_secs(60));
                out.push(Action::Note(format!("NAK from {}: DISCOVER again in {} s", reply.server, wait.as_secs())));
                State::Backoff { until: now + wait }
            }
            (state, kind) => {
                out.push(Action::Note(format!("ignored {kind:?} in state {}", state_label(&state))));
                state
            }
        };
    }

    fn bind(&mut self, now: Instant, lease: Lease, out: &mut Vec<Action>) -> State {
        self.naks = 0;
        out.push(Action::Apply(lease.clone()));
        State::Bound { lease, bound_at: now }
    }
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
