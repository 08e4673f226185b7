//! PID 1's event loop: one poll over the signal pipe, hotplug uevents, the power button,
//! the connection to the host's notify socket and the network's fds, with timers as
//! data. It only waits and dispatches: the network, the foreground program,
//! notifications and shutdown each decide for themselves. Nothing in here sleeps;
//! nothing in here may return.

use crate::clock::{Uptime, uptime};
use crate::config::cmdline::{Config, OnExit};
use crate::info;
use crate::net::network::Network;
use crate::pid1::drivers::Background;
use crate::pid1::foreground::{AfterExit, Foreground, Program};
use crate::pid1::guard::Guard;
use crate::pid1::notify::Notify;
use crate::pid1::signals::Signals;
use crate::pid1::timeline::Timeline;
use crate::system::fstab::NetworkMounts;
use crate::system::power_button::PowerButton;
use crate::system::shutdown::{Ending, Kind};
use crate::system::uevent::Hotplug;
use crate::system::{reaper, shutdown};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::time::Duration;

pub struct Pid1 {
    cfg: Config,
    tty: String,
    signals: Signals,
    network: Network,
    hotplug: Option<Hotplug>,
    power_button: Option<PowerButton>,
    /// Filled by the boot; completed here with carrier, lease and shell, then saved.
    timeline: Timeline,
    foreground: Foreground,
    /// fstab's `_netdev` and network filesystems, mounted once there is a lease.
    net_mounts: Option<NetworkMounts>,
    notify: Notify,
    /// The drivers still loading behind the boot; shutdown waits for them, bounded.
    drivers: Option<Background>,
    /// When the work behind the boot begins (IPv6 once the foreground has started, the
    /// drivers, and the listeners if still closed): `drivers::AFTER_START` after the
    /// first start, `drivers::HOLD_BOUND` after the loop's own start at the latest.
    drivers_at: Option<Uptime>,
    /// Hotplug and the power button, left by the boot for the loop to open off the
    /// shell's path: when the drivers begin, or sooner once the loop has been idle for
    /// `IDLE` before the first start (a link's autonegotiation, a slow DHCP server).
    listeners_later: bool,
}

/// How long the loop must have waited with nothing to do, before the first start, for
/// the listeners to open then.
const IDLE: Duration = Duration::from_millis(20);

/// Opens hotplug's uevent socket and the power button (ACPI's netlink family, or the
/// power key of the input devices), each line logged.
pub fn open_listeners() -> (Option<Hotplug>, PowerButton) {
    let hotplug = Hotplug::open().map_err(|e| info!("hotplug: {e}")).ok();
    let (button, lines) = PowerButton::open();
    for line in lines {
        info!("{line}");
    }
    (hotplug, button)
}

/// How long shutdown waits for the drivers still loading before it unmounts.
const DRIVERS_BOUND: Duration = Duration::from_secs(3);

impl Pid1 {
    pub fn new(
        cfg: Config,
        tty: String,
        signals: Signals,
        network: Network,
        hotplug: Option<Hotplug>,
        power_button: Option<PowerButton>,
        timeline: Timeline,
    ) -> Self {
        let program = match &cfg.exec {
            Some(argv) => Program {
                argv: argv.clone(),
                login: false,
            },
            None => Program::shell(&cfg.shell),
        };
        let on_exit = if cfg.exec.is_some() {
            cfg.on_exit
        } else {
            OnExit::Respawn
        };
        let mut pid1 = Pid1 {
            foreground: Foreground::new(program, on_exit),
            cfg,
            tty,
            signals,
            network,
            hotplug,
            power_button,
            timeline,
            net_mounts: None,
            notify: Notify::new(None),
            drivers: None,
            drivers_at: None,
            listeners_later: false,
        };
        pid1.take_marks();
        pid1
    }

    /// What the host passed and wants to hear: its credentials' directory, given to the
    /// foreground program as $CREDENTIALS_DIRECTORY, and where to send notifications.
    pub fn with_host(mut self, credentials_dir: Option<&str>, notify: Notify) -> Self {
        if let Some(dir) = credentials_dir {
            self.foreground
                .env
                .push(("CREDENTIALS_DIRECTORY".into(), dir.into()));
        }
        self.notify = notify;
        // Milestones reached while the boot loaded drivers, before there was a notifier.
        let marks: Vec<String> = self.timeline.marks.iter().map(|m| m.name.clone()).collect();
        for name in marks {
            self.notify.milestone(&name);
        }
        self
    }

    /// The drivers loading behind the boot, for shutdown to wait for.
    pub fn with_drivers(mut self, drivers: Background) -> Self {
        if !drivers.begun() {
            self.drivers_at = Some(uptime() + crate::pid1::drivers::HOLD_BOUND);
        }
        self.drivers = Some(drivers);
        self
    }

    /// Hotplug and the power button are not open yet: the loop opens them
    /// (`listeners_later`).
    pub fn with_listeners_later(mut self) -> Self {
        self.listeners_later = true;
        if self.drivers_at.is_none() {
            self.drivers_at = Some(uptime() + crate::pid1::drivers::HOLD_BOUND);
        }
        self
    }

    fn open_listeners(&mut self) {
        if std::mem::take(&mut self.listeners_later) {
            let (hotplug, button) = open_listeners();
            self.hotplug = hotplug;
            self.power_button = Some(button);
        }
    }

    /// Mounts fstab's network entries once the network has a lease.
    pub fn with_network_mounts(mut self, mounts: NetworkMounts) -> Self {
        self.net_mounts = mounts.pending().then_some(mounts);
        self
    }

    /// Turns the loop forever. A turn that panics is logged and the next one goes on
    /// with the same state; panics in a row are slowed down (`Guard`).
    pub fn run(mut self) -> ! {
        let mut guard = Guard::default();
        loop {
            if guard
                .run("a turn of the event loop", || self.turn())
                .is_none()
            {
                std::thread::sleep(guard.backoff());
            }
        }
    }

    fn take_marks(&mut self) {
        for (name, at) in self.network.take_marks() {
            self.timeline.mark(name, at);
            self.notify.milestone(name);
        }
    }

    fn foreground_name(&self) -> &'static str {
        if self.cfg.exec.is_some() {
            "appliance"
        } else {
            "shell"
        }
    }

    fn start_foreground(&mut self, now: Uptime) {
        let first = !self.foreground.started_once();
        if first {
            self.network.report_no_lease(self.foreground_name());
        }
        if let Some(AfterExit::Shutdown(ending)) = self.foreground.start(now, &self.tty) {
            let cause = format!("{} cannot start", self.foreground_name());
            self.shutdown(ending, &cause, Some(127));
        }
        if first {
            // The shell has started: IPv6 (lease or not), the listeners and the drivers
            // nobody waits for come once it had the CPU for its own start.
            let t = now + crate::pid1::drivers::AFTER_START;
            self.drivers_at = Some(self.drivers_at.map_or(t, |at| at.min(t)));
        }
        if first {
            // The boot is over when the shell (or appliance) first starts: one block on
            // the console, and /run/qinit/boot.json for `qinit analyze` and the bench.
            self.take_marks();
            if self.notify.enabled() {
                self.notify
                    .send(crate::pid1::notify::ready(&self.foreground.program.name()));
                self.timeline.stage("notify", now, self.notify.spent());
            }
            self.timeline.mark(self.foreground_name(), now);
            info!("{}", self.timeline.summary());
            if let Err(e) = self.timeline.save() {
                info!("{e}");
            }
        }
    }

    fn reap(&mut self, now: Uptime) {
        for exit in reaper::reap_all() {
            match self.foreground.exited(&exit, now) {
                Some(AfterExit::Shutdown(ending)) => {
                    let cause = format!("{} exited", self.foreground_name());
                    self.shutdown(ending, &cause, Some(exit.code))
                }
                Some(AfterExit::Restart) => {}
                None if self.network.child_exited(exit.pid, &exit.status, now) => {}
                None => crate::debug!("reaped pid {} ({})", exit.pid, exit.status),
            }
        }
    }

    /// `cause` names who asked; `exit_status`: the appliance's, when its exit is why.
    fn shutdown(&mut self, ending: Ending, cause: &str, exit_status: Option<i32>) -> ! {
        // Its evdev fds would keep /dev busy at unmount; no press matters any more.
        self.power_button = None;
        // A driver thread reading /sys or mounting fstab's entries would keep them busy.
        if let Some(mut drivers) = self.drivers.take()
            && !drivers.finish_within(DRIVERS_BOUND)
        {
            info!(
                "shutdown: drivers still loading after {}; going on",
                crate::log::ms(DRIVERS_BOUND)
            );
        }
        let kind = match ending {
            Ending::Kind(kind) => kind,
            Ending::DebugExit { .. } => Kind::PowerOff,
        };
        self.notify
            .send(crate::pid1::notify::stopping(kind, exit_status));
        self.notify.flush();
        let network = &mut self.network;
        shutdown::shutdown(
            ending,
            cause,
            self.cfg.shutdown_timeout,
            self.foreground.pid(),
            || network.release_all(),
        )
    }

    /// When the loop must wake even if no fd becomes ready.
    fn next_wakeup(&self, now: Uptime) -> Option<Uptime> {
        let mut wake = self.foreground.due(now, self.network.ready_by(now));
        let mut sooner = |t: Uptime| wake = Some(wake.map_or(t, |w| w.min(t)));
        if let Some(t) = self.network.next_wakeup(now) {
            sooner(t);
        }
        if let Some(t) = self.notify.next_wakeup() {
            sooner(t);
        }
        if let Some(t) = self.drivers_at {
            sooner(t);
        }
        if self.signals.fd().is_none() {
            sooner(now + Duration::from_secs(1));
        }
        wake
    }

    /// One turn of the event loop: run what is due, then block until something is
    /// ready or the next deadline, and serve it.
    fn turn(&mut self) {
        let now = uptime();
        // The shell first: what the network does once it is up (IPv6 switched on, a
        // router solicitation) comes after the start, not between the lease and it.
        self.start_foreground_if_due(now);
        self.network.tick(now);
        self.notify.tick(now);
        self.take_marks();
        if self.network.has_lease()
            && let Some(m) = self.net_mounts.as_mut()
        {
            m.network_ready();
            self.net_mounts = None;
        }
        if self.drivers_at.is_some_and(|t| t <= now) {
            self.drivers_at = None;
            // Open before the drivers load: a device one of them reveals comes as a
            // uevent too (loading its driver twice is harmless: the second finds it
            // loaded).
            self.open_listeners();
            if self.foreground.started_once() {
                self.network.release_ipv6();
            }
            if let Some(drivers) = self.drivers.as_mut() {
                drivers.begin();
            }
        }

        // Before the first start, a wait with nothing to do is the time to open the
        // listeners.
        let idle_check = self.listeners_later && !self.foreground.started_once();
        let mut wake = self.next_wakeup(now);
        if idle_check {
            wake = Some(wake.map_or(now + IDLE, |w| w.min(now + IDLE)));
        }
        let timeout = match wake {
            None => PollTimeout::NONE,
            Some(t) => {
                let ms = t.saturating_sub(now).as_millis().saturating_add(1);
                PollTimeout::try_from(ms.min(60_000)).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut fds = Vec::new();
        if let Some(fd) = self.signals.fd() {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        if let Some(h) = &self.hotplug {
            fds.push(PollFd::new(h.events.fd(), PollFlags::POLLIN));
        }
        let button_fds = self.power_button.as_ref().map(PowerButton::fds);
        let button_count = button_fds.as_ref().map_or(0, Vec::len);
        fds.extend(
            button_fds
                .into_iter()
                .flatten()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
        );
        let notify_fd = self.notify.fd();
        let notify_polled = notify_fd.is_some();
        if let Some(fd) = notify_fd {
            fds.push(PollFd::new(fd, PollFlags::POLLOUT));
        }
        fds.extend(
            self.network
                .fds()
                .into_iter()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
        );
        let polled_at = uptime();
        let _ = poll(&mut fds, timeout);
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        drop(fds);
        let idle = !ready.iter().any(|r| *r);
        let mut ready = ready.into_iter();
        let now = uptime();

        if self.signals.fd().is_some() && ready.next().unwrap_or(false) {
            self.signals.drain();
        }
        self.reap(now);
        if let Some((kind, signal)) = self.signals.take_shutdown() {
            self.shutdown(Ending::Kind(kind), signal, None);
        }
        if self.hotplug.is_some() && ready.next().unwrap_or(false) {
            let handled = self
                .hotplug
                .as_ref()
                .map(|h| h.handle())
                .unwrap_or_default();
            if !handled.input_nodes.is_empty()
                && let Some(button) = &mut self.power_button
            {
                for line in button.input_added() {
                    info!("{line}");
                }
            }
        }
        let button_ready = ready.by_ref().take(button_count).any(|r| r);
        if button_ready && let Some(pressed) = self.power_button.as_mut().and_then(|b| b.pressed())
        {
            info!("power button pressed ({pressed})");
            self.shutdown(Ending::Kind(Kind::PowerOff), "power button", None);
        }
        if notify_polled && ready.next().unwrap_or(false) {
            self.notify.ready();
        }
        let rest: Vec<bool> = ready.collect();
        self.network.readable(&rest, now);
        self.take_marks();
        // A lease just bound: the shell starts now, not a turn later.
        self.start_foreground_if_due(uptime());
        // Not if the shell has just started (its DHCP timeout ran out): it has the CPU.
        if idle_check
            && idle
            && now.saturating_sub(polled_at) >= IDLE
            && !self.foreground.started_once()
        {
            self.open_listeners();
        }
    }

    fn start_foreground_if_due(&mut self, now: Uptime) {
        if self
            .foreground
            .due(now, self.network.ready_by(now))
            .is_some_and(|t| t <= now)
        {
            self.start_foreground(now);
        }
    }
}
