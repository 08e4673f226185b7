//! IPv6 held off on an interface until its first DHCPv4 lease. When the carrier comes,
//! IPv6 joins its multicast groups, the driver rewrites its receive control register,
//! and qemu's e1000 then refuses every frame for a second, the OFFER among them. Held
//! back, the lease comes milliseconds after carrier; IPv6 starts right after it (or when
//! the foreground program starts without one).

use crate::info;
use crate::net::link::set_ipv6_disabled;

#[derive(Debug, Default)]
pub struct Ipv6Hold {
    held: Vec<String>,
}

impl Ipv6Hold {
    /// Disables IPv6 on `name` until `release` lets it go; a kernel without IPv6 for
    /// it is left alone.
    pub fn hold(&mut self, name: &str) {
        if set_ipv6_disabled(name, true).is_ok() {
            self.held.push(name.to_string());
        }
    }

    /// Gives IPv6 back to the held interfaces that `done` says are done waiting.
    pub fn release(&mut self, done: impl Fn(&str) -> bool) {
        let (now_free, still): (Vec<String>, Vec<String>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|n| done(n));
        self.held = still;
        for name in now_free {
            if let Err(e) = set_ipv6_disabled(&name, false) {
                info!("{e}");
            }
        }
    }
}
