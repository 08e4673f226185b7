//! A static address from `ip=`: applied once, as a lease that never ends, with the
//! default route, DNS and host name when it is the machine's first configured
//! interface, and a state file for `qinit status`.

use crate::clock::uptime;
use crate::dhcp::lease::Lease;
use crate::info;
use crate::net::configure::{self, Publish};
use crate::net::link::{Link, Netlink};
use crate::net::netif::DefaultOwner;
use crate::net::status;

/// Sets `link` up with `lease`, logging one line and every error.
pub fn apply(
    nl: &mut Netlink,
    link: &Link,
    lease: &Lease,
    default_owner: &DefaultOwner,
    publish: &Publish,
) {
    if let Err(e) = nl.set_up(link) {
        info!("{e}");
    }
    let primary = default_owner.get().is_none();
    if primary {
        default_owner.set(Some(link.index));
    }
    let mut errors = configure::apply(nl, link, lease, None, primary);
    if primary {
        // The name servers of ip= and then nameserver=, as systemd's generator lists
        // them: both are configuration, neither a peer's.
        let mut dns = lease.dns.clone();
        for d in &publish.dns {
            if !dns.contains(d) {
                dns.push(*d);
            }
        }
        let publish = &Publish {
            dns,
            ..publish.clone()
        };
        errors.extend(configure::publish(
            publish,
            Some(lease),
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
    let text = status::render(&link.name, "static", Some(lease), uptime(), "");
    let path = std::path::PathBuf::from(format!("{}/{}.lease", status::STATE_DIR, link.name));
    let _ = std::fs::create_dir_all(status::STATE_DIR);
    let _ = crate::net::etc_files::write_atomic(&path, &text);
}
