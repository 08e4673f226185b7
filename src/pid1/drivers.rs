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
use std::path::Path;
use std::thread::JoinHandle;
use std::time::Duration;

/// Coldplug for the devices `only` selects, then the `extras` (qinit.modules).
/// `between` runs after each module.
pub fn load_modules(
    tables: Option<&modules::Tables>,
    extras: &[String],
    only: fn(&str) -> bool,
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
        &tables.deps,
        &tables.builtin,
        Duration::from_secs(5),
        only,
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
    thread: Option<JoinHandle<()>>,
    /// Tells the thread to begin; dropped once it was told.
    go: Option<std::sync::mpsc::Sender<()>>,
}

/// How long the thread waits to be told to begin: the longest a driver nobody waits for
/// (the power button's, say) comes after the boot's network step.
pub const HOLD_BOUND: Duration = Duration::from_secs(5);

impl Background {
    /// Starts a thread that, once told to (`begin`, or after `HOLD_BOUND`), loads every
    /// device's driver, then `extras`; after them, if `mount_fstab`, it mounts fstab's
    /// local entries. Should no thread start, it all happens here and now.
    pub fn start(tables: Option<modules::Tables>, extras: Vec<String>, mount_fstab: bool) -> Self {
        let again = extras.clone();
        let (go, begin) = std::sync::mpsc::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("drivers".into())
            .spawn(move || {
                // Told, timed out, or the sender gone: each means begin.
                let _ = begin.recv_timeout(HOLD_BOUND);
                lower_priority();
                Guard::default().run("loading drivers in the background", || {
                    load_and_mount(tables.as_ref(), &extras, mount_fstab, " in the background")
                });
            });
        match spawned {
            Ok(thread) => Background {
                thread: Some(thread),
                go: Some(go),
            },
            Err(e) => {
                info!("drivers: no thread for them ({e}); loading them now");
                let tables = modules::Tables::read()
                    .map_err(|e| info!("modules: {e}"))
                    .ok();
                load_and_mount(tables.as_ref(), &again, mount_fstab, "");
                Background {
                    thread: None,
                    go: None,
                }
            }
        }
    }

    /// Lets the thread begin (once; later calls do nothing). On the guest's one CPU a
    /// driver's load runs long stretches in the kernel that nothing preempts, nice 19 or
    /// not: begun while the lease is on its way or the shell starts, it delays both
    /// (measured: README, "Benchmarks"). So the boot holds it until the shell or
    /// appliance has started, or until something must wait for it.
    pub fn begin(&mut self) {
        if let Some(go) = self.go.take() {
            let _ = go.send(());
        }
    }

    /// Waits until every driver is loaded, running `between` every few milliseconds
    /// meanwhile (PID 1 answers DHCP there).
    pub fn wait(&mut self, between: &mut dyn FnMut()) {
        self.begin();
        let Some(thread) = self.thread.take() else {
            return;
        };
        while !thread.is_finished() {
            between();
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.join().is_err() {
            info!("drivers: the loading thread ended in a panic");
        }
    }
}

impl Background {
    /// At shutdown: waits up to `bound` for the thread to end, so that no driver loads
    /// and no fstab mount starts while the filesystems are unmounted. False if it was
    /// still at work when the bound passed (it is then left to run).
    pub fn finish_within(&mut self, bound: Duration) -> bool {
        self.begin();
        let Some(thread) = self.thread.take() else {
            return true;
        };
        let end = std::time::Instant::now() + bound;
        while !thread.is_finished() {
            if std::time::Instant::now() >= end {
                self.thread = Some(thread);
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        if thread.join().is_err() {
            info!("drivers: the loading thread ended in a panic");
        }
        true
    }
}

/// The thread's work: the drivers, then the optional mounts; each part's lines and
/// its duration logged as a boot step's are (`how` says where it ran).
fn load_and_mount(tables: Option<&modules::Tables>, extras: &[String], mount: bool, how: &str) {
    let t = uptime();
    let ((), errors) = load_modules(tables, extras, |_| true, &mut || {});
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
