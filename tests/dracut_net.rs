//! dracut's network keys end to end (issue 18): `ip=` with an MTU and a MAC address,
//! `nameserver=`, `rd.route=`, `rd.peerdns=`, `ifname=`, `vlan=`, `bond=` and `bridge=`,
//! each checked on a real boot under TCG on qemu's user network (the guest talks only to
//! 10.0.2.x) or on a qemu hub between the guest's own NICs; and `qinit config` run on
//! the host.
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

/// The VLAN links are made and configured (tagged traffic is in
/// `vlan_99_gets_its_lease_from_a_server_on_vlan_99`).
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

/// Two NICs, each on a qemu user network of its own with the same 10.0.2.0/24, so that
/// either one alone reaches 10.0.2.2.
fn two_user_nics() -> Vec<String> {
    let mut args = vec!["-device".to_owned(), "virtio-rng-pci".to_owned()];
    for n in 0..2 {
        args.extend([
            "-netdev".to_owned(),
            format!("user,id=n{n},restrict=off"),
            "-device".to_owned(),
            format!("virtio-net-pci,netdev=n{n},mac=52:54:00:00:00:0{n}"),
        ]);
    }
    args
}

/// `bond=` makes bond0 in active-backup over both NICs, which carry no address of their
/// own; bond0 gets the lease with the first slave's MAC address, and when qemu takes the
/// active NIC's link down the bond fails over to the other and pings still get through.
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn bond_of_two_nics_gets_a_lease_and_fails_over() {
    let images = common::images();
    let args = two_user_nics();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut guest = Guest::boot_with(
        "dracut-bond",
        &images,
        "bond=bond0:eth0,eth1:mode=active-backup,miimon=100,frobnicate=1:1400 ip=bond0:dhcp",
        &Net::None,
        &args,
    );
    guest.expect("dhcp bond0: bound 10.0.2.15/24");
    guest.wait_shell();
    let mut checks = Checks::new("dracut-bond");
    let slaves = guest.run("cat /sys/class/net/bond0/bonding/slaves");
    checks.check(slaves.contains("eth0 eth1"), || {
        format!("bond0 should have eth0 and eth1 as slaves:\n{slaves}")
    });
    let mode =
        guest.run("cat /sys/class/net/bond0/bonding/mode /sys/class/net/bond0/bonding/miimon");
    checks.check(
        mode.contains("active-backup 1") && mode.contains("100"),
        || format!("bond0 should be active-backup with miimon 100:\n{mode}"),
    );
    for nic in ["eth0", "eth1"] {
        let addr = guest.run(&format!("ip addr show {nic}"));
        checks.check(
            addr.contains("master bond0") && !addr.contains("inet"),
            || format!("{nic} should be bond0's slave without an address of its own:\n{addr}"),
        );
    }
    let addr = guest.run("ip addr show bond0");
    checks.check(
        addr.contains("inet 10.0.2.15/24")
            && addr.contains("link/ether 52:54:00:00:00:00")
            && addr.contains("mtu 1400 "),
        || format!("bond0 should hold the lease, with eth0's MAC and bond='s MTU 1400:\n{addr}"),
    );
    let ping = guest.run("ping -c 2 -W 5 10.0.2.2");
    checks.check(ping.contains(" 0% packet loss"), || {
        format!("ping 10.0.2.2 over bond0:\n{ping}")
    });
    let active = guest.run("cat /sys/class/net/bond0/bonding/active_slave");
    checks.check(active.contains("eth0"), || {
        format!("eth0 should be the active slave first:\n{active}")
    });
    guest.monitor("set_link n0 off");
    guest.leave_monitor();
    let failed_over = guest.wait_log(
        "bond0: (slave eth1): making interface the new active one",
        Duration::from_secs(30),
    );
    checks.check(failed_over, || {
        "the bond should make eth1 active once eth0's link is down".to_owned()
    });
    let active = guest.run("cat /sys/class/net/bond0/bonding/active_slave");
    checks.check(active.contains("eth1"), || {
        format!("eth1 should be the active slave after the failover:\n{active}")
    });
    let ping = guest.run("ping -c 3 -W 5 10.0.2.2");
    checks.check(
        !ping.contains(" 100% packet loss") && ping.contains("packets received"),
        || format!("ping 10.0.2.2 should go on through eth1:\n{ping}"),
    );
    let log = guest.log();
    checks.check(log.contains("unknown bonding option 'frobnicate'"), || {
        "an unknown bonding option should be named in one line".to_owned()
    });
    checks.finish();
}

/// `bridge=br0:eth0 ip=br0:dhcp`: eth0 becomes br0's port, without an address; br0 gets
/// the lease, and resolv.conf the `nameserver=` servers, an IPv6 one among them.
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn bridge_over_one_nic_gets_a_lease() {
    let images = common::images();
    let mut guest = Guest::boot(
        "dracut-bridge",
        &images,
        "bridge=br0:eth0 ip=br0:dhcp nameserver=10.0.2.3 nameserver=[2001:db8::53]",
        &Net::User {
            options: String::new(),
        },
    );
    guest.expect("dhcp br0: bound 10.0.2.15/24");
    guest.wait_shell();
    let mut checks = Checks::new("dracut-bridge");
    let port = guest.run("ip addr show eth0");
    checks.check(
        port.contains("master br0") && !port.contains("inet"),
        || format!("eth0 should be br0's port without an address of its own:\n{port}"),
    );
    let ports = guest.run("ls /sys/class/net/br0/brif");
    checks.check(ports.contains("eth0"), || {
        format!("br0 should list eth0 as its port:\n{ports}")
    });
    let addr = guest.run("ip -4 addr show br0");
    checks.check(addr.contains("inet 10.0.2.15/24"), || {
        format!("br0 should hold the lease:\n{addr}")
    });
    let ping = guest.run("ping -c 2 -W 5 10.0.2.2");
    checks.check(ping.contains(" 0% packet loss"), || {
        format!("ping 10.0.2.2 over br0:\n{ping}")
    });
    // nameserver= of both families: IPv4's first, then IPv6's.
    let resolv = guest.run("cat /etc/resolv.conf");
    let servers: Vec<&str> = resolv
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver "))
        .collect();
    checks.check(
        servers.first() == Some(&"10.0.2.3") && servers.get(1) == Some(&"2001:db8::53"),
        || format!("resolv.conf should list both nameserver= servers, IPv4 first:\n{resolv}"),
    );
    checks.finish();
}

/// Runs the built `qinit config` with a qinit.conf and a credentials directory of the
/// test's own; returns what it printed.
fn qinit_config(
    dir: &TempDir,
    conf: &str,
    hostname_credential: Option<&str>,
    cmdline: &str,
) -> String {
    let conf_path = dir.path.join("qinit.conf");
    let creds = dir.path.join("credentials");
    let _ = std::fs::remove_dir_all(&creds);
    std::fs::create_dir_all(&creds).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::write(&conf_path, conf).unwrap_or_else(|e| panic!("qinit.conf: {e}"));
    if let Some(name) = hostname_credential {
        std::fs::write(creds.join("system.hostname"), name)
            .unwrap_or_else(|e| panic!("credential: {e}"));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_qinit"))
        .arg("config")
        .arg("--conf")
        .arg(&conf_path)
        .arg("--credentials")
        .arg(&creds)
        .args(["--cmdline", cmdline])
        .output()
        .unwrap_or_else(|e| panic!("cannot run qinit config: {e}"));
    assert!(out.status.success(), "qinit config failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The line of `report` that starts (after its indent) with `start`, words joined by one
/// space.
fn report_line(report: &str, start: &str) -> String {
    report
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line '{start}' in:\n{report}"))
}

/// `qinit config --cmdline` on the host: it reads the given words (not /proc/cmdline),
/// changes nothing, and says for each value what it is and where it came from.
#[test]
fn qinit_config_shows_each_value_and_its_source() {
    let dir = TempDir::create("config-tool");
    let hostname_before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let conf = "dhcp_timeout = 9\nnameserver = [\"10.0.2.4\"]\nbridge = [\"br0:eth2\"]\n";
    let cmdline = "console=ttyS0 bond=bond0:eth0,eth1:mode=active-backup,miimon=100,frob=1 \
                   ip=bond0:dhcp ip=eth2:dhcp:1400 vlan=eth0.99:eth0 ifname=lan0:52:54:00:12:34:56 \
                   ip=lan0:dhcp::52:54:00:aa:bb:cc rd.route=10.9.0.0/16:10.0.2.2:lan0 \
                   nameserver=2001:db8::53 qinit.dhcp_timeout=2";
    let r = qinit_config(&dir, conf, Some("credhost"), cmdline);
    let mut checks = Checks::new("config-tool");
    for (start, want) in [
        (
            "host name",
            "host name credhost [credential system.hostname]",
        ),
        ("DHCP timeout", "DHCP timeout 2 s [kernel command line]"),
        ("PHY wait", "PHY wait 3 s [default]"),
        (
            "name servers",
            "name servers 10.0.2.4 2001:db8::53 [kernel command line + /etc/qinit.conf]",
        ),
        (
            "bond0 bond",
            "bond0 bond over eth0,eth1, mode=active-backup,miimon=100 [kernel command line]",
        ),
        ("br0 bridge", "br0 bridge over eth2 [/etc/qinit.conf]"),
        (
            "eth0.99 VLAN",
            "eth0.99 VLAN 99 on eth0 [kernel command line]",
        ),
        (
            "renamed from",
            "renamed from the link with MAC 52:54:00:12:34:56 [kernel command line]",
        ),
        ("MAC", "MAC 52:54:00:aa:bb:cc [kernel command line]"),
        (
            "route ",
            "route 10.9.0.0/16 via 10.0.2.2 dev lan0 [kernel command line]",
        ),
        (
            "other Ethernet links",
            "other Ethernet links: left down [kernel command line]",
        ),
    ] {
        let got = report_line(&r, start);
        checks.check(got == want, || {
            format!("want '{want}', got '{got}' in:\n{r}")
        });
    }
    checks.check(
        r.contains("member slave of bond0: no address, no DHCP")
            || r.contains("slave of bond0: no address, no DHCP"),
        || format!("eth0 and eth1 should be shown as bond0's slaves:\n{r}"),
    );
    checks.check(
        r.contains("  bond=bond0:eth0,eth1:mode=active-backup,miimon=100,frob=1: unknown bonding option 'frob'\n"),
        || format!("the unknown option should be named under errors:\n{r}"),
    );
    // eth2 is the bridge's port: its ip= does not configure it.
    let eth2 = r.split("  eth2:\n").nth(1).unwrap_or("");
    checks.check(
        eth2.trim_start().starts_with("member") && eth2.contains("port of br0"),
        || format!("eth2 should be br0's port:\n{r}"),
    );
    // Without ip=, every link runs DHCP by default; an MTU in ip=eth0:dhcp:1400.
    let r = qinit_config(&dir, "", None, "ip=eth0:dhcp:1400 qinit.hostname=box");
    for (start, want) in [
        ("host name", "host name box [kernel command line]"),
        ("configuration", "configuration DHCP [kernel command line]"),
        ("MTU", "MTU 1400 [kernel command line]"),
        ("devices to create", "devices to create:"),
    ] {
        let got = report_line(&r, start);
        checks.check(got == want, || {
            format!("want '{want}', got '{got}' in:\n{r}")
        });
    }
    let r = qinit_config(&dir, "", None, "quiet");
    let got = report_line(&r, "other Ethernet links");
    checks.check(got == "other Ethernet links: DHCP [default]", || {
        format!("no ip=: every link runs DHCP by default:\n{r}")
    });
    let hostname_after = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    checks.check(hostname_before == hostname_after, || {
        "qinit config must not change the host name".to_owned()
    });
    checks.finish();
}

/// Tagged traffic really flows: the guest's two NICs sit on one qemu hub; the second is
/// moved into a network namespace inside the guest, where busybox udhcpd answers on its
/// VLAN 99 only. `vlan=eth0.99:eth0 ip=eth0.99:dhcp` must get its lease from there, and
/// ping the server, over tagged frames.
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn vlan_99_gets_its_lease_from_a_server_on_vlan_99() {
    let images = common::images();
    let mut args: Vec<String> = vec!["-device".into(), "virtio-rng-pci".into()];
    for n in 0..2 {
        args.extend([
            "-netdev".to_owned(),
            format!("hubport,id=h{n},hubid=0"),
            "-device".to_owned(),
            format!("virtio-net-pci,netdev=h{n},mac=52:54:00:00:00:1{n}"),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut guest = Guest::boot_with(
        "dracut-vlan-traffic",
        &images,
        "vlan=eth0.99:eth0 ip=eth0.99:dhcp qinit.dhcp_timeout=1",
        &Net::None,
        &args,
    );
    guest.wait_shell();
    let mut checks = Checks::new("dracut-vlan-traffic");
    // eth1, left down by ip=, becomes the server's side in a namespace of its own.
    guest.run("unshare -n sleep 600 & echo $! > /tmp/ns.pid");
    let setup = guest.run(
        "P=$(cat /tmp/ns.pid); ip link set eth1 netns $P && \
         nsenter -t $P -n sh -c 'ip link set lo up; ip link set eth1 up; \
         ip link add link eth1 name eth1.99 type vlan id 99 && \
         ip addr add 10.99.0.1/24 dev eth1.99 && ip link set eth1.99 up && echo SETUP-OK'",
    );
    checks.check(setup.contains("SETUP-OK"), || {
        format!("the server's VLAN 99 in its namespace:\n{setup}")
    });
    guest.run(
        "printf 'start 10.99.0.10\\nend 10.99.0.20\\ninterface eth1.99\\nlease_file /tmp/udhcpd.leases\\noption subnet 255.255.255.0\\n' > /tmp/udhcpd.conf; \
         touch /tmp/udhcpd.leases; \
         nsenter -t $(cat /tmp/ns.pid) -n udhcpd -f /tmp/udhcpd.conf > /tmp/udhcpd.log 2>&1 &",
    );
    let bound = guest.wait_log("dhcp eth0.99: bound 10.99.0.", Duration::from_secs(120));
    checks.check(bound, || {
        "eth0.99 should get its lease from the server on VLAN 99".to_owned()
    });
    let addr = guest.run("ip -4 addr show eth0.99");
    checks.check(addr.contains("inet 10.99.0."), || {
        format!("eth0.99 should hold the lease:\n{addr}")
    });
    let parent = guest.run("ip -4 addr show eth0");
    checks.check(!parent.contains("inet "), || {
        format!("eth0 itself has no address (untagged, nothing answers):\n{parent}")
    });
    let ping = guest.run("ping -c 2 -W 5 10.99.0.1");
    checks.check(ping.contains(" 0% packet loss"), || {
        format!("ping the server over VLAN 99:\n{ping}")
    });
    let server = guest.run("cat /tmp/udhcpd.log");
    guest.note(&format!("udhcpd: {server}"));
    checks.finish();
}

/// A slave that appears after the boot (qemu's `device_add`) joins its bond like one
/// there at boot: enslaved, without an address or a DHCP client of its own. The bond is
/// bond1: the driver's own bond0 must not appear.
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn a_hot_added_slave_joins_its_bond() {
    let images = common::images();
    let args = [
        "-device",
        "virtio-rng-pci",
        "-netdev",
        "user,id=n0,restrict=off",
        "-device",
        "virtio-net-pci,netdev=n0,mac=52:54:00:00:00:00",
    ];
    let mut guest = Guest::boot_with(
        "dracut-bond-hotplug",
        &images,
        "bond=bond1:eth0,eth1:mode=active-backup,miimon=100 ip=bond1:dhcp",
        &Net::None,
        &args,
    );
    guest.expect("dhcp bond1: bound 10.0.2.15/24");
    guest.wait_shell();
    let mut checks = Checks::new("dracut-bond-hotplug");
    guest.monitor("netdev_add user,id=hot,restrict=off");
    guest.expect("(qemu)");
    guest.send_line("device_add virtio-net-pci,netdev=hot,id=hotnic,mac=52:54:00:00:00:09");
    guest.expect("(qemu)");
    guest.leave_monitor();
    let joined = guest.wait_log("eth1: slave of bond1 (bond=)", Duration::from_secs(60));
    checks.check(joined, || {
        "the hot-added eth1 should be enslaved to bond1".to_owned()
    });
    guest.wait_shell();
    let slaves = guest.run("cat /sys/class/net/bond1/bonding/slaves");
    checks.check(slaves.contains("eth0 eth1"), || {
        format!("bond1 should have both slaves:\n{slaves}")
    });
    let addr = guest.run("ip addr show eth1");
    checks.check(
        addr.contains("master bond1") && !addr.contains("inet"),
        || format!("eth1 should carry no address of its own:\n{addr}"),
    );
    let log = guest.log();
    checks.check(!log.contains("eth1: DHCP started"), || {
        "no DHCP client on a slave".to_owned()
    });
    // The bonding driver makes a bond0 of its own unless told not to (max_bonds=0).
    let links = guest.run("ls /sys/class/net");
    checks.check(!links.contains("bond0"), || {
        format!("no bond0 beside bond1:\n{links}")
    });
    checks.finish();
}

/// `bond` alone is dracut's default: bond0 over eth0 and eth1 in balance-rr. Both NICs
/// sit on one qemu hub with one user network behind it, so that frames sent round-robin
/// reach the same DHCP server.
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn bond_alone_is_bond0_over_eth0_and_eth1_in_balance_rr() {
    let images = common::images();
    let mut args: Vec<String> = vec![
        "-device".into(),
        "virtio-rng-pci".into(),
        "-netdev".into(),
        "user,id=u0,restrict=off".into(),
        "-netdev".into(),
        "hubport,id=up,hubid=0,netdev=u0".into(),
    ];
    for n in 0..2 {
        args.extend([
            "-netdev".to_owned(),
            format!("hubport,id=h{n},hubid=0"),
            "-device".to_owned(),
            format!("virtio-net-pci,netdev=h{n},mac=52:54:00:00:00:2{n}"),
        ]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut guest = Guest::boot_with("dracut-bond-default", &images, "bond", &Net::None, &args);
    guest.expect("dhcp bond0: bound 10.0.2.15/24");
    guest.wait_shell();
    let mut checks = Checks::new("dracut-bond-default");
    let slaves = guest.run("cat /sys/class/net/bond0/bonding/slaves");
    checks.check(slaves.contains("eth0 eth1"), || {
        format!("bond0 should have eth0 and eth1 as slaves:\n{slaves}")
    });
    let mode = guest.run("cat /sys/class/net/bond0/bonding/mode");
    checks.check(mode.contains("balance-rr 0"), || {
        format!("bond0 should be in balance-rr:\n{mode}")
    });
    let log = guest.log();
    checks.check(
        !log.contains("eth0: DHCP started") && !log.contains("eth1: DHCP started"),
        || "no DHCP client on a slave".to_owned(),
    );
    let ping = guest.run("ping -c 2 -W 5 10.0.2.2");
    checks.check(ping.contains(" 0% packet loss"), || {
        format!("ping 10.0.2.2 over bond0:\n{ping}")
    });
    checks.finish();
}
