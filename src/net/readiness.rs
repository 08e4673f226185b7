//! When the network counts as ready for the foreground program (`qinit.wait=`). Pure:
//! the network says what it has and when DHCP started; this says by when to start.
//!
//! - `ipv4`: an IPv4 address, or the DHCP timeout (the behaviour before IPv6 was read).
//! - `ipv6`: a global IPv6 address and a name server, or the DHCP timeout.
//! - `any` (the default): either. IPv6 is held back until the first DHCPv4 lease (the
//!   e1000 rule, `ipv6_hold`), so on an IPv6-only network it starts only when the DHCP
//!   timeout ends; the wait then goes on for `ROUTER_SIGN` after IPv6 came on for a
//!   router to show itself (an advertisement's flags or DNS, a global address), and once
//!   one has, until IPv6 is ready or a DHCP timeout after IPv6 came on. On a network with
//!   DHCPv4 nothing changes; on one with nothing at all the shell comes `ROUTER_SIGN`
//!   later than the DHCP timeout.
//! - `all`: both, or a DHCP timeout after IPv6 came on (it comes after the lease).
//! - `none`: at once.

use crate::clock::Uptime;
use crate::config::cmdline::Wait;
use std::time::Duration;

/// How long, once IPv6 is on without an IPv4 lease, a router has to show itself. It
/// answers the solicitation sent then within milliseconds (1-2 s on e1000, see
/// `router_solicit`).
pub const ROUTER_SIGN: Duration = Duration::from_secs(3);

/// What the network has now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Something is still on its way (DHCP, DHCPv6, a PHY wait).
    pub waiting: bool,
    pub ipv4: bool,
    /// A usable global IPv6 address and a name server in resolv.conf.
    pub ipv6: bool,
    /// IPv6 is on for the machine (`qinit.ipv6` not off).
    pub ipv6_enabled: bool,
    /// A router advertised (flags, DNS, a global address) or DHCPv6 answered.
    pub router_seen: bool,
    /// When IPv6 came on (its hold ended); None while held.
    pub ipv6_since: Option<Uptime>,
}

/// By when the foreground program starts: `now` when what `wait` asks for is there.
pub fn ready_by(
    wait: Wait,
    started: Uptime,
    timeout: Duration,
    now: Uptime,
    p: Progress,
) -> Uptime {
    let ipv6 = p.ipv6_enabled && p.ipv6;
    let done = match wait {
        Wait::None => true,
        Wait::Ipv4 => p.ipv4,
        Wait::Ipv6 => ipv6,
        Wait::Any => p.ipv4 || ipv6,
        Wait::All => p.ipv4 && (ipv6 || !p.ipv6_enabled),
    };
    if done || !p.waiting {
        return now;
    }
    let first = started.saturating_add(timeout);
    // IPv6 comes on at the first deadline at the latest (the hold's end).
    let on = p.ipv6_since.unwrap_or(first).min(first);
    let second = first.max(on.saturating_add(timeout));
    match wait {
        Wait::Any if p.ipv6_enabled && !p.ipv4 => {
            if p.router_seen {
                second
            } else {
                first.max(on.saturating_add(ROUTER_SIGN))
            }
        }
        Wait::All if p.ipv6_enabled => second,
        _ => first,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Uptime {
        Duration::from_secs(n)
    }

    fn at(wait: Wait, p: Progress) -> Uptime {
        ready_by(wait, s(10), s(5), s(12), p)
    }

    const WAITING: Progress = Progress {
        waiting: true,
        ipv4: false,
        ipv6: false,
        ipv6_enabled: true,
        router_seen: false,
        ipv6_since: None,
    };

    #[test]
    fn an_ipv4_lease_starts_any_and_ipv4_at_once_as_before() {
        let v4 = Progress {
            ipv4: true,
            ..WAITING
        };
        assert_eq!(at(Wait::Any, v4), s(12));
        assert_eq!(at(Wait::Ipv4, v4), s(12));
        assert_eq!(at(Wait::Ipv4, WAITING), s(15));
        // ipv6 waits for IPv6 even with a lease.
        assert_eq!(at(Wait::Ipv6, v4), s(15));
    }

    #[test]
    fn on_an_ipv6_only_network_any_waits_for_a_router_then_for_ipv6() {
        assert_eq!(at(Wait::Any, WAITING), s(18));
        let seen = Progress {
            router_seen: true,
            ..WAITING
        };
        assert_eq!(at(Wait::Any, seen), s(20));
        let ready = Progress { ipv6: true, ..seen };
        assert_eq!(at(Wait::Any, ready), s(12));
        assert_eq!(at(Wait::Ipv6, ready), s(12));
    }

    #[test]
    fn with_ipv6_off_any_is_ipv4_and_all_needs_only_ipv4() {
        let off = Progress {
            ipv6_enabled: false,
            ipv6: true,
            ..WAITING
        };
        assert_eq!(at(Wait::Any, off), s(15));
        assert_eq!(at(Wait::Ipv6, off), s(15));
        assert_eq!(at(Wait::All, Progress { ipv4: true, ..off }), s(12));
    }

    #[test]
    fn the_ipv6_wait_counts_from_when_ipv6_came_on() {
        let on = Progress {
            ipv6_since: Some(s(14)),
            ..WAITING
        };
        assert_eq!(at(Wait::Any, on), s(17));
        assert_eq!(
            at(
                Wait::Any,
                Progress {
                    router_seen: true,
                    ..on
                }
            ),
            s(19)
        );
        // After the lease, IPv6 comes on at once: all waits a timeout from then.
        let v4 = Progress {
            ipv4: true,
            ipv6_since: Some(s(11)),
            ..WAITING
        };
        assert_eq!(at(Wait::All, v4), s(16));
    }

    #[test]
    fn all_waits_for_both_and_none_for_nothing() {
        let v4 = Progress {
            ipv4: true,
            ..WAITING
        };
        assert_eq!(at(Wait::All, v4), s(20));
        assert_eq!(at(Wait::All, Progress { ipv6: true, ..v4 }), s(12));
        assert_eq!(at(Wait::None, WAITING), s(12));
        // Nothing on its way: nothing to wait for.
        assert_eq!(
            at(
                Wait::Ipv4,
                Progress {
                    waiting: false,
                    ..WAITING
                }
            ),
            s(12)
        );
    }
}
