//! Which interface gets what: DHCP, a static address from `ip=`, or nothing. Pure: the
//! boot and the event loop ask it for each Ethernet interface, at boot or hot-added.

use crate::config::ip::{IpConfig, Method};
use crate::dhcp::lease::{Lease, Route};
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkPlan {
    Dhcp,
    Static(Box<Lease>),
    /// Left down and unconfigured.
    Off,
}

/// The plan for the interface `name`, the `position`-th Ethernet interface (from 0).
/// Without `ip=`, every interface runs DHCP. An `ip=` naming a device pins it: devices no
/// `ip=` names stay down. An `ip=` without a device applies to every interface, except a
/// static address, which only the first gets (the kernel's ipconfig does the same).
pub fn plan_for(name: &str, position: usize, ips: &[IpConfig], search: &[String]) -> LinkPlan {
    if ips.is_empty() {
        return LinkPlan::Dhcp;
    }
    let named = ips.iter().find(|c| c.device.as_deref() == Some(name));
    let pinning = ips.iter().any(|c| c.device.is_some());
    let chosen = match named {
        Some(c) => c,
        None if pinning => return LinkPlan::Off,
        None => match ips.iter().find(|c| c.device.is_none()) {
            Some(c) => c,
            None => return LinkPlan::Off,
        },
    };
    match &chosen.method {
        Method::Off => LinkPlan::Off,
        Method::Dhcp => LinkPlan::Dhcp,
        Method::Static(_) if named.is_none() && position > 0 => LinkPlan::Off,
        Method::Static(st) => LinkPlan::Static(Box::new(static_lease(chosen, st, search))),
    }
}

/// A static address as a lease that never ends, so that it is applied exactly like a
/// DHCP one (address, routes, DNS, host name, files).
fn static_lease(c: &IpConfig, st: &crate::config::ip::StaticAddr, search: &[String]) -> Lease {
    Lease {
        address: st.address,
        prefix_len: st.prefix_len,
        server: c.server.unwrap_or(Ipv4Addr::UNSPECIFIED),
        routes: st
            .gateway
            .map(|gateway| {
                vec![Route {
                    dest: Ipv4Addr::UNSPECIFIED,
                    prefix_len: 0,
                    gateway,
                }]
            })
            .unwrap_or_default(),
        dns: c.dns.clone(),
        hostname: c.hostname.clone(),
        domain: None,
        search: search.to_vec(),
        mtu: None,
        lease_time: None,
        t1: None,
        t2: None,
        rejected: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ip::parse_ip;

    fn ips(values: &[&str]) -> Vec<IpConfig> {
        values.iter().map(|v| parse_ip(v).unwrap()).collect()
    }

    #[test]
    fn without_ip_every_interface_runs_dhcp() {
        assert_eq!(plan_for("eth0", 0, &[], &[]), LinkPlan::Dhcp);
        assert_eq!(plan_for("eth3", 3, &[], &[]), LinkPlan::Dhcp);
    }

    #[test]
    fn static_line_becomes_a_lease_for_its_device() {
        let c = ips(&["10.0.2.50::10.0.2.2:255.255.255.0:appliance:eth0:off:10.0.2.3"]);
        let LinkPlan::Static(l) = plan_for("eth0", 0, &c, &["corp.test".into()]) else {
            panic!("not static")
        };
        assert_eq!(l.address, Ipv4Addr::new(10, 0, 2, 50));
        assert_eq!(l.prefix_len, 24);
        assert_eq!(l.router(), Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(l.dns, vec![Ipv4Addr::new(10, 0, 2, 3)]);
        assert_eq!(l.hostname.as_deref(), Some("appliance"));
        assert_eq!(l.search, vec!["corp.test".to_string()]);
        assert_eq!(l.lease_time, None);
        // eth0 is pinned: eth1 stays down.
        assert_eq!(plan_for("eth1", 1, &c, &[]), LinkPlan::Off);
    }

    #[test]
    fn off_and_dhcp_without_device_apply_to_all() {
        assert_eq!(plan_for("eth1", 1, &ips(&["off"]), &[]), LinkPlan::Off);
        assert_eq!(plan_for("eth1", 1, &ips(&["dhcp"]), &[]), LinkPlan::Dhcp);
        assert_eq!(plan_for("eth0", 0, &ips(&["eth0:off"]), &[]), LinkPlan::Off);
    }

    #[test]
    fn static_without_device_goes_to_the_first_interface_only() {
        let c = ips(&["10.0.2.50::10.0.2.2:255.255.255.0"]);
        assert!(matches!(plan_for("eth0", 0, &c, &[]), LinkPlan::Static(_)));
        assert_eq!(plan_for("eth1", 1, &c, &[]), LinkPlan::Off);
    }

    #[test]
    fn two_devices_two_plans() {
        let c = ips(&["eth0:dhcp", "10.0.3.9:::255.255.255.0::eth1:none"]);
        assert_eq!(plan_for("eth0", 0, &c, &[]), LinkPlan::Dhcp);
        assert!(matches!(plan_for("eth1", 1, &c, &[]), LinkPlan::Static(_)));
        assert_eq!(plan_for("eth2", 2, &c, &[]), LinkPlan::Off);
    }
}
