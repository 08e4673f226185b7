//! Configuration end to end: the kernel's `ip=` (static address, off, dhcp on two NICs)
//! and /etc/qinit.conf, each checked on a real boot under TCG.
#![allow(clippy::panic, reason = "test: a step that cannot run fails the test")]

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Checks, Guest, Net, Netns, TempDir};

/// dnsmasq in a namespace, logging every DHCP packet to a file; killed by its pid.
struct Dnsmasq {
    child: Child,
    log: std::path::PathBuf,
}

impl Dnsmasq {
    fn start(netns: &Netns, iface: &str, range: &str, dir: &TempDir) -> Dnsmasq {
        let log = dir.path.join("dnsmasq.log");
        let leases = dir.path.join("dnsmasq.leases");
        let child = Command::new("ip")
            .args(["netns", "exec", &netns.name, "dnsmasq", "--no-daemon"])
            .args([
                "--conf-file=/dev/null",
                "--port=0",
                "--no-ping",
                "--bind-interfaces",
            ])
            .arg(format!("--interface={iface}"))
            .arg(format!("--dhcp-range={range}"))
            .arg(format!("--dhcp-leasefile={}", leases.display()))
            .arg("--log-dhcp")
            .arg(format!("--log-facility={}", log.display()))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start dnsmasq: {e}"));
        Dnsmasq { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until the log contains `needle`, within `bound`.
    fn wait_for(&self, needle: &str, bound: Duration) -> bool {
        let end = Instant::now() + bound;
        while Instant::now() < end {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn static_ip_line_configures_eth0_and_sends_no_dhcp() {
    let images = common::images();
    common::require_root("a network namespace with a tap device");
    common::require_tools(&["dnsmasq"], "a DHCP server that logs what it sees");
    let dir = TempDir::create("static");
    let netns = Netns::create("static");
    netns.exec(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    netns.exec(&["ip", "addr", "add", "10.0.2.2/24", "dev", "tap0"]);
    netns.exec(&["ip", "link", "set", "tap0", "up"]);
    let dnsmasq = Dnsmasq::start(&netns, "tap0", "10.0.2.100,10.0.2.150,2m", &dir);

    let mut guest = Guest::boot(
        "static",
        &images,
        "ip=10.0.2.50::10.0.2.2:255.255.255.0:appliance:eth0:off:10.0.2.3",
        &Net::Tap {
            netns: netns.name.clone(),
            ifname: "tap0".to_owned(),
        },
    );
    guest.wait_shell();
    let mut checks = Checks::new("static");
    let addr = guest.run("ip -4 addr show eth0");
    checks.check(addr.contains("inet 10.0.2.50/24"), || {
        format!("eth0 should have 10.0.2.50/24:\n{addr}")
    });
    let routes = guest.run("ip route");
    checks.check(routes.contains("default via 10.0.2.2 dev eth0"), || {
        format!("default route:\n{routes}")
    });
    let name = guest.run("hostname");
    checks.check(name.trim() == "appliance", || format!("hostname: {name}"));
    let hosts = guest.run("cat /etc/hosts");
    checks.check(hosts.contains("10.0.2.50\tappliance"), || {
        format!("/etc/hosts:\n{hosts}")
    });
    let resolv = guest.run("cat /etc/resolv.conf");
    checks.check(resolv.contains("nameserver 10.0.2.3"), || {
        format!("/etc/resolv.conf:\n{resolv}")
    });
    let ping = guest.run("ping -c 3 -W 5 10.0.2.2");
    checks.check(ping.contains(" 0% packet loss"), || {
        format!("ping 10.0.2.2:\n{ping}")
    });
    let log = dnsmasq.log();
    checks.check(
        !log.contains("DHCPDISCOVER") && !log.contains("DHCPREQUEST"),
        || format!("qinit sent DHCP with a static ip= line; dnsmasq saw:\n{log}"),
    );
    // The control: the same dnsmasq does see DHCP from this guest when asked for it, so
    // the silence above means something.
    guest.run("udhcpc -i eth0 -n -q -t 2 -s /bin/true >/dev/null 2>&1");
    checks.check(
        dnsmasq.wait_for("DHCPDISCOVER", Duration::from_secs(20)),
        || {
            format!(
                "control failed: dnsmasq logged no DISCOVER from busybox udhcpc:\n{}",
                dnsmasq.log()
            )
        },
    );
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn ip_off_leaves_eth0_down_and_qinit_conf_applies_where_the_command_line_is_silent() {
    let images = common::images();
    let dir = TempDir::create("ipoff");
    // The file asks for DHCP with a 30 s wait; the command line's ip=off wins, so the
    // shell comes at once and eth0 stays down. The host name only the file gives.
    let conf = "# test\nhostname = \"fromfile\"\ndhcp_timeout = 30\nip = [\"dhcp\"]\nsearch = [\"corp.test\"]\n";
    let images = common::images_with_files(&images, &dir, &[("etc/qinit.conf", conf)]);
    let mut guest = Guest::boot(
        "ip-off",
        &images,
        "ip=off",
        &Net::User {
            options: String::new(),
        },
    );
    guest.wait_shell_within(Duration::from_secs(25));
    let mut checks = Checks::new("ip-off");
    let link = guest.run("ip link show eth0");
    // busybox ip: "2: eth0: <BROADCAST,MULTICAST> mtu ..."; UP would be one of the flags.
    let flags = link
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(f, _)| f.to_owned());
    checks.check(
        flags
            .as_deref()
            .is_some_and(|f| !f.split(',').any(|x| x == "UP")),
        || format!("eth0 should be down:\n{link}"),
    );
    let addr = guest.run("ip -4 addr show eth0");
    checks.check(!addr.contains("inet "), || {
        format!("eth0 should have no address:\n{addr}")
    });
    let name = guest.run("hostname");
    checks.check(name.trim() == "fromfile", || {
        format!("hostname from /etc/qinit.conf: {name}")
    });
    let log = guest.log();
    checks.check(!log.contains("dhcp eth0"), || {
        "no DHCP should run on eth0 with ip=off".to_owned()
    });
    checks.check(log.contains("eth0: left down"), || {
        "the console should say eth0 is left down".to_owned()
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn two_nics_with_ip_dhcp_get_two_leases_and_one_default_route() {
    let images = common::images();
    let mut guest = Guest::boot_with(
        "two-nics",
        &images,
        "ip=dhcp",
        &Net::User {
            options: String::new(),
        },
        &[
            "-netdev",
            "user,id=n1,net=10.0.3.0/24,restrict=on",
            "-device",
            "e1000,netdev=n1",
        ],
    );
    guest.expect("dhcp eth0: bound 10.0.2.15/24");
    guest.expect("dhcp eth1: bound 10.0.3.15/24");
    guest.wait_shell();
    let mut checks = Checks::new("two-nics");
    let addr = guest.run("ip -4 addr");
    checks.check(
        addr.contains("10.0.2.15/24") && addr.contains("10.0.3.15/24"),
        || format!("two leases:\n{addr}"),
    );
    let routes = guest.run("ip route");
    let defaults = routes.lines().filter(|l| l.starts_with("default")).count();
    checks.check(
        defaults == 1 && routes.contains("default via 10.0.2.2 dev eth0"),
        || format!("one default route, through the first lease:\n{routes}"),
    );
    checks.check(routes.contains("10.0.3.0/24 dev eth1"), || {
        format!("eth1's subnet route:\n{routes}")
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn static_ip_on_user_networking_reaches_the_gateway() {
    let images = common::images();
    let mut guest = Guest::boot(
        "static-user",
        &images,
        "ip=10.0.2.50::10.0.2.2:255.255.255.0:appliance:eth0:off:10.0.2.3",
        &Net::User {
            options: String::new(),
        },
    );
    guest.wait_shell();
    let mut checks = Checks::new("static-user");
    let ping = guest.run("ping -c 3 -W 5 10.0.2.2");
    checks.check(ping.contains(" 0% packet loss"), || {
        format!("ping 10.0.2.2:\n{ping}")
    });
    let addr = guest.run("ip -4 addr show eth0");
    checks.check(addr.contains("inet 10.0.2.50/24"), || {
        format!("eth0:\n{addr}")
    });
    checks.check(!guest.log().contains("dhcp eth0"), || {
        "no DHCP with a static ip= line".to_owned()
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn when_the_first_nic_goes_away_the_second_lease_takes_the_default_route_and_dns() {
    let images = common::images();
    let mut guest = Guest::boot_with(
        "nic-takeover",
        &images,
        "ip=dhcp",
        &Net::None,
        &[
            "-netdev",
            "user,id=n0,restrict=off",
            "-device",
            "e1000,netdev=n0,id=nic0",
            // The second network's DHCP also names a router and a name server (qemu's
            // own, at 10.0.3.2 and 10.0.3.3); the guest sends nothing but DHCP there.
            "-netdev",
            "user,id=n1,net=10.0.3.0/24,restrict=off",
            "-device",
            "e1000,netdev=n1,id=nic1",
        ],
    );
    guest.expect("dhcp eth0: bound 10.0.2.15/24");
    guest.expect("dhcp eth1: bound 10.0.3.15/24");
    guest.wait_shell();
    let mut checks = Checks::new("nic-takeover");
    let before = guest.run("ip route; cat /etc/resolv.conf");
    checks.check(
        before.contains("default via 10.0.2.2 dev eth0") && before.contains("nameserver 10.0.2.3"),
        || format!("at first the default route and DNS come from eth0:\n{before}"),
    );
    guest.monitor("device_del nic0");
    guest.expect("(qemu)");
    guest.leave_monitor();
    let removed = guest.try_expect("eth0: removed", Duration::from_secs(60));
    checks.check(removed.is_some(), || {
        "the console should say eth0 went away and its configuration is dropped".to_owned()
    });
    let took = guest.try_expect(
        "dhcp eth1: 10.0.3.15 via 10.0.3.2 now gives the default route, DNS and host name",
        Duration::from_secs(30),
    );
    checks.check(took.is_some(), || {
        "eth1's lease should take over".to_owned()
    });
    guest.wait_shell();
    let after = guest.run("ip route; cat /etc/resolv.conf; cat /etc/hosts; ls /run/qinit");
    checks.check(after.contains("default via 10.0.3.2 dev eth1"), || {
        format!("the default route should move to eth1:\n{after}")
    });
    checks.check(
        after.contains("nameserver 10.0.3.3") && !after.contains("nameserver 10.0.2.3"),
        || format!("resolv.conf should follow eth1's lease:\n{after}"),
    );
    checks.check(
        after.contains("10.0.3.15") && !after.contains("10.0.2.15"),
        || format!("/etc/hosts should name the machine by eth1's address:\n{after}"),
    );
    checks.check(!after.contains("eth0.lease"), || {
        format!("eth0's state file should go with it:\n{after}")
    });

    // A NIC added later that never gets a lease (its hub has no other port) has its
    // IPv6 held for the DHCP timeout only, not for good.
    guest.monitor("netdev_add hubport,id=dead,hubid=7");
    guest.expect("(qemu)");
    guest.send_line("device_add e1000,netdev=dead,id=nic2,mac=52:54:00:00:00:77");
    guest.expect("(qemu)");
    guest.leave_monitor();
    let added = guest.try_expect("DHCP started", Duration::from_secs(60));
    checks.check(added.is_some(), || {
        "the new NIC should get a DHCP client".to_owned()
    });
    // qinit.dhcp_timeout is 5 s; give the e1000 PHY wait and TCG some slack.
    std::thread::sleep(Duration::from_secs(12));
    guest.wait_shell();
    let v6 = guest.run(
        "for i in /sys/class/net/*; do grep -q 52:54:00:00:00:77 $i/address && echo ${i##*/}: $(cat /proc/sys/net/ipv6/conf/${i##*/}/disable_ipv6); done",
    );
    checks.check(v6.trim_end().ends_with(": 0"), || {
        format!("IPv6 on the NIC with no lease should be enabled again after the timeout:\n{v6}")
    });
    checks.finish();
}
