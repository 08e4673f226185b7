//! Which interface gets what: DHCP, a static address from `ip=`, nothing, or a place in
//! a bond or bridge (`bond=`, `bridge=`), with the link's own settings (`ifname=`, MTU and
//! MAC from `ip=`) and the `rd.route=` routes added to each lease. Pure: the boot and the event loop ask it for each Ethernet
//! interface, at boot or hot-added.

use crate::config::ip::{IpConfig, Method, Static6Addr, V6Method};
use crate::config::net_keys::{ExtraRoute, IfName};
use crate::config::netdev::{Bond, BondOption, Bridge};
use crate::dhcp::lease::{Lease, Route};
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkPlan {
    Dhcp,
    Static(Box<Lease>),
    /// IPv6 only (`ip=dhcp6`, `auto6`, `either6`): no DHCPv4, IPv6 on at once.
    Ipv6(V6Method),
    /// A static IPv6 address (dracut's bracketed `ip=`).
    Static6(Box<Static6Addr>),
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
        Method::Ipv6(m) => LinkPlan::Ipv6(*m),
        Method::Static6(_) if named.is_none() && position > 0 => LinkPlan::Off,
        Method::Static6(st) => LinkPlan::Static6(Box::new(st.clone())),
    }
}

/// What is set on a link before it comes up, whatever its plan.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkSettings {
    /// From `ip=`: set before the link comes up and kept: a lease's MTU option does not
    /// replace it (the user's word is the stronger; dracut's ifup does the same).
    pub mtu: Option<u32>,
    pub mac: Option<[u8; 6]>,
    /// Every `rd.route=`; `lease_with_routes` picks this link's.
    pub routes: Vec<ExtraRoute>,
}

/// The settings of link `name`: the MTU and MAC of the `ip=` that names it, or else the
/// MTU of the one that names no device (its MAC would give every link the same address,
/// so only an `ip=` naming the device sets one).
pub fn settings_for(name: &str, ips: &[IpConfig], routes: &[ExtraRoute]) -> LinkSettings {
    let named = ips.iter().find(|c| c.device.as_deref() == Some(name));
    let chosen = named.or_else(|| ips.iter().find(|c| c.device.is_none()));
    LinkSettings {
        mtu: chosen.and_then(|c| c.mtu),
        mac: named.and_then(|c| c.mac),
        routes: routes.to_vec(),
    }
}

/// The name `ifname=` gives the link with address `mac`, when it is not already its name.
pub fn new_name<'a>(name: &str, mac: Option<[u8; 6]>, ifnames: &'a [IfName]) -> Option<&'a str> {
    let mac = mac?;
    ifnames
        .iter()
        .find(|n| n.mac == mac)
        .map(|n| n.name.as_str())
        .filter(|n| *n != name)
}

/// The device a link joins instead of being configured itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Membership<'a> {
    /// The bond or bridge.
    pub master: &'a str,
    /// "bond" or "bridge", the key that asked for it.
    pub key: &'static str,
    /// Whether `primary=` names this slave.
    pub primary: bool,
}

/// The bond (`bond=`) or else the bridge (`bridge=`) that lists link `name` as a member.
pub fn membership<'a>(
    name: &str,
    bonds: &'a [Bond],
    bridges: &'a [Bridge],
) -> Option<Membership<'a>> {
    let bond = bonds.iter().find(|b| b.slaves.iter().any(|s| s == name));
    if let Some(b) = bond {
        return Some(Membership {
            master: &b.name,
            key: "bond",
            primary: b
                .options
                .iter()
                .any(|o| matches!(o, BondOption::Primary(p) if p == name)),
        });
    }
    bridges
        .iter()
        .find(|b| b.ports.iter().any(|p| p == name))
        .map(|b| Membership {
            master: &b.name,
            key: "bridge",
            primary: false,
        })
}

/// `lease` as link `name` applies it: without its MTU when the configuration sets one,
/// and with the `rd.route=` routes that belong here: those naming this link, and those
/// naming none whose gateway is in the lease's subnet. Applied on every renewal and
/// removed with the lease, the routes last as long as the address does.
pub fn lease_with_routes(lease: &Lease, name: &str, settings: &LinkSettings) -> Lease {
    let mut out = lease.clone();
    if settings.mtu.is_some() {
        out.mtu = None;
    }
    let mask = u32::MAX
        .checked_shl(32 - u32::from(lease.prefix_len))
        .unwrap_or(0);
    let on_link = |g: Ipv4Addr| u32::from(g) & mask == u32::from(lease.address) & mask;
    for r in &settings.routes {
        let here = match &r.device {
            Some(d) => d == name,
            None => on_link(r.gateway),
        };
        let route = Route {
            dest: r.dest,
            prefix_len: r.prefix_len,
            gateway: r.gateway,
        };
        if here && !out.routes.contains(&route) {
            out.routes.push(route);
        }
    }
    out
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

    #[test]
    fn ipv6_forms_plan_ipv6_and_a_static6_address_goes_to_the_first_link_only() {
        let ips = [crate::config::ip::parse_ip("dhcp6").unwrap()];
        assert_eq!(
            plan_for("eth1", 1, &ips, &[]),
            LinkPlan::Ipv6(V6Method::Dhcp6)
        );
        let ips = [crate::config::ip::parse_ip("[2001:db8::2]:::64:::none").unwrap()];
        assert!(
            matches!(plan_for("eth0", 0, &ips, &[]), LinkPlan::Static6(s) if s.prefix_len == 64)
        );
        assert_eq!(plan_for("eth1", 1, &ips, &[]), LinkPlan::Off);
    }
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

    fn route(v: &str) -> ExtraRoute {
        crate::config::net_keys::route(v).unwrap()
    }

    #[test]
    fn mtu_and_mac_come_from_the_ip_word_of_the_link() {
        let c = ips(&[
            "eth0:dhcp:1400:52:54:00:aa:bb:cc",
            "10.0.3.9:::24::eth1:none:9000",
        ]);
        let s = settings_for("eth0", &c, &[]);
        assert_eq!(s.mtu, Some(1400));
        assert_eq!(s.mac, Some([0x52, 0x54, 0, 0xaa, 0xbb, 0xcc]));
        assert_eq!(settings_for("eth1", &c, &[]).mtu, Some(9000));
        assert_eq!(settings_for("eth2", &c, &[]), LinkSettings::default());
        let any = ips(&["::::::dhcp:1500:52:54:00:aa:bb:cc"]);
        assert_eq!(settings_for("eth5", &any, &[]).mtu, Some(1500));
        assert_eq!(
            settings_for("eth5", &any, &[]).mac,
            None,
            "one MAC, many links"
        );
    }

    #[test]
    fn routes_go_where_they_are_named_or_where_their_gateway_is_on_link() {
        let LinkPlan::Static(lease) =
            plan_for("eth0", 0, &ips(&["10.0.2.50::10.0.2.2:24::eth0:off"]), &[])
        else {
            panic!("not static")
        };
        let settings = LinkSettings {
            mtu: Some(1400),
            mac: None,
            routes: vec![
                route("10.9.0.0/16:10.0.2.2"),
                route("10.8.0.0/16:192.168.1.1"),
                route("10.7.0.0/16:192.168.1.1:eth0"),
                route("10.6.0.0/16:10.0.2.2:eth1"),
            ],
        };
        let got = lease_with_routes(&lease, "eth0", &settings);
        let dests: Vec<String> = got
            .routes
            .iter()
            .map(|r| format!("{}/{} via {}", r.dest, r.prefix_len, r.gateway))
            .collect();
        assert_eq!(
            dests,
            [
                "0.0.0.0/0 via 10.0.2.2",
                "10.9.0.0/16 via 10.0.2.2",
                "10.7.0.0/16 via 192.168.1.1"
            ]
        );
        // Applied again at renewal: no duplicates.
        assert_eq!(lease_with_routes(&got, "eth0", &settings), got);
        // A lease's MTU yields to the configured one, and stays without one.
        let leased = Lease {
            mtu: Some(576),
            ..(*lease).clone()
        };
        assert_eq!(lease_with_routes(&leased, "eth0", &settings).mtu, None);
        let no_mtu = LinkSettings::default();
        assert_eq!(lease_with_routes(&leased, "eth0", &no_mtu).mtu, Some(576));
    }

    #[test]
    fn ifname_renames_by_mac_only_when_the_name_differs() {
        let (c, _) = crate::config::cmdline::parse("ifname=lan0:52:54:00:12:34:56");
        let mac = Some([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
        assert_eq!(new_name("eth0", mac, &c.ifnames), Some("lan0"));
        assert_eq!(new_name("lan0", mac, &c.ifnames), None);
        assert_eq!(new_name("eth1", Some([2, 0, 0, 0, 0, 1]), &c.ifnames), None);
        assert_eq!(new_name("eth1", None, &c.ifnames), None);
    }

    #[test]
    fn members_join_their_bond_or_bridge() {
        let (c, e) = crate::config::cmdline::parse(
            "bond=bond0:eth0,eth1:primary=eth1 bridge=br0:bond0,eth2 bridge=br1:eth1",
        );
        assert!(e.is_empty(), "{e:?}");
        let m = |name| membership(name, &c.bonds, &c.bridges);
        assert_eq!(
            m("eth0"),
            Some(Membership {
                master: "bond0",
                key: "bond",
                primary: false
            })
        );
        assert!(
            m("eth1").is_some_and(|m| m.master == "bond0" && m.primary),
            "a bond wins"
        );
        assert!(m("bond0").is_some_and(|m| m.master == "br0" && m.key == "bridge"));
        assert!(m("eth2").is_some_and(|m| m.master == "br0"));
        assert_eq!(m("eth3"), None);
        assert_eq!(m("br0"), None);
    }

    #[test]
    fn two_devices_two_plans() {
        let c = ips(&["eth0:dhcp", "10.0.3.9:::255.255.255.0::eth1:none"]);
        assert_eq!(plan_for("eth0", 0, &c, &[]), LinkPlan::Dhcp);
        assert!(matches!(plan_for("eth1", 1, &c, &[]), LinkPlan::Static(_)));
        assert_eq!(plan_for("eth2", 2, &c, &[]), LinkPlan::Off);
    }
}
