//! dracut's network keys end to end (issue 18): `ip=` with an MTU and a MAC address,
//! `nameserver=`, `rd.route=`, `rd.peerdns=` and `ifname=`, each checked on a real boot
//! under TCG on qemu's user network (the guest talks only to 10.0.2.x).
#![allow(clippy::panic, reason = "test: a step that cannot run fails the test")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Checks, Guest, Net, Netns, TempDir};

/// qemu's MAC address for the first NIC when none is given (the harness gives none).
const QEMU_MAC: &str = "52:54:00:12:34:56";

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn static_ip_with_mtu_and_mac_plus_nameserver_and_routes() {
    let images = common::images();
    let mut guest = Guest::boot(
        "dracut-static",
        &images,
        "ip=10.0.2.50::10.0.2.2:255.255.255.0:h:eth0:none:1400:52:54:00:aa:bb:cc \
         nameserver=10.0.2.3 nameserver=10.0.2.4 rd.route=10.9.0.0/16:10.0.2.2 \
         rd.route=10.8.1.1/16:10.0.2.2:eth0 rd.route=10.7.0.0/16:192.168.9.1 \
         rd.route=10.6.0.0/99:10.0.2.2",
        &Net::User {
            options: String::new(),
        },
    );
    guest.wait_shell();
    let mut checks = Checks::new("dracut-static");
    let link = guest.run("ip link show eth0");
    checks.check(link.contains("mtu 1400 "), || {
        format!("eth0 should have MTU 1400:\n{link}")
    });
    checks.check(link.contains("link/ether 52:54:00:aa:bb:cc"), || {
        format!("eth0 should have MAC 52:54:00:aa:bb:cc:\n{link}")
    });
    let resolv = guest.run("cat /etc/resolv.conf");
    checks.check(
        resolv.contains("nameserver 10.0.2.3") && resolv.contains("nameserver 10.0.2.4"),
        || format!("resolv.conf should hold both nameserver= servers:\n{resolv}"),
    );
    let routes = guest.run("ip route");
    for want in [
        "default via 10.0.2.2 dev eth0",
        "10.9.0.0/16 via 10.0.2.2 dev eth0",
        "10.8.0.0/16 via 10.0.2.2 dev eth0",
    ] {
        checks.check(routes.contains(want), || {
            format!("ip route should have '{want}':\n{routes}")
        });
    }
    checks.check(!routes.contains("10.7.0.0"), || {
        format!("a route whose gateway is on no link should not be added:\n{routes}")
    });
    // The guest, with its new MAC and MTU, still reaches the gateway.
    let ping = guest.run("ping -c 2 -W 5 10.0.2.2");
    checks.check(ping.contains(" 0% packet loss"), || {
        format!("ping 10.0.2.2:\n{ping}")
    });
    let log = guest.log();
    checks.check(
        log.contains("rd.route=10.6.0.0/99:10.0.2.2: bad prefix length '99'"),
        || "a bad rd.route= should be named in one line".to_owned(),
    );
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn ifname_renames_the_nic_which_gets_a_lease_with_its_mtu_routes_and_no_peer_dns() {
    let images = common::images();
    let mut guest = Guest::boot(
        "dracut-ifname",
        &images,
        &format!(
            "ifname=lan0:{QEMU_MAC} ip=lan0:dhcp:1400 rd.peerdns=0 rd.route=10.9.0.0/16:10.0.2.2"
        ),
        &Net::User {
            options: String::new(),
        },
    );
    guest.expect("dhcp lan0: bound 10.0.2.15/24");
    guest.wait_shell();
    let mut checks = Checks::new("dracut-ifname");
    let links = guest.run("ip -o link show");
    checks.check(
        links.contains(": lan0:") && !links.contains(": eth0:"),
        || format!("the NIC should be named lan0, and no eth0 left:\n{links}"),
    );
    checks.check(links.contains("mtu 1400 "), || {
        format!("lan0 should have MTU 1400:\n{links}")
    });
    let addr = guest.run("ip -4 addr show lan0");
    checks.check(addr.contains("inet 10.0.2.15/24"), || {
        format!("lan0 should have its lease:\n{addr}")
    });
    let routes = guest.run("ip route");
    checks.check(routes.contains("10.9.0.0/16 via 10.0.2.2 dev lan0"), || {
        format!("rd.route= should be added with the lease:\n{routes}")
    });
    // slirp offers 10.0.2.3; rd.peerdns=0 keeps it out.
    let resolv = guest.run("cat /etc/resolv.conf");
    checks.check(
        resolv.contains("written by qinit from DHCP on lan0") && !resolv.contains("nameserver"),
        || format!("rd.peerdns=0: resolv.conf from the lease, without its name server:\n{resolv}"),
    );
    let ping = guest.run("ping -c 2 -W 5 10.0.2.2");
    checks.check(ping.contains(" 0% packet loss"), || {
        format!("ping 10.0.2.2 over lan0:\n{ping}")
    });
    checks.finish();
}

/// The VLAN links are made and configured; no traffic is tagged here (qemu's user network
/// drops tagged frames, and this machine's kernel has no 8021q for a peer).
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn vlan_links_are_made_on_their_parent_and_configured_by_ip() {
    let images = common::images();
    let mut guest = Guest::boot(
        "dracut-vlan",
        &images,
        "vlan=eth0.99:eth0 vlan=vlan0042:eth0 vlan=eth0.5000:eth0 \
         ip=eth0:dhcp ip=10.0.99.5:::24::eth0.99:none:1400",
        &Net::User {
            options: String::new(),
        },
    );
    guest.expect("dhcp eth0: bound 10.0.2.15/24");
    guest.wait_shell();
    let mut checks = Checks::new("dracut-vlan");
    // 8021q's own table: "<name> | <id> | <parent>" per VLAN.
    let table = guest.run("cat /proc/net/vlan/config");
    let has = |name: &str, id: &str, parent: &str| {
        table.lines().any(|l| {
            let f: Vec<&str> = l.split('|').map(str::trim).collect();
            f == [name, id, parent]
        })
    };
    checks.check(has("eth0.99", "99", "eth0"), || {
        format!("eth0.99 should be VLAN 99 on eth0:\n{table}")
    });
    checks.check(has("vlan0042", "42", "eth0"), || {
        format!("vlan0042 should be VLAN 42 on eth0:\n{table}")
    });
    checks.check(!table.contains("5000"), || {
        format!("no VLAN from a bad vlan=:\n{table}")
    });
    let addr = guest.run("ip addr show eth0.99");
    checks.check(
        addr.contains("eth0.99@eth0") && addr.contains("mtu 1400 "),
        || format!("eth0.99 should sit on eth0 with the MTU of its ip=:\n{addr}"),
    );
    checks.check(addr.contains("inet 10.0.99.5/24"), || {
        format!("eth0.99 should have its static address:\n{addr}")
    });
    let parent = guest.run("ip -4 addr show eth0");
    checks.check(parent.contains("inet 10.0.2.15/24"), || {
        format!("the parent keeps its own lease:\n{parent}")
    });
    let log = guest.log();
    checks.check(
        log.contains("vlan=eth0.5000:eth0: cannot read a VLAN id (1-4094) from 'eth0.5000'"),
        || "a bad vlan= should be named in one line".to_owned(),
    );
    checks.finish();
}

/// dnsmasq offers MTU 1300 (option 26) on a 2-minute lease; `ip=eth0:dhcp:1400` keeps
/// 1400, and the MTU and the `rd.route=` route both outlast the renewal at T1 (a minute).
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn configured_mtu_and_routes_outlast_the_leases_mtu_and_its_renewal() {
    let images = common::images();
    common::require_root("a network namespace with a tap device");
    common::require_tools(&["dnsmasq"], "a DHCP server that sends an MTU");
    let dir = TempDir::create("dracut-renew");
    let netns = Netns::create("dracut-renew");
    netns.exec(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    netns.exec(&["ip", "addr", "add", "10.56.0.1/24", "dev", "tap0"]);
    netns.exec(&["ip", "link", "set", "tap0", "up"]);
    let log = dir.path.join("dnsmasq.log");
    let mut dnsmasq = Command::new("ip")
        .args(["netns", "exec", &netns.name, "dnsmasq", "--no-daemon"])
        .args(["--conf-file=/dev/null", "--port=0", "--no-ping"])
        .args(["--bind-interfaces", "--interface=tap0"])
        .arg("--dhcp-range=10.56.0.10,10.56.0.50,2m")
        .arg("--dhcp-option=26,1300")
        .arg(format!(
            "--dhcp-leasefile={}",
            dir.path.join("leases").display()
        ))
        .arg("--log-dhcp")
        .arg(format!("--log-facility={}", log.display()))
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start dnsmasq: {e}"));
    let mut guest = Guest::boot(
        "dracut-renew",
        &images,
        "ip=eth0:dhcp:1400 rd.route=10.9.0.0/16:10.56.0.1",
        &Net::Tap {
            netns: netns.name.clone(),
            ifname: "tap0".to_owned(),
        },
    );
    guest.expect("qinit: dhcp eth0: bound 10.56.0.");
    guest.wait_shell();
    let mut checks = Checks::new("dracut-renew");
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    checks.check(server_log.contains("option: 26 mtu"), || {
        format!("dnsmasq should have sent its MTU (option 26):\n{server_log}")
    });
    for when in ["after the lease", "after the renewal"] {
        let link = guest.run("ip link show eth0");
        checks.check(link.contains("mtu 1400 "), || {
            format!("{when}: eth0 should keep MTU 1400, not the lease's 1300:\n{link}")
        });
        let routes = guest.run("ip route");
        checks.check(
            routes.contains("10.9.0.0/16 via 10.56.0.1 dev eth0"),
            || format!("{when}: the rd.route= route should be there:\n{routes}"),
        );
        if when == "after the lease" {
            let renewed = guest.try_expect("qinit: dhcp eth0: renewed", Duration::from_secs(120));
            checks.check(renewed.is_some(), || {
                "no renewal within 2 minutes of the lease".to_owned()
            });
        }
    }
    drop(guest);
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    checks.finish();
}
