//! Every interface of the machine and what is done to it: the bonds and bridges of
//! `bond=` and `bridge=` and their members, the plan from `ip=` for each Ethernet link at
//! boot or when it appears, DHCP or a static address, the PHY and IPv6
//! holds, link events, and which lease names the machine. PID 1's loop polls the fds
//! this gives it and calls back when they are ready; it never looks inside.

use crate::clock::{Uptime, uptime};
use crate::config::cmdline::Config;
use crate::config::ip::{Static6Addr, V6Method};
use crate::dhcp::lease::Lease;
use crate::dhcp::ra_dns::RaDns;
use crate::dhcp::v6_client::Mode;
use crate::info;
use crate::net::configure::{self, Publish};
use crate::net::dhcp6::{Dhcp6If, Event6, Fallback};
use crate::net::ipv6_events::{Ipv6Change, Ipv6Events};
use crate::net::ipv6_hold::Ipv6Hold;
use crate::net::link::{Link, LinkChange, LinkEvents, Netlink, set_ipv6_disabled};
use crate::net::netdev;
use crate::net::netif::{DefaultOwner, NetIf, Outcome};
use crate::net::phy::{self, PhyHold};
use crate::net::plan::{
    LinkPlan, LinkSettings, lease_with_routes, membership, new_name, plan_for, settings_for,
};
use crate::net::ra_events::RaEvents;
use crate::net::wifi::supplicant::{Supplicant, is_wireless};
use crate::net::{static_addr, status};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::os::fd::BorrowedFd;
use std::time::Duration;

/// How long after a lease the leased interface's IPv6 comes on. The shell (or appliance)
/// starts in the turn that bound; IPv6's start (addrconf, multicast joins, the router
/// solicitation) took ~10 ms of the guest's one CPU under TCG, which the shell's first
/// start had to share before.
pub const IPV6_AFTER_LEASE: Duration = Duration::from_millis(250);

pub struct Network {
    cfg: Config,
    nl: Option<Netlink>,
    events: Option<LinkEvents>,
    /// Where leases publish their names (host name, /etc files).
    publish: Publish,
    netifs: Vec<NetIf>,
    default_owner: DefaultOwner,
    /// Interfaces with a static address from `ip=`.
    statics: Vec<(Link, Lease)>,
    /// Every interface already planned (by index), down ones included.
    known: Vec<u32>,
    ipv6_held: Ipv6Hold,
    /// Router advertisements' DNS options, and what each interface's still say.
    ra_events: Option<RaEvents>,
    ra_dns: Vec<(u32, RaDns)>,
    /// DHCPv6 beside each DHCP interface, and the kernel's IPv6 flag and address
    /// changes it follows.
    dhcp6: Vec<Dhcp6If>,
    ipv6_events: Option<Ipv6Events>,
    /// Interfaces with a static IPv6 address from `ip=`.
    statics6: Vec<(Link, Static6Addr)>,
    /// The global IPv6 address /etc/hosts names (the first usable one).
    host_v6: Option<std::net::Ipv6Addr>,
    /// A router advertised on a managed link, or DHCPv6 answered (for `readiness`).
    router_seen: bool,
    /// When IPv6 first came on for a DHCP link (for `readiness`).
    ipv6_since: Option<Uptime>,
    /// Links (index, name) whose IPv6 came on and whose first IPv6 address event brings
    /// one more router solicitation (see `router_solicit`).
    solicit_again: Vec<(u32, String)>,
    /// A lease was bound: the IPv6 of the leased interfaces comes on at the first `tick`
    /// from then (`IPV6_AFTER_LEASE` later).
    ipv6_due: Option<Uptime>,
    phy_held: PhyHold,
    /// When DHCP started: the foreground program waits for a lease until this plus the
    /// DHCP timeout.
    started: Uptime,
    /// Milestones for the boot timeline ("carrier", "lease", "phy link"); PID 1 takes them.
    marks: Vec<(&'static str, Uptime)>,
    /// The wireless link's wpa_supplicant, once `[wifi]`'s interface is there.
    wifi: Option<Supplicant>,
}

impl Network {
    /// A network over `nl`, with `events` telling of link changes; no interface yet.
    pub fn new(
        cfg: &Config,
        publish: Publish,
        nl: Option<Netlink>,
        events: Option<LinkEvents>,
    ) -> Self {
        if !cfg.ipv6 {
            // Interfaces that appear later start with IPv6 disabled too.
            if let Err(e) = set_ipv6_disabled("default", true) {
                info!("{e}");
            }
        }
        let ra_events = nl
            .as_ref()
            .filter(|_| cfg.ipv6)
            .and_then(|_| match RaEvents::open() {
                Ok(r) => Some(r),
                Err(e) => {
                    info!("no DNS from router advertisements: {e}");
                    None
                }
            });
        let ipv6_events = nl
            .as_ref()
            .filter(|_| cfg.ipv6)
            .and_then(|_| match Ipv6Events::open() {
                Ok(r) => Some(r),
                Err(e) => {
                    info!("no DHCPv6: {e}");
                    None
                }
            });
        Network {
            ipv6_events,
            dhcp6: Vec::new(),
            statics6: Vec::new(),
            host_v6: None,
            router_seen: false,
            ipv6_since: None,
            solicit_again: Vec::new(),
            ipv6_due: None,
            ra_events,
            ra_dns: Vec::new(),
            cfg: cfg.clone(),
            nl,
            events,
            publish,
            netifs: Vec::new(),
            default_owner: DefaultOwner::default(),
            statics: Vec::new(),
            known: Vec::new(),
            ipv6_held: Ipv6Hold::default(),
            phy_held: PhyHold::default(),
            started: uptime(),
            marks: Vec::new(),
            wifi: None,
        }
    }

    /// No network at all (netlink could not be opened, or an internal failure).
    pub fn none(cfg: &Config) -> Self {
        Network::new(cfg, Publish::default(), None, None)
    }

    pub fn has_lease(&self) -> bool {
        !self.statics.is_empty() || self.netifs.iter().any(|n| n.lease().is_some())
    }

    /// Whether something is still on its way to a lease (DHCP, or a PHY wait).
    fn waiting(&self) -> bool {
        !self.netifs.is_empty() || !self.phy_held.is_empty()
    }

    /// A usable global IPv6 address and a name server.
    pub fn ipv6_ready(&self) -> bool {
        self.host_v6.is_some() && self.publish.sources.borrow().has_server()
    }

    /// When the network counts as ready for the foreground program, as `qinit.wait=`
    /// says (see `readiness`).
    pub fn ready_by(&self, now: Uptime) -> Uptime {
        let progress = crate::net::readiness::Progress {
            waiting: self.waiting() || !self.dhcp6.is_empty(),
            ipv4: self.has_lease(),
            ipv6: self.ipv6_ready(),
            ipv6_enabled: self.ipv6_events.is_some(),
            router_seen: self.router_seen,
            ipv6_since: self.ipv6_since,
        };
        crate::net::readiness::ready_by(
            self.cfg.wait,
            self.started,
            self.cfg.dhcp_timeout,
            now,
            progress,
        )
    }

    /// The milestones reached since the last call, for the boot timeline.
    pub fn take_marks(&mut self) -> Vec<(&'static str, Uptime)> {
        std::mem::take(&mut self.marks)
    }

    /// At boot: the devices `bond=` and `bridge=` ask for, then every link of `links`
    /// (members join their device, the others are planned), then the new devices,
    /// planned like any link once their members are in (a bond takes its first slave's
    /// MAC address, which its DHCP client must use).
    pub fn add_interfaces(&mut self, links: Vec<Link>) {
        let made = self.make_devices();
        for link in links {
            self.add_interface(link);
        }
        for name in made {
            match self.nl.as_mut().map(|nl| nl.link(&name)) {
                Some(Ok(link)) => self.add_interface(link),
                Some(Err(e)) => info!("{e}"),
                None => {}
            }
        }
    }

    /// `bond=` and `bridge=`: loads their modules and makes the devices, bonds first (a
    /// bridge may have a bond as its port). Returns the names of those made.
    fn make_devices(&mut self) -> Vec<String> {
        let Some(nl) = self.nl.as_mut().filter(|_| self.cfg.net) else {
            return Vec::new();
        };
        // The kernel would ask /sbin/modprobe for "rtnl-link-bond"; qinit loads it itself.
        // Without max_bonds=0 the driver makes a bond0 of its own, in balance-rr, which
        // would be taken for one more interface to configure when bond= names another.
        for (key, module, params, wanted) in [
            (
                "bond",
                "bonding",
                c"max_bonds=0",
                !self.cfg.bonds.is_empty(),
            ),
            ("bridge", "bridge", c"", !self.cfg.bridges.is_empty()),
        ] {
            if wanted
                && let Err(e) =
                    crate::system::modules::Tables::read().and_then(|t| t.load_with(module, params))
            {
                info!("{key}=: module {module}: {e}");
            }
        }
        let mut made = Vec::new();
        for b in &self.cfg.bonds {
            match netdev::add_bond(nl, b) {
                Ok(()) => {
                    let options: Vec<String> = b.options.iter().map(|o| o.to_string()).collect();
                    info!(
                        "{}: bond over {} with {} (bond=)",
                        b.name,
                        b.slaves.join(","),
                        options.join(",")
                    );
                    made.push(b.name.clone());
                }
                Err(e) => info!("bond={}: {e}", b.name),
            }
        }
        for b in &self.cfg.bridges {
            match netdev::add_bridge(nl, &b.name) {
                Ok(()) => {
                    info!("{}: bridge over {} (bridge=)", b.name, b.ports.join(","));
                    made.push(b.name.clone());
                }
                Err(e) => info!("bridge={}: {e}", b.name),
            }
        }
        made
    }

    /// Makes `link` a member of its bond or bridge: no address of its own (IPv6 off, so
    /// not even a link-local one), no DHCP, up once it is in.
    fn join(&mut self, link: &Link) {
        let Some(m) = membership(&link.name, &self.cfg.bonds, &self.cfg.bridges) else {
            return;
        };
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        let master = match nl.link(m.master) {
            Ok(master) => master,
            Err(e) => {
                info!("{}: not added to {} ({}=): {e}", link.name, m.master, m.key);
                return;
            }
        };
        if let Err(e) = set_ipv6_disabled(&link.name, true) {
            info!("{e}");
        }
        if let Err(e) = netdev::enslave(nl, link, &master) {
            info!("{}=: {e}", m.key);
            return;
        }
        let what = if m.key == "bond" { "slave" } else { "port" };
        info!("{}: {what} of {} ({}=)", link.name, m.master, m.key);
        if let Err(e) = nl.set_up(link) {
            info!("{e}");
        }
        if m.primary
            && let Err(e) = netdev::set_bond_primary(nl, &master, link)
        {
            info!("bond=: {e}");
        }
    }

    /// Configures `link` as the plan says (DHCP, a static address, or nothing): at boot
    /// for every Ethernet interface, and later for one that appears (hotplug).
    pub fn add_interface(&mut self, mut link: Link) {
        if self.known.contains(&link.index) {
            return;
        }
        // ifname=: renamed while still down (the kernel refuses to rename an up link),
        // before its name picks its plan.
        if let Some(name) = new_name(&link.name, link.mac, &self.cfg.ifnames).map(str::to_owned)
            && let Some(nl) = self.nl.as_mut()
        {
            match nl.rename(&link, &name) {
                Ok(()) => {
                    info!("{}: renamed {name} (ifname=)", link.name);
                    link.name = name;
                }
                Err(e) => info!("ifname={name}: {e}"),
            }
        }
        if !self.cfg.ipv6
            && let Err(e) = set_ipv6_disabled(&link.name, true)
        {
            info!("{e}");
        }
        self.start_wifi(&link.name);
        if membership(&link.name, &self.cfg.bonds, &self.cfg.bridges).is_some() {
            self.known.push(link.index);
            self.join(&link);
            return;
        }
        let plan = plan_for(&link.name, self.known.len(), &self.cfg.ip, &self.cfg.search);
        self.known.push(link.index);
        if plan != LinkPlan::Off && !self.cfg.phy_wait.is_zero() && phy::should_hold(&link.name) {
            info!(
                "{}: set up once its PHY has link (within {} s): its driver notices a link only every 2 s once up",
                link.name,
                self.cfg.phy_wait.as_secs_f64()
            );
            self.make_vlans(&link);
            self.phy_held.hold(link, plan, uptime());
            return;
        }
        let parent = link.clone();
        self.carry_out(link, plan);
        self.make_vlans(&parent);
    }

    /// Starts wpa_supplicant on `iface` when `[wifi]` asks for a network and this is its
    /// interface (the one named, or else the first wireless one).
    fn start_wifi(&mut self, iface: &str) {
        let wifi = &self.cfg.wifi;
        if self.wifi.is_some()
            || wifi.ssid.is_none()
            || wifi.interface.as_deref().is_some_and(|i| i != iface)
            || !is_wireless(iface)
        {
            return;
        }
        match Supplicant::new(iface, wifi, self.cfg.debug, uptime()) {
            Ok(s) => self.wifi = Some(s),
            Err(e) => info!("{e}"),
        }
    }

    /// A child of PID 1 ended: returns whether it was ours (wpa_supplicant).
    pub fn child_exited(&mut self, pid: u32, status: &str, now: Uptime) -> bool {
        self.wifi
            .as_mut()
            .is_some_and(|w| w.exited(pid, status, now))
    }

    /// `vlan=`: the VLAN links on `parent`, made as it appears (and brought up, without
    /// an address unless `ip=` gives it one), then planned like any other link.
    fn make_vlans(&mut self, parent: &Link) {
        let vlans: Vec<_> = self
            .cfg
            .vlans
            .iter()
            .filter(|v| v.parent == parent.name)
            .cloned()
            .collect();
        if vlans.is_empty() {
            return;
        }
        // The kernel would ask /sbin/modprobe for "rtnl-link-vlan"; qinit loads it itself.
        match crate::system::modules::Tables::read().and_then(|t| t.load("8021q")) {
            Ok(_) => {}
            Err(e) => info!("vlan=: module 8021q: {e}"),
        }
        let mut made = Vec::new();
        if let Some(nl) = self.nl.as_mut() {
            if !parent.up
                && let Err(e) = nl.set_up(parent)
            {
                info!("{e}");
            }
            for v in &vlans {
                match nl
                    .add_vlan(parent, &v.name, v.id)
                    .and_then(|()| nl.link(&v.name))
                {
                    Ok(link) => {
                        info!("{}: VLAN {} on {} (vlan=)", v.name, v.id, parent.name);
                        made.push(link);
                    }
                    Err(e) => info!("vlan={}:{}: {e}", v.name, v.parent),
                }
            }
        }
        for link in made {
            self.add_interface(link);
        }
    }

    fn carry_out(&mut self, mut link: Link, plan: LinkPlan) {
        let settings = settings_for(&link.name, &self.cfg.ip, &self.cfg.routes);
        if plan != LinkPlan::Off
            && let Some(nl) = self.nl.as_mut()
        {
            // Before the link comes up: most drivers refuse a new MAC on an up link.
            if let Some(mac) = settings.mac {
                match nl.set_mac(&link, mac) {
                    Ok(()) => {
                        info!(
                            "{}: MAC {} (ip=)",
                            link.name,
                            crate::dhcp::acd::mac_text(&mac)
                        );
                        link.mac = Some(mac);
                    }
                    Err(e) => info!("{e}"),
                }
            }
            if let Some(mtu) = settings.mtu {
                match nl.set_mtu(&link, mtu) {
                    Ok(()) => info!("{}: MTU {mtu} (ip=)", link.name),
                    Err(e) => info!("{e}"),
                }
            }
        }
        match plan {
            LinkPlan::Off => info!("{}: left down (ip=)", link.name),
            LinkPlan::Dhcp => self.start_dhcp(link, settings),
            LinkPlan::Ipv6(m) => self.start_ipv6_only(link, m),
            LinkPlan::Static6(st) => self.static6(link, *st),
            LinkPlan::Static(lease) => {
                let lease = lease_with_routes(&lease, &link.name, &settings);
                if let Some(nl) = self.nl.as_mut() {
                    static_addr::apply(nl, &link, &lease, &self.default_owner, &self.publish);
                    self.statics.push((link, lease));
                }
            }
        }
    }

    fn start_dhcp(&mut self, link: Link, settings: LinkSettings) {
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        // qinit.wait=ipv6: IPv6 is what the machine waits for, so it is not held back.
        if self.cfg.ipv6 && self.cfg.wait != crate::config::cmdline::Wait::Ipv6 {
            self.ipv6_held
                .hold(&link.name, uptime() + self.cfg.dhcp_timeout);
        }
        if let Err(e) = nl.set_up(&link) {
            info!("{e}");
        }
        let state = Some(std::path::PathBuf::from(format!(
            "{}/{}.lease",
            status::STATE_DIR,
            link.name
        )));
        let name = link.name.clone();
        match NetIf::new(
            link,
            self.publish.clone(),
            state,
            self.cfg.rapid_commit,
            DefaultOwner::clone(&self.default_owner),
        ) {
            Ok(mut n) => {
                n.set_settings(settings);
                // The carrier may already be up, its event already read: ask once.
                if let Ok(l) = nl.link(&name)
                    && l.carrier
                {
                    let now = uptime();
                    self.marks.push(("carrier", now));
                    let _ = n.carrier(nl, now, true);
                }
                info!("{name}: DHCP started");
                self.netifs.push(n);
            }
            Err(e) => info!("{e}"),
        }
        self.start_dhcp6(&name);
    }

    /// `ip=dhcp6`, `auto6` or `either6`: no DHCPv4; IPv6 on at once, a router
    /// solicitation, and DHCPv6 as the method says.
    fn start_ipv6_only(&mut self, link: Link, method: V6Method) {
        if !self.cfg.ipv6 {
            info!(
                "{}: ip= asks for IPv6, but qinit.ipv6=off keeps it off",
                link.name
            );
            return;
        }
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        crate::net::router_solicit::allow_optimistic(&link.name);
        if let Err(e) = set_ipv6_disabled(&link.name, false) {
            info!("{e}");
        }
        if let Err(e) = nl.set_up(&link) {
            info!("{e}");
        }
        if let Err(e) = crate::net::router_solicit::solicit(&link.name, link.index) {
            info!("{e}");
        }
        let (what, force, fallback) = match method {
            V6Method::Dhcp6 => (
                "dhcp6: a DHCPv6 address",
                Some(Mode::Stateful),
                Fallback::DnsUnlessRaDns,
            ),
            V6Method::Auto6 => ("auto6: SLAAC", None, Fallback::DnsUnlessRaDns),
            V6Method::Either6 => (
                "either6: SLAAC, or a DHCPv6 address without one",
                None,
                Fallback::AddressUnlessSlaac,
            ),
        };
        info!("{}: IPv6 only (ip={what})", link.name);
        let name = link.name.clone();
        self.start_dhcp6_with(&name, force, fallback);
    }

    /// A static IPv6 address from `ip=`: the address, the default route through the
    /// gateway, and the name servers.
    fn static6(&mut self, link: Link, st: Static6Addr) {
        if !self.cfg.ipv6 {
            info!(
                "{}: ip= gives an IPv6 address, but qinit.ipv6=off keeps IPv6 off",
                link.name
            );
            return;
        }
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        crate::net::router_solicit::allow_optimistic(&link.name);
        let _ = set_ipv6_disabled(&link.name, false);
        let mut errors = Vec::new();
        errors.extend(nl.set_up(&link).err());
        errors.extend(nl.add_static_v6(&link, st.address, st.prefix_len).err());
        if let Some(gw) = st.gateway {
            errors.extend(
                nl.add_route_v6(&link, std::net::Ipv6Addr::UNSPECIFIED, 0, Some(gw))
                    .err(),
            );
        }
        if !st.dns.is_empty() {
            errors.extend(configure::publish_static6(&self.publish, st.dns.clone()));
        }
        let via = st.gateway.map(|g| format!(" via {g}")).unwrap_or_default();
        info!(
            "{}: static {}/{}{via} (ip=)",
            link.name, st.address, st.prefix_len
        );
        for e in errors {
            info!("{}: {e}", link.name);
        }
        self.statics6.push((link, st));
        // Optimistic, the address is usable now: /etc/hosts names it before the shell.
        self.refresh_host_v6();
    }

    /// DHCPv6 on `name`, started once IPv6 is on there (now, if it is not held).
    fn start_dhcp6(&mut self, name: &str) {
        self.start_dhcp6_with(name, None, Fallback::DnsUnlessRaDns);
    }

    fn start_dhcp6_with(&mut self, name: &str, force: Option<Mode>, fallback: Fallback) {
        if self.ipv6_events.is_none() {
            return;
        }
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        let link = match nl.link(name) {
            Ok(l) => l,
            Err(e) => return info!("dhcpv6 {name}: {e}"),
        };
        let state = Some(std::path::PathBuf::from(format!(
            "{}/{name}.dhcp6",
            status::STATE_DIR
        )));
        let seed = crate::net::netif::seed(&link.mac.unwrap_or_default()).rotate_left(17);
        match Dhcp6If::new(link, self.publish.clone(), state, seed) {
            Ok(mut d) => {
                if let Some(m) = force {
                    d.force(m);
                }
                d.set_fallback(fallback);
                if !self.ipv6_held.is_held(name) {
                    self.ipv6_since.get_or_insert(uptime());
                    let events = d.ipv6_started(nl, uptime());
                    self.dhcp6.push(d);
                    self.events6(events);
                } else {
                    self.dhcp6.push(d);
                }
            }
            Err(e) => info!("{e}"),
        }
    }

    /// IPv6 came on for `names` (their hold ended): DHCPv6 starts following the router.
    fn ipv6_on(&mut self, names: Vec<String>) {
        if names.is_empty() {
            return;
        }
        let now = uptime();
        self.ipv6_since.get_or_insert(now);
        for n in self.netifs.iter().filter(|n| names.contains(&n.link.name)) {
            self.solicit_again.push((n.link.index, n.link.name.clone()));
        }
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        for d in &mut self.dhcp6 {
            if names.contains(&d.link.name) {
                events.extend(d.ipv6_started(nl, now));
            }
        }
        self.events6(events);
    }

    fn events6(&mut self, events: Vec<Event6>) {
        for e in events {
            if let Event6::Configured(c) = e {
                self.router_seen = true;
                self.marks.push(("dhcpv6", uptime()));
                if c.address.is_some() {
                    self.refresh_host_v6();
                }
            }
        }
    }

    /// Reads the usable global IPv6 addresses of the DHCP interfaces; /etc/hosts is
    /// rewritten when the first one changed.
    fn refresh_host_v6(&mut self) {
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        let mut first = None;
        let indexes: Vec<u32> = self
            .dhcp6
            .iter()
            .map(|d| d.link.index)
            .chain(self.statics6.iter().map(|(l, _)| l.index))
            .collect();
        for index in indexes {
            match nl.global_ipv6(index) {
                Ok(list) => {
                    // A global address, usable or not yet, came from a router (or ip=).
                    self.router_seen |= !list.is_empty();
                    let usable = list.iter().find(|(_, ok)| *ok).map(|(a, _)| *a);
                    if usable.is_some() {
                        for d in self.dhcp6.iter_mut().filter(|d| d.link.index == index) {
                            d.address_seen();
                        }
                    }
                    if first.is_none() {
                        first = usable;
                    }
                }
                Err(e) => info!("{e}"),
            }
        }
        if first == self.host_v6 {
            return;
        }
        self.host_v6 = first;
        if let Some(a) = first {
            info!("IPv6: global address {a}");
            self.marks.push(("ipv6 address", uptime()));
        }
        let lease = self.primary_lease();
        for e in configure::publish_host_v6(&self.publish, lease.as_ref(), first) {
            info!("{e}");
        }
    }

    /// The lease that names the machine (the default route's), if any.
    fn primary_lease(&self) -> Option<Lease> {
        let owner = self.default_owner.get();
        self.netifs
            .iter()
            .find(|n| Some(n.link.index) == owner)
            .and_then(|n| n.lease().cloned())
            .or_else(|| {
                self.statics
                    .iter()
                    .find(|(l, _)| Some(l.index) == owner)
                    .map(|(_, lease)| lease.clone())
            })
    }

    /// Logs, for each interface still waiting, why the foreground program (`what`)
    /// starts without its lease.
    pub fn report_no_lease(&self, what: &str) {
        if self.cfg.net && self.cfg.wifi.ssid.is_some() && self.wifi.is_none() && self.nl.is_some()
        {
            info!(
                "wifi: no wireless interface{} yet; joining once one appears",
                self.cfg
                    .wifi
                    .interface
                    .as_ref()
                    .map_or(String::new(), |i| format!(" {i}"))
            );
        }
        if !self.waiting() || self.has_lease() {
            return;
        }
        let timeout = self.cfg.dhcp_timeout.as_secs_f64();
        for n in &self.netifs {
            info!(
                "dhcp {}: no lease after {timeout}s ({}); starting the {what}, DHCP goes on in the background",
                n.link.name,
                n.why_no_lease().unwrap_or_default(),
            );
        }
        for link in self.phy_held.links() {
            info!(
                "{}: no lease after {timeout}s (no PHY link yet, still down); starting the {what}",
                link.name,
            );
        }
    }

    /// The foreground program starts: IPv6 waits no longer, lease or not.
    pub fn release_ipv6(&mut self) {
        let on = self.ipv6_held.release(|_| true);
        self.ipv6_on(on);
    }

    /// When the network next needs a `tick`.
    pub fn next_wakeup(&self, now: Uptime) -> Option<Uptime> {
        let mut wake: Option<Uptime> = None;
        for n in &self.netifs {
            if let Some(t) = n.next_wakeup() {
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
        }
        if !self.phy_held.is_empty() {
            let t = now + phy::POLL_EVERY;
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        if let Some(t) = self.ipv6_held.next_deadline() {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        for t in self.ra_dns.iter().filter_map(|(_, d)| d.next_expiry()) {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        if let Some(t) = self.wifi.as_ref().and_then(Supplicant::next_wakeup) {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        for t in self.dhcp6.iter().filter_map(Dhcp6If::next_wakeup) {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        if let Some(t) = self.ipv6_due {
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        wake
    }

    /// Runs what is due: held interfaces whose PHY has link, IPv6 holds that ended, and
    /// the DHCP timers.
    pub fn tick(&mut self, now: Uptime) {
        let on = self.ipv6_held.release_expired(now);
        self.ipv6_on(on);
        if self.ipv6_due.is_some_and(|t| t <= now) {
            self.ipv6_due = None;
            let bound: Vec<String> = self
                .netifs
                .iter()
                .filter(|n| n.lease().is_some())
                .map(|n| n.link.name.clone())
                .collect();
            let on = self
                .ipv6_held
                .release(|name| bound.iter().any(|b| b == name));
            self.ipv6_on(on);
        }
        if let Some(w) = self.wifi.as_mut()
            && w.next_wakeup().is_some_and(|t| t <= now)
        {
            w.tick(now);
        }
        if let Some(nl) = self.nl.as_mut() {
            let mut events = Vec::new();
            for d in &mut self.dhcp6 {
                if d.next_wakeup().is_some_and(|t| t <= now) {
                    events.extend(d.tick(nl, now));
                }
            }
            self.events6(events);
        }
        let mut expired = false;
        for (_, d) in &mut self.ra_dns {
            expired |= d.expire(now);
        }
        if expired {
            self.publish_ra_dns();
        }
        if !self.phy_held.is_empty() {
            let (ready, linked) = self.phy_held.release(now, self.cfg.phy_wait);
            if linked {
                self.marks.push(("phy link", now));
            }
            for (link, plan) in ready {
                self.carry_out(link, plan);
            }
        }
        if let Some(nl) = self.nl.as_mut() {
            let mut outs = Vec::new();
            for n in &mut self.netifs {
                if n.next_wakeup().is_some_and(|t| t <= now) {
                    outs.extend(n.tick(nl, now));
                }
            }
            self.outcomes(outs);
        }
    }

    /// The fds to poll, in the order `readable` expects their readiness.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut fds = Vec::new();
        if let Some(e) = &self.events {
            fds.push(e.fd());
        }
        if let Some(r) = &self.ra_events {
            fds.push(r.fd());
        }
        let wifi_fd = self.wifi.as_ref().and_then(Supplicant::fd);
        fds.extend(wifi_fd);
        if let Some(r) = &self.ipv6_events {
            fds.push(r.fd());
        }
        for n in &self.netifs {
            fds.extend(n.fds());
        }
        for d in &self.dhcp6 {
            fds.push(d.fd());
        }
        fds
    }

    /// Serves what `ready` (one flag per fd of `fds`, same order) says can be read:
    /// link events, then DHCP replies.
    pub fn readable(&mut self, ready: &[bool], now: Uptime) {
        let mut ready = ready.iter().copied();
        let link_ready = self.events.is_some() && ready.next().unwrap_or(false);
        let ra_ready = self.ra_events.is_some() && ready.next().unwrap_or(false);
        if ra_ready {
            self.ra_readable(now);
        }
        let wifi_polled = self.wifi.as_ref().and_then(Supplicant::fd).is_some();
        if wifi_polled
            && ready.next().unwrap_or(false)
            && let Some(w) = self.wifi.as_mut()
        {
            w.readable(now);
        }
        let v6_ready = self.ipv6_events.is_some() && ready.next().unwrap_or(false);
        if v6_ready {
            self.ipv6_changed(now);
        }
        let per_netif: Vec<usize> = self.netifs.iter().map(|n| n.fds().len()).collect();
        let mut new_links = Vec::new();
        let mut removed = Vec::new();
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        let mut outs = Vec::new();
        let mut dhcp6_events = Vec::new();
        if link_ready {
            let changes = self.events.as_ref().map(|e| e.read()).unwrap_or_default();
            for change in changes {
                let link = match change {
                    LinkChange::Changed(link) => link,
                    LinkChange::Removed(link) => {
                        removed.push(link);
                        continue;
                    }
                };
                for d in self.dhcp6.iter_mut().filter(|d| d.link.index == link.index) {
                    let carrier = nl.link(&d.link.name).map_or(link.carrier, |l| l.carrier);
                    dhcp6_events.extend(d.carrier(nl, now, carrier));
                }
                match self.netifs.iter_mut().find(|n| n.link.index == link.index) {
                    Some(n) => {
                        // An event says the link changed; the state it carries may
                        // be older than what `start_dhcp` read (the carrier is set
                        // before its event is sent). The link as it is now decides,
                        // so a stale "no carrier" does not restart the client.
                        let carrier = nl.link(&n.link.name).map_or(link.carrier, |l| l.carrier);
                        if carrier {
                            self.marks.push(("carrier", now));
                        }
                        outs.extend(n.carrier(nl, now, carrier))
                    }
                    None if link.is_dhcp_candidate()
                        && !self.known.contains(&link.index)
                        && !new_links.iter().any(|l: &Link| l.index == link.index) =>
                    {
                        info!("{}: new interface", link.name);
                        new_links.push(link);
                    }
                    None => {}
                }
            }
        }
        for (n, count) in self.netifs.iter_mut().zip(per_netif) {
            let flags: Vec<bool> = ready.by_ref().take(count).collect();
            if flags.iter().any(|r| *r) {
                outs.extend(n.readable(nl, now, &flags));
            }
        }
        let mut events = dhcp6_events;
        for d in &mut self.dhcp6 {
            if ready.next().unwrap_or(false) {
                events.extend(d.readable(nl, now));
            }
        }
        self.outcomes(outs);
        self.events6(events);
        for link in removed {
            self.remove_interface(&link);
        }
        for link in new_links {
            self.add_interface(link);
        }
    }

    /// The kernel's IPv6 flags or addresses changed: DHCPv6 follows the flags, and
    /// /etc/hosts the global address.
    fn ipv6_changed(&mut self, now: Uptime) {
        let changes = self
            .ipv6_events
            .as_ref()
            .map(|e| e.read())
            .unwrap_or_default();
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        let mut events = Vec::new();
        let mut addresses = false;
        for c in changes {
            match c {
                Ipv6Change::Flags(index) => {
                    for d in self.dhcp6.iter_mut().filter(|d| d.link.index == index) {
                        self.router_seen = true;
                        events.extend(d.flags_changed(nl, now));
                    }
                }
                Ipv6Change::Addresses(index) => {
                    if let Some(at) = self.solicit_again.iter().position(|(i, _)| *i == index) {
                        let (_, name) = self.solicit_again.swap_remove(at);
                        crate::net::router_solicit::solicit_again(&name, index);
                    }
                    for d in self.dhcp6.iter_mut().filter(|d| d.link.index == index) {
                        events.extend(d.addresses_changed(nl, now));
                    }
                    addresses |= self.dhcp6.iter().any(|d| d.link.index == index)
                        || self.statics6.iter().any(|(l, _)| l.index == index);
                }
            }
        }
        self.events6(events);
        if addresses {
            self.refresh_host_v6();
        }
    }

    /// Takes in the DNS options of the advertisements waiting; resolv.conf is rewritten
    /// when what is valid changed.
    fn ra_readable(&mut self, now: Uptime) {
        let adverts = self
            .ra_events
            .as_ref()
            .map(|r| r.read())
            .unwrap_or_default();
        let mut changed = false;
        for (index, advert) in adverts {
            let name = self
                .nl
                .as_mut()
                .and_then(|nl| nl.links().ok())
                .and_then(|ls| ls.into_iter().find(|l| l.index == index))
                .map_or_else(|| format!("interface {index}"), |l| l.name);
            for r in &advert.refused {
                info!("{name}: router advertisement: {r}");
            }
            if advert.servers.is_empty() && advert.domains.is_empty() {
                continue;
            }
            self.router_seen = true;
            if advert.servers.iter().any(|(_, life)| *life > 0) {
                for d in self.dhcp6.iter_mut().filter(|d| d.link.index == index) {
                    d.ra_dns_seen();
                }
            }
            let pos = match self.ra_dns.iter().position(|(i, _)| *i == index) {
                Some(p) => p,
                None => {
                    self.ra_dns.push((index, RaDns::default()));
                    self.ra_dns.len() - 1
                }
            };
            let Some((_, dns)) = self.ra_dns.get_mut(pos) else {
                continue;
            };
            let before = dns.clone();
            let dropped = dns.update(now, &advert);
            if dropped > 0 {
                info!(
                    "{name}: router advertisement: {dropped} DNS servers or domains over the limit of {} each, dropped",
                    crate::dhcp::ra_dns::MAX_SERVERS
                );
            }
            let names = |d: &RaDns| {
                (
                    d.servers.iter().map(|(a, _)| *a).collect::<Vec<_>>(),
                    d.domains.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
                )
            };
            if names(&before) != names(dns) {
                let (servers, domains) = names(dns);
                let servers: Vec<String> = servers.iter().map(|a| a.to_string()).collect();
                info!(
                    "{name}: DNS from router advertisement: servers [{}], search [{}]",
                    servers.join(" "),
                    domains.join(" ")
                );
                changed = true;
            }
        }
        if changed {
            self.publish_ra_dns();
        }
    }

    /// Writes the DNS that router advertisements give, all interfaces together, into
    /// resolv.conf beside IPv4's, and into the state file `qinit status` reads.
    fn publish_ra_dns(&mut self) {
        let mut servers = Vec::new();
        let mut domains = Vec::new();
        for (_, d) in &self.ra_dns {
            for (a, _) in &d.servers {
                if !servers.contains(a) {
                    servers.push(*a);
                }
            }
            for (n, _) in &d.domains {
                if !domains.contains(n) {
                    domains.push(n.clone());
                }
            }
        }
        status::write_ra_dns(&servers, &domains);
        for e in configure::publish_ra(&self.publish, servers, domains) {
            info!("{e}");
        }
    }

    /// A link went away: its DHCP client, timers, holds and state file go with it, and
    /// it no longer names the machine. Should it come back, it is planned again.
    fn remove_interface(&mut self, link: &Link) {
        let before = self.netifs.len() + self.statics.len();
        self.netifs.retain(|n| n.link.index != link.index);
        if self.dhcp6.iter().any(|d| d.link.index == link.index) {
            self.dhcp6.retain(|d| d.link.index != link.index);
            let _ = std::fs::remove_file(format!("{}/{}.dhcp6", status::STATE_DIR, link.name));
        }
        self.statics.retain(|(l, _)| l.index != link.index);
        self.statics6.retain(|(l, _)| l.index != link.index);
        self.phy_held.forget(link.index);
        self.ipv6_held.forget(&link.name);
        let had_ra_dns = self.ra_dns.iter().any(|(i, _)| *i == link.index);
        self.ra_dns.retain(|(i, _)| *i != link.index);
        if had_ra_dns {
            self.publish_ra_dns();
        }
        self.known.retain(|&i| i != link.index);
        if self.default_owner.get() == Some(link.index) {
            self.default_owner.set(None);
        }
        if self.netifs.len() + self.statics.len() < before {
            info!("{}: removed; its configuration is dropped", link.name);
            let _ = std::fs::remove_file(format!("{}/{}.lease", status::STATE_DIR, link.name));
            self.outcomes(vec![Outcome::Lost]);
        }
    }

    /// Serves what is ready now (DHCP replies, link events, timers) without waiting:
    /// the boot calls it between the steps that follow the network's, so that an OFFER
    /// is answered while modules load.
    pub fn serve_ready(&mut self) {
        self.tick(uptime());
        let ready: Vec<bool> = {
            let mut fds: Vec<PollFd> = self
                .fds()
                .into_iter()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN))
                .collect();
            if fds.is_empty() || poll(&mut fds, PollTimeout::ZERO).is_err() {
                return;
            }
            fds.iter()
                .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                .collect()
        };
        self.readable(&ready, uptime());
    }

    fn outcomes(&mut self, outcomes: Vec<Outcome>) {
        if outcomes.iter().any(|o| matches!(o, Outcome::Bound(_))) {
            // IPv6 comes on a little later: the event loop starts the shell first, in
            // this turn, and its start has the CPU to itself meanwhile.
            let t = uptime() + IPV6_AFTER_LEASE;
            self.ipv6_due = Some(self.ipv6_due.map_or(t, |d| d.min(t)));
        }
        let lost = outcomes.contains(&Outcome::Lost);
        for o in outcomes {
            if matches!(o, Outcome::Bound(_)) {
                self.marks.push(("lease", uptime()));
            }
        }
        // The lease that named the machine is gone: the next leased interface takes over,
        // so the default route, DNS and /etc/hosts follow a lease that still holds.
        if lost
            && self.default_owner.get().is_none()
            && let Some(nl) = self.nl.as_mut()
        {
            for n in &mut self.netifs {
                if n.take_over(nl) {
                    return;
                }
            }
        }
        if lost && !self.has_lease() {
            // Keep the files true: no lease, no leased address in /etc/hosts.
            let publish = Publish {
                set_hostname: false,
                ..self.publish.clone()
            };
            for e in configure::publish(&publish, None, "") {
                info!("{e}");
            }
        }
    }

    /// At shutdown: every lease released (DHCPRELEASE), its address and routes removed.
    pub fn release_all(&mut self) {
        if let Some(nl) = self.nl.as_mut() {
            for n in &mut self.netifs {
                n.release(nl, uptime());
            }
            for d in &mut self.dhcp6 {
                d.release(nl, uptime());
            }
        }
    }
}
