//! PID 1's event loop: one poll over the signal pipe, netlink link events and the DHCP
//! sockets, with timers as data. Nothing in here sleeps; nothing in here may return.

use crate::config::cmdline::Config;
use crate::dhcp::client::Instant;
use crate::info;
use crate::log::uptime;
use crate::net::link::Link;
use crate::net::link::{LinkEvents, Netlink};
use crate::net::netif::{DefaultOwner, NetIf, Outcome};
use crate::net::plan::{Plan, plan_for};
use crate::pid1::foreground::{AfterExit, Foreground, OnExit, Program};
use crate::system::{reaper, shutdown};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub struct Pid1 {
    pub cfg: Config,
    pub nl: Option<Netlink>,
    pub events: Option<LinkEvents>,
    pub hotplug: Option<crate::system::uevent::Hotplug>,
    /// Filled by the boot; completed here with carrier, lease and shell, then saved.
    pub timeline: crate::pid1::timeline::Timeline,
    pub netifs: Vec<NetIf>,
    /// Where leases publish their names (host name, /etc files).
    pub publish: crate::net::configure::Publish,
    default_owner: DefaultOwner,
    /// Interfaces with a static address from `ip=`.
    statics: Vec<(Link, crate::dhcp::lease::Lease)>,
    /// Every interface already planned (by index), down ones included.
    known: Vec<u32>,
    /// Interfaces whose IPv6 waits for their lease (see `start_dhcp`).
    ipv6_held: Vec<String>,
    /// Interfaces left down until their PHY has link (see `crate::net::phy`), with their
    /// plan and when the wait began.
    phy_held: Vec<(Link, Plan, Instant)>,
    pub tty: String,
    /// When DHCP started: the shell waits for a lease until this plus the timeout.
    pub net_started: Instant,
    foreground: Foreground,
    signals: Option<UnixStream>,
    requested: Arc<AtomicUsize>,
    /// True until `run`: the boot's last steps (modules, fstab) are not done, so the
    /// shell may not start yet.
    booting: bool,
}

/// Signals wake the loop through a self-pipe; a shutdown signal also leaves its number
/// in `requested`. The handlers do nothing else (signal-hook).
fn signal_pipe(requested: &Arc<AtomicUsize>) -> Result<UnixStream, String> {
    let (rx, tx) = UnixStream::pair().map_err(|e| format!("signal pipe: {e}"))?;
    rx.set_nonblocking(true)
        .map_err(|e| format!("signal pipe: {e}"))?;
    tx.set_nonblocking(true)
        .map_err(|e| format!("signal pipe: {e}"))?;
    for sig in std::iter::once(signal_hook::consts::SIGCHLD).chain(shutdown::SIGNALS) {
        let tx = tx.try_clone().map_err(|e| format!("signal pipe: {e}"))?;
        signal_hook::low_level::pipe::register(sig, tx)
            .map_err(|e| format!("handler for signal {sig}: {e}"))?;
    }
    for sig in shutdown::SIGNALS {
        let value = usize::try_from(sig).unwrap_or(0);
        signal_hook::flag::register_usize(sig, Arc::clone(requested), value)
            .map_err(|e| format!("handler for signal {sig}: {e}"))?;
    }
    Ok(rx)
}

impl Pid1 {
    pub fn new(cfg: Config, tty: String) -> Self {
        let program = match &cfg.exec {
            Some(argv) => Program {
                argv: argv.clone(),
                login: false,
            },
            None => Program::shell(&cfg.shell),
        };
        let cfg_on_exit = if cfg.exec.is_some() {
            cfg.on_exit
        } else {
            OnExit::Respawn
        };
        let requested = Arc::new(AtomicUsize::new(0));
        let signals = match signal_pipe(&requested) {
            Ok(s) => Some(s),
            Err(e) => {
                info!("{e}; reaping on a 1 s timer instead");
                None
            }
        };
        Pid1 {
            cfg,
            nl: None,
            events: None,
            hotplug: None,
            timeline: crate::pid1::timeline::Timeline::default(),
            netifs: Vec::new(),
            publish: crate::net::configure::Publish::default(),
            default_owner: DefaultOwner::default(),
            statics: Vec::new(),
            known: Vec::new(),
            ipv6_held: Vec::new(),
            phy_held: Vec::new(),
            tty,
            net_started: uptime(),
            foreground: Foreground::new(program, cfg_on_exit),
            signals,
            requested,
            booting: true,
        }
    }

    fn has_lease(&self) -> bool {
        !self.statics.is_empty() || self.netifs.iter().any(|n| n.lease().is_some())
    }

    pub fn knows(&self, index: u32) -> bool {
        self.known.contains(&index)
    }

    /// Configures `link` as the plan says (DHCP, a static address, or nothing): at boot
    /// for every Ethernet interface, and later for one that appears (hotplug).
    pub fn add_interface(&mut self, link: Link) {
        if self.knows(link.index) {
            return;
        }
        let plan = plan_for(&link.name, self.known.len(), &self.cfg.ip, &self.cfg.search);
        self.known.push(link.index);
        if plan != Plan::Off
            && !self.cfg.phy_wait.is_zero()
            && crate::net::phy::should_hold(&link.name)
        {
            info!(
                "{}: set up once its PHY has link (within {} s): its driver notices a link only every 2 s once up",
                link.name,
                self.cfg.phy_wait.as_secs_f64()
            );
            self.phy_held.push((link, plan, uptime()));
            return;
        }
        self.carry_out(link, plan);
    }

    fn carry_out(&mut self, link: Link, plan: Plan) {
        match plan {
            Plan::Off => info!("{}: left down (ip=)", link.name),
            Plan::Dhcp => self.start_dhcp(link),
            Plan::Static(lease) => self.apply_static(link, *lease),
        }
    }

    fn apply_static(&mut self, link: Link, lease: crate::dhcp::lease::Lease) {
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        if let Err(e) = nl.set_up(&link) {
            info!("{e}");
        }
        let primary = self.default_owner.get().is_none();
        if primary {
            self.default_owner.set(Some(link.index));
        }
        let mut errors = crate::net::configure::apply(nl, &link, &lease, None, primary);
        if primary {
            errors.extend(crate::net::configure::publish(
                &self.publish,
                Some(&lease),
                "ip= on the kernel command line",
            ));
        }
        let via = lease
            .router()
            .map(|r| format!(" via {r}"))
            .unwrap_or_default();
        info!(
            "{}: static {}/{}{via} (ip=)",
            link.name, lease.address, lease.prefix_len
        );
        for e in errors {
            info!("{}: {e}", link.name);
        }
        let text = crate::net::status::render(&link.name, "static", Some(&lease), uptime(), "");
        let path = std::path::PathBuf::from(format!(
            "{}/{}.lease",
            crate::net::status::STATE_DIR,
            link.name
        ));
        let _ = std::fs::create_dir_all(crate::net::status::STATE_DIR);
        let _ = crate::net::etc_files::write_atomic(&path, &text);
        self.statics.push((link, lease));
    }

    fn start_dhcp(&mut self, link: Link) {
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        // IPv6 waits until the lease: when the carrier comes, IPv6 joins its multicast
        // groups, the driver rewrites its receive control register, and qemu's e1000
        // then refuses every frame for a second, the OFFER among them. Held back, the
        // lease comes milliseconds after carrier; IPv6 starts right after it (or when
        // the shell starts without one).
        if crate::net::link::set_ipv6_disabled(&link.name, true).is_ok() {
            self.ipv6_held.push(link.name.clone());
        }
        if let Err(e) = nl.set_up(&link) {
            info!("{e}");
        }
        let state = Some(std::path::PathBuf::from(format!(
            "{}/{}.lease",
            crate::net::status::STATE_DIR,
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
                // The carrier may already be up, its event already read: ask once.
                if let Ok(l) = nl.link(&name)
                    && l.carrier
                {
                    let now = uptime();
                    self.timeline.mark("carrier", now);
                    let _ = n.carrier(nl, now, true);
                }
                info!("{name}: DHCP started");
                self.netifs.push(n);
            }
            Err(e) => info!("{e}"),
        }
    }

    /// Carries out the plans of held interfaces whose PHY has link, or whose wait is over.
    fn release_phy_held(&mut self, now: Instant) {
        let mut ready = Vec::new();
        let mut linked = false;
        for (i, (link, _, since)) in self.phy_held.iter().enumerate() {
            let waited = now.saturating_sub(*since);
            match crate::net::phy::link_speed(&link.name) {
                Ok(None) if waited < self.cfg.phy_wait => continue,
                Ok(None) => info!(
                    "{}: no PHY link after {}; setting it up anyway",
                    link.name,
                    crate::log::ms(waited)
                ),
                Ok(Some(speed)) => {
                    linked = true;
                    info!(
                        "{}: PHY link at {speed} Mb/s after {}",
                        link.name,
                        crate::log::ms(waited)
                    )
                }
                Err(e) => info!("{e}; setting it up"),
            }
            ready.push(i);
        }
        if linked {
            self.timeline.mark("phy link", now);
        }
        for i in ready.into_iter().rev() {
            let (link, plan, _) = self.phy_held.remove(i);
            self.carry_out(link, plan);
        }
    }

    /// The first start waits for a lease, within the DHCP timeout.
    fn first_start(&self, now: Instant) -> Instant {
        if (self.netifs.is_empty() && self.phy_held.is_empty()) || self.has_lease() {
            now
        } else {
            self.net_started + self.cfg.dhcp_timeout
        }
    }

    fn start_foreground(&mut self, now: Instant) {
        let waiting = !self.netifs.is_empty() || !self.phy_held.is_empty();
        if !self.foreground.started_once() && waiting && !self.has_lease() {
            for n in &self.netifs {
                info!(
                    "dhcp {}: no lease after {}s ({}); starting the {}, DHCP goes on in the background",
                    n.link.name,
                    self.cfg.dhcp_timeout.as_secs_f64(),
                    n.why_no_lease().unwrap_or_default(),
                    self.foreground_name()
                );
            }
            for (link, _, _) in &self.phy_held {
                info!(
                    "{}: no lease after {}s (no PHY link yet, still down); starting the {}",
                    link.name,
                    self.cfg.dhcp_timeout.as_secs_f64(),
                    self.foreground_name()
                );
            }
        }
        let first = !self.foreground.started_once();
        if first {
            self.release_ipv6(|_| true);
        }
        self.foreground.start(now, &self.tty);
        if first {
            self.finish_timeline(now);
        }
    }

    fn foreground_name(&self) -> &'static str {
        if self.cfg.exec.is_some() {
            "appliance"
        } else {
            "shell"
        }
    }

    fn reap(&mut self, now: Instant) {
        for exit in reaper::reap_all() {
            match self.foreground.exited(exit.pid, &exit.status, now) {
                Some(AfterExit::Shutdown(kind)) => self.shutdown(kind),
                Some(AfterExit::Restart) => {}
                None => crate::debug!("reaped pid {} ({})", exit.pid, exit.status),
            }
        }
    }

    /// The boot is over when the shell (or appliance) first starts: one block on the
    /// console, and /run/qinit/boot.json for `qinit analyze` and the benchmark.
    fn finish_timeline(&mut self, now: Instant) {
        self.timeline.mark(self.foreground_name(), now);
        info!("{}", self.timeline.summary());
        let written = self.timeline.to_json().and_then(|json| {
            std::fs::create_dir_all(crate::net::status::STATE_DIR)
                .and_then(|()| {
                    crate::net::etc_files::write_atomic(
                        std::path::Path::new(crate::pid1::timeline::BOOT_JSON),
                        &json,
                    )
                })
                .map_err(|e| format!("{}: {e}", crate::pid1::timeline::BOOT_JSON))
        });
        if let Err(e) = written {
            info!("{e}");
        }
    }

    /// Gives IPv6 back to the held interfaces that `done` says are done waiting.
    fn release_ipv6(&mut self, done: impl Fn(&str) -> bool) {
        let (now_free, still): (Vec<String>, Vec<String>) = std::mem::take(&mut self.ipv6_held)
            .into_iter()
            .partition(|n| done(n));
        self.ipv6_held = still;
        for name in now_free {
            if let Err(e) = crate::net::link::set_ipv6_disabled(&name, false) {
                info!("{e}");
            }
        }
    }

    fn outcomes(&mut self, outcomes: Vec<Outcome>) {
        if outcomes.iter().any(|o| matches!(o, Outcome::Bound(_))) {
            let bound: Vec<String> = self
                .netifs
                .iter()
                .filter(|n| n.lease().is_some())
                .map(|n| n.link.name.clone())
                .collect();
            self.release_ipv6(|name| bound.iter().any(|b| b == name));
        }
        for o in outcomes {
            if matches!(o, Outcome::Bound(_)) {
                self.timeline.mark("lease", uptime());
            }
            if o == Outcome::Lost && !self.has_lease() {
                // Keep the files true: no lease, no leased address in /etc/hosts.
                let publish = crate::net::configure::Publish {
                    set_hostname: false,
                    ..self.publish.clone()
                };
                for e in crate::net::configure::publish(&publish, None, "") {
                    info!("{e}");
                }
            }
        }
    }

    fn shutdown(&mut self, kind: shutdown::Kind) -> ! {
        // An interactive shell ignores SIGTERM; its terminal hanging up ends it, and it
        // hangs up its jobs in turn.
        if let Some(pid) = self.foreground.pid().and_then(|p| i32::try_from(p).ok()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(-pid),
                nix::sys::signal::Signal::SIGHUP,
            );
        }
        shutdown::stop_processes(kind, self.cfg.shutdown_timeout);
        if let Some(nl) = self.nl.as_mut() {
            for n in &mut self.netifs {
                n.release(nl, uptime());
            }
        }
        shutdown::finish(kind)
    }

    pub fn run(mut self) -> ! {
        self.booting = false;
        loop {
            self.turn(true);
        }
    }

    /// Serves what is ready now (DHCP replies, link events, signals, timers) without
    /// waiting: the boot calls it between the steps that follow the network's, so that
    /// an OFFER is answered while modules load.
    pub fn serve_ready(&mut self) {
        self.turn(false);
    }

    /// One turn of the event loop; `wait`: block until something is due or ready.
    fn turn(&mut self, wait: bool) {
        let mut buf = [0u8; 64];
        let now = uptime();
        if !self.phy_held.is_empty() {
            self.release_phy_held(now);
        }
        let first = self.first_start(now);
        if !self.booting && self.foreground.due(now, first).is_some_and(|t| t <= now) {
            self.start_foreground(now);
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

        let mut wake: Option<Instant> = self.foreground.due(now, self.first_start(now));
        for n in &self.netifs {
            if let Some(t) = n.next_wakeup() {
                wake = Some(wake.map_or(t, |w| w.min(t)));
            }
        }
        if !self.phy_held.is_empty() {
            let t = now + crate::net::phy::POLL_EVERY;
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        if self.signals.is_none() {
            let t = now + Duration::from_secs(1);
            wake = Some(wake.map_or(t, |w| w.min(t)));
        }
        let timeout = match wake {
            _ if !wait => PollTimeout::ZERO,
            None => PollTimeout::NONE,
            Some(t) => {
                let ms = t.saturating_sub(now).as_millis().saturating_add(1);
                PollTimeout::try_from(ms.min(60_000)).unwrap_or(PollTimeout::MAX)
            }
        };

        let mut fds = Vec::new();
        if let Some(s) = &self.signals {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
        }
        if let Some(e) = &self.events {
            fds.push(PollFd::new(e.fd(), PollFlags::POLLIN));
        }
        if let Some(h) = &self.hotplug {
            fds.push(PollFd::new(h.events.fd(), PollFlags::POLLIN));
        }
        let mut per_netif = Vec::new();
        for n in &self.netifs {
            let f = n.fds();
            per_netif.push(f.len());
            fds.extend(f.into_iter().map(|fd| PollFd::new(fd, PollFlags::POLLIN)));
        }
        let _ = poll(&mut fds, timeout);
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let mut ready = ready.into_iter();
        let now = uptime();

        if self.signals.is_some()
            && ready.next().unwrap_or(false)
            && let Some(s) = self.signals.as_mut()
        {
            while s.read(&mut buf).is_ok_and(|n| n > 0) {}
        }
        self.reap(now);
        let sig = self.requested.swap(0, Ordering::SeqCst);
        if let Some(kind) = shutdown::Kind::from_signal(i32::try_from(sig).unwrap_or(0)) {
            self.shutdown(kind);
        }
        let link_ready = self.events.is_some() && ready.next().unwrap_or(false);
        if self.hotplug.is_some() && ready.next().unwrap_or(false) {
            for line in self
                .hotplug
                .as_ref()
                .map(|h| h.handle())
                .unwrap_or_default()
            {
                info!("{line}");
            }
        }
        let mut new_links = Vec::new();
        let Some(nl) = self.nl.as_mut() else {
            return;
        };
        let mut outs = Vec::new();
        if link_ready {
            let changes = self.events.as_ref().map(|e| e.read()).unwrap_or_default();
            for link in changes {
                match self.netifs.iter_mut().find(|n| n.link.index == link.index) {
                    Some(n) => {
                        // An event says the link changed; the state it carries may
                        // be older than what `start_dhcp` read (the carrier is set
                        // before its event is sent). The link as it is now decides,
                        // so a stale "no carrier" does not restart the client.
                        let carrier = nl.link(&n.link.name).map_or(link.carrier, |l| l.carrier);
                        if carrier {
                            self.timeline.mark("carrier", now);
                        }
                        outs.extend(n.carrier(nl, now, carrier))
                    }
                    None if crate::pid1::boot::is_dhcp_candidate(&link)
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
            let mut any = false;
            for _ in 0..count {
                any |= ready.next().unwrap_or(false);
            }
            if any {
                outs.extend(n.readable(nl, now));
            }
        }
        self.outcomes(outs);
        for link in new_links {
            self.add_interface(link);
        }
    }
}
