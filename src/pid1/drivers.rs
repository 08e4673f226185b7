//! The drivers: which ones the boot waits for, and the rest loading behind it. The
//! network's drivers load first, in the boot itself (a link takes seconds to come up).
//! Every other device's driver (coldplug by modalias, then `qinit.modules`) loads on a
//! thread of its own at the lowest CPU priority, begun once the shell or appliance has
//! started (which happens as soon as the network it waits for is up). The exception is an fstab with local
//! entries that are neither `nofail` nor `noauto`: the boot then waits for every driver
//! (a disk's or a filesystem's may be among them) and mounts them before the shell
//! starts. Otherwise the thread mounts fstab's local entries, all optional then, once
//! its drivers are in.

use crate::clock::uptime;
use crate::info;
use crate::log::ms;
use crate::pid1::guard::Guard;
use crate::system::fstab;
use crate::system::fstab::Phase;
use crate::system::modules;
use crate::system::pci_hold::PciHold;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Coldplug for the devices `select` takes, then the `extras` (qinit.modules).
/// `between` runs after each module.
pub fn load_modules(
    tables: Option<&modules::Tables>,
    extras: &[String],
    select: crate::system::modalias::Select,
    between: &mut dyn FnMut(),
) -> ((), Vec<String>) {
    let mut errors = Vec::new();
    let Some(tables) = tables else {
        return ((), errors);
    };
    // Every device's driver, by modalias, as udev would; then what qinit.modules adds.
    let (loaded, errs) = crate::system::modalias::coldplug(
        Path::new("/sys"),
        &tables.dir,
        &|name| tables.load(name),
        Duration::from_secs(5),
        select,
        between,
    );
    errors.extend(errs);
    if !loaded.is_empty() {
        info!("coldplug: loaded {}", loaded.join(" "));
    }
    for name in extras {
        match tables.load(name) {
            Ok(modules::Loaded::Inserted(n)) => info!("module {name}: loaded ({n} file(s))"),
            Ok(modules::Loaded::Builtin) => info!("module {name}: built into the kernel"),
            Ok(modules::Loaded::Already) => info!("module {name}: already loaded"),
            Err(e) => errors.push(e),
        }
        between();
    }
    ((), errors)
}

/// The vsock transports a notify socket at `cid` needs before the first message: the
/// host's (virtio), and the guest's own loopback for CID 1. The boot loads them itself
/// (the host-integration items it must not wait for in the background).
pub fn for_notify(cid: u32) -> &'static [&'static str] {
    if cid == 1 {
        &["vmw_vsock_virtio_transport", "vsock_loopback"]
    } else {
        &["vmw_vsock_virtio_transport"]
    }
}

/// Whether /etc/fstab has entries the boot must mount before the shell starts
/// (`fstab::needs_local_mounts`); a missing or unreadable fstab has none.
pub fn fstab_needs_drivers() -> bool {
    std::fs::read("/etc/fstab")
        .map(|b| fstab::needs_local_mounts(&String::from_utf8_lossy(&b)))
        .unwrap_or(false)
}

/// The drivers loading behind the boot.
pub struct Background {
    /// What the thread loads, until it is begun.
    work: Option<Work>,
    /// Set by the thread when its work is over (a panic in it included). The thread is
    /// detached: it frees its own stack when it ends, not only once PID 1 joins it, so
    /// the pages it used leave PID 1's memory at once.
    done: Option<Arc<AtomicBool>>,
}

struct Work {
    tables: Option<modules::Tables>,
    extras: Vec<String>,
    mount_fstab: bool,
    /// The virtio devices the network's drivers left unbound: released first.
    hold: PciHold,
}

/// The latest the drivers nobody waits for begin after the boot's network step, should
/// the shell or appliance not have started by then: the longest a driver nobody waits
/// for (the power button's, say) comes after it.
pub const HOLD_BOUND: Duration = Duration::from_secs(5);

/// How long after the shell's (or appliance's) first start the drivers nobody waits for
/// begin: its exec and profile have the guest's CPU to themselves meanwhile (about 40 ms
/// under TCG here). A driver's load runs long stretches in the kernel that nothing
/// preempts, so begun at the start it delays the shell's first prompt (README,
/// "Benchmarks").
pub const AFTER_START: Duration = Duration::from_millis(250);

impl Background {
    /// The drivers to load once begun: the devices of `hold` released first, every
    /// device's, then `extras`; after them, if `mount_fstab`, fstab's local entries. Nothing starts yet (not even the thread:
    /// its start is work too, kept off the shell's path).
    pub fn new(
        tables: Option<modules::Tables>,
        extras: Vec<String>,
        mount_fstab: bool,
        hold: PciHold,
    ) -> Self {
        Background {
            work: Some(Work {
                tables,
                extras,
                mount_fstab,
                hold,
            }),
            done: None,
        }
    }

    /// Starts the thread that loads them, at the lowest CPU priority (once; later calls
    /// do nothing). Should no thread start, it all happens here and now.
    pub fn begin(&mut self) {
        let Some(work) = self.work.take() else {
            return;
        };
        let done = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&done);
        // Shared, so that a spawn that fails hands the work back.
        let handed = Arc::new(Mutex::new(Some(work)));
        let theirs = Arc::clone(&handed);
        let spawned = std::thread::Builder::new()
            .name("drivers".into())
            .spawn(move || {
                lower_priority();
                if let Some(work) = theirs.lock().ok().and_then(|mut w| w.take()) {
                    Guard::default().run("loading drivers in the background", || {
                        work.run(" in the background")
                    });
                }
                flag.store(true, Ordering::Release);
            });
        match spawned {
            // Dropping the handle detaches the thread; `done` says when it is over.
            Ok(_detached) => self.done = Some(done),
            Err(e) => {
                info!("drivers: no thread for them ({e}); loading them now");
                if let Some(work) = handed.lock().ok().and_then(|mut w| w.take()) {
                    work.run("");
                }
            }
        }
    }

    /// Whether they were begun.
    pub fn begun(&self) -> bool {
        self.work.is_none()
    }

    fn finished(&self) -> bool {
        self.done.as_ref().is_none_or(|d| d.load(Ordering::Acquire))
    }

    /// Waits until every driver is loaded, running `between` every few milliseconds
    /// meanwhile (PID 1 answers DHCP there).
    pub fn wait(&mut self, between: &mut dyn FnMut()) {
        self.begin();
        while !self.finished() {
            between();
            std::thread::sleep(Duration::from_millis(5));
        }
        self.done = None;
    }

    /// At shutdown: waits up to `bound` for the thread to end, so that no driver loads
    /// and no fstab mount starts while the filesystems are unmounted. False if it was
    /// still at work when the bound passed (it is then left to run). Drivers not begun
    /// by then are not loaded at all.
    pub fn finish_within(&mut self, bound: Duration) -> bool {
        self.work = None;
        let end = std::time::Instant::now() + bound;
        while !self.finished() {
            if std::time::Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.done = None;
        true
    }
}

impl Work {
    /// The held devices released (probed, in this thread), then `load_and_mount`.
    fn run(mut self, how: &str) {
        if !self.hold.held().is_empty() {
            crate::debug!(
                "drivers: releasing {}, held while the network's drivers loaded",
                self.hold.held().join(" ")
            );
        }
        for e in self.hold.release() {
            info!("drivers: {e}");
        }
        load_and_mount(self.tables.as_ref(), &self.extras, self.mount_fstab, how);
    }
}

/// The thread's work: the drivers, then the optional mounts; each part's lines and
/// its duration logged as a boot step's are (`how` says where it ran).
fn load_and_mount(tables: Option<&modules::Tables>, extras: &[String], mount: bool, how: &str) {
    let t = uptime();
    let ((), errors) = load_modules(tables, extras, crate::system::modalias::EVERY, &mut || {});
    for e in &errors {
        info!("modules: {e}");
    }
    info!("modules: done in {}{how}", ms(uptime().saturating_sub(t)));
    if mount {
        let t = uptime();
        for line in fstab::mount_all(Path::new("/etc/fstab"), Phase::Local) {
            info!("fstab: {line}");
        }
        info!("fstab: done in {}{how}", ms(uptime().saturating_sub(t)));
    }
}

/// Gives the calling thread the lowest CPU priority (nice 19): on the guest's one CPU,
/// the drivers nobody waits for yield to PID 1's DHCP and to the shell's start.
fn lower_priority() {
    // On Linux, PRIO_PROCESS with a thread's id (0: the caller) sets that thread alone.
    // SAFETY: setpriority takes plain integers and touches no memory of ours.
    let r = unsafe { nix::libc::setpriority(nix::libc::PRIO_PROCESS, 0, 19) };
    if r != 0 {
        info!(
            "drivers: lowering the thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_loads_the_host_transport_and_loopback_only_for_cid_1() {
        assert_eq!(for_notify(2), ["vmw_vsock_virtio_transport"]);
        assert_eq!(
            for_notify(1),
            ["vmw_vsock_virtio_transport", "vsock_loopback"]
        );
    }
}
