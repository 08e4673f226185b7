//! The boot sequence of PID 1, each step logged with its duration: mounts, NIC drivers,
//! the host's credentials and the configuration, host name, loopback and Ethernet over
//! netlink, the other drivers started in the background (or waited for, with fstab's
//! required mounts: pid1::drivers), then the event loop (DHCP and the shell). Every
//! failure is logged and the boot goes on.

use crate::clock::uptime;
use crate::config::cmdline::Config;
use crate::info;
use crate::log::ms;
use crate::net::configure::Publish;
use crate::net::link::{LinkEvents, Netlink, ethernet_links};
use crate::net::network::Network;
use crate::pid1::drivers::{self, Background, load_modules};
use crate::pid1::event_loop::Pid1;
use crate::pid1::guard::Guard;
use crate::pid1::notify::Notify;
use crate::pid1::signals::Signals;
use crate::pid1::timeline::Timeline;
use crate::system::fstab::NetworkMounts;
use crate::system::pci_hold::PciHold;
use crate::system::{console, modules, mounts};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// Runs `f`, logs "<what>: N ms" and any errors it returns. A step that panics is
/// logged and counts as done with nothing (`T::default()`); the boot goes on.
fn step<T: Default>(tl: &mut Timeline, what: &str, f: impl FnOnce() -> (T, Vec<String>)) -> T {
    let t = uptime();
    let (v, errors) = Guard::default().run(what, f).unwrap_or_default();
    for e in &errors {
        info!("{what}: {e}");
    }
    let took = uptime().saturating_sub(t);
    info!("{what}: done in {}", ms(took));
    tl.stage(what, t, took);
    v
}

/// The host's credentials, then the settings: /etc/qinit.conf (or the `qinit.conf`
/// credential), the other credentials, SMBIOS's extra command line, and the kernel
/// command line, which wins.
pub fn read_config(
    tables: Option<&modules::Tables>,
) -> ((Config, Option<&'static str>), Vec<String>) {
    let (imported, mut errors) = crate::pid1::credentials::import(tables);
    let file = std::fs::read("/etc/qinit.conf")
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let cmdline = std::fs::read("/proc/cmdline")
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|e| {
            errors.push(format!("reading /proc/cmdline: {e}"));
            String::new()
        });
    let (cfg, errs) = crate::config::load_from(&crate::config::Sources {
        file: file.as_deref(),
        credentials: Some(&imported.credentials),
        cmdline: &cmdline,
    });
    errors.extend(errs);
    ((cfg, imported.dir), errors)
}

/// 127.0.0.1/8 on lo, and lo up. The kernel adds ::1 itself as lo comes up (unless
/// IPv6 is off for it), as it does for `ip link set lo up`.
fn loopback(nl: &mut Netlink) -> Vec<String> {
    let mut errors = Vec::new();
    match nl.link("lo") {
        Ok(lo) => {
            if let Err(e) = nl.add_address(&lo, IpAddr::V4(Ipv4Addr::LOCALHOST), 8) {
                errors.push(e);
            }
            if let Err(e) = nl.set_up(&lo) {
                errors.push(e);
            }
        }
        Err(e) => errors.push(e),
    }
    errors
}

pub fn boot() -> ! {
    info!("qinit {} started as PID 1", env!("CARGO_PKG_VERSION"));
    let mut tl = Timeline::default();
    tl.mark("pid1", uptime());
    // The kernel's module loader exists from here on (see link_modprobe): before the
    // mounts, whose filesystems the kernel may ask it for.
    let init = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| PathBuf::from("/init"));
    if let Err(e) = modules::link_modprobe(&init, std::path::Path::new(modules::MODPROBE)) {
        info!("{e}");
    }
    let signals = Signals::install();
    // Ctrl-Alt-Del becomes SIGINT to us instead of an immediate reboot.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        info!("disabling Ctrl-Alt-Del: {e}");
    }
    step(&mut tl, "mounts", || ((), mounts::mount_base()));
    // With /proc there, the console can be reopened without blocking.
    if let Err(e) = crate::log::console_never_blocks() {
        info!("{e}");
    }
    // NIC drivers first: a link takes seconds to come up after it is set up, and the
    // rest of the boot goes on meanwhile. They need no configuration; reading it takes
    // a driver of its own (qemu_fw_cfg, for the host's credentials).
    // The virtio devices that are no NIC wait for the other drivers (pci_hold).
    let (tables, mut pci_hold) = step(&mut tl, "network drivers", || {
        let (hold, mut errors) = PciHold::virtio_but_nics(std::path::Path::new("/sys"));
        let tables = match modules::Tables::read() {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                return ((None, hold), errors);
            }
        };
        let (_, errs) = load_modules(
            Some(&tables),
            &[],
            crate::system::modalias::NETWORK,
            &mut || {},
        );
        errors.extend(errs);
        ((Some(tables), hold), errors)
    });
    let (cfg, credentials_dir) = step(&mut tl, "config", || read_config(tables.as_ref()));
    crate::log::set_debug(cfg.debug);
    // The notify socket's transport before the first message (not in the background).
    if let Some(addr) = cfg.notify_socket {
        step(&mut tl, "vsock for notify", || {
            // The host's vsock device is a virtio PCI device on pc and q35.
            let mut errors = pci_hold.release();
            let Some(tables) = tables.as_ref() else {
                return ((), errors);
            };
            errors.extend(
                drivers::for_notify(addr.cid)
                    .iter()
                    .filter_map(|m| tables.load(m).err()),
            );
            ((), errors)
        });
    }
    let mut notify = Notify::new(cfg.notify_socket);

    let publish = Publish {
        etc_dir: Some(PathBuf::from("/etc")),
        set_hostname: true,
        hostname_override: cfg.hostname.clone(),
        dns: cfg.dns.clone(),
        dns6: cfg.dns6.clone(),
        search: cfg.search.clone(),
        sources: Default::default(),
        ignore_peer_dns: !cfg.peer_dns,
    };
    step(&mut tl, "host name", || {
        ((), crate::net::configure::publish(&publish, None, ""))
    });

    let (nl, events, links) = step(&mut tl, "network", || {
        let mut errors = Vec::new();
        let mut nl = match Netlink::open() {
            Ok(nl) => nl,
            Err(e) => return ((None, None, Vec::new()), vec![e]),
        };
        errors.extend(loopback(&mut nl));
        if !cfg.net {
            info!("qinit.net=off: only lo is configured");
            return ((Some(nl), None, Vec::new()), errors);
        }
        // Subscribe before setting links up, so no carrier event can be missed.
        let events = LinkEvents::open().map_err(|e| errors.push(e)).ok();
        let links = ethernet_links(&nl.links().unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        }));
        if links.is_empty() {
            errors.push("no Ethernet interface found".into());
        }
        ((Some(nl), events, links), errors)
    });
    let mut network = Network::new(&cfg, publish, nl, events);
    network.add_interfaces(links);
    // The other drivers load behind the boot; the shell waits for them only when fstab
    // has mounts it must find done (not nofail, not noauto, local). Hotplug and the power
    // button open then too, or, left to the loop, off the shell's path (about 20 ms
    // under TCG here).
    let wait_for_drivers = drivers::fstab_needs_drivers();
    let mut background = Background::new(tables, cfg.modules.clone(), !wait_for_drivers, pci_hold);
    let mut listeners = None;
    if wait_for_drivers {
        // Open before the drivers load: a device one of them reveals comes as a uevent
        // too. ACPI's netlink family is the kernel's own; `button`, which sends the
        // power button's events into it, may still be loading. The fallback watches
        // input devices that hotplug reports from here on.
        listeners = Some(crate::pid1::event_loop::open_listeners());
        // DHCP is answered meanwhile: a NIC whose carrier comes as it is set up
        // (virtio) has its OFFER in milliseconds.
        step(&mut tl, "drivers for fstab", || {
            background.wait(&mut || network.serve_ready());
            ((), Vec::new())
        });
        step(&mut tl, "fstab", || {
            (
                (),
                crate::system::fstab::mount_all(
                    std::path::Path::new("/etc/fstab"),
                    crate::system::fstab::Phase::Local,
                ),
            )
        });
    }
    notify.status(if wait_for_drivers {
        "Booting: drivers loaded, filesystems mounted"
    } else {
        "Booting: network drivers loaded, the others loading"
    });
    let tty = console::console_tty(cfg.console.as_deref());
    let net_mounts = NetworkMounts::new(std::path::Path::new("/etc/fstab"));
    let later = listeners.is_none();
    let (hotplug, power_button) = listeners.map_or((None, None), |(h, b)| (h, Some(b)));
    let pid1 = Pid1::new(cfg, tty, signals, network, hotplug, power_button, tl)
        .with_host(credentials_dir, notify)
        .with_network_mounts(net_mounts)
        .with_drivers(background);
    if later {
        pid1.with_listeners_later().run()
    } else {
        pid1.run()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::link::Link;

    fn link(name: &str, ethernet: bool) -> Link {
        Link {
            index: 1,
            name: name.into(),
            mac: Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]),
            ethernet,
            up: false,
            carrier: false,
        }
    }

    #[test]
    fn every_ethernet_interface_in_order() {
        let l = [
            link("lo", false),
            link("eth0", true),
            link("sit0", false),
            link("eth1", true),
        ];
        let names: Vec<String> = ethernet_links(&l).into_iter().map(|l| l.name).collect();
        assert_eq!(names, ["eth0", "eth1"]);
        let mut zero = link("dummy0", true);
        zero.mac = Some([0; 6]);
        assert!(ethernet_links(&[zero, link("lo", false)]).is_empty());
    }
}
