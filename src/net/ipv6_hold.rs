//! IPv6 held off on an interface until its first DHCPv4 lease. When the carrier comes,
//! IPv6 joins its multicast groups, the driver rewrites its receive control register,
//! and qemu's e1000 then refuses every frame for a second, the OFFER among them. Held
//! back, the lease comes milliseconds after carrier; IPv6 starts right after it (or when
//! the foreground program starts without one, or, for an interface that came later, when
//! its DHCP timeout ends without one: IPv6 is never held for good). When the hold ends,
//! a router solicitation goes out at once (`router_solicit`), so the router's
//! advertisement, and with it SLAAC and its DNS, come without the kernel's 1-2 s delay.

use crate::clock::Uptime;
use crate::info;
use crate::net::link::set_ipv6_disabled;
use crate::net::router_solicit;

#[derive(Debug, Default)]
pub struct Ipv6Hold {
    /// Each held interface, with when it is let go at the latest.
    held: Vec<(String, Uptime)>,
}

impl Ipv6Hold {
    /// Disables IPv6 on `name` until `release` lets it go, or `until` at the latest; a
    /// kernel without IPv6 for it is left alone.
    pub fn hold(&mut self, name: &str, until: Uptime) {
        if set_ipv6_disabled(name, true).is_ok() {
            router_solicit::allow_optimistic(name);
            self.held.push((name.to_string(), until));
        }
    }

    /// Whether IPv6 is held off on `name` now.
    pub fn is_held(&self, name: &str) -> bool {
        self.held.iter().any(|(n, _)| n == name)
    }

    /// When the next hold ends by itself.
    pub fn next_deadline(&self) -> Option<Uptime> {
        self.held.iter().map(|(_, until)| *until).min()
    }

    /// Gives IPv6 back to the interfaces whose hold ended by `now`; returns their names.
    pub fn release_expired(&mut self, now: Uptime) -> Vec<String> {
        let expired: Vec<String> = self
            .held
            .iter()
            .filter(|(_, until)| *until <= now)
            .map(|(n, _)| n.clone())
            .collect();
        if expired.is_empty() {
            return Vec::new();
        }
        self.release(|n| expired.iter().any(|e| e == n))
    }

    /// Drops an interface that went away, without touching it.
    pub fn forget(&mut self, name: &str) {
        self.held.retain(|(n, _)| n != name);
    }

    /// Gives IPv6 back to the held interfaces that `done` says are done waiting; returns
    /// the names of those that have it now.
    pub fn release(&mut self, done: impl Fn(&str) -> bool) -> Vec<String> {
        let (now_free, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|(n, _)| done(n));
        self.held = still;
        let mut on = Vec::new();
        for (name, _) in now_free {
            if let Err(e) = set_ipv6_disabled(&name, false) {
                info!("{e}");
                continue;
            }
            let sent = nix::net::if_::if_nametoindex(name.as_str())
                .map_err(|e| format!("{name}: router solicitation: no index: {e}"))
                .and_then(|index| router_solicit::solicit(&name, index));
            match sent {
                Ok(()) => info!("{name}: IPv6 on, router solicitation sent"),
                Err(e) => info!("{e}"),
            }
            on.push(name);
        }
        on
    }
}
