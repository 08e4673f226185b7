//! IPv6 on a link with router advertisements: dnsmasq in a network namespace this test
//! creates, on a tap device qemu opens, with DHCPv4 and stateless RAs (RDNSS and DNSSL).
//! The guest solicits a router the moment its IPv6 hold ends (after the first lease), so
//! its SLAAC address comes within seconds, not at dnsmasq's next unsolicited
//! advertisement. And an IPv6-only network (router advertisements and DHCPv6, no
//! DHCPv4): the shell starts once the guest has a global IPv6 address and a name server,
//! stateless (O=1) or with a DHCPv6 address (M=1), and releases it at power-off. Needs
//! root.
#![allow(clippy::panic, reason = "test: a step that cannot run fails the test")]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Checks, Guest, Net, Netns, TempDir};

/// dnsmasq in a new namespace on tap0: DHCPv4 with a server and a domain, stateless RAs
/// with RDNSS fd00:77::1 and DNSSL ra.test. Returns the namespace, the log file and
/// the server (kill it at the end).
fn router(tag: &str) -> (TempDir, Netns, std::path::PathBuf, std::process::Child) {
    common::require_root("a network namespace with a tap device");
    common::require_tools(&["dnsmasq"], "the DHCP and RA server");
    let dir = TempDir::create(tag);
    let netns = Netns::create(tag);
    netns.exec(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    netns.exec(&["ip", "addr", "add", "10.56.0.1/24", "dev", "tap0"]);
    netns.exec(&["ip", "addr", "add", "fd00:77::1/64", "dev", "tap0", "nodad"]);
    netns.exec(&["ip", "link", "set", "tap0", "up"]);
    let log = dir.path.join("dnsmasq.log");
    let dnsmasq = Command::new("ip")
        .args([
            "netns",
            "exec",
            &netns.name,
            "dnsmasq",
            "--no-daemon",
            "--conf-file=/dev/null",
        ])
        .args([
            "--port=0",
            "--no-ping",
            "--bind-interfaces",
            "--interface=tap0",
            "--enable-ra",
            // Unsolicited advertisements only every 10 minutes: an address within
            // seconds comes from an answered solicitation.
            "--ra-param=tap0,600",
        ])
        .arg("--dhcp-range=10.56.0.10,10.56.0.50,2m")
        .arg("--dhcp-option=option:dns-server,10.56.0.1")
        .arg("--dhcp-option=option:domain-search,v4.test")
        .arg("--dhcp-range=::,constructor:tap0,ra-stateless,64")
        .arg("--dhcp-option=option6:dns-server,[fd00:77::1]")
        .arg("--dhcp-option=option6:domain-search,ra.test")
        .arg(format!(
            "--dhcp-leasefile={}",
            dir.path.join("leases").display()
        ))
        .arg("--log-dhcp")
        .arg(format!("--log-facility={}", log.display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start dnsmasq: {e}"));
    // dnsmasq sends its first advertisements when it starts: let them pass before the
    // guest listens, so that only a solicited one can reach it soon.
    std::thread::sleep(Duration::from_secs(3));

    (dir, netns, log, dnsmasq)
}

/// dnsmasq in a new namespace on tap0 with IPv6 only: router advertisements for
/// fd00:78::/64 and DHCPv6 with name server fd00:78::53 and search domain v6only.test;
/// `range` is the DHCPv6 --dhcp-range (stateless with ra-stateless, else stateful: M=1).
fn router_v6_only(
    tag: &str,
    range: &str,
) -> (TempDir, Netns, std::path::PathBuf, std::process::Child) {
    common::require_root("a network namespace with a tap device");
    common::require_tools(&["dnsmasq"], "the RA and DHCPv6 server");
    let dir = TempDir::create(tag);
    let netns = Netns::create(tag);
    netns.exec(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    netns.exec(&["ip", "addr", "add", "fd00:78::1/64", "dev", "tap0", "nodad"]);
    netns.exec(&["ip", "link", "set", "tap0", "up"]);
    let log = dir.path.join("dnsmasq.log");
    let dnsmasq = Command::new("ip")
        .args(["netns", "exec", &netns.name, "dnsmasq", "--no-daemon"])
        .args([
            "--conf-file=/dev/null",
            "--port=0",
            "--bind-interfaces",
            "--interface=tap0",
            "--enable-ra",
            "--ra-param=tap0,600",
        ])
        .arg(format!("--dhcp-range={range}"))
        .arg("--dhcp-option=option6:dns-server,[fd00:78::53]")
        .arg("--dhcp-option=option6:domain-search,v6only.test")
        .arg(format!(
            "--dhcp-leasefile={}",
            dir.path.join("leases").display()
        ))
        .arg("--log-dhcp")
        .arg(format!("--log-facility={}", log.display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start dnsmasq: {e}"));
    std::thread::sleep(Duration::from_secs(3));
    (dir, netns, log, dnsmasq)
}

/// What the shell sees the moment it starts on an IPv6-only network: the first command
/// typed reads the address, resolv.conf and hosts together.
fn first_look(guest: &mut Guest) -> String {
    guest.wait_shell();
    guest.run("ip -6 addr show dev eth0 scope global; cat /etc/resolv.conf /etc/hosts")
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn on_an_ipv6_only_network_the_shell_starts_with_a_slaac_address_and_dhcpv6_dns() {
    let images = common::images();
    let (_dir, netns, log, mut dnsmasq) =
        router_v6_only("v6only", "::,constructor:tap0,ra-stateless,64");
    let mut guest = Guest::boot(
        "v6only",
        &images,
        "qinit.dhcp_timeout=3",
        &Net::Tap {
            netns: netns.name.clone(),
            ifname: "tap0".to_owned(),
        },
    );
    let mut checks = Checks::new("v6only");
    let seen = first_look(&mut guest);
    checks.check(seen.contains("inet6 fd00:78::"), || {
        format!("the shell should start with a SLAAC address in fd00:78::/64:\n{seen}")
    });
    checks.check(
        seen.contains("nameserver fd00:78::53") && seen.contains("search v6only.test"),
        || format!("the shell should start with the IPv6 name server and domain:\n{seen}"),
    );
    checks.check(
        seen.lines()
            .any(|l| l.trim().starts_with("fd00:78::") && l.contains("qinit")),
        || format!("/etc/hosts should name the global IPv6 address:\n{seen}"),
    );
    let status = guest.run("qinit status");
    checks.check(
        status.contains("dhcpv6: eth0 informed") && status.contains("router6: eth0 fe80::"),
        || format!("qinit status should show DHCPv6's state and the router:\n{status}"),
    );
    let guest_log = guest.log();
    let order = |needle: &str| guest_log.find(needle);
    checks.check(
        order("IPv6: global address")
            .zip(order("qinit: starting /bin/sh on"))
            .is_some_and(|(a, s)| a < s),
        || format!("the shell should start after the IPv6 address came:\n{guest_log}"),
    );
    for line in guest_log.lines().filter(|l| {
        l.contains("IPv6")
            || l.contains("dhcpv6")
            || l.contains("starting /bin/sh")
            || l.contains("no lease")
    }) {
        println!("guest: {}", line.trim());
    }
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    checks.check(server_log.contains("DHCPINFORMATION-REQUEST(tap0)"), || {
        format!("dnsmasq should have answered an Information-Request:\n{server_log}")
    });
    drop(guest);
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn ip_dhcp6_takes_a_dhcpv6_address_at_once_and_releases_it_at_poweroff() {
    let images = common::images();
    let (_dir, netns, log, mut dnsmasq) =
        router_v6_only("v6full", "fd00:78::100,fd00:78::1ff,64,10m");
    let mut guest = Guest::boot(
        "v6full",
        &images,
        "ip=eth0:dhcp6 qinit.wait=ipv6",
        &Net::Tap {
            netns: netns.name.clone(),
            ifname: "tap0".to_owned(),
        },
    );
    let mut checks = Checks::new("v6full");
    let seen = first_look(&mut guest);
    let bound = seen
        .lines()
        .filter_map(|l| l.trim().strip_prefix("inet6 fd00:78::"))
        .filter_map(|rest| rest.split('/').next())
        .filter_map(|h| u16::from_str_radix(h, 16).ok())
        .find(|h| (0x100..=0x1ff).contains(h));
    checks.check(bound.is_some(), || {
        format!("the shell should start with a DHCPv6 address from fd00:78::100-1ff:\n{seen}")
    });
    checks.check(seen.contains("nameserver fd00:78::53"), || {
        format!("the shell should start with DHCPv6's name server:\n{seen}")
    });
    let guest_log = guest.log();
    checks.check(!guest_log.contains("DHCP started"), || {
        format!("ip=eth0:dhcp6 runs no DHCPv4:\n{guest_log}")
    });
    checks.check(guest_log.contains("dhcpv6 eth0: stateful"), || {
        format!("DHCPv6 should be stateful:\n{guest_log}")
    });
    for line in guest_log
        .lines()
        .filter(|l| l.contains("dhcpv6") || l.contains("IPv6") || l.contains("starting /bin/sh"))
    {
        println!("guest: {}", line.trim());
    }
    guest.send_line("poweroff");
    let exited = guest.wait_exit(Duration::from_secs(60));
    checks.check(exited.is_some(), || "the guest should power off".to_owned());
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    checks.check(server_log.contains("DHCPRELEASE(tap0)"), || {
        format!("dnsmasq should see the address released at power-off:\n{server_log}")
    });
    drop(guest);
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn a_bracketed_static_ipv6_ip_gives_address_route_dns_and_hosts_and_pings_the_gateway() {
    let images = common::images();
    common::require_root("a network namespace with a tap device");
    // Declared before the guest, so it is dropped after qemu is gone.
    let netns = Netns::create("v6static");
    netns.exec(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    netns.exec(&["ip", "addr", "add", "fd00:79::1/64", "dev", "tap0", "nodad"]);
    netns.exec(&["ip", "link", "set", "tap0", "up"]);
    let mut guest = Guest::boot(
        "v6static",
        &images,
        "ip=[fd00:79::2]::[fd00:79::1]:64:v6host:eth0:none:[fd00:79::53]",
        &Net::Tap {
            netns: netns.name.clone(),
            ifname: "tap0".to_owned(),
        },
    );
    let mut checks = Checks::new("v6static");
    guest.expect("eth0: static fd00:79::2/64 via fd00:79::1 (ip=)");
    guest.wait_shell();
    let seen = guest.run(
        "ip -6 addr show dev eth0 scope global; ip -6 route show default; cat /etc/resolv.conf /etc/hosts; hostname",
    );
    checks.check(seen.contains("inet6 fd00:79::2/64"), || {
        format!("eth0 should have fd00:79::2/64:\n{seen}")
    });
    checks.check(seen.contains("default via fd00:79::1 dev eth0"), || {
        format!("the default route should go through the gateway:\n{seen}")
    });
    checks.check(seen.contains("nameserver fd00:79::53"), || {
        format!("resolv.conf should have the ip= name server:\n{seen}")
    });
    checks.check(
        seen.lines()
            .any(|l| l.trim().starts_with("fd00:79::2") && l.trim().ends_with("v6host")),
        || format!("/etc/hosts should name fd00:79::2 v6host:\n{seen}"),
    );
    let mut ping = String::new();
    let start = Instant::now();
    // The address may still be in DAD for a second.
    while start.elapsed() < Duration::from_secs(15) {
        ping = guest.run("ping6 -c 1 -W 2 fd00:79::1 && echo PING-OK");
        if ping.contains("PING-OK") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    checks.check(ping.contains("PING-OK"), || {
        format!("the guest should ping its IPv6 gateway:\n{ping}")
    });
    let guest_log = guest.log();
    checks.check(!guest_log.contains("DHCP started"), || {
        format!("a static IPv6 ip= runs no DHCP:\n{guest_log}")
    });
    drop(guest);
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn the_guest_solicits_a_router_after_its_lease_and_gets_a_slaac_address() {
    let images = common::images();
    let (_dir, netns, log, mut dnsmasq) = router("ipv6");
    let mut guest = Guest::boot(
        "ipv6",
        &images,
        "",
        &Net::Tap {
            netns: netns.name.clone(),
            ifname: "tap0".to_owned(),
        },
    );
    guest.expect("qinit: dhcp eth0: bound 10.56.0.");
    let mut checks = Checks::new("ipv6");
    let solicited = guest.try_expect(
        "eth0: IPv6 on, router solicitation sent",
        Duration::from_secs(10),
    );
    checks.check(solicited.is_some(), || {
        format!("no router solicitation after the lease:\n{}", guest.log())
    });
    guest.wait_shell();
    let start = Instant::now();
    let mut addr = String::new();
    while start.elapsed() < Duration::from_secs(20) {
        addr = guest.run("ip -6 addr show dev eth0");
        if addr.contains("inet6 fd00:77::") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    checks.check(addr.contains("inet6 fd00:77::"), || {
        format!("no SLAAC address in fd00:77::/64 within 20 s of the shell:\n{addr}")
    });
    let route = guest.run("ip -6 route show default");
    checks.check(route.contains("via fe80::"), || {
        format!("no default route from the advertisement:\n{route}")
    });
    // One resolv.conf with both families: IPv4's server and domain first, then the
    // advertisement's (RDNSS and DNSSL).
    let mut resolv = String::new();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(10) {
        resolv = guest.run("cat /etc/resolv.conf");
        if resolv.contains("fd00:77::1") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let lines: Vec<&str> = resolv.lines().map(str::trim).collect();
    let servers: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("nameserver"))
        .collect();
    checks.check(
        servers == ["nameserver 10.56.0.1", "nameserver fd00:77::1"]
            && lines.contains(&"search v4.test ra.test"),
        || format!("resolv.conf should hold both families' DNS, IPv4's first:\n{resolv}"),
    );
    let status = guest.run("qinit status");
    checks.check(
        status.contains("ipv6: eth0 fd00:77::") && status.contains("ipv6 dns: fd00:77::1"),
        || format!("qinit status should show the IPv6 address and DNS:\n{status}"),
    );
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    // qinit's solicitation carries no link-layer address (its link-local address may
    // still be optimistic); the kernel's, 1-2 s later, does. Ours must come first.
    let first = server_log
        .lines()
        .find(|l| l.contains("RTR-SOLICIT(tap0)"))
        .unwrap_or_default();
    checks.check(first.trim_end().ends_with("RTR-SOLICIT(tap0)"), || {
        format!("the first router solicitation should be qinit's (no MAC):\n{server_log}")
    });
    // For the figures: when the lease, the solicitation and the DNS came.
    for line in guest.log().lines().filter(|l| {
        l.contains("bound 10.56") || l.contains("IPv6 on") || l.contains("router advertisement")
    }) {
        println!("guest: {}", line.trim());
    }
    drop(guest);
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn with_ipv6_off_the_guest_keeps_ipv6_disabled_and_only_ipv4_dns() {
    let images = common::images();
    let (_dir, netns, log, mut dnsmasq) = router("ipv6off");
    let mut guest = Guest::boot(
        "ipv6off",
        &images,
        "qinit.ipv6=off",
        &Net::Tap {
            netns: netns.name.clone(),
            ifname: "tap0".to_owned(),
        },
    );
    guest.expect("qinit: dhcp eth0: bound 10.56.0.");
    guest.wait_shell();
    // Long enough for the kernel's own solicitation and the answer, had IPv6 been on.
    std::thread::sleep(Duration::from_secs(4));
    let mut checks = Checks::new("ipv6off");
    let disabled = guest.run("cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6");
    checks.check(disabled.lines().any(|l| l.trim() == "1"), || {
        format!("eth0 should keep IPv6 disabled:\n{disabled}")
    });
    let addr = guest.run("ip -6 addr show dev eth0");
    checks.check(!addr.contains("inet6"), || {
        format!("eth0 should have no IPv6 address:\n{addr}")
    });
    let resolv = guest.run("cat /etc/resolv.conf");
    checks.check(
        resolv.contains("nameserver 10.56.0.1") && !resolv.contains("fd00:77"),
        || format!("resolv.conf should hold IPv4's server only:\n{resolv}"),
    );
    let guest_log = guest.log();
    // For the figures: the lease with no IPv6 at all, to compare with the test above.
    for line in guest_log.lines().filter(|l| l.contains("bound 10.56")) {
        println!("guest: {}", line.trim());
    }
    checks.check(!guest_log.contains("router solicitation sent"), || {
        "no router solicitation with qinit.ipv6=off".to_owned()
    });
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    checks.check(!server_log.contains("RTR-SOLICIT"), || {
        format!("dnsmasq should see no router solicitation:\n{server_log}")
    });
    drop(guest);
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    checks.finish();
}

/// qemu's user network, whose IPv6 is on by default: after the lease the guest gets a
/// SLAAC address in fec0::/64 and pings the host at fec0::2. slirp puts its DNS (fec0::3)
/// in the advertisement only when the host has an IPv6 name server (libslirp a2f80fd);
/// this test host has none, so resolv.conf must hold 10.0.2.3 and no IPv6 server
/// (the dnsmasq tests above cover RDNSS).
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn on_qemus_user_network_the_guest_gets_a_slaac_address_and_pings_the_host_over_ipv6() {
    let images = common::images();
    let mut guest = Guest::boot(
        "user-ipv6",
        &images,
        "",
        &Net::User {
            options: String::new(),
        },
    );
    let mut checks = Checks::new("user-ipv6");
    guest.wait_shell();
    let start = Instant::now();
    let mut addr = String::new();
    while start.elapsed() < Duration::from_secs(20) {
        addr = guest.run("ip -6 addr show dev eth0");
        if addr.contains("inet6 fec0::") {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    checks.check(addr.contains("inet6 fec0::"), || {
        format!("no SLAAC address in fec0::/64 within 20 s of the shell:\n{addr}")
    });
    let ping = guest.run("ping -6 -c 1 -W 5 fec0::2 && echo PING6-OK");
    checks.check(ping.contains("PING6-OK"), || {
        format!("the guest should reach the host at fec0::2:\n{ping}")
    });
    let resolv = guest.run("cat /etc/resolv.conf");
    let servers: Vec<&str> = resolv
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("nameserver"))
        .collect();
    checks.check(servers == ["nameserver 10.0.2.3"], || {
        format!("resolv.conf should hold qemu's DNS and no IPv6 server it did not offer:\n{resolv}")
    });
    checks.finish();
}
