//! The boot sequence of PID 1, each step logged with its duration: mounts, command line,
//! host name, modules, loopback and Ethernet over netlink, then the event loop (DHCP and
//! the shell). Every failure is logged and the boot goes on.

use crate::cmdline::{self, Config};
use crate::link::{Link, LinkEvents, Netlink};
use crate::log::{ms, uptime};
use crate::net_config::Publish;
use crate::netif::NetIf;
use crate::pid1::Pid1;
use crate::{console, info, modules, mounts};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// Runs `f`, logs "<what>: N ms" and any errors it returns.
fn step<T>(what: &str, f: impl FnOnce() -> (T, Vec<String>)) -> T {
    let t = uptime();
    let (v, errors) = f();
    for e in &errors {
        info!("{what}: {e}");
    }
    info!("{what}: done in {}", ms(uptime().saturating_sub(t)));
    v
}

fn read_config() -> (Config, Vec<String>) {
    match std::fs::read("/proc/cmdline") {
        Ok(bytes) => cmdline::parse(&String::from_utf8_lossy(&bytes)),
        Err(e) => (
            Config::default(),
            vec![format!("reading /proc/cmdline: {e}")],
        ),
    }
}

fn load_modules(cfg: &Config) -> ((), Vec<String>) {
    let mut errors = Vec::new();
    let dir = match modules::module_dir() {
        Ok(d) => d,
        Err(e) => return ((), vec![e]),
    };
    let (deps, builtin) = modules::read_tables(&dir);
    let wanted = ["e1000".to_string()]
        .into_iter()
        .chain(cfg.modules.iter().cloned());
    for name in wanted {
        match modules::load(&dir, &deps, &builtin, &name) {
            Ok(modules::Loaded::Inserted(n)) => info!("module {name}: loaded ({n} file(s))"),
            Ok(modules::Loaded::Builtin) => info!("module {name}: built into the kernel"),
            Ok(modules::Loaded::Already) => info!("module {name}: already loaded"),
            Err(e) => errors.push(e),
        }
    }
    ((), errors)
}

fn loopback(nl: &mut Netlink) -> Vec<String> {
    let mut errors = Vec::new();
    match nl.link("lo") {
        Ok(lo) => {
            for (addr, prefix) in [
                (IpAddr::V4(Ipv4Addr::LOCALHOST), 8),
                (IpAddr::V6(Ipv6Addr::LOCALHOST), 128),
            ] {
                if let Err(e) = nl.add_address(&lo, addr, prefix) {
                    errors.push(e);
                }
            }
            if let Err(e) = nl.set_up(&lo) {
                errors.push(e);
            }
        }
        Err(e) => errors.push(e),
    }
    errors
}

/// The interface DHCP configures: eth0, else the first Ethernet interface.
fn pick_ethernet(links: &[Link]) -> Option<Link> {
    links
        .iter()
        .find(|l| l.name == "eth0")
        .or_else(|| {
            links
                .iter()
                .find(|l| l.ethernet && l.mac.is_some() && l.name != "lo")
        })
        .cloned()
}

pub fn boot() -> ! {
    info!("qinit {} started as PID 1", env!("CARGO_PKG_VERSION"));
    // Ctrl-Alt-Del becomes SIGINT to us instead of an immediate reboot.
    if let Err(e) = nix::sys::reboot::set_cad_enabled(false) {
        info!("disabling Ctrl-Alt-Del: {e}");
    }
    step("mounts", || ((), mounts::mount_base()));
    let cfg = step("command line", read_config);
    crate::log::set_debug(cfg.debug);

    let publish = Publish {
        etc_dir: Some(PathBuf::from("/etc")),
        set_hostname: true,
        hostname_override: cfg.hostname.clone(),
    };
    step("host name", || {
        ((), crate::net_config::publish(&publish, None, ""))
    });
    step("modules", || load_modules(&cfg));

    let tty = console::console_tty(cfg.console.as_deref());
    let mut pid1 = Pid1::new(cfg.clone(), tty);

    let (nl, events, netif) = step("network", || {
        let mut errors = Vec::new();
        let mut nl = match Netlink::open() {
            Ok(nl) => nl,
            Err(e) => return ((None, None, None), vec![e]),
        };
        errors.extend(loopback(&mut nl));
        if !cfg.net {
            info!("qinit.net=off: only lo is configured");
            return ((Some(nl), None, None), errors);
        }
        // Subscribe before setting the link up, so the carrier event cannot be missed.
        let events = LinkEvents::open().map_err(|e| errors.push(e)).ok();
        let links = nl.links().unwrap_or_else(|e| {
            errors.push(e);
            Vec::new()
        });
        let Some(link) = pick_ethernet(&links) else {
            errors.push("no Ethernet interface found".into());
            return ((Some(nl), events, None), errors);
        };
        if let Err(e) = nl.set_up(&link) {
            errors.push(e);
        }
        let state = Some(PathBuf::from(format!(
            "{}/{}.lease",
            crate::status::STATE_DIR,
            link.name
        )));
        let netif = NetIf::new(link, publish.clone(), state, cfg.rapid_commit)
            .map_err(|e| errors.push(e))
            .ok();
        ((Some(nl), events, netif), errors)
    });
    pid1.nl = nl;
    pid1.events = events;
    pid1.net_started = uptime();
    if let Some(mut n) = netif {
        // The carrier may already be up (and its event already read): ask once.
        if let Some(nl) = pid1.nl.as_mut()
            && let Ok(l) = nl.link(&n.link.name)
            && l.carrier
        {
            let now = uptime();
            let _ = n.carrier(nl, now, true);
        }
        pid1.netifs.push(n);
    }
    pid1.run()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link(name: &str, ethernet: bool) -> Link {
        Link {
            index: 1,
            name: name.into(),
            mac: Some([0; 6]),
            ethernet,
            up: false,
            carrier: false,
        }
    }

    #[test]
    fn prefers_eth0_then_first_ethernet() {
        let l = [link("lo", false), link("enp0s3", true), link("eth0", true)];
        assert_eq!(pick_ethernet(&l).unwrap().name, "eth0");
        let l = [link("lo", false), link("sit0", false), link("enp0s3", true)];
        assert_eq!(pick_ethernet(&l).unwrap().name, "enp0s3");
        assert!(pick_ethernet(&[link("lo", false)]).is_none());
    }
}
