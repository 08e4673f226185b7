//! Applying a lease to the system: address, routes and MTU over netlink, then the host
//! name and the files. The lease is data from `dhcp`; this module is the only one that
//! turns it into system state.

use crate::dhcp::lease::Lease;
use crate::net::etc_files::{Identity, merge_resolv, render_hosts, render_resolv, write_atomic};
use crate::net::link::{Link, Netlink};
use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::rc::Rc;

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
    /// IPv6 name servers from the configuration (`nameserver=`): listed before those of
    /// router advertisements.
    pub dns6: Vec<Ipv6Addr>,
    pub search: Vec<String>,
    /// Both families' DNS as last published, shared by every clone, so that one
    /// writer merges them into resolv.conf whichever side changed.
    pub sources: Rc<RefCell<DnsSources>>,
    /// `rd.peerdns=0`: without configured name servers, resolv.conf gets none rather
    /// than the lease's.
    pub ignore_peer_dns: bool,
}

/// The DNS each family gives: IPv4's from the lease (or configuration) with where it
/// came from, IPv6's from router advertisements and from DHCPv6.
#[derive(Debug, Clone, Default)]
pub struct DnsSources {
    pub v4: Option<(Vec<Ipv4Addr>, Vec<String>, String)>,
    pub v6: (Vec<Ipv6Addr>, Vec<String>),
    pub dhcp6: (Vec<Ipv6Addr>, Vec<String>),
    /// IPv6 name servers from `ip=` (the bracketed form), first among IPv6's.
    pub static6: Vec<Ipv6Addr>,
    /// The global IPv6 address /etc/hosts names beside IPv4's, shared like the DNS so
    /// that whichever side rewrites the file keeps both.
    pub host_v6: Option<Ipv6Addr>,
}

impl DnsSources {
    /// IPv6's servers and domains: the router's first, then DHCPv6's, without repeats.
    fn v6_merged(&self) -> (Vec<Ipv6Addr>, Vec<String>) {
        let mut servers = self.static6.clone();
        let mut search = self.v6.1.clone();
        for a in self.v6.0.iter().chain(&self.dhcp6.0) {
            if !servers.contains(a) {
                servers.push(*a);
            }
        }
        for d in &self.dhcp6.1 {
            if !search.contains(d) {
                search.push(d.clone());
            }
        }
        (servers, search)
    }

    /// Whether resolv.conf has a name server, of either family.
    pub fn has_server(&self) -> bool {
        self.v4.as_ref().is_some_and(|(s, _, _)| !s.is_empty())
            || !self.static6.is_empty()
            || !self.v6.0.is_empty()
            || !self.dhcp6.0.is_empty()
    }

    /// Where IPv6's DNS came from, for resolv.conf's comment.
    fn v6_source(&self) -> Option<&'static str> {
        if !self.static6.is_empty() {
            return Some("ip=");
        }
        let ra = !self.v6.0.is_empty() || !self.v6.1.is_empty();
        let dhcp6 = !self.dhcp6.0.is_empty() || !self.dhcp6.1.is_empty();
        match (ra, dhcp6) {
            (true, true) => Some("router advertisements and DHCPv6"),
            (true, false) => Some("router advertisements"),
            (false, true) => Some("DHCPv6"),
            (false, false) => None,
        }
    }
}

/// Rewrites resolv.conf from both families, if `publish` writes files.
fn write_resolv(publish: &Publish, errors: &mut Vec<String>) {
    let Some(dir) = &publish.etc_dir else {
        return;
    };
    let sources = publish.sources.borrow();
    let (v4, v4_search, v4_source) = sources.v4.clone().unwrap_or_default();
    let (v6_learned, v6_search) = sources.v6_merged();
    // `nameserver=` IPv6 servers first, then ip='s, the RA's and DHCPv6's.
    let mut v6: Vec<Ipv6Addr> = publish.dns6.clone();
    for a in v6_learned {
        if !v6.contains(&a) {
            v6.push(a);
        }
    }
    let merged = merge_resolv(&v4, &v4_search, &v6, &v6_search);
    let source = match (sources.v4.is_some(), sources.v6_source()) {
        (true, Some(v6)) => format!("{v4_source} and {v6}"),
        (true, None) => v4_source,
        (false, Some(v6)) => v6.to_string(),
        (false, None) if !publish.dns6.is_empty() => "nameserver=".to_string(),
        (false, None) => "router advertisements".to_string(),
    };
    for d in &merged.dropped {
        errors.push(format!(
            "resolv.conf: {d} left out (over the resolver's limits)"
        ));
    }
    let resolv = dir.join("resolv.conf");
    let text = render_resolv(&merged.servers, &merged.search, &source);
    if let Err(e) = write_atomic(&resolv, &text) {
        errors.push(format!("writing {}: {e}", resolv.display()));
    }
}

/// The DNS from router advertisements changed: resolv.conf is rewritten with it.
pub fn publish_ra(publish: &Publish, servers: Vec<Ipv6Addr>, search: Vec<String>) -> Vec<String> {
    publish.sources.borrow_mut().v6 = (servers, search);
    let mut errors = Vec::new();
    write_resolv(publish, &mut errors);
    errors
}

/// IPv6 name servers from `ip=`: resolv.conf is rewritten with them.
pub fn publish_static6(publish: &Publish, servers: Vec<Ipv6Addr>) -> Vec<String> {
    publish.sources.borrow_mut().static6 = servers;
    let mut errors = Vec::new();
    write_resolv(publish, &mut errors);
    errors
}

/// The DNS from DHCPv6 changed: resolv.conf is rewritten with it.
pub fn publish_dhcp6(
    publish: &Publish,
    servers: Vec<Ipv6Addr>,
    search: Vec<String>,
) -> Vec<String> {
    publish.sources.borrow_mut().dhcp6 = (servers, search);
    let mut errors = Vec::new();
    write_resolv(publish, &mut errors);
    errors
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
        address6: publish.sources.borrow().host_v6,
    }
}

/// The IPv4 name servers resolv.conf lists: the configured ones (`qinit.dns`,
/// `nameserver=` of either family) win over the lease's; with `rd.peerdns=0` the lease's
/// are never used.
pub fn name_servers<'a>(publish: &'a Publish, lease: &'a Lease) -> &'a [Ipv4Addr] {
    if !publish.dns.is_empty() || !publish.dns6.is_empty() {
        &publish.dns
    } else if publish.ignore_peer_dns {
        &[]
    } else {
        &lease.dns
    }
}

/// The global IPv6 address changed: /etc/hosts is rewritten with it beside `lease`'s
/// (the machine's IPv4 lease, if any).
pub fn publish_host_v6(
    publish: &Publish,
    lease: Option<&Lease>,
    address: Option<Ipv6Addr>,
) -> Vec<String> {
    publish.sources.borrow_mut().host_v6 = address;
    let mut errors = Vec::new();
    if let Some(dir) = &publish.etc_dir {
        let hosts = dir.join("hosts");
        if let Err(e) = write_atomic(&hosts, &render_hosts(&identity(publish, lease))) {
            errors.push(format!("writing {}: {e}", hosts.display()));
        }
    }
    errors
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
    }
    if let Some(l) = lease {
        let dns = name_servers(publish, l);
        let search = if publish.search.is_empty() {
            &l.search
        } else {
            &publish.search
        };
        publish.sources.borrow_mut().v4 = Some((dns.to_vec(), search.clone(), source.to_string()));
        write_resolv(publish, &mut errors);
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
        // An IPv6 nameserver= is configured DNS too: the lease's servers yield to it.
        p.dns.clear();
        p.dns6 = vec!["2001:db8::53".parse().unwrap()];
        assert!(name_servers(&p, &lease).is_empty());
    }

    #[test]
    fn configured_ipv6_servers_go_before_the_router_advertisements() {
        let dir = std::env::temp_dir().join(format!("qinit-dns6-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = Publish {
            etc_dir: Some(dir.clone()),
            dns: vec!["10.0.2.3".parse().unwrap()],
            dns6: vec!["2001:db8::53".parse().unwrap()],
            ..Publish::default()
        };
        let ip = crate::config::ip::parse_ip("10.0.2.15:::24::eth0:off:10.0.2.9").unwrap();
        let crate::net::plan::LinkPlan::Static(lease) =
            crate::net::plan::plan_for("eth0", 0, &[ip], &[])
        else {
            panic!("not static")
        };
        assert!(publish(&p, Some(&lease), "DHCP on eth0").is_empty());
        let resolv = std::fs::read_to_string(dir.join("resolv.conf")).unwrap();
        assert!(
            resolv.contains("nameserver 10.0.2.3\nnameserver 2001:db8::53\n"),
            "{resolv}"
        );
        assert!(publish_ra(&p, vec!["fd00::1".parse().unwrap()], vec![]).is_empty());
        let resolv = std::fs::read_to_string(dir.join("resolv.conf")).unwrap();
        assert!(
            resolv.contains("nameserver 10.0.2.3\nnameserver 2001:db8::53\nnameserver fd00::1\n"),
            "{resolv}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
