//! One interface under DHCP: the state machine, its socket, and what has been applied.
//! Both PID 1's event loop and `qinit dhcp` drive it with the same calls.

use crate::clock::Uptime;
use crate::dhcp::acd::{Conflict, mac_text};
use crate::dhcp::client::{Action, Client, Event};
use crate::dhcp::lease::Lease;
use crate::dhcp::raw::RawReceiver;
use crate::dhcp::socket::DhcpSocket;
use crate::dhcp::wire::ClientId;
use crate::log::ms;
use crate::net::configure::{self, Publish};
use crate::net::conflict::ConflictWatch;
use crate::net::link::{Link, Netlink};
use crate::net::plan::{LinkSettings, lease_with_routes};
use crate::{debug, info};
use std::cell::Cell;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Bound(Box<Lease>),
    Lost,
}

/// Datagrams read from each socket per call of `readable`: under a flood the event loop
/// still gets back to signals, children and timers between batches (poll reports the
/// socket readable again at once).
const READ_AT_MOST: usize = 32;

pub struct NetIf {
    pub link: Link,
    mac: [u8; 6],
    client: Client,
    sock: DhcpSocket,
    /// Open while the client has no bound address.
    raw: Option<RawReceiver>,
    applied: Option<Lease>,
    publish: Publish,
    state_file: Option<PathBuf>,
    carrier_at: Option<Uptime>,
    /// When the first message went out after the carrier came (DISCOVER, or REQUEST
    /// when rebooting with a lease); reset at each carrier.
    first_sent_at: Option<Uptime>,
    buf: Vec<u8>,
    /// What the state file holds, and the client's `changes()` when it was rendered:
    /// the file is rewritten only when what it shows changed.
    written: Option<(u64, String)>,
    /// When the state file was last written, and the client state it showed.
    last_write: Option<(Uptime, &'static str)>,
    /// A rewrite held back by `pace`, due then.
    state_due: Option<Uptime>,
    /// When the exchange under way began (`Client::in_exchange`), as `write_state` saw it.
    exchange_since: Option<Uptime>,
    /// The interface whose lease gives the default route, DNS and host name: the first
    /// to bind. Shared by every NetIf of the machine.
    primary: DefaultOwner,
    /// RFC 5227 conflict detection for the applied address.
    watch: ConflictWatch,
    /// The configured MTU and `rd.route=` routes, which each lease is applied with.
    settings: LinkSettings,
}

/// Which interface (by index) holds the default route; shared by all interfaces.
pub type DefaultOwner = Rc<Cell<Option<u32>>>;

/// The least time between two rewrites of the state file that show the same state.
const STATE_PACE: Duration = Duration::from_secs(1);

/// How long an exchange with the server must have lasted before the state file shows the
/// states it passes through (selecting, requesting, init-reboot, renewing, rebinding):
/// one that ends sooner, as it does in tens of milliseconds with a server on the link,
/// writes only its outcome. Each write is a file and a rename (a few milliseconds under
/// TCG) that the server's reply would wait behind.
const EXCHANGE_QUIET: Duration = Duration::from_millis(200);

/// Whether the state file may be rewritten now (Ok) or only at the time returned.
/// `exchange_since`: when the exchange under way began, if one is (`Client::in_exchange`).
/// A state of an exchange waits until `EXCHANGE_QUIET` after its start; any other new
/// state (bound, init, backoff) is written at once; a rewrite that shows the same state
/// (only the reason there is no lease, which a flood of refused replies changes with
/// every datagram) waits until `STATE_PACE` after the last write.
fn pace(
    last: Option<(Uptime, &str)>,
    exchange_since: Option<Uptime>,
    state: &str,
    now: Uptime,
) -> Result<(), Uptime> {
    if let Some(since) = exchange_since
        && now < since + EXCHANGE_QUIET
    {
        return Err(since + EXCHANGE_QUIET);
    }
    match last {
        Some((at, shown)) if shown == state && now < at + STATE_PACE => Err(at + STATE_PACE),
        _ => Ok(()),
    }
}

/// An xid and jitter seed that never blocks: the kernel's RNG without waiting for it to
/// be ready, mixed with the MAC and the clock (which is all there is if both calls fail).
pub fn seed(mac: &[u8; 6]) -> u64 {
    mix(
        kernel_random().unwrap_or_default(),
        crate::clock::uptime(),
        mac,
    )
}

/// Eight bytes from the kernel's RNG, never blocking. GRND_INSECURE (Linux 5.6) gives
/// them even before the pool is initialised, as it is early in a VM's boot; older
/// kernels refuse the flag, and then NONBLOCK may still have some. None when both fail.
fn kernel_random() -> Option<[u8; 8]> {
    let mut b = [0u8; 8];
    let flags = [
        rustix::rand::GetRandomFlags::INSECURE,
        rustix::rand::GetRandomFlags::NONBLOCK,
    ];
    flags
        .into_iter()
        .any(|f| rustix::rand::getrandom(&mut b, f).is_ok_and(|n| n == b.len()))
        .then_some(b)
}

fn mix(random: [u8; 8], now: Uptime, mac: &[u8; 6]) -> u64 {
    let mut s =
        u64::from_ne_bytes(random) ^ u64::try_from(now.as_nanos() & 0xffff_ffff_ffff).unwrap_or(1);
    for &x in mac {
        s = s.rotate_left(8) ^ u64::from(x);
    }
    s
}

impl NetIf {
    pub fn new(
        link: Link,
        publish: Publish,
        state_file: Option<PathBuf>,
        rapid_commit: bool,
        primary: DefaultOwner,
    ) -> Result<Self, String> {
        let mac = link
            .mac
            .ok_or_else(|| format!("{} has no Ethernet address", link.name))?;
        let sock = DhcpSocket::open(&link.name)?;
        let id = ClientId {
            mac,
            hostname: publish.hostname_override.clone(),
            rapid_commit,
        };
        let mut client = Client::new(id, seed(&mac));
        // Notes are only for the debug log: without it a dropped packet formats nothing.
        client.set_notes(crate::log::debug_enabled());
        let watch = ConflictWatch::new(&link.name, link.index, mac, seed(&mac));
        Ok(NetIf {
            watch,
            client,
            mac,
            link,
            sock,
            raw: None,
            applied: None,
            publish,
            state_file,
            carrier_at: None,
            first_sent_at: None,
            buf: Vec::new(),
            written: None,
            last_write: None,
            state_due: None,
            exchange_since: None,
            primary,
            settings: LinkSettings::default(),
        })
    }

    /// The configured MTU (which a lease's MTU then does not replace) and the
    /// `rd.route=` routes to add with each lease.
    pub fn set_settings(&mut self, settings: LinkSettings) {
        self.settings = settings;
    }

    /// The sockets to poll: UDP, and the packet socket while unbound.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut fds = vec![self.sock.fd()];
        if let Some(r) = &self.raw {
            fds.push(r.fd());
        }
        fds.extend(self.watch.fd());
        fds
    }

    /// Opens the packet socket when the client first needs it. Opened once; afterwards
    /// only its filter changes (see `update_filters`).
    fn open_raw(&mut self) {
        if self.raw.is_none() && self.client.wants_raw() {
            match RawReceiver::open(&self.link.name, self.link.index, self.mac) {
                Ok(r) => self.raw = Some(r),
                Err(e) => info!("dhcp {}: {e}; receiving on UDP only", self.link.name),
            }
        }
    }

    /// Points both sockets' filters at the exchange under way: the packet socket while
    /// the client has no address bound, else the UDP socket. Done before the client's
    /// messages go out, so that no reply to them is filtered away.
    fn update_filters(&mut self) {
        let xid = self.client.current_xid();
        let name = &self.link.name;
        if let Some(r) = &mut self.raw {
            let want = if self.client.wants_raw() { xid } else { None };
            if let Err(e) = r.set_expect(want) {
                info!("dhcp {name}: {e}");
            }
        }
        // While the packet socket takes the replies the UDP copies would be duplicates.
        let raw_takes = self.raw.as_ref().is_some_and(RawReceiver::active);
        let udp = if raw_takes { None } else { xid };
        if let Err(e) = self.sock.set_expect(udp, self.mac) {
            info!("{e}");
        }
    }

    pub fn lease(&self) -> Option<&Lease> {
        self.applied.as_ref()
    }

    pub fn why_no_lease(&self) -> Option<String> {
        self.client.why_no_lease()
    }

    pub fn next_wakeup(&self) -> Option<Uptime> {
        [
            self.client.next_wakeup(),
            self.watch.poll_at(),
            self.state_due,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn carrier(&mut self, nl: &mut Netlink, now: Uptime, up: bool) -> Vec<Outcome> {
        if up == self.link.carrier && self.carrier_at.is_some() {
            return Vec::new();
        }
        if !up && !self.link.carrier && self.carrier_at.is_none() {
            // Not lost: it has not come yet (the event of the link being set up).
            return Vec::new();
        }
        self.link.carrier = up;
        if up {
            info!("{}: carrier up", self.link.name);
            self.carrier_at = Some(now);
            self.first_sent_at = None;
            // RFC 5227 2.1: the held address is checked again on the link it came back to.
            if let Some(a) = self.applied.as_ref().map(|l| l.address) {
                self.watch.start(now, a);
            }
            self.drive(nl, now, Event::CarrierUp)
        } else {
            info!("{}: carrier lost", self.link.name);
            self.watch.stop();
            self.drive(nl, now, Event::CarrierDown)
        }
    }

    /// Reads what the sockets hold, at most `READ_AT_MOST` datagrams from each; `ready`
    /// says which of `fds()` poll found readable (the others are not read at all).
    pub fn readable(&mut self, nl: &mut Netlink, now: Uptime, ready: &[bool]) -> Vec<Outcome> {
        let mut out = Vec::new();
        let mut buf = std::mem::take(&mut self.buf);
        let at_most = |i: usize| {
            if ready.get(i) == Some(&true) {
                READ_AT_MOST
            } else {
                0
            }
        };
        for _ in 0..at_most(0) {
            let Some(n) = self.sock.recv(&mut buf) else {
                break;
            };
            out.extend(self.drive(nl, now, Event::Packet(buf.get(..n).unwrap_or(&[]))));
        }
        for _ in 0..at_most(1) {
            let Some(r) = self.raw.as_ref().and_then(|r| r.recv(&mut buf)) else {
                break;
            };
            match r {
                Ok(payload) => {
                    let packet = buf.get(payload).unwrap_or(&[]);
                    out.extend(self.drive(nl, now, Event::Packet(packet)));
                }
                Err(why) => debug!("dhcp {}: dropped a packet: {why}", self.link.name),
            }
        }
        self.buf = buf;
        if let Some(c) = self.watch.readable(now) {
            out.extend(self.decline(nl, now, c));
        }
        out
    }

    /// DHCPRELEASE and deconfiguration, for shutdown and `qinit dhcp --release`.
    pub fn release(&mut self, nl: &mut Netlink, now: Uptime) {
        if let Some(l) = &self.applied {
            info!(
                "dhcp {}: releasing {} to {}",
                self.link.name, l.address, l.server
            );
        }
        let actions = self.client.release(now);
        self.update_filters();
        self.run_actions(nl, now, actions);
        self.write_state(now);
    }

    pub fn tick(&mut self, nl: &mut Netlink, now: Uptime) -> Vec<Outcome> {
        let mut out = Vec::new();
        if let Some(c) = self.watch.tick(now) {
            out.extend(self.decline(nl, now, c));
        }
        if self.client.next_wakeup().is_some_and(|t| t <= now) {
            out.extend(self.drive(nl, now, Event::Tick));
        }
        if self.state_due.is_some_and(|t| t <= now) {
            self.write_state(now);
        }
        out
    }

    /// Another host uses our address (RFC 5227): DHCPDECLINE, the address removed, and
    /// DISCOVER again after the back-off, as systemd-networkd does.
    fn decline(&mut self, nl: &mut Netlink, now: Uptime, c: Conflict) -> Vec<Outcome> {
        let wait = self.watch.decline_wait();
        info!(
            "dhcp {}: {} is in use by {} ({}): declining it, DISCOVER again in {} s",
            self.link.name,
            c.address,
            mac_text(&c.by),
            if c.probing {
                "found by probing"
            } else {
                "a second conflict while defending it"
            },
            wait.as_secs()
        );
        let actions = self.client.decline(now, c.address, wait);
        self.open_raw();
        self.update_filters();
        let out = self.run_actions(nl, now, actions);
        if out.iter().any(|o| matches!(o, Outcome::Bound(_))) {
            // The state file at the next tick: the shell starts first (see `pid1`).
            self.state_due = Some(now);
        } else {
            self.write_state(now);
        }
        out
    }

    fn drive(&mut self, nl: &mut Netlink, now: Uptime, event: Event<'_>) -> Vec<Outcome> {
        // Open the packet socket before a DISCOVER goes out, so no reply is missed.
        if matches!(event, Event::CarrierUp) {
            self.open_raw();
        }
        let changes = self.client.changes();
        let actions = self.client.handle(now, event);
        if self.client.changes() == changes {
            // A reply to someone else: nothing to send, apply or show.
            for a in actions {
                if let Action::Note(n) = a {
                    debug!("dhcp {}: {n}", self.link.name);
                }
            }
            return Vec::new();
        }
        self.open_raw();
        self.update_filters();
        let out = self.run_actions(nl, now, actions);
        if out.iter().any(|o| matches!(o, Outcome::Bound(_))) {
            // The state file at the next tick: the shell starts first (see `pid1`).
            self.state_due = Some(now);
        } else {
            self.write_state(now);
        }
        out
    }

    fn run_actions(&mut self, nl: &mut Netlink, now: Uptime, actions: Vec<Action>) -> Vec<Outcome> {
        let mut out = Vec::new();
        for action in actions {
            match action {
                Action::Send { bytes, to } => match self.sock.send(&bytes, to) {
                    Ok(()) => {
                        if self.first_sent_at.is_none() {
                            self.first_sent_at = Some(crate::clock::uptime());
                        }
                    }
                    Err(e) => info!("{e}"),
                },
                Action::Note(n) => debug!("dhcp {}: {n}", self.link.name),
                Action::Apply(lease) => {
                    self.apply(nl, now, &lease);
                    self.watch.start(now, lease.address);
                    out.push(Outcome::Bound(Box::new(lease)));
                }
                Action::Remove(lease) => {
                    // Said once it is done: whoever reads the line finds the address gone.
                    let errors = configure::remove(nl, &self.link, &lease);
                    info!(
                        "dhcp {}: lease on {} ended; address removed",
                        self.link.name, lease.address
                    );
                    for e in errors {
                        info!("dhcp {}: {e}", self.link.name);
                    }
                    self.applied = None;
                    self.watch.stop();
                    if self.primary.get() == Some(self.link.index) {
                        self.primary.set(None);
                    }
                    out.push(Outcome::Lost);
                }
            }
        }
        out
    }

    fn apply(&mut self, nl: &mut Netlink, now: Uptime, lease: &Lease) {
        let lease = &lease_with_routes(lease, &self.link.name, &self.settings);
        let name = &self.link.name;
        let renewed = self
            .applied
            .as_ref()
            .is_some_and(|a| a.address == lease.address);
        let primary = match self.primary.get() {
            None => {
                self.primary.set(Some(self.link.index));
                true
            }
            Some(i) => i == self.link.index,
        };
        let mut errors = configure::apply(nl, &self.link, lease, self.applied.as_ref(), primary);
        if primary {
            errors.extend(configure::publish(
                &self.publish,
                Some(lease),
                &format!("DHCP on {name}"),
            ));
        } else {
            info!("dhcp {name}: not the first lease: no default route, DNS or host name from it");
        }
        let via = lease
            .router()
            .map(|r| format!(" via {r}"))
            .unwrap_or_default();
        let secs = lease
            .lease_time
            .map(|t| format!("{} s", t.as_secs()))
            .unwrap_or_else(|| "infinite".into());
        if renewed {
            info!(
                "dhcp {name}: renewed {}/{} from server {}, lease {secs}",
                lease.address, lease.prefix_len, lease.server
            );
        } else {
            // How much of that was ours: when the first message left after the carrier.
            let since = self
                .carrier_at
                .map(|c| {
                    let sent = self
                        .first_sent_at
                        .map(|s| {
                            format!(" (first request sent {} after it)", ms(s.saturating_sub(c)))
                        })
                        .unwrap_or_default();
                    format!(", {} after carrier{sent}", ms(now.saturating_sub(c)))
                })
                .unwrap_or_default();
            info!(
                "dhcp {name}: bound {}/{}{via} from server {}, lease {secs}{since}",
                lease.address, lease.prefix_len, lease.server
            );
        }
        for r in &lease.rejected {
            info!("dhcp {name}: ignored from the server: {r}");
        }
        for e in errors {
            info!("dhcp {name}: {e}");
        }
        self.applied = Some(lease.clone());
    }

    /// Makes this interface's lease the machine's: default route, DNS and host name,
    /// after the interface that gave them lost its lease or went away. False when it
    /// has no lease to give.
    pub fn take_over(&mut self, nl: &mut Netlink) -> bool {
        let Some(lease) = self.applied.clone() else {
            return false;
        };
        self.primary.set(Some(self.link.index));
        let name = &self.link.name;
        let mut errors = configure::apply(nl, &self.link, &lease, Some(&lease), true);
        errors.extend(configure::publish(
            &self.publish,
            Some(&lease),
            &format!("DHCP on {name}"),
        ));
        let via = lease
            .router()
            .map(|r| format!(" via {r}"))
            .unwrap_or_default();
        info!(
            "dhcp {name}: {}{via} now gives the default route, DNS and host name",
            lease.address
        );
        for e in errors {
            info!("dhcp {name}: {e}");
        }
        true
    }

    /// Rewrites the state file if what it shows changed.
    fn write_state(&mut self, now: Uptime) {
        let Some(path) = &self.state_file else {
            return;
        };
        let state = self.client.state_name();
        if !self.client.in_exchange() {
            self.exchange_since = None;
        } else if self.exchange_since.is_none() {
            self.exchange_since = Some(now);
        }
        let changes = self.client.changes();
        if self.written.as_ref().is_some_and(|(c, _)| *c == changes) {
            return;
        }
        let bound_at = self
            .client
            .expires_at()
            .zip(self.applied.as_ref().and_then(|l| l.lease_time))
            .map(|(end, len)| end.saturating_sub(len))
            .unwrap_or(now);
        let text = crate::net::status::render(
            &self.link.name,
            self.client.state_name(),
            self.applied.as_ref(),
            bound_at,
            &self.client.why_no_lease().unwrap_or_default(),
        );
        if self.written.as_ref().is_some_and(|(_, t)| *t == text) {
            self.written = Some((changes, text));
            self.state_due = None;
            return;
        }
        if let Err(due) = pace(self.last_write, self.exchange_since, state, now) {
            self.state_due = Some(due);
            return;
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::net::etc_files::write_atomic(path, &text);
        self.written = Some((changes, text));
        self.last_write = Some((now, state));
        self.state_due = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_state_is_written_at_once_and_the_rest_once_a_second() {
        let t = Duration::from_secs(10);
        let began = Some(t - EXCHANGE_QUIET);
        assert_eq!(pace(None, began, "selecting", t), Ok(()));
        let last = Some((t, "selecting"));
        // Another refused reply 1 ms later: held back until a second after the last write.
        assert_eq!(
            pace(last, began, "selecting", t + Duration::from_millis(1)),
            Err(t + STATE_PACE)
        );
        assert_eq!(pace(last, began, "selecting", t + STATE_PACE), Ok(()));
        // Bound, at once.
        assert_eq!(
            pace(last, None, "bound", t + Duration::from_millis(1)),
            Ok(())
        );
    }

    #[test]
    fn an_exchange_shows_only_once_it_lasts() {
        let t = Duration::from_secs(3);
        let ms = Duration::from_millis;
        // The DISCOVER at the carrier: "selecting" waits, then "requesting" at the OFFER
        // 20 ms in waits for the same end (the exchange began with the DISCOVER).
        assert_eq!(pace(None, Some(t), "selecting", t), Err(t + EXCHANGE_QUIET));
        assert_eq!(
            pace(None, Some(t), "requesting", t + ms(20)),
            Err(t + EXCHANGE_QUIET)
        );
        // The ACK at 30 ms: bound is written at once, the exchange never.
        assert_eq!(pace(None, None, "bound", t + ms(30)), Ok(()));
        // No answer: "selecting" is shown once the exchange has lasted EXCHANGE_QUIET.
        assert_eq!(pace(None, Some(t), "selecting", t + EXCHANGE_QUIET), Ok(()));
        // Renewing, from a written "bound": held back the same way.
        let bound = Some((t, "bound"));
        let renew = t + Duration::from_secs(40);
        assert_eq!(
            pace(bound, Some(renew), "renewing", renew + ms(5)),
            Err(renew + EXCHANGE_QUIET)
        );
        // Outside an exchange (no start given), a new state is written at once.
        for state in ["init", "backoff", "bound"] {
            assert_eq!(pace(None, None, state, t + ms(1)), Ok(()), "{state}");
        }
    }

    #[test]
    fn the_seed_comes_from_the_kernel_without_blocking_and_varies() {
        let seeds: std::collections::HashSet<[u8; 8]> =
            (0..64).map(|_| kernel_random().unwrap()).collect();
        assert_eq!(seeds.len(), 64, "getrandom gave repeated bytes");
        // Two boots of the same machine at the same instant still differ.
        let (now, mac) = (
            std::time::Duration::from_millis(1830),
            [0x52, 0x54, 0, 0x12, 0x34, 0x56],
        );
        assert_ne!(
            mix(kernel_random().unwrap(), now, &mac),
            mix(kernel_random().unwrap(), now, &mac)
        );
        // Without the kernel's bytes, machines with different MACs still differ.
        let other = [0x52, 0x54, 0, 0x12, 0x34, 0x57];
        assert_ne!(mix([0; 8], now, &mac), mix([0; 8], now, &other));
    }
}
