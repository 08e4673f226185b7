//! The router solicitation sent when IPv6 starts on an interface. The kernel sends its
//! own only once its link-local address has passed duplicate address detection, 1.3 to
//! 1.9 s after IPv6 is enabled (measured on veth: a random delay of up to
//! `router_solicitation_delay`, then one DAD probe of 1 s). With optimistic DAD
//! (RFC 4429) the link-local address is usable at once, so this module turns it on and
//! solicits from a raw ICMPv6 socket the moment IPv6 is let go: the router answers at
//! once instead of after the kernel's delay or its next unsolicited advertisement
//! (every 200-600 s on qemu's user network). DAD itself still runs.
//! Measured under qemu (tests/boot_ipv6.rs): on e1000 the answer to this solicitation is
//! lost (enabling IPv6 joins multicast groups, and qemu's e1000 then drops frames for a
//! second, as `ipv6_hold` says), and the DNS comes 1.0 s later with the answer to the
//! kernel's own solicitation, which optimistic DAD brings forward from 1.3-1.9 s. On
//! virtio-net the kernel has no link-local address yet when the lease comes (its link
//! is "ready" 0.8 s after the carrier), so the send fails with "network unreachable" and
//! the kernel's solicitation does the work. So one more solicitation goes out at the
//! link's first IPv6 address event after IPv6 came on (RTM_NEWADDR, its link-local
//! address): on veth, the first one, sent as the link came up, was lost in 3 runs of 10
//! (bench/ipv6.sh), and the answer then waited for the kernel's own, about 1 s later.

use etherparse::{Icmpv6Header, Icmpv6Type};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{Ipv6Addr, SocketAddrV6};

/// All-routers, link-local scope (RFC 4861 section 6.3.7).
const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// Lets `name`'s link-local address be used while DAD runs (RFC 4429). A kernel without
/// optimistic DAD lacks the files; that only costs the kernel's own delay.
pub fn allow_optimistic(name: &str) {
    for key in ["optimistic_dad", "use_optimistic"] {
        let path = format!("/proc/sys/net/ipv6/conf/{name}/{key}");
        let _ = std::fs::write(&path, "1");
    }
}

/// The message: type 133, code 0, 4 reserved bytes and no option (the source link-layer
/// address option is optional). The kernel fills in the checksum of a raw ICMPv6 socket.
pub fn message() -> Vec<u8> {
    Icmpv6Header::new(Icmpv6Type::RouterSolicitation)
        .to_bytes()
        .to_vec()
}

/// Sends one router solicitation out of `name` (index `index`).
pub fn solicit(name: &str, index: u32) -> Result<(), String> {
    let err = |what: &str, e: std::io::Error| format!("{name}: router solicitation: {what}: {e}");
    let sock = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
        .map_err(|e| err("socket", e))?;
    // RFC 4861: a router drops a solicitation whose hop limit is not 255.
    sock.set_multicast_hops_v6(255)
        .map_err(|e| err("hop limit", e))?;
    sock.set_multicast_if_v6(index)
        .map_err(|e| err("interface", e))?;
    let to = SockAddr::from(SocketAddrV6::new(ALL_ROUTERS, 0, 0, index));
    sock.send_to(&message(), &to).map_err(|e| {
        if e.raw_os_error() == Some(nix::libc::ENETUNREACH) {
            format!("{name}: no router solicitation yet (no link-local address); the kernel sends one once it has")
        } else {
            err("send", e)
        }
    })?;
    Ok(())
}

/// The solicitation sent again once the link has its link-local address; a failure only
/// leaves the kernel's own to do the work.
pub fn solicit_again(name: &str, index: u32) {
    match solicit(name, index) {
        Ok(()) => crate::debug!("{name}: router solicitation sent again (link-local address)"),
        Err(e) => crate::debug!("{e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_an_empty_router_solicitation() {
        assert_eq!(message(), vec![133, 0, 0, 0, 0, 0, 0, 0]);
    }
}
