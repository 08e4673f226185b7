//! One interface under DHCPv6: the client, its socket, and what it gave. The router's
//! flags (from the kernel, see `ipv6_events`) say stateless or stateful; without either, an
//! Information-Request goes out when the advertisement gave no DNS server within
//! `RA_DNS_BOUND`. An address is added over netlink with its lifetimes (the kernel
//! removes it when they end, should the client not); DNS goes to the one resolv.conf
//! writer beside IPv4's and the router's. Both PID 1 and `qinit dhcp -6` drive it.

use crate::clock::Uptime;
use crate::dhcp::v6_client::{Action6, Client6, Config6, Mode, mode_for};
use crate::dhcp::v6_socket::Dhcp6Socket;
use crate::dhcp::v6_wire::duid_ll;
use crate::log::ms;
use crate::net::configure::{self, Publish};
use crate::net::link::{Link, Netlink};
use crate::{debug, info};
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::time::Duration;

/// How long after IPv6 starts the router's DNS may take before DHCPv6 is asked instead.
/// The router answers the solicitation sent when IPv6 starts within milliseconds; the
/// kernel's own comes 1-2 s later (see `router_solicit`).
pub const RA_DNS_BOUND: Duration = Duration::from_secs(3);

/// What DHCPv6 does when the router's flags ask for nothing within `RA_DNS_BOUND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// An Information-Request, unless the router gave a DNS server.
    DnsUnlessRaDns,
    /// A Solicit, unless SLAAC gave a global address (`ip=either6`).
    AddressUnlessSlaac,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event6 {
    Configured(Config6),
    Lost,
}

pub struct Dhcp6If {
    pub link: Link,
    client: Client6,
    sock: Dhcp6Socket,
    applied: Option<Config6>,
    publish: Publish,
    state_file: Option<PathBuf>,
    /// When the fallback starts if neither flag came; None once started, or once the
    /// router gave what it stands in for.
    fallback_at: Option<Uptime>,
    /// What the fallback asks for: options when the router gives no DNS (the default),
    /// or an address when it gives none (`ip=either6`).
    fallback: Fallback,
    /// When IPv6 started on the link, for the log's "after IPv6 started".
    started_at: Option<Uptime>,
    /// A mode from the command line (`qinit dhcp -6 --stateful`) instead of the flags.
    forced: Option<Mode>,
    /// The last send failed (the link-local address is not there yet): the next address
    /// event on the link retries at once.
    send_failed: bool,
    /// What the state file holds: it is rewritten only when that changes.
    written: String,
    buf: Vec<u8>,
}

impl Dhcp6If {
    pub fn new(
        link: Link,
        publish: Publish,
        state_file: Option<PathBuf>,
        seed: u64,
    ) -> Result<Self, String> {
        let mac = link
            .mac
            .ok_or_else(|| format!("{} has no Ethernet address", link.name))?;
        let sock = Dhcp6Socket::open(&link.name, link.index)?;
        // The IAID: the interface's index is stable for a machine's boot order, and the
        // DUID (from the MAC) already tells machines apart.
        let client = Client6::new(duid_ll(&mac), link.index, seed);
        Ok(Dhcp6If {
            link,
            client,
            sock,
            applied: None,
            publish,
            state_file,
            fallback_at: None,
            fallback: Fallback::DnsUnlessRaDns,
            started_at: None,
            forced: None,
            send_failed: false,
            written: String::new(),
            buf: Vec::new(),
        })
    }

    pub fn set_fallback(&mut self, f: Fallback) {
        self.fallback = f;
    }

    /// A usable global address is on the link: `ip=either6` needs no DHCPv6 address.
    pub fn address_seen(&mut self) {
        if self.fallback == Fallback::AddressUnlessSlaac {
            self.fallback_at = None;
        }
    }

    /// The link's carrier came back after it was lost: see `Client6::link_returned`.
    pub fn carrier(&mut self, nl: &mut Netlink, now: Uptime, up: bool) -> Vec<Event6> {
        let returned = up && !self.link.carrier;
        self.link.carrier = up;
        if !returned || self.started_at.is_none() {
            return Vec::new();
        }
        info!(
            "dhcpv6 {}: link back: checking with the servers",
            self.link.name
        );
        let actions = self.client.link_returned(now);
        self.run(nl, now, actions)
    }

    /// The link's IPv6 addresses changed: a message that could not go out for want of a
    /// link-local address goes now.
    pub fn addresses_changed(&mut self, nl: &mut Netlink, now: Uptime) -> Vec<Event6> {
        if !self.send_failed {
            return Vec::new();
        }
        self.send_failed = false;
        self.client.retry_now(now);
        let actions = self.client.tick(now);
        self.run(nl, now, actions)
    }

    /// Use `mode` whatever the router says.
    pub fn force(&mut self, mode: Mode) {
        self.forced = Some(mode);
    }

    pub fn state_name(&self) -> &'static str {
        self.client.state_name()
    }

    pub fn config(&self) -> Option<&Config6> {
        self.applied.as_ref()
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.fd()
    }

    pub fn next_wakeup(&self) -> Option<Uptime> {
        [self.client.poll_at(), self.fallback_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// IPv6 is on for the link (its hold ended): the flags are read now, and the
    /// fallback bound starts.
    pub fn ipv6_started(&mut self, nl: &mut Netlink, now: Uptime) -> Vec<Event6> {
        if self.started_at.is_some() {
            return Vec::new();
        }
        self.started_at = Some(now);
        if let Some(mode) = self.forced {
            return self.begin(nl, now, mode, "as asked");
        }
        self.fallback_at = Some(now.saturating_add(RA_DNS_BOUND));
        self.flags_changed(nl, now)
    }

    /// The kernel says the router's flags may have changed.
    pub fn flags_changed(&mut self, nl: &mut Netlink, now: Uptime) -> Vec<Event6> {
        if self.started_at.is_none() || self.forced.is_some() {
            return Vec::new();
        }
        let (managed, other) = match nl.ra_flags(self.link.index) {
            Ok(f) => f,
            Err(e) => {
                info!("dhcpv6 {}: {e}", self.link.name);
                return Vec::new();
            }
        };
        match mode_for(managed, other, false) {
            Some(mode) => {
                let why = if managed {
                    "the router's M flag"
                } else {
                    "the router's O flag"
                };
                self.begin(nl, now, mode, why)
            }
            None => Vec::new(),
        }
    }

    /// The router's advertisement gave a DNS server: no need to ask DHCPv6 for one.
    pub fn ra_dns_seen(&mut self) {
        if self.fallback == Fallback::DnsUnlessRaDns {
            self.fallback_at = None;
        }
    }

    fn begin(&mut self, nl: &mut Netlink, now: Uptime, mode: Mode, why: &str) -> Vec<Event6> {
        let before = self.client.mode();
        let actions = self.client.start(now, mode);
        if actions.is_empty() {
            return Vec::new();
        }
        self.fallback_at = None;
        if before != Some(mode) {
            let what = match mode {
                Mode::Stateless => "stateless (DNS only)",
                Mode::Stateful => "stateful (an address and DNS)",
            };
            info!("dhcpv6 {}: {what}, {why}", self.link.name);
        }
        self.run(nl, now, actions)
    }

    pub fn tick(&mut self, nl: &mut Netlink, now: Uptime) -> Vec<Event6> {
        let mut out = Vec::new();
        if self.fallback_at.is_some_and(|t| t <= now) {
            self.fallback_at = None;
            let secs = RA_DNS_BOUND.as_secs();
            let (mode, why) = match self.fallback {
                Fallback::DnsUnlessRaDns => (
                    Mode::Stateless,
                    format!("no DNS from the router within {secs} s"),
                ),
                Fallback::AddressUnlessSlaac => (
                    Mode::Stateful,
                    format!("no address from the router within {secs} s (ip=either6)"),
                ),
            };
            out.extend(self.begin(nl, now, mode, &why));
        }
        if self.client.poll_at().is_some_and(|t| t <= now) {
            let actions = self.client.tick(now);
            out.extend(self.run(nl, now, actions));
        }
        out
    }

    pub fn readable(&mut self, nl: &mut Netlink, now: Uptime) -> Vec<Event6> {
        let mut out = Vec::new();
        let mut buf = std::mem::take(&mut self.buf);
        for _ in 0..32 {
            let Some(n) = self.sock.recv(&mut buf) else {
                break;
            };
            let actions = self.client.handle(now, buf.get(..n).unwrap_or(&[]));
            out.extend(self.run(nl, now, actions));
        }
        self.buf = buf;
        out
    }

    /// At shutdown: the address released to the server and removed.
    pub fn release(&mut self, nl: &mut Netlink, now: Uptime) {
        if let Some(a) = self.applied.as_ref().and_then(|c| c.address) {
            info!("dhcpv6 {}: releasing {}", self.link.name, a.addr);
        }
        let actions = self.client.release(now);
        self.run(nl, now, actions);
    }

    fn run(&mut self, nl: &mut Netlink, now: Uptime, actions: Vec<Action6>) -> Vec<Event6> {
        let name = self.link.name.clone();
        let mut out = Vec::new();
        for a in actions {
            match a {
                // A failed send (no link-local address yet) is retried at the next
                // retransmission.
                Action6::Send(b) => {
                    self.send_failed = false;
                    if let Err(e) = self.sock.send(&b) {
                        debug!("{e}");
                        self.send_failed = true;
                    }
                }
                Action6::Note(n) => debug!("dhcpv6 {name}: {n}"),
                Action6::Apply(c) => {
                    self.apply(nl, now, &c);
                    out.push(Event6::Configured(c));
                }
                Action6::Remove(c) => {
                    if let Some(a) = c.address {
                        info!("dhcpv6 {name}: {} given up; address removed", a.addr);
                        if let Err(e) =
                            nl.del_address(&self.link, std::net::IpAddr::V6(a.addr), 128)
                        {
                            debug!("dhcpv6 {name}: {e}");
                        }
                    }
                    self.applied = None;
                    for e in configure::publish_dhcp6(&self.publish, Vec::new(), Vec::new()) {
                        info!("dhcpv6 {name}: {e}");
                    }
                    out.push(Event6::Lost);
                }
            }
        }
        self.write_state();
        out
    }

    fn apply(&mut self, nl: &mut Netlink, now: Uptime, c: &Config6) {
        let name = &self.link.name;
        let mut errors = Vec::new();
        if let Some(a) = c.address
            && let Err(e) = nl.add_address_v6(&self.link, a.addr, a.preferred, a.valid)
        {
            errors.push(e);
        }
        let changed_dns = self
            .applied
            .as_ref()
            .is_none_or(|old| old.dns != c.dns || old.domains != c.domains);
        if changed_dns {
            errors.extend(configure::publish_dhcp6(
                &self.publish,
                c.dns.clone(),
                c.domains.clone(),
            ));
        }
        let renewed = self
            .applied
            .as_ref()
            .is_some_and(|old| old.address == c.address);
        let servers: Vec<String> = c.dns.iter().map(|a| a.to_string()).collect();
        let since = self
            .started_at
            .map(|t| format!(", {} after IPv6 started", ms(now.saturating_sub(t))))
            .unwrap_or_default();
        let life = |s: u32| {
            if s == u32::MAX {
                "infinite".to_string()
            } else {
                format!("{s} s")
            }
        };
        match c.address {
            Some(a) if renewed => info!(
                "dhcpv6 {name}: renewed {}/128, valid {}",
                a.addr,
                life(a.valid)
            ),
            Some(a) => info!(
                "dhcpv6 {name}: bound {}/128, preferred {}, valid {}, DNS [{}], search [{}]{since}",
                a.addr,
                life(a.preferred),
                life(a.valid),
                servers.join(" "),
                c.domains.join(" ")
            ),
            None => info!(
                "dhcpv6 {name}: DNS [{}], search [{}] (stateless){since}",
                servers.join(" "),
                c.domains.join(" ")
            ),
        }
        for e in errors {
            info!("dhcpv6 {name}: {e}");
        }
        self.applied = Some(c.clone());
    }

    /// The file `qinit status` reads: the state, the address and the DNS.
    fn write_state(&mut self) {
        let Some(path) = &self.state_file else {
            return;
        };
        let text = render_state(
            &self.link.name,
            self.client.state_name(),
            self.applied.as_ref(),
        );
        if text == self.written {
            return;
        }
        if let Some(dir) = path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = crate::net::etc_files::write_atomic(path, &text);
        self.written = text;
    }
}

/// The DHCPv6 state file: `key=value` lines.
pub fn render_state(iface: &str, state: &str, c: Option<&Config6>) -> String {
    let mut t = format!("interface={iface}\ndhcpv6={state}\n");
    if let Some(c) = c {
        if let Some(a) = c.address {
            t.push_str(&format!("dhcpv6 address={}/128\n", a.addr));
        }
        let dns: Vec<String> = c.dns.iter().map(|a| a.to_string()).collect();
        t.push_str(&format!("dhcpv6 dns={}\n", dns.join(" ")));
        t.push_str(&format!("dhcpv6 search={}\n", c.domains.join(" ")));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::v6_wire::IaAddress;

    #[test]
    fn state_file_names_the_state_address_and_dns() {
        let c = Config6 {
            address: Some(IaAddress {
                addr: "fd00::105".parse().unwrap(),
                preferred: 10,
                valid: 20,
            }),
            dns: vec!["fd00::1".parse().unwrap()],
            domains: vec!["lan".into()],
        };
        let t = render_state("eth0", "bound", Some(&c));
        assert_eq!(
            t,
            "interface=eth0\ndhcpv6=bound\ndhcpv6 address=fd00::105/128\ndhcpv6 dns=fd00::1\ndhcpv6 search=lan\n"
        );
        assert_eq!(
            render_state("eth0", "soliciting", None),
            "interface=eth0\ndhcpv6=soliciting\n"
        );
    }
}
