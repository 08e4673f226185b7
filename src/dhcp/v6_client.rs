//! The DHCPv6 client (RFC 8415) as a state machine, fed with time and packets like the
//! DHCPv4 one. Stateless (an Information-Request for DNS and domains, refreshed at the
//! server's information refresh time) or stateful (one IA_NA: Solicit, Advertise,
//! Request, Reply, Renew at T1, Rebind at T2, the address dropped when its valid
//! lifetime ends, Release at shutdown), as the router's advertisement says (M and O
//! flags, which `net` reads from the kernel). No socket, no clock: every message goes to
//! All_DHCP_Relay_Agents_and_Servers, and the caller sends it.
//! Unlike RFC 8415's 0-1 s random delay before the first Solicit (section 18.2.1), the
//! first message goes at once, as the DHCPv4 client's DISCOVER does: a VM boot is not a
//! building-wide power cut.

use crate::clock::Uptime;
use crate::dhcp::v6_wire::{self, IaAddress, Reply, ReplyKind, Request};
use dhcproto::v6::Status;
use std::net::Ipv6Addr;
use std::time::Duration;

/// Which service the router's advertisement asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// O=1 (or no DNS from the RA): options only.
    Stateless,
    /// M=1: an address too.
    Stateful,
}

/// What the router's advertisement asks for (RFC 4861 4.2): M, an address; O, options
/// only. With neither, options are still asked for when the advertisement gave no DNS
/// server within a bound (`no_ra_dns`): a DNS server then comes from DHCPv6 or not at all.
pub fn mode_for(managed: bool, other: bool, no_ra_dns: bool) -> Option<Mode> {
    if managed {
        Some(Mode::Stateful)
    } else if other || no_ra_dns {
        Some(Mode::Stateless)
    } else {
        None
    }
}

/// What the server gave: an address (stateful only) and DNS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config6 {
    pub address: Option<IaAddress>,
    pub dns: Vec<Ipv6Addr>,
    pub domains: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action6 {
    /// A message for All_DHCP_Relay_Agents_and_Servers, port 547.
    Send(Vec<u8>),
    Apply(Config6),
    /// The address's lifetime ended or it was released: remove it and its DNS.
    Remove(Config6),
    /// Why a packet was dropped or a step taken, for the debug log.
    Note(String),
}

/// One exchange's retransmission (RFC 8415 section 15).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Exchange {
    xid: u32,
    started: Uptime,
    retry_at: Uptime,
    rt: Duration,
    sent: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Lease6 {
    config: Config6,
    server: Vec<u8>,
    renew_at: Option<Uptime>,
    rebind_at: Option<Uptime>,
    expires_at: Option<Uptime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Idle,
    Informing(Exchange),
    Informed { refresh_at: Uptime },
    Soliciting { ex: Exchange, best: Option<Reply> },
    Requesting { ex: Exchange, server: Vec<u8> },
    Bound(Lease6),
    Renewing { lease: Lease6, ex: Exchange },
    Rebinding { lease: Lease6, ex: Exchange },
}

/// RFC 8415 section 7.6: initial and maximum retransmission times, and counts.
const INF_TIMEOUT: Duration = Duration::from_secs(1);
const INF_MAX_RT: Duration = Duration::from_secs(3600);
const SOL_TIMEOUT: Duration = Duration::from_secs(1);
const SOL_MAX_RT: Duration = Duration::from_secs(3600);
const REQ_TIMEOUT: Duration = Duration::from_secs(1);
const REQ_MAX_RT: Duration = Duration::from_secs(30);
const REQ_MAX_RC: u32 = 10;
const REN_TIMEOUT: Duration = Duration::from_secs(10);
const REN_MAX_RT: Duration = Duration::from_secs(600);
/// Section 21.23: the refresh time when the server gives none, and the least honoured.
const IRT_DEFAULT: u32 = 86400;
const IRT_MINIMUM: u32 = 600;

pub struct Client6 {
    duid: Vec<u8>,
    iaid: u32,
    mode: Option<Mode>,
    state: State,
    rng: u64,
}

fn secs(s: u32) -> Option<Duration> {
    (s != u32::MAX).then(|| Duration::from_secs(u64::from(s)))
}

impl Client6 {
    /// `duid` names this client in every message (see `v6_wire::duid_ll`); `iaid` its
    /// one IA_NA; `seed` the transaction ids and jitter.
    pub fn new(duid: Vec<u8>, iaid: u32, seed: u64) -> Self {
        Client6 {
            duid,
            iaid,
            mode: None,
            state: State::Idle,
            rng: seed | 1,
        }
    }

    pub fn mode(&self) -> Option<Mode> {
        self.mode
    }

    pub fn state_name(&self) -> &'static str {
        match self.state {
            State::Idle => "idle",
            State::Informing(_) => "information-request",
            State::Informed { .. } => "informed",
            State::Soliciting { .. } => "soliciting",
            State::Requesting { .. } => "requesting",
            State::Bound(_) => "bound",
            State::Renewing { .. } => "renewing",
            State::Rebinding { .. } => "rebinding",
        }
    }

    /// The address held, if any.
    pub fn address(&self) -> Option<IaAddress> {
        match &self.state {
            State::Bound(l)
            | State::Renewing { lease: l, .. }
            | State::Rebinding { lease: l, .. } => l.config.address,
            _ => None,
        }
    }

    /// The transaction whose replies are awaited.
    pub fn current_xid(&self) -> Option<u32> {
        match &self.state {
            State::Informing(ex)
            | State::Soliciting { ex, .. }
            | State::Requesting { ex, .. }
            | State::Renewing { ex, .. }
            | State::Rebinding { ex, .. } => Some(ex.xid),
            _ => None,
        }
    }

    /// When `tick` next has something to do.
    pub fn poll_at(&self) -> Option<Uptime> {
        match &self.state {
            State::Idle => None,
            State::Informed { refresh_at } => Some(*refresh_at),
            State::Informing(ex) | State::Soliciting { ex, .. } | State::Requesting { ex, .. } => {
                Some(ex.retry_at)
            }
            State::Bound(l) => [l.renew_at, l.rebind_at, l.expires_at]
                .into_iter()
                .flatten()
                .min(),
            State::Renewing { lease, ex } => [Some(ex.retry_at), lease.rebind_at, lease.expires_at]
                .into_iter()
                .flatten()
                .min(),
            State::Rebinding { lease, ex } => [Some(ex.retry_at), lease.expires_at]
                .into_iter()
                .flatten()
                .min(),
        }
    }

    fn random(&mut self) -> u64 {
        // xorshift64: jitter and xids need no cryptographic quality.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// `d` plus RAND * `d`, RAND in [-0.1, 0.1] (section 15); `positive`: in (0, 0.1],
    /// as the first Solicit's wait must be (so Advertises are collected for a while).
    fn jitter(&mut self, d: Duration, positive: bool) -> Duration {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let tenth = (ms / 10).max(1);
        let r = self.random() % (2 * tenth + 1);
        if positive {
            return Duration::from_millis(ms.saturating_add(r / 2 + 1));
        }
        Duration::from_millis(ms.saturating_add(r).saturating_sub(tenth))
    }

    fn new_exchange(&mut self, now: Uptime, irt: Duration, positive: bool) -> Exchange {
        let xid = u32::try_from(self.random() >> 40).unwrap_or(0);
        let rt = self.jitter(irt, positive);
        Exchange {
            xid,
            started: now,
            retry_at: now,
            rt,
            sent: 0,
        }
    }

    /// Sends `req` in `ex` and moves its timer on: RT doubles (with jitter) up to `mrt`.
    fn send(&mut self, now: Uptime, ex: &mut Exchange, req: &Request, mrt: Duration) -> Action6 {
        let elapsed = now.saturating_sub(ex.started).as_millis() / 10;
        let elapsed = u16::try_from(elapsed).unwrap_or(u16::MAX);
        if ex.sent > 0 {
            let doubled = ex.rt.saturating_mul(2);
            ex.rt = if doubled > mrt {
                self.jitter(mrt, false)
            } else {
                self.jitter(doubled, false)
            };
        }
        ex.sent = ex.sent.saturating_add(1);
        ex.retry_at = now.saturating_add(ex.rt);
        match v6_wire::build(req, ex.xid, elapsed, &self.duid) {
            Ok(b) => Action6::Send(b),
            Err(e) => Action6::Note(e),
        }
    }

    /// The last message could not be sent (no link-local address yet): the exchange's
    /// next retransmission is due now rather than after its timeout.
    pub fn retry_now(&mut self, now: Uptime) {
        match &mut self.state {
            State::Informing(ex)
            | State::Soliciting { ex, .. }
            | State::Requesting { ex, .. }
            | State::Renewing { ex, .. }
            | State::Rebinding { ex, .. } => ex.retry_at = ex.retry_at.min(now),
            _ => {}
        }
    }

    /// The link came back after losing its carrier (RFC 8415 18.2.12): the machine may
    /// be on another network. An address held is checked with a Rebind, which any
    /// server answers (and a NoBinding or NotOnLink reply gives up); options are asked
    /// for again; an exchange under way starts over at once.
    pub fn link_returned(&mut self, now: Uptime) -> Vec<Action6> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        let (state, actions) = match state {
            State::Bound(lease)
            | State::Renewing { lease, .. }
            | State::Rebinding { lease, .. } => {
                let Some(addr) = lease.config.address else {
                    return Vec::new();
                };
                let mut ex = self.new_exchange(now, REN_TIMEOUT, false);
                let req = Request::Rebind {
                    iaid: self.iaid,
                    addr: addr.addr,
                };
                let a = self.send(now, &mut ex, &req, REN_MAX_RT);
                (State::Rebinding { lease, ex }, vec![a])
            }
            State::Informed { .. } | State::Informing(_) => {
                let actions = self.inform(now);
                (std::mem::replace(&mut self.state, State::Idle), actions)
            }
            State::Soliciting { .. } | State::Requesting { .. } => {
                let actions = self.solicit(now);
                (std::mem::replace(&mut self.state, State::Idle), actions)
            }
            State::Idle => (State::Idle, Vec::new()),
        };
        self.state = state;
        actions
    }

    /// The router asks for `mode`. Starts the exchange, or goes from options only to
    /// an address when M comes on; a stateful client stays so (its address holds until
    /// its lifetime ends).
    pub fn start(&mut self, now: Uptime, mode: Mode) -> Vec<Action6> {
        let begin = match (self.mode, &self.state) {
            (_, State::Idle) => true,
            (Some(Mode::Stateless), _) => mode == Mode::Stateful,
            _ => false,
        };
        if !begin {
            return Vec::new();
        }
        self.mode = Some(mode);
        match mode {
            Mode::Stateless => self.inform(now),
            Mode::Stateful => self.solicit(now),
        }
    }

    fn inform(&mut self, now: Uptime) -> Vec<Action6> {
        let mut ex = self.new_exchange(now, INF_TIMEOUT, false);
        let a = self.send(now, &mut ex, &Request::InformationRequest, INF_MAX_RT);
        self.state = State::Informing(ex);
        vec![a]
    }

    fn solicit(&mut self, now: Uptime) -> Vec<Action6> {
        let mut ex = self.new_exchange(now, SOL_TIMEOUT, true);
        let req = Request::Solicit { iaid: self.iaid };
        let a = self.send(now, &mut ex, &req, SOL_MAX_RT);
        self.state = State::Soliciting { ex, best: None };
        vec![a]
    }

    fn request(&mut self, now: Uptime, server: Vec<u8>) -> Vec<Action6> {
        let mut ex = self.new_exchange(now, REQ_TIMEOUT, false);
        let req = Request::Request {
            iaid: self.iaid,
            server: server.clone(),
        };
        let a = self.send(now, &mut ex, &req, REQ_MAX_RT);
        self.state = State::Requesting { ex, server };
        vec![Action6::Note("requesting the advertised address".into()), a]
    }

    /// A datagram from port 547.
    pub fn handle(&mut self, now: Uptime, packet: &[u8]) -> Vec<Action6> {
        let Some(xid) = self.current_xid() else {
            return vec![Action6::Note(
                "a reply while no exchange is under way".into(),
            )];
        };
        let stateful = !matches!(self.state, State::Informing(_));
        let reply = match v6_wire::parse(packet, xid, &self.duid, stateful.then_some(self.iaid)) {
            Ok(r) => r,
            Err(e) => return vec![Action6::Note(format!("dropped a reply: {e}"))],
        };
        let mut out: Vec<Action6> = reply
            .refused
            .iter()
            .map(|r| Action6::Note(format!("ignored from the server: {r}")))
            .collect();
        let state = std::mem::replace(&mut self.state, State::Idle);
        let (state, actions) = self.on_reply(now, state, reply);
        self.state = state;
        out.extend(actions);
        out
    }

    fn on_reply(&mut self, now: Uptime, state: State, reply: Reply) -> (State, Vec<Action6>) {
        let note = |s: &str| vec![Action6::Note(s.to_string())];
        match (state, reply.kind) {
            (State::Informing(ex), ReplyKind::Reply) => {
                if let Some(s) = reply.status {
                    return (
                        State::Informing(ex),
                        note(&format!("Reply with status {s:?}")),
                    );
                }
                let refresh = reply.refresh.unwrap_or(IRT_DEFAULT).max(IRT_MINIMUM);
                let config = Config6 {
                    address: None,
                    dns: reply.dns,
                    domains: reply.domains,
                };
                let refresh_at = now.saturating_add(Duration::from_secs(u64::from(refresh)));
                (State::Informed { refresh_at }, vec![Action6::Apply(config)])
            }
            (State::Soliciting { ex, best }, ReplyKind::Advertise) => {
                let usable = reply.status.is_none()
                    && reply
                        .ia
                        .as_ref()
                        .is_some_and(|ia| ia.status.is_none() && !ia.addresses.is_empty());
                if !usable {
                    return (
                        State::Soliciting { ex, best },
                        note("an Advertise without an address for us"),
                    );
                }
                // Section 18.2.1: preference 255 is taken at once, and so is any
                // Advertise once the first wait is over; before that the best is kept.
                let first_wait_over = ex.sent > 1 || now >= ex.retry_at;
                if reply.preference == 255 || first_wait_over {
                    return self.taken(now, reply.server);
                }
                let best = match best {
                    Some(b) if b.preference >= reply.preference => Some(b),
                    _ => Some(reply),
                };
                (
                    State::Soliciting { ex, best },
                    note("Advertise kept while others may come"),
                )
            }
            (State::Requesting { ex, server }, ReplyKind::Reply) => {
                if reply.server != server {
                    return (
                        State::Requesting { ex, server },
                        note("a Reply from another server"),
                    );
                }
                self.granted(
                    now,
                    None,
                    reply,
                    State::Requesting {
                        ex,
                        server: Vec::new(),
                    },
                )
            }
            (State::Renewing { lease, ex }, ReplyKind::Reply) => {
                let back = State::Renewing {
                    lease: lease.clone(),
                    ex,
                };
                self.granted(now, Some(lease), reply, back)
            }
            (State::Rebinding { lease, ex }, ReplyKind::Reply) => {
                let back = State::Rebinding {
                    lease: lease.clone(),
                    ex,
                };
                self.granted(now, Some(lease), reply, back)
            }
            (state, _) => (state, note("a reply of the wrong kind for the exchange")),
        }
    }

    fn taken(&mut self, now: Uptime, server: Vec<u8>) -> (State, Vec<Action6>) {
        let actions = self.request(now, server);
        let state = std::mem::replace(&mut self.state, State::Idle);
        (state, actions)
    }

    /// A Reply to Request, Renew or Rebind: the address bound, or why not. `back` is the
    /// state to stay in when the reply changes nothing.
    fn granted(
        &mut self,
        now: Uptime,
        held: Option<Lease6>,
        reply: Reply,
        back: State,
    ) -> (State, Vec<Action6>) {
        if let Some(s) = reply.status {
            // Section 18.2.10: UnspecFail, UseMulticast and the like: try again later.
            return (
                back,
                vec![Action6::Note(format!("Reply with status {s:?}"))],
            );
        }
        let Some(ia) = reply.ia else {
            return (
                back,
                vec![Action6::Note("a Reply without our IA_NA".into())],
            );
        };
        match ia.status {
            Some(Status::NoBinding) if held.is_some() => {
                // Section 18.2.10.1: the server lost our binding: Request it again.
                let server = reply.server;
                let actions = self.request(now, server);
                let state = std::mem::replace(&mut self.state, State::Idle);
                return (state, actions);
            }
            Some(Status::NoAddrsAvail) | Some(Status::NotOnLink) | Some(Status::NoBinding) => {
                let mut actions = Vec::new();
                if let Some(l) = held {
                    actions.push(Action6::Remove(l.config));
                }
                actions.push(Action6::Note(format!("IA_NA refused: {:?}", ia.status)));
                actions.extend(self.solicit(now));
                let state = std::mem::replace(&mut self.state, State::Idle);
                return (state, actions);
            }
            Some(s) => return (back, vec![Action6::Note(format!("IA_NA status {s:?}"))]),
            None => {}
        }
        let Some(addr) = ia.addresses.first().copied() else {
            // Valid lifetime 0 for what we held: the server took it back.
            let mut actions = Vec::new();
            if let Some(l) = held {
                actions.push(Action6::Remove(l.config));
            }
            actions.push(Action6::Note("the Reply grants no address".into()));
            actions.extend(self.solicit(now));
            let state = std::mem::replace(&mut self.state, State::Idle);
            return (state, actions);
        };
        let mut actions = Vec::new();
        if let Some(old) = held.as_ref().and_then(|l| l.config.address)
            && old.addr != addr.addr
            && let Some(l) = &held
        {
            actions.push(Action6::Remove(l.config.clone()));
        }
        // T1 and T2 0: the client chooses, 0.5 and 0.8 of the preferred lifetime
        // (section 21.4); u32::MAX: never.
        let (t1, t2) = if ia.t1 == 0 || ia.t2 == 0 {
            if addr.preferred == u32::MAX {
                (u32::MAX, u32::MAX)
            } else {
                (addr.preferred / 2, addr.preferred / 5 * 4)
            }
        } else {
            (ia.t1, ia.t2)
        };
        let at = |s: u32| secs(s).map(|d| now.saturating_add(d));
        let expires_at = at(addr.valid);
        let rebind_at = at(t2).map(|t| expires_at.map_or(t, |e| t.min(e)));
        let renew_at = at(t1).map(|t| rebind_at.map_or(t, |r| t.min(r)));
        let config = Config6 {
            address: Some(addr),
            dns: reply.dns,
            domains: reply.domains,
        };
        actions.push(Action6::Apply(config.clone()));
        let lease = Lease6 {
            config,
            server: reply.server,
            renew_at,
            rebind_at,
            expires_at,
        };
        (State::Bound(lease), actions)
    }

    /// Retransmissions and the lease's timers.
    pub fn tick(&mut self, now: Uptime) -> Vec<Action6> {
        if self.poll_at().is_none_or(|t| t > now) {
            return Vec::new();
        }
        let state = std::mem::replace(&mut self.state, State::Idle);
        let (state, actions) = match state {
            State::Idle => (State::Idle, Vec::new()),
            State::Informed { .. } => {
                let actions = self.inform(now);
                (std::mem::replace(&mut self.state, State::Idle), actions)
            }
            State::Informing(mut ex) => {
                let a = self.send(now, &mut ex, &Request::InformationRequest, INF_MAX_RT);
                (State::Informing(ex), vec![a])
            }
            State::Soliciting { mut ex, best } => match best {
                Some(b) => self.taken(now, b.server),
                None => {
                    let req = Request::Solicit { iaid: self.iaid };
                    let a = self.send(now, &mut ex, &req, SOL_MAX_RT);
                    (State::Soliciting { ex, best: None }, vec![a])
                }
            },
            State::Requesting { mut ex, server } => {
                if ex.sent >= REQ_MAX_RC {
                    let mut actions =
                        vec![Action6::Note("no Reply to Request: Solicit again".into())];
                    actions.extend(self.solicit(now));
                    (std::mem::replace(&mut self.state, State::Idle), actions)
                } else {
                    let req = Request::Request {
                        iaid: self.iaid,
                        server: server.clone(),
                    };
                    let a = self.send(now, &mut ex, &req, REQ_MAX_RT);
                    (State::Requesting { ex, server }, vec![a])
                }
            }
            State::Bound(lease) => self.lease_timers(now, lease, None),
            State::Renewing { lease, ex } => self.lease_timers(now, lease, Some((false, ex))),
            State::Rebinding { lease, ex } => self.lease_timers(now, lease, Some((true, ex))),
        };
        self.state = state;
        actions
    }

    /// Bound, renewing or rebinding (`ex`: the exchange under way, and whether it is a
    /// Rebind): what is due at `now`.
    fn lease_timers(
        &mut self,
        now: Uptime,
        lease: Lease6,
        ex: Option<(bool, Exchange)>,
    ) -> (State, Vec<Action6>) {
        let Some(addr) = lease.config.address else {
            return (State::Idle, Vec::new());
        };
        if lease.expires_at.is_some_and(|t| t <= now) {
            let mut actions = vec![
                Action6::Note(format!("{}: valid lifetime over", addr.addr)),
                Action6::Remove(lease.config),
            ];
            actions.extend(self.solicit(now));
            return (std::mem::replace(&mut self.state, State::Idle), actions);
        }
        let rebinding = matches!(ex, Some((true, _)));
        if !rebinding && lease.rebind_at.is_some_and(|t| t <= now) {
            // T2: any server may extend it (section 18.2.5).
            let mut ex = self.new_exchange(now, REN_TIMEOUT, false);
            let req = Request::Rebind {
                iaid: self.iaid,
                addr: addr.addr,
            };
            let a = self.send(now, &mut ex, &req, REN_MAX_RT);
            return (State::Rebinding { lease, ex }, vec![a]);
        }
        match ex {
            None if lease.renew_at.is_some_and(|t| t <= now) => {
                let mut ex = self.new_exchange(now, REN_TIMEOUT, false);
                let req = Request::Renew {
                    iaid: self.iaid,
                    server: lease.server.clone(),
                    addr: addr.addr,
                };
                let a = self.send(now, &mut ex, &req, REN_MAX_RT);
                (State::Renewing { lease, ex }, vec![a])
            }
            None => (State::Bound(lease), Vec::new()),
            Some((rebind, mut ex)) if ex.retry_at <= now => {
                let req = if rebind {
                    Request::Rebind {
                        iaid: self.iaid,
                        addr: addr.addr,
                    }
                } else {
                    Request::Renew {
                        iaid: self.iaid,
                        server: lease.server.clone(),
                        addr: addr.addr,
                    }
                };
                let a = self.send(now, &mut ex, &req, REN_MAX_RT);
                if rebind {
                    (State::Rebinding { lease, ex }, vec![a])
                } else {
                    (State::Renewing { lease, ex }, vec![a])
                }
            }
            Some((true, ex)) => (State::Rebinding { lease, ex }, Vec::new()),
            Some((false, ex)) => (State::Renewing { lease, ex }, Vec::new()),
        }
    }

    /// At shutdown: a Release for the address held (sent once: section 18.2.7 allows
    /// giving up, and the machine is going), and the address removed.
    pub fn release(&mut self, now: Uptime) -> Vec<Action6> {
        let state = std::mem::replace(&mut self.state, State::Idle);
        let (State::Bound(lease) | State::Renewing { lease, .. } | State::Rebinding { lease, .. }) =
            state
        else {
            return Vec::new();
        };
        let Some(addr) = lease.config.address else {
            return Vec::new();
        };
        let mut ex = self.new_exchange(now, REQ_TIMEOUT, false);
        let req = Request::Release {
            iaid: self.iaid,
            server: lease.server.clone(),
            addr: addr.addr,
        };
        let a = self.send(now, &mut ex, &req, REQ_MAX_RT);
        vec![a, Action6::Remove(lease.config)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::v6_wire::duid_ll;
    use crate::dhcp::v6_wire::tests::{MAC, ia_body, server_msg};
    use dhcproto::v6::{DhcpOption, Message, MessageType, OptionCode};
    use dhcproto::{Decodable, Decoder};

    const SERVER: [u8; 6] = [0, 3, 0, 1, 2, 2];

    fn s(n: u64) -> Uptime {
        Duration::from_secs(n)
    }

    fn client() -> Client6 {
        Client6::new(duid_ll(&MAC), 1, 42)
    }

    fn sent(actions: &[Action6]) -> Vec<Message> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action6::Send(b) => Some(Message::decode(&mut Decoder::new(b)).unwrap()),
                _ => None,
            })
            .collect()
    }

    fn applied(actions: &[Action6]) -> Option<Config6> {
        actions.iter().find_map(|a| match a {
            Action6::Apply(c) => Some(c.clone()),
            _ => None,
        })
    }

    fn removed(actions: &[Action6]) -> bool {
        actions.iter().any(|a| matches!(a, Action6::Remove(_)))
    }

    fn dns(list: &[&str]) -> Vec<u8> {
        list.iter()
            .flat_map(|a| a.parse::<Ipv6Addr>().unwrap().octets())
            .collect()
    }

    /// A reply to the client's current exchange.
    fn reply(c: &Client6, kind: u8, extra: Vec<(u16, Vec<u8>)>) -> Vec<u8> {
        let mut opts = vec![(1, duid_ll(&MAC)), (2, SERVER.to_vec())];
        opts.extend(extra);
        server_msg(kind, c.current_xid().unwrap(), &opts)
    }

    fn bound(t1: u32, t2: u32, pref: u32, valid: u32) -> Client6 {
        let mut c = client();
        c.start(s(0), Mode::Stateful);
        let adv = reply(
            &c,
            2,
            vec![
                (3, ia_body(1, t1, t2, "fd00::105", pref, valid)),
                (7, vec![255]),
            ],
        );
        let a = c.handle(s(0), &adv);
        assert_eq!(sent(&a)[0].msg_type(), MessageType::Request);
        let r = reply(
            &c,
            7,
            vec![
                (3, ia_body(1, t1, t2, "fd00::105", pref, valid)),
                (23, dns(&["fd00::1"])),
            ],
        );
        let a = c.handle(s(0), &r);
        assert_eq!(c.state_name(), "bound");
        let cfg = applied(&a).unwrap();
        assert_eq!(cfg.dns, vec!["fd00::1".parse::<Ipv6Addr>().unwrap()]);
        c
    }

    #[test]
    fn stateless_information_request_applies_dns_and_refreshes() {
        let mut c = client();
        let a = c.start(s(0), Mode::Stateless);
        let m = sent(&a);
        assert_eq!(m[0].msg_type(), MessageType::InformationRequest);
        assert_eq!(c.state_name(), "information-request");
        let mut search = vec![3];
        search.extend(b"lan");
        search.push(0);
        let r = reply(
            &c,
            7,
            vec![
                (23, dns(&["fd00::1"])),
                (24, search),
                (32, 700u32.to_be_bytes().to_vec()),
            ],
        );
        let a = c.handle(s(1), &r);
        let cfg = applied(&a).unwrap();
        assert_eq!(cfg.address, None);
        assert_eq!(cfg.domains, vec!["lan".to_string()]);
        assert_eq!(c.state_name(), "informed");
        assert_eq!(c.poll_at(), Some(s(701)));
        assert!(c.tick(s(700)).is_empty());
        let a = c.tick(s(701));
        assert_eq!(sent(&a)[0].msg_type(), MessageType::InformationRequest);
    }

    #[test]
    fn refresh_time_below_the_minimum_is_raised() {
        let mut c = client();
        c.start(s(0), Mode::Stateless);
        let r = reply(&c, 7, vec![(32, 5u32.to_be_bytes().to_vec())]);
        c.handle(s(0), &r);
        assert_eq!(c.poll_at(), Some(s(600)));
    }

    #[test]
    fn information_request_is_retransmitted_with_backoff() {
        let mut c = client();
        c.start(s(0), Mode::Stateless);
        let xid = c.current_xid();
        let mut waits = Vec::new();
        let mut now = s(0);
        for _ in 0..14 {
            let next = c.poll_at().unwrap();
            waits.push(next - now);
            now = next;
            let a = c.tick(now);
            let m = sent(&a);
            assert_eq!(m.len(), 1);
            // Elapsed time grows; the xid stays.
            let Some(DhcpOption::ElapsedTime(e)) = m[0].opts().get(OptionCode::ElapsedTime) else {
                panic!()
            };
            assert_eq!(u128::from(*e), (now.as_millis() / 10).min(0xffff));
        }
        assert_eq!(c.current_xid(), xid);
        assert!(waits[0] >= Duration::from_millis(900) && waits[0] <= Duration::from_millis(1100));
        assert!(waits[1] >= Duration::from_millis(1600) && waits[1] <= Duration::from_millis(2400));
        let last = *waits.last().unwrap();
        assert!(last >= s(3240) && last <= s(3960), "{last:?}");
    }

    #[test]
    fn wrong_xid_wrong_duid_and_bad_replies_change_nothing() {
        let mut c = client();
        c.start(s(0), Mode::Stateless);
        let xid = c.current_xid().unwrap();
        let other_xid = server_msg(7, xid ^ 1, &[(1, duid_ll(&MAC)), (2, SERVER.to_vec())]);
        let other_duid = server_msg(7, xid, &[(1, duid_ll(&[9; 6])), (2, SERVER.to_vec())]);
        let no_server = server_msg(7, xid, &[(1, duid_ll(&MAC))]);
        let bad_len = server_msg(
            7,
            xid,
            &[(1, duid_ll(&MAC)), (2, SERVER.to_vec()), (13, vec![0])],
        );
        let advertise = reply(&c, 2, vec![]);
        for p in [
            other_xid,
            other_duid,
            no_server,
            bad_len,
            advertise,
            vec![],
            vec![7],
        ] {
            let a = c.handle(s(0), &p);
            assert!(applied(&a).is_none() && sent(&a).is_empty(), "{p:?}");
            assert!(matches!(a.as_slice(), [Action6::Note(_)]), "{a:?}");
            assert_eq!(c.state_name(), "information-request");
            assert_eq!(c.current_xid(), Some(xid));
        }
    }

    #[test]
    fn solicit_keeps_the_best_advertise_until_the_first_wait_ends() {
        let mut c = client();
        let a = c.start(s(0), Mode::Stateful);
        let m = sent(&a);
        assert_eq!(m[0].msg_type(), MessageType::Solicit);
        assert!(m[0].opts().get(OptionCode::IANA).is_some());
        let wait = c.poll_at().unwrap();
        assert!(
            wait > s(1) && wait <= Duration::from_millis(1100),
            "{wait:?}"
        );
        let low = reply(
            &c,
            2,
            vec![(3, ia_body(1, 0, 0, "fd00::5", 100, 200)), (7, vec![1])],
        );
        let a = c.handle(s(0), &low);
        assert!(sent(&a).is_empty());
        let none = reply(&c, 2, vec![(3, ia_body(1, 0, 0, "fd00::6", 0, 0))]);
        c.handle(s(0), &none);
        let a = c.tick(wait);
        let m = sent(&a);
        assert_eq!(m[0].msg_type(), MessageType::Request);
        assert_eq!(
            m[0].opts().get(OptionCode::ServerId),
            Some(&DhcpOption::ServerId(SERVER.to_vec()))
        );
        assert_eq!(c.state_name(), "requesting");
    }

    #[test]
    fn an_advertise_with_no_addrs_avail_is_ignored() {
        let mut c = client();
        c.start(s(0), Mode::Stateful);
        let mut ia = ia_body(1, 0, 0, "fd00::5", 1, 2)[..12].to_vec();
        ia.extend([0, 13, 0, 2, 0, 2]);
        let adv = reply(&c, 2, vec![(3, ia), (7, vec![255])]);
        c.handle(s(0), &adv);
        assert_eq!(c.state_name(), "soliciting");
        let a = c.tick(c.poll_at().unwrap());
        assert_eq!(sent(&a)[0].msg_type(), MessageType::Solicit);
    }

    #[test]
    fn renews_at_t1_rebinds_at_t2_and_drops_the_address_at_expiry() {
        let mut c = bound(100, 160, 200, 300);
        assert_eq!(
            c.address().unwrap().addr,
            "fd00::105".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(c.poll_at(), Some(s(100)));
        let a = c.tick(s(100));
        let m = sent(&a);
        assert_eq!(m[0].msg_type(), MessageType::Renew);
        assert_eq!(
            m[0].opts().get(OptionCode::ServerId),
            Some(&DhcpOption::ServerId(SERVER.to_vec()))
        );
        assert_eq!(c.state_name(), "renewing");
        // Renew retransmits about every 10 s, doubling.
        let next = c.poll_at().unwrap();
        assert!(next >= s(109) && next <= s(111), "{next:?}");
        c.tick(next);
        let a = c.tick(s(160));
        let m = sent(&a);
        assert_eq!(m[0].msg_type(), MessageType::Rebind);
        assert!(m[0].opts().get(OptionCode::ServerId).is_none());
        assert_eq!(c.state_name(), "rebinding");
        let mut now;
        loop {
            now = c.poll_at().unwrap();
            let a = c.tick(now);
            if removed(&a) {
                assert_eq!(sent(&a)[0].msg_type(), MessageType::Solicit);
                break;
            }
            assert!(now < s(300));
        }
        assert_eq!(now, s(300));
        assert_eq!(c.state_name(), "soliciting");
        assert!(c.address().is_none());
    }

    #[test]
    fn a_renew_reply_extends_the_lease() {
        let mut c = bound(100, 160, 200, 300);
        c.tick(s(100));
        let r = reply(
            &c,
            7,
            vec![(3, ia_body(1, 100, 160, "fd00::105", 200, 300))],
        );
        let a = c.handle(s(101), &r);
        assert!(applied(&a).is_some());
        assert!(!removed(&a));
        assert_eq!(c.state_name(), "bound");
        assert_eq!(c.poll_at(), Some(s(201)));
    }

    #[test]
    fn no_binding_on_renew_requests_again() {
        let mut c = bound(100, 160, 200, 300);
        c.tick(s(100));
        let mut ia = ia_body(1, 0, 0, "fd00::5", 1, 2)[..12].to_vec();
        ia.extend([0, 13, 0, 2, 0, 3]);
        let r = reply(&c, 7, vec![(3, ia)]);
        let a = c.handle(s(101), &r);
        assert_eq!(sent(&a)[0].msg_type(), MessageType::Request);
        assert_eq!(c.state_name(), "requesting");
    }

    #[test]
    fn zero_t1_t2_use_half_and_four_fifths_of_preferred() {
        let c = bound(0, 0, 1000, 2000);
        assert_eq!(c.poll_at(), Some(s(500)));
        let mut c = c;
        c.tick(s(500));
        assert_eq!(c.state_name(), "renewing");
        c.tick(s(800));
        assert_eq!(c.state_name(), "rebinding");
    }

    #[test]
    fn infinite_lifetimes_never_renew() {
        let c = bound(0, 0, u32::MAX, u32::MAX);
        assert_eq!(c.poll_at(), None);
    }

    #[test]
    fn request_gives_up_after_ten_tries_and_solicits_again() {
        let mut c = client();
        c.start(s(0), Mode::Stateful);
        let adv = reply(
            &c,
            2,
            vec![(3, ia_body(1, 0, 0, "fd00::5", 1, 2)), (7, vec![255])],
        );
        c.handle(s(0), &adv);
        let mut kinds = Vec::new();
        for _ in 0..10 {
            let a = c.tick(c.poll_at().unwrap());
            kinds.extend(sent(&a).iter().map(Message::msg_type));
        }
        assert_eq!(
            kinds.iter().filter(|k| **k == MessageType::Request).count(),
            9
        );
        assert_eq!(kinds.last(), Some(&MessageType::Solicit));
    }

    #[test]
    fn a_reply_from_another_server_while_requesting_is_dropped() {
        let mut c = client();
        c.start(s(0), Mode::Stateful);
        let adv = reply(
            &c,
            2,
            vec![(3, ia_body(1, 0, 0, "fd00::5", 1, 2)), (7, vec![255])],
        );
        c.handle(s(0), &adv);
        let xid = c.current_xid().unwrap();
        let r = server_msg(
            7,
            xid,
            &[
                (1, duid_ll(&MAC)),
                (2, vec![9, 9]),
                (3, ia_body(1, 0, 0, "fd00::5", 1, 2)),
            ],
        );
        let a = c.handle(s(0), &r);
        assert!(applied(&a).is_none());
        assert_eq!(c.state_name(), "requesting");
    }

    #[test]
    fn release_sends_the_address_back_and_removes_it() {
        let mut c = bound(100, 160, 200, 300);
        let a = c.release(s(10));
        let m = sent(&a);
        assert_eq!(m[0].msg_type(), MessageType::Release);
        assert_eq!(
            m[0].opts().get(OptionCode::ServerId),
            Some(&DhcpOption::ServerId(SERVER.to_vec()))
        );
        assert!(removed(&a));
        assert_eq!(c.state_name(), "idle");
        assert!(c.release(s(11)).is_empty());
    }

    #[test]
    fn retry_now_resends_the_same_exchange_at_once() {
        let mut c = client();
        c.start(s(0), Mode::Stateful);
        let xid = c.current_xid();
        c.retry_now(Duration::from_millis(200));
        assert_eq!(c.poll_at(), Some(Duration::from_millis(200)));
        let a = c.tick(Duration::from_millis(200));
        assert_eq!(sent(&a)[0].msg_type(), MessageType::Solicit);
        assert_eq!(c.current_xid(), xid);
        // Bound: nothing to retry.
        let mut b = bound(100, 160, 200, 300);
        b.retry_now(s(1));
        assert_eq!(b.poll_at(), Some(s(100)));
    }

    #[test]
    fn the_link_coming_back_rebinds_the_address_and_asks_for_options_again() {
        let mut c = bound(100, 160, 200, 300);
        let a = c.link_returned(s(10));
        assert_eq!(sent(&a)[0].msg_type(), MessageType::Rebind);
        assert_eq!(c.state_name(), "rebinding");
        // A server on the new network does not know the address: it is given up.
        let mut ia = ia_body(1, 0, 0, "fd00::5", 1, 2)[..12].to_vec();
        ia.extend([0, 13, 0, 2, 0, 4]);
        let r = reply(&c, 7, vec![(3, ia)]);
        let a = c.handle(s(11), &r);
        assert!(removed(&a));
        assert_eq!(c.state_name(), "soliciting");

        let mut c = client();
        c.start(s(0), Mode::Stateless);
        let r = reply(&c, 7, vec![]);
        c.handle(s(0), &r);
        let a = c.link_returned(s(5));
        assert_eq!(sent(&a)[0].msg_type(), MessageType::InformationRequest);
        assert!(client().link_returned(s(1)).is_empty());
    }

    #[test]
    fn stateless_turns_stateful_when_m_comes_on_but_not_back() {
        let mut c = client();
        c.start(s(0), Mode::Stateless);
        assert!(c.start(s(0), Mode::Stateless).is_empty());
        let a = c.start(s(1), Mode::Stateful);
        assert_eq!(sent(&a)[0].msg_type(), MessageType::Solicit);
        assert!(c.start(s(2), Mode::Stateless).is_empty());
        assert_eq!(c.mode(), Some(Mode::Stateful));
    }
}
