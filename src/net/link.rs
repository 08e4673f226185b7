//! Links, addresses and routes over rtnetlink (netlink-packet-route + netlink-sys). This
//! module speaks in our types (index, address, prefix); it never sees a DHCP packet.

use crate::net::rtnl::Rtnl;
use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_packet_route::AddressFamily;
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressMessage, AddressScope, CacheInfo,
};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, Inet6IfaceFlags, InfoData, InfoKind, InfoVlan, LinkAttribute,
    LinkFlags, LinkInfo, LinkLayerType, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, BorrowedFd};

/// What we know of a network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub index: u32,
    pub name: String,
    pub mac: Option<[u8; 6]>,
    pub ethernet: bool,
    pub up: bool,
    pub carrier: bool,
}

impl Link {
    /// Whether DHCP configures this interface: every Ethernet one with an address.
    pub fn is_dhcp_candidate(&self) -> bool {
        self.ethernet && self.mac.is_some_and(|m| m != [0; 6]) && self.name != "lo"
    }
}

/// The interfaces DHCP configures, in the kernel's order.
pub fn ethernet_links(links: &[Link]) -> Vec<Link> {
    links
        .iter()
        .filter(|l| l.is_dhcp_candidate())
        .cloned()
        .collect()
}

fn link_of(msg: &LinkMessage) -> Link {
    let mut name = String::new();
    let mut mac = None;
    for a in &msg.attributes {
        match a {
            LinkAttribute::IfName(n) => name = n.clone(),
            LinkAttribute::Address(bytes) => mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
            _ => {}
        }
    }
    Link {
        index: msg.header.index,
        name,
        mac,
        ethernet: msg.header.link_layer_type == LinkLayerType::Ether,
        up: msg.header.flags.contains(LinkFlags::Up),
        carrier: msg.header.flags.contains(LinkFlags::LowerUp),
    }
}

pub struct Netlink {
    sock: Socket,
    seq: u32,
}

impl Netlink {
    pub fn open() -> Result<Self, String> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| format!("netlink socket: {e}"))?;
        sock.bind_auto().map_err(|e| format!("netlink bind: {e}"))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| format!("netlink connect: {e}"))?;
        Ok(Netlink { sock, seq: 0 })
    }

    /// Sends one request and collects the replies until the ACK or the end of a dump.
    pub(super) fn request(&mut self, msg: Rtnl, flags: u16) -> Result<Vec<Rtnl>, std::io::Error> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = self.seq;
        let mut req = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        req.finalize();
        let mut buf = vec![0u8; req.buffer_len()];
        req.serialize(&mut buf);
        self.sock.send(&buf, 0)?;

        let mut replies = Vec::new();
        loop {
            let (data, _) = self.sock.recv_from_full()?;
            let mut rest: &[u8] = &data;
            while !rest.is_empty() {
                let msg = NetlinkMessage::<Rtnl>::deserialize(rest)
                    .map_err(|e| std::io::Error::other(format!("netlink reply: {e}")))?;
                let len = usize::try_from(msg.header.length).unwrap_or(0);
                if msg.header.sequence_number == self.seq {
                    match msg.payload {
                        NetlinkPayload::Done(_) => return Ok(replies),
                        NetlinkPayload::Error(e) if e.code.is_none() => return Ok(replies),
                        NetlinkPayload::Error(e) => return Err(e.to_io()),
                        NetlinkPayload::InnerMessage(m) => replies.push(m),
                        _ => {}
                    }
                }
                if len == 0 {
                    break;
                }
                rest = rest.get(len..).unwrap_or(&[]);
            }
        }
    }

    pub fn links(&mut self) -> Result<Vec<Link>, String> {
        let replies = self
            .request(Rtnl::GetLink(LinkMessage::default()), NLM_F_DUMP)
            .map_err(|e| format!("listing links: {e}"))?;
        Ok(replies
            .iter()
            .filter_map(|m| match m {
                Rtnl::NewLink(l) => Some(link_of(l)),
                _ => None,
            })
            .collect())
    }

    /// One interface by name, as `ip link show dev NAME` asks for it: the kernel fills
    /// in that link alone, not every link as a dump does (each is a long message with its
    /// statistics, and under TCG a dump at boot cost a few milliseconds).
    pub fn link(&mut self, name: &str) -> Result<Link, String> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        let replies =
            self.request(Rtnl::GetLink(msg), NLM_F_ACK)
                .map_err(|e| match e.raw_os_error() {
                    Some(nix::libc::ENODEV) => format!("no interface named {name}"),
                    _ => format!("looking up interface {name}: {e}"),
                })?;
        replies
            .iter()
            .find_map(|m| match m {
                Rtnl::NewLink(l) => Some(link_of(l)),
                _ => None,
            })
            .filter(|l| l.name == name)
            .ok_or_else(|| format!("no interface named {name}"))
    }

    pub fn set_up(&mut self, link: &Link) -> Result<(), String> {
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(Rtnl::SetLink(msg), NLM_F_ACK)
            .map(|_| ())
            .map_err(|e| format!("setting {} up: {e}", link.name))
    }

    pub fn set_down(&mut self, link: &Link) -> Result<(), String> {
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.header.change_mask = LinkFlags::Up;
        self.request(Rtnl::SetLink(msg), NLM_F_ACK)
            .map(|_| ())
            .map_err(|e| format!("setting {} down: {e}", link.name))
    }

    pub fn set_mtu(&mut self, link: &Link, mtu: u32) -> Result<(), String> {
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.attributes.push(LinkAttribute::Mtu(mtu));
        self.request(Rtnl::SetLink(msg), NLM_F_ACK)
            .map(|_| ())
            .map_err(|e| format!("setting MTU {mtu} on {}: {e}", link.name))
    }

    /// Sets the link's hardware address; most drivers want the link down.
    pub fn set_mac(&mut self, link: &Link, mac: [u8; 6]) -> Result<(), String> {
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.request(Rtnl::SetLink(msg), NLM_F_ACK)
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "setting MAC {} on {}: {e}",
                    crate::dhcp::acd::mac_text(&mac),
                    link.name
                )
            })
    }

    /// Renames the link; the kernel refuses while it is up (EBUSY).
    pub fn rename(&mut self, link: &Link, name: &str) -> Result<(), String> {
        let mut msg = LinkMessage::default();
        msg.header.index = link.index;
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        self.request(Rtnl::SetLink(msg), NLM_F_ACK)
            .map(|_| ())
            .map_err(|e| format!("renaming {} to {name}: {e}", link.name))
    }

    /// Makes the 802.1Q link `name` with VLAN `id` on `parent` (module 8021q).
    pub fn add_vlan(&mut self, parent: &Link, name: &str, id: u16) -> Result<(), String> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Link(parent.index));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Vlan),
            LinkInfo::Data(InfoData::Vlan(vec![InfoVlan::Id(id)])),
        ]));
        self.request(Rtnl::NewLink(msg), NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
            .map(|_| ())
            .map_err(|e| format!("making VLAN {name} (id {id}) on {}: {e}", parent.name))
    }

    fn address_message(link: &Link, addr: IpAddr, prefix_len: u8) -> AddressMessage {
        let mut msg = AddressMessage::default();
        msg.header.family = match addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        msg.header.prefix_len = prefix_len;
        msg.header.index = link.index;
        // 127.0.0.1 must be scope host: with scope global the kernel picks it as the
        // source of a broadcast on an unaddressed eth0, and the DISCOVER fails (EINVAL).
        if addr.is_loopback() {
            msg.header.scope = AddressScope::Host;
        }
        msg.attributes.push(AddressAttribute::Local(addr));
        msg.attributes.push(AddressAttribute::Address(addr));
        if let IpAddr::V4(a) = addr
            && prefix_len < 31
        {
            let host_bits = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
            let bcast = Ipv4Addr::from(u32::from(a) | host_bits);
            msg.attributes.push(AddressAttribute::Broadcast(bcast));
        }
        msg
    }

    /// Adds an address; one that is already there is not an error.
    pub fn add_address(&mut self, link: &Link, addr: IpAddr, prefix_len: u8) -> Result<(), String> {
        let msg = Self::address_message(link, addr, prefix_len);
        match self.request(Rtnl::NewAddress(msg), NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc_eexist()) => Ok(()),
            Err(e) => Err(format!("adding {addr}/{prefix_len} to {}: {e}", link.name)),
        }
    }

    /// Adds or updates an IPv6 address with its lifetimes in seconds (u32::MAX: for
    /// ever): the kernel itself deprecates it and removes it when they end. A /128 with
    /// `noprefixroute`: the router's advertisement gives the on-link prefix (RFC 8415
    /// section 21.6 gives DHCPv6 addresses no prefix length).
    pub fn add_address_v6(
        &mut self,
        link: &Link,
        addr: std::net::Ipv6Addr,
        preferred: u32,
        valid: u32,
    ) -> Result<(), String> {
        self.add_address_v6_with(
            link,
            addr,
            128,
            (preferred, valid),
            AddressFlags::Noprefixroute,
        )
    }

    /// A static IPv6 address from `ip=`: for ever, with its prefix's on-link route,
    /// optimistic like DHCPv6's.
    pub fn add_static_v6(
        &mut self,
        link: &Link,
        addr: std::net::Ipv6Addr,
        prefix_len: u8,
    ) -> Result<(), String> {
        self.add_address_v6_with(
            link,
            addr,
            prefix_len,
            (u32::MAX, u32::MAX),
            AddressFlags::empty(),
        )
    }

    fn add_address_v6_with(
        &mut self,
        link: &Link,
        addr: std::net::Ipv6Addr,
        prefix_len: u8,
        (preferred, valid): (u32, u32),
        extra: AddressFlags,
    ) -> Result<(), String> {
        let mut msg = Self::address_message(link, IpAddr::V6(addr), prefix_len);
        let mut info = CacheInfo::default();
        info.ifa_preferred = preferred;
        info.ifa_valid = valid;
        msg.attributes.push(AddressAttribute::CacheInfo(info));
        // Optimistic (RFC 4429): usable while DAD runs, as the kernel's SLAAC addresses
        // are with optimistic_dad (which the kernel also requires for this flag: see
        // `router_solicit::allow_optimistic`); a kernel that refuses the flag gets the
        // address without.
        let mut optimistic = msg.clone();
        optimistic
            .attributes
            .push(AddressAttribute::Flags(extra | AddressFlags::Optimistic));
        msg.attributes.push(AddressAttribute::Flags(extra));
        let flags = NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE;
        self.request(Rtnl::NewAddress(optimistic), flags)
            .or_else(|_| self.request(Rtnl::NewAddress(msg), flags))
            .map(|_| ())
            .map_err(|e| format!("adding {addr}/{prefix_len} to {}: {e}", link.name))
    }

    /// The M (managed) and O (other configuration) flags of the last router
    /// advertisement on interface `index`, as the kernel keeps them (IFLA_INET6_FLAGS).
    pub fn ra_flags(&mut self, index: u32) -> Result<(bool, bool), String> {
        let mut req = LinkMessage::default();
        req.header.index = index;
        let replies = self
            .request(Rtnl::GetLink(req), NLM_F_ACK)
            .map_err(|e| format!("reading interface {index}'s IPv6 flags: {e}"))?;
        for m in replies {
            let Rtnl::NewLink(l) = m else {
                continue;
            };
            for a in &l.attributes {
                let LinkAttribute::AfSpecUnspec(specs) = a else {
                    continue;
                };
                for spec in specs {
                    let AfSpecUnspec::Inet6(v6) = spec else {
                        continue;
                    };
                    for attr in v6 {
                        if let AfSpecInet6::Flags(f) = attr {
                            return Ok((
                                f.contains(Inet6IfaceFlags::RaManaged),
                                f.contains(Inet6IfaceFlags::Otherconf),
                            ));
                        }
                    }
                }
            }
        }
        Ok((false, false))
    }

    /// Interface `index`'s global IPv6 addresses, SLAAC's and DHCPv6's alike, in the
    /// kernel's order, each with whether it is usable: past duplicate address detection
    /// or optimistic, not deprecated.
    pub fn global_ipv6(&mut self, index: u32) -> Result<Vec<(std::net::Ipv6Addr, bool)>, String> {
        let mut req = AddressMessage::default();
        req.header.family = AddressFamily::Inet6;
        let replies = self
            .request(Rtnl::GetAddress(req), NLM_F_DUMP)
            .map_err(|e| format!("listing IPv6 addresses: {e}"))?;
        let unusable = AddressFlags::Dadfailed | AddressFlags::Deprecated;
        let mut out = Vec::new();
        for m in replies {
            let Rtnl::NewAddress(a) = m else {
                continue;
            };
            if a.header.index != index || a.header.scope != AddressScope::Universe {
                continue;
            }
            let mut addr = None;
            let mut flags = AddressFlags::from_bits_retain(u32::from(a.header.flags.bits()));
            for attr in &a.attributes {
                match attr {
                    AddressAttribute::Address(IpAddr::V6(v6)) => addr = Some(*v6),
                    AddressAttribute::Flags(f) => flags = *f,
                    _ => {}
                }
            }
            // An optimistic address (RFC 4429) is usable while DAD runs; a merely
            // tentative one is not.
            let tentative = flags.contains(AddressFlags::Tentative)
                && !flags.contains(AddressFlags::Optimistic);
            if let Some(v6) = addr {
                out.push((v6, !tentative && !flags.intersects(unusable)));
            }
        }
        Ok(out)
    }

    pub fn del_address(&mut self, link: &Link, addr: IpAddr, prefix_len: u8) -> Result<(), String> {
        let msg = Self::address_message(link, addr, prefix_len);
        self.request(Rtnl::DelAddress(msg), NLM_F_ACK)
            .map(|_| ())
            .map_err(|e| format!("removing {addr}/{prefix_len} from {}: {e}", link.name))
    }

    fn route_message(
        link: &Link,
        dest: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
    ) -> RouteMessage {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = prefix_len;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Dhcp;
        msg.header.scope = if gateway.is_some() {
            RouteScope::Universe
        } else {
            RouteScope::Link
        };
        msg.header.kind = RouteType::Unicast;
        if prefix_len > 0 {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(dest)));
        }
        if let Some(gw) = gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
        }
        msg.attributes.push(RouteAttribute::Oif(link.index));
        msg
    }

    /// Adds or replaces a route; `gateway` None is an on-link route.
    pub fn add_route(
        &mut self,
        link: &Link,
        dest: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<(), String> {
        let msg = Self::route_message(link, dest, prefix_len, gateway);
        self.request(
            Rtnl::NewRoute(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        )
        .map(|_| ())
        .map_err(|e| {
            format!(
                "route {dest}/{prefix_len} via {gateway:?} dev {}: {e}",
                link.name
            )
        })
    }

    /// Adds or replaces an IPv6 route; `gateway` None is an on-link route.
    pub fn add_route_v6(
        &mut self,
        link: &Link,
        dest: std::net::Ipv6Addr,
        prefix_len: u8,
        gateway: Option<std::net::Ipv6Addr>,
    ) -> Result<(), String> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet6;
        msg.header.destination_prefix_length = prefix_len;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        if prefix_len > 0 {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet6(dest)));
        }
        if let Some(gw) = gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::Inet6(gw)));
        }
        msg.attributes.push(RouteAttribute::Oif(link.index));
        self.request(
            Rtnl::NewRoute(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
        )
        .map(|_| ())
        .map_err(|e| {
            format!(
                "route {dest}/{prefix_len} via {gateway:?} dev {}: {e}",
                link.name
            )
        })
    }

    pub fn del_route(
        &mut self,
        link: &Link,
        dest: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<(), String> {
        let msg = Self::route_message(link, dest, prefix_len, gateway);
        self.request(Rtnl::DelRoute(msg), NLM_F_ACK)
            .map(|_| ())
            .map_err(|e| format!("removing route {dest}/{prefix_len} dev {}: {e}", link.name))
    }
}

fn libc_eexist() -> i32 {
    nix::errno::Errno::EEXIST as i32
}

/// Turns IPv6 off or on for one interface (net.ipv6.conf.NAME.disable_ipv6).
pub fn set_ipv6_disabled(name: &str, off: bool) -> Result<(), String> {
    let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    std::fs::write(&path, if off { "1" } else { "0" }).map_err(|e| format!("{path}: {e}"))
}

/// What a link event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkChange {
    /// New, or changed (carrier, flags, name).
    Changed(Link),
    /// Gone (unplugged, its driver unloaded, deleted).
    Removed(Link),
}

/// Link events (RTNLGRP_LINK): how carrier changes reach the event loop, with no polling.
pub struct LinkEvents {
    sock: Socket,
}

const RTNLGRP_LINK: u32 = 1;

impl LinkEvents {
    pub fn open() -> Result<Self, String> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| format!("netlink socket: {e}"))?;
        sock.bind_auto().map_err(|e| format!("netlink bind: {e}"))?;
        sock.add_membership(RTNLGRP_LINK)
            .map_err(|e| format!("netlink link group: {e}"))?;
        sock.set_non_blocking(true)
            .map_err(|e| format!("netlink non-blocking: {e}"))?;
        Ok(LinkEvents { sock })
    }

    /// Every link message waiting, in order.
    pub fn read(&self) -> Vec<LinkChange> {
        let mut out = Vec::new();
        while let Ok((data, _)) = self.sock.recv_from_full() {
            let mut rest: &[u8] = &data;
            while let Ok(msg) = NetlinkMessage::<Rtnl>::deserialize(rest) {
                match &msg.payload {
                    NetlinkPayload::InnerMessage(Rtnl::NewLink(l)) => {
                        out.push(LinkChange::Changed(link_of(l)))
                    }
                    NetlinkPayload::InnerMessage(Rtnl::DelLink(l)) => {
                        out.push(LinkChange::Removed(link_of(l)))
                    }
                    _ => {}
                }
                let len = usize::try_from(msg.header.length).unwrap_or(0);
                if len == 0 || len >= rest.len() {
                    break;
                }
                rest = rest.get(len..).unwrap_or(&[]);
            }
        }
        out
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_link_is_looked_up_by_name() {
        // Read-only requests to this process's own network namespace: no privilege needed.
        let mut nl = Netlink::open().unwrap();
        let lo = nl.link("lo").unwrap();
        assert_eq!(lo.index, 1, "{lo:?}");
        assert_eq!(lo.name, "lo");
        assert!(!lo.ethernet);
        // The same as the dump says of it.
        let all = nl.links().unwrap();
        assert_eq!(all.iter().find(|l| l.name == "lo"), Some(&lo));
        // A name no link has: the kernel's ENODEV, said plainly; the socket stays usable.
        assert_eq!(
            nl.link("qinit-none0").unwrap_err(),
            "no interface named qinit-none0"
        );
        assert_eq!(nl.link("lo").unwrap().index, 1);
    }
}
