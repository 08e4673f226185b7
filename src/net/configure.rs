//! Applying a lease to the system: address, routes and MTU over netlink, then the host
//! name and the files. The lease is data from `dhcp`; this module is the only one that
//! turns it into system state.

use crate::dhcp::lease::Lease;
use crate::net::etc_files::{Identity, render_hosts, render_resolv, write_atomic};
use crate::net::link::{Link, Netlink};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

/// Where a lease's names go. PID 1 publishes everything; `qinit dhcp` only what it is told.
#[derive(Debug, Clone, Default)]
pub struct Publish {
    /// Directory for hosts and resolv.conf (/etc for PID 1).
    pub etc_dir: Option<PathBuf>,
    pub set_hostname: bool,
    /// A host name from the configuration wins over the server's.
    pub hostname_override: Option<String>,
    /// Name servers and search domains from the configuration win over the lease's.
    pub dns: Vec<Ipv4Addr>,
    pub search: Vec<String>,
    /// `rd.peerdns=0`: without configured name servers, resolv.conf gets none rather
    /// than the lease's.
    pub ignore_peer_dns: bool,
}

/// `primary`: this lease gives the machine's default route; otherwise only its other
/// routes (the subnet's own route comes with the address).
pub fn apply(
    nl: &mut Netlink,
    link: &Link,
    lease: &Lease,
    old: Option<&Lease>,
    primary: bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(old) = old
        && (old.address != lease.address || old.prefix_len != lease.prefix_len)
    {
        errors.extend(remove(nl, link, old));
    }
    if let Some(mtu) = lease.mtu
        && let Err(e) = nl.set_mtu(link, u32::from(mtu))
    {
        errors.push(e);
    }
    if let Err(e) = nl.add_address(link, IpAddr::V4(lease.address), lease.prefix_len) {
        errors.push(e);
    }
    for r in lease.routes.iter().filter(|r| primary || r.prefix_len > 0) {
        let gw = (!r.gateway.is_unspecified()).then_some(r.gateway);
        if let Err(e) = nl.add_route(link, r.dest, r.prefix_len, gw) {
            // A gateway outside the subnet needs an on-link host route first (RFC 3442).
            let retried = gw.is_some_and(|g| {
                nl.add_route(link, g, 32, None).is_ok()
                    && nl.add_route(link, r.dest, r.prefix_len, gw).is_ok()
            });
            if !retried {
                errors.push(e);
            }
        }
    }
    errors
}

pub fn remove(nl: &mut Netlink, link: &Link, lease: &Lease) -> Vec<String> {
    let mut errors = Vec::new();
    for r in &lease.routes {
        let gw = (!r.gateway.is_unspecified()).then_some(r.gateway);
        // Routes through the address go with it; ignore "no such route".
        let _ = nl.del_route(link, r.dest, r.prefix_len, gw);
    }
    if let Err(e) = nl.del_address(link, IpAddr::V4(lease.address), lease.prefix_len) {
        errors.push(e);
    }
    errors
}

/// The machine's identity from configuration and lease: host name and domain.
pub fn identity(publish: &Publish, lease: Option<&Lease>) -> Identity {
    let hostname = publish
        .hostname_override
        .clone()
        .or_else(|| lease.and_then(|l| l.hostname.clone()))
        .unwrap_or_else(|| "qinit".to_string());
    Identity {
        hostname,
        domain: lease.and_then(|l| l.domain.clone()),
        address: lease.map(|l| l.address),
    }
}

/// The name servers resolv.conf lists: the configured ones (`qinit.dns`, `nameserver=`)
/// win over the lease's; with `rd.peerdns=0` the lease's are never used.
pub fn name_servers<'a>(publish: &'a Publish, lease: &'a Lease) -> &'a [Ipv4Addr] {
    if !publish.dns.is_empty() {
        &publish.dns
    } else if publish.ignore_peer_dns {
        &[]
    } else {
        &lease.dns
    }
}

/// Sets the host name and writes hosts and resolv.conf as `publish` says.
pub fn publish(publish: &Publish, lease: Option<&Lease>, source: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let id = identity(publish, lease);
    if publish.set_hostname
        && let Err(e) = nix::unistd::sethostname(&id.hostname)
    {
        errors.push(format!("sethostname {}: {e}", id.hostname));
    }
    if let Some(dir) = &publish.etc_dir {
        let hosts = dir.join("hosts");
        if let Err(e) = write_atomic(&hosts, &render_hosts(&id)) {
            errors.push(format!("writing {}: {e}", hosts.display()));
        }
        if let Some(l) = lease {
            let resolv = dir.join("resolv.conf");
            let dns = name_servers(publish, l);
            let search = if publish.search.is_empty() {
                &l.search
            } else {
                &publish.search
            };
            if let Err(e) = write_atomic(&resolv, &render_resolv(dns, search, source)) {
                errors.push(format!("writing {}: {e}", resolv.display()));
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_servers_win_and_peerdns_0_drops_the_leases() {
        let ns = |s: &str| s.parse::<Ipv4Addr>().unwrap();
        let ip = crate::config::ip::parse_ip("10.0.2.50:::24::eth0:off:10.0.2.3").unwrap();
        let crate::net::plan::LinkPlan::Static(lease) =
            crate::net::plan::plan_for("eth0", 0, &[ip], &[])
        else {
            panic!("not static")
        };
        let mut p = Publish::default();
        assert_eq!(name_servers(&p, &lease), [ns("10.0.2.3")]);
        p.ignore_peer_dns = true;
        assert!(name_servers(&p, &lease).is_empty());
        p.dns = vec![ns("10.1.2.3")];
        assert_eq!(name_servers(&p, &lease), [ns("10.1.2.3")]);
        p.ignore_peer_dns = false;
        assert_eq!(name_servers(&p, &lease), [ns("10.1.2.3")]);
    }
}
