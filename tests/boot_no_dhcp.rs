//! qinit booted on a network where no DHCP server answers: a tap device, up but silent,
//! in a network namespace this test creates. Needs root (for the namespace and the tap).

mod common;

use std::time::Duration;

use common::{Checks, Guest, Net, Netns};

/// Host time within which the shell must answer: boot under TCG plus the 3 s DHCP bound.
const SHELL_BOUND: Duration = Duration::from_secs(60);

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn without_a_dhcp_server_the_shell_starts_after_the_timeout_and_eth0_stays_unaddressed() {
    let images = common::images();
    common::require_root("a network namespace with a tap device");
    // Declared before the guest, so it is dropped after qemu is gone.
    let netns = Netns::create("nodhcp");
    netns.exec(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    netns.exec(&["ip", "link", "set", "tap0", "up"]);

    let mut guest = Guest::boot(
        "no-dhcp",
        &images,
        "qinit.dhcp_timeout=3",
        &Net::Tap {
            netns: netns.name.clone(),
            ifname: "tap0".to_owned(),
        },
    );
    let mut checks = Checks::new("no-dhcp");
    let before = guest.expect_within("DHCP goes on in the background", SHELL_BOUND);
    guest.note("gave up waiting for a lease");
    checks.check(before.contains("qinit: dhcp eth0: no lease after 3s"), || {
        let said: Vec<&str> = before.lines().filter(|l| l.contains("qinit:")).collect();
        format!(
            "the console should say it gave up after qinit.dhcp_timeout=3 seconds; it said:\n{}",
            said.join("\n")
        )
    });
    checks.check(before.contains("(no answer to "), || {
        "the console should say why there is no lease (no answer from any server)".to_string()
    });
    let left = SHELL_BOUND.saturating_sub(guest.elapsed());
    guest.wait_shell_within(left);

    let link = guest.run("ip link show eth0");
    checks.check(link.contains("eth0") && link.contains("UP"), || {
        format!("eth0 should exist and be up (DHCP goes on on it):\n{link}")
    });
    let addr = guest.run("ip -4 addr show eth0");
    checks.check(!addr.contains("inet "), || {
        format!("with no DHCP server eth0 should have no IPv4 address:\n{addr}")
    });
    let log = guest.log();
    checks.check(!log.contains("qinit: dhcp eth0: bound"), || {
        "nothing answers on tap0, yet the console reports a lease".to_owned()
    });
    guest.note("done");
    checks.finish();
}
