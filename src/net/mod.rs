//! The network: links, addresses and routes over netlink, the bonds and bridges of
//! `bond=` and `bridge=`, the per-interface DHCP
//! driver and its address conflict detection, what a lease does to the system (/etc/hosts, resolv.conf, the host name),
//! the route-netlink messages it uses, the plan for each interface, the e1000 PHY wait, wireless links under wpa_supplicant, the router solicitation when IPv6 starts, and the state files `qinit status`
//! reads.

pub mod configure;
pub mod conflict;
pub mod dhcp6;
pub mod etc_files;
pub mod ipv6_events;
pub mod ipv6_hold;
pub mod link;
pub mod netdev;
pub mod netif;
pub mod network;
pub mod phy;
pub mod plan;
pub mod ra_events;
pub mod readiness;
pub mod router_solicit;
pub mod rtnl;
pub mod static_addr;
pub mod status;
pub mod wifi;
