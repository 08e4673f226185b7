//! The guest keeps its lease through a renewal: dnsmasq with a 2-minute lease (its
//! shortest) in a network namespace this test creates, on a tap device qemu opens.
//! T1 is half the lease, so the renewal comes a minute after boot. Needs root.
#![allow(clippy::panic, reason = "test: a step that cannot run fails the test")]

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Checks, Guest, Net, Netns, TempDir};

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn the_guest_renews_its_lease_at_t1_and_keeps_its_address() {
    let images = common::images();
    common::require_root("a network namespace with a tap device");
    common::require_tools(&["dnsmasq"], "the short-lease DHCP server");
    let dir = TempDir::create("renew");
    let netns = Netns::create("renew");
    netns.exec(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    netns.exec(&["ip", "addr", "add", "10.55.0.1/24", "dev", "tap0"]);
    netns.exec(&["ip", "link", "set", "tap0", "up"]);
    let log = dir.path.join("dnsmasq.log");
    let mut dnsmasq = Command::new("ip")
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
        ])
        .arg("--dhcp-range=10.55.0.10,10.55.0.50,2m")
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
        "renew",
        &images,
        "",
        &Net::Tap {
            netns: netns.name.clone(),
            ifname: "tap0".to_owned(),
        },
    );
    guest.expect("qinit: dhcp eth0: bound 10.55.0.");
    guest.wait_shell();
    let log_now = guest.log();
    let bound = log_now
        .lines()
        .find(|l| l.contains("qinit: dhcp eth0: bound 10.55.0."))
        .unwrap_or_default()
        .to_owned();
    let address = bound
        .rsplit("bound ")
        .next()
        .and_then(|r| r.split('/').next())
        .unwrap_or_default()
        .to_owned();
    let mut checks = Checks::new("renew");
    checks.check(bound.contains("lease 120 s"), || {
        format!("a 2-minute lease:\n{bound}")
    });
    let renewed = guest.try_expect("qinit: dhcp eth0: renewed", Duration::from_secs(120));
    checks.check(renewed.is_some(), || {
        "no renewal within 2 minutes of the lease".to_owned()
    });
    let addr = guest.run("ip -4 addr show eth0");
    checks.check(addr.contains(&format!("inet {address}/24")), || {
        format!("eth0 should still hold {address}:\n{addr}")
    });
    let status = guest.run("qinit status");
    checks.check(status.contains("state: bound"), || {
        format!("qinit status:\n{status}")
    });
    let server_log = std::fs::read_to_string(&log).unwrap_or_default();
    // The renewal is a REQUEST for the same address, answered by an ACK.
    checks.check(server_log.matches("DHCPACK").count() >= 2, || {
        format!("dnsmasq should have ACKed the renewal:\n{server_log}")
    });
    drop(guest);
    let _ = dnsmasq.kill();
    let _ = dnsmasq.wait();
    checks.finish();
}
