//! Wireless, end to end in one guest: `mac80211_hwsim radios=2` gives two simulated
//! radios. An `rdinit=` script (PID 1 before qinit) moves the second into a network
//! namespace of its own with `iw phy#1 set netns PID`, and runs the access point
//! there: hostapd and busybox udhcpd on 192.168.77.1/24. Then it execs qinit, which
//! joins on the first radio through its wpa_supplicant. The image is out/wifi
//! (`./build.sh test` or `./build.sh wifi-test-image`: WIFI=1 with hostapd and iw).
//! The files added go in directories the image has (an appended cpio cannot make one),
//! the access point's state in /root, which qinit mounts nothing over.
#![allow(clippy::panic, reason = "test: a step that cannot run fails the test")]

mod common;

use std::time::Duration;

use common::{Checks, Guest, Images, Net, TempDir};

const SSID: &str = "home net";
/// Spaces and quotes: the passphrase must reach wpa_supplicant whole.
const PASSPHRASE: &str = "it's a \"secret\" 4711";
const AP_ADDRESS: &str = "192.168.77.1";

/// The access point, in the network namespace of the process that runs this.
const AP_RUN: &str = r#"#!/bin/sh
echo $$ > /root/ap.pid
while ! ip link show wlan1 >/dev/null 2>&1; do sleep 0.1; done
ip link set lo up
ip addr add 192.168.77.1/24 dev wlan1
ip link set wlan1 up
hostapd -B -P /root/hostapd.pid /etc/hostapd.conf > /root/hostapd.log 2>&1
udhcpd /etc/udhcpd.conf
echo "ap: hostapd and udhcpd started on wlan1"
exec sleep 100000
"#;

/// Runs as PID 1 before qinit (which links /sbin/modprobe only as it starts).
const RDINIT: &str = r#"#!/bin/sh
ln -s /init /sbin/modprobe
/sbin/modprobe mac80211_hwsim radios=2
unshare -n /sbin/ap-run &
while [ ! -s /root/ap.pid ]; do sleep 0.1; done
# phy#1, not phy1: iw reads a phy's name from /sys, not mounted yet.
iw phy#1 set netns "$(cat /root/ap.pid)" && echo "ap: phy1 moved to pid $(cat /root/ap.pid)"
exec /init
"#;

const UDHCPD_CONF: &str = "start 192.168.77.100\nend 192.168.77.120\ninterface wlan1\n\
lease_file /root/udhcpd.leases\npidfile /root/udhcpd.pid\nmax_leases 10\n\
option subnet 255.255.255.0\noption lease 3600\n";

/// hostapd's configuration for `key_mgmt` ("WPA-PSK" or "SAE") and `passphrase`.
fn hostapd_conf(key_mgmt: &str, passphrase: &str) -> String {
    let pmf = if key_mgmt == "SAE" {
        "ieee80211w=2\n"
    } else {
        ""
    };
    format!(
        "interface=wlan1\ndriver=nl80211\nssid={SSID}\nhw_mode=g\nchannel=6\n\
         wpa=2\nwpa_key_mgmt={key_mgmt}\nrsn_pairwise=CCMP\nwpa_passphrase={passphrase}\n{pmf}"
    )
}

/// The wireless test image, next to the default one.
fn wifi_images() -> Images {
    let images = common::images();
    let dir = images
        .initrd
        .parent()
        .map(|p| p.join("wifi"))
        .unwrap_or_default();
    let wifi = Images {
        kernel: dir.join("vmlinuz"),
        initrd: dir.join("initrd"),
    };
    assert!(
        wifi.initrd.is_file(),
        "{} is missing: run ./build.sh wifi-test-image",
        wifi.initrd.display()
    );
    wifi
}

/// Boots the access point with `ap_conf` (and `ap_next` in /etc/hostapd-next.conf, for
/// `restart_ap`), and qinit with `qinit_conf` (mode 0600) and `psk` as the `wifi.psk`
/// credential.
fn boot(
    name: &str,
    dir: &TempDir,
    (ap_conf, ap_next): (&str, &str),
    qinit_conf: &str,
    psk: &str,
) -> Guest {
    boot_with_args(name, dir, (ap_conf, ap_next), qinit_conf, psk, "")
}

/// `boot`, with more words on the kernel command line.
fn boot_with_args(
    name: &str,
    dir: &TempDir,
    (ap_conf, ap_next): (&str, &str),
    qinit_conf: &str,
    psk: &str,
    args: &str,
) -> Guest {
    let images = wifi_images();
    let psk_file = dir.path.join("wifi.psk");
    std::fs::write(&psk_file, psk).unwrap_or_else(|e| panic!("writing {psk_file:?}: {e}"));
    let images = common::images_with_entries(
        &images,
        dir,
        &[
            ("sbin/ap-run", AP_RUN.as_bytes(), 0o755),
            ("sbin/ap-rdinit", RDINIT.as_bytes(), 0o755),
            ("etc/hostapd.conf", ap_conf.as_bytes(), 0o600),
            ("etc/hostapd-next.conf", ap_next.as_bytes(), 0o600),
            ("etc/udhcpd.conf", UDHCPD_CONF.as_bytes(), 0o644),
            ("etc/qinit.conf", qinit_conf.as_bytes(), 0o600),
        ],
    );
    let fw_cfg = format!(
        "name=opt/io.systemd.credentials/wifi.psk,file={}",
        psk_file.display()
    );
    Guest::boot_with(
        name,
        &images,
        &format!("rdinit=/sbin/ap-rdinit qinit.dhcp_timeout=60 {args}"),
        &Net::None,
        &["-nic", "none", "-fw_cfg", &fw_cfg],
    )
}

fn qinit_conf(key_mgmt: &str) -> String {
    format!("[wifi]\nssid = \"{SSID}\"\nkey_mgmt = \"{key_mgmt}\"\ncountry = \"DE\"\n")
}

/// Stops the access point's hostapd and, after `pause` seconds, starts it in the access
/// point's namespace with /etc/hostapd-next.conf.
fn restart_ap(guest: &mut Guest, pause: u32) {
    guest.run("kill $(cat /root/hostapd.pid); echo AP-STOPPED");
    guest.run(&format!(
        "sleep {pause}; nsenter -t $(cat /root/ap.pid) -n hostapd -B -P /root/hostapd.pid /etc/hostapd-next.conf > /root/hostapd-next.log 2>&1; echo AP-STARTED"
    ));
}

/// Waits up to `timeout` for the `n`th `needle` on the console since boot (a shell
/// command's wait may already have read past it).
fn wait_nth(guest: &mut Guest, needle: &str, n: usize, timeout: Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if guest.log().matches(needle).count() >= n {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The console line of a join, up to its signal.
const JOINED: &str = "wlan0: joined \"home net\" (";

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn wpa2_joins_gets_a_lease_and_pings_the_access_point() {
    let dir = TempDir::create("wifi-wpa2");
    let ap = hostapd_conf("WPA-PSK", PASSPHRASE);
    let mut guest = boot(
        "wifi-wpa2",
        &dir,
        (&ap, &ap),
        &qinit_conf("WPA-PSK"),
        PASSPHRASE,
    );
    guest.expect("ap: phy1 moved to pid");
    guest.expect_within(
        "wlan0: joining \"home net\" with wpa_supplicant",
        Duration::from_secs(60),
    );
    if guest.try_expect(JOINED, Duration::from_secs(90)).is_none() {
        guest.wait_shell();
        guest.run(
            "cat /root/hostapd.log; ps -o pid,ppid,args; ls -l /run/wpa_supplicant /run/qinit",
        );
        panic!("[wifi-wpa2] no {JOINED:?} on the console within 90 s");
    }
    guest.expect("WPA2, 2437 MHz, ");
    guest.expect_within("dhcp wlan0: bound 192.168.77.", Duration::from_secs(60));
    guest.wait_shell();
    let ping = guest.run(&format!("ping -c 1 -W 5 {AP_ADDRESS} && echo PING-OK"));
    let status = guest.run("qinit status");
    let ps = guest.run("ps -o pid,ppid,args");
    let argv = guest.run("tr '\\0' ' ' < /proc/$(pidof wpa_supplicant)/cmdline; echo");
    // The pattern comes from the credential's file: typed here, it would be on the console.
    let files = guest.run(
        "for f in $(grep -rlF -f /run/credentials/@system/wifi.psk /run /etc /tmp /proc/cmdline 2>/dev/null); do ls -l $f; done",
    );
    let log = guest.log();
    let mut checks = Checks::new("wifi-wpa2");
    checks.check(ping.contains("PING-OK"), || {
        format!("the access point should answer a ping: {ping}")
    });
    for want in [
        "ssid: \"home net\"",
        "state: joined",
        "bssid: 02:00:00:00:01:00",
        "frequency: 2437 MHz",
        "signal: ",
        "address: 192.168.77.",
    ] {
        checks.check(status.contains(want), || {
            format!("qinit status should show {want:?}: {status}")
        });
    }
    checks.check(
        ps.lines().any(|l| {
            l.contains("wpa_supplicant -i wlan0") && l.split_whitespace().nth(1) == Some("1")
        }),
        || format!("wpa_supplicant should run as PID 1's child: {ps}"),
    );
    checks.check(
        argv.contains("-c /run/qinit/wpa_supplicant-wlan0.conf") && !argv.contains("secret"),
        || format!("wpa_supplicant's arguments should name its file, not the passphrase: {argv}"),
    );
    checks.check(!log.contains("secret"), || {
        "the passphrase should appear nowhere on the console".to_owned()
    });
    // The access point's own file (/etc/hostapd.conf) is the test's, made 0600 too.
    let private = files
        .lines()
        .filter(|l| !l.trim().is_empty())
        .all(|l| l.starts_with("-rw-------") || l.starts_with("-r--------"));
    checks.check(
        private && files.contains("/run/qinit/wpa_supplicant-wlan0.conf"),
        || format!("only files root alone reads should hold the passphrase: {files}"),
    );
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn wpa3_sae_joins_gets_a_lease_and_pings_the_access_point() {
    let dir = TempDir::create("wifi-sae");
    let ap = hostapd_conf("SAE", PASSPHRASE);
    let mut guest = boot("wifi-sae", &dir, (&ap, &ap), &qinit_conf("SAE"), PASSPHRASE);
    guest.expect_within(
        "wlan0: joining \"home net\" with wpa_supplicant (SAE)",
        Duration::from_secs(60),
    );
    guest.expect_within(JOINED, Duration::from_secs(90));
    guest.expect("WPA3, 2437 MHz, ");
    guest.expect_within("dhcp wlan0: bound 192.168.77.", Duration::from_secs(60));
    guest.wait_shell();
    let ping = guest.run(&format!("ping -c 1 -W 5 {AP_ADDRESS} && echo PING-OK"));
    let status = guest.run("qinit status");
    let mut checks = Checks::new("wifi-sae");
    checks.check(ping.contains("PING-OK"), || {
        format!("the access point should answer a ping: {ping}")
    });
    checks.check(status.contains("security: WPA3"), || {
        format!("qinit status should say WPA3: {status}")
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn a_wrong_passphrase_is_said_and_the_join_follows_the_access_points_fix() {
    let dir = TempDir::create("wifi-wrong");
    let wrong = hostapd_conf("WPA-PSK", "not what qinit was given");
    let right = hostapd_conf("WPA-PSK", PASSPHRASE);
    let mut guest = boot(
        "wifi-wrong",
        &dir,
        (&wrong, &right),
        &qinit_conf("WPA-PSK"),
        PASSPHRASE,
    );
    guest.expect_within(
        "wlan0: authentication failed: wrong passphrase?",
        Duration::from_secs(120),
    );
    guest.wait_shell_within(Duration::from_secs(120));
    let alive = guest.run("pidof wpa_supplicant && echo SUPPLICANT-UP");
    // The access point takes the passphrase qinit has: qinit joins without a reboot.
    restart_ap(&mut guest, 1);
    let joined = wait_nth(&mut guest, JOINED, 1, Duration::from_secs(120));
    let bound = wait_nth(
        &mut guest,
        "dhcp wlan0: bound 192.168.77.",
        1,
        Duration::from_secs(60),
    );
    let ping = guest.run(&format!("ping -c 1 -W 5 {AP_ADDRESS} && echo PING-OK"));
    let log = guest.log();
    let mut checks = Checks::new("wifi-wrong");
    checks.check(alive.contains("SUPPLICANT-UP"), || {
        format!("wpa_supplicant should keep running after a wrong passphrase: {alive}")
    });
    checks.check(joined && bound, || {
        "after the access point's fix, qinit should join and get a lease".to_owned()
    });
    checks.check(ping.contains("PING-OK"), || {
        format!("the access point should answer a ping: {ping}")
    });
    checks.check(!log.contains("panicked"), || {
        "nothing should crash".to_owned()
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn the_access_point_restarting_and_wpa_supplicant_dying_are_survived() {
    let dir = TempDir::create("wifi-restart");
    let ap = hostapd_conf("WPA-PSK", PASSPHRASE);
    let mut guest = boot(
        "wifi-restart",
        &dir,
        (&ap, &ap),
        &qinit_conf("WPA-PSK"),
        PASSPHRASE,
    );
    guest.expect_within(JOINED, Duration::from_secs(120));
    guest.expect_within("dhcp wlan0: bound 192.168.77.", Duration::from_secs(60));
    guest.wait_shell();
    // The access point goes away for a while, then comes back.
    restart_ap(&mut guest, 3);
    let lost = guest.log().contains("wlan0: carrier lost");
    let left = guest.log().contains("wlan0: left \"home net\"");
    let rejoined = wait_nth(&mut guest, JOINED, 2, Duration::from_secs(120));
    let carrier = wait_nth(&mut guest, "wlan0: carrier up", 2, Duration::from_secs(30));
    let renewed = wait_nth(&mut guest, "dhcp wlan0: ", 2, Duration::from_secs(30));
    let ping = guest.run(&format!("ping -c 1 -W 5 {AP_ADDRESS} && echo PING-OK"));
    let status = guest.run("qinit status");
    // wpa_supplicant killed: PID 1 restarts it, and it joins again.
    guest.run("kill -9 $(pidof wpa_supplicant)");
    let restarted = wait_nth(
        &mut guest,
        "wlan0: wpa_supplicant exited (killed by SIGKILL), restarting in 1 s",
        1,
        Duration::from_secs(30),
    );
    let again = wait_nth(&mut guest, JOINED, 3, Duration::from_secs(120));
    let renewed_again = wait_nth(&mut guest, "dhcp wlan0: ", 3, Duration::from_secs(30));
    let ping_again = guest.run(&format!("ping -c 1 -W 5 {AP_ADDRESS} && echo PING-OK"));
    let ps = guest.run("ps -o pid,ppid,stat,args");
    let mut checks = Checks::new("wifi-restart");
    checks.check(lost && left, || {
        "the access point's going should say \"left\" and lose the carrier".to_owned()
    });
    checks.check(rejoined && carrier && renewed, || {
        "the access point's return should bring a join, the carrier and the lease".to_owned()
    });
    checks.check(ping.contains("PING-OK"), || {
        format!("the access point should answer a ping after its return: {ping}")
    });
    checks.check(
        status.contains("state: bound") && status.contains("state: joined"),
        || format!("qinit status should show the lease and the join: {status}"),
    );
    checks.check(restarted && again && renewed_again, || {
        "a killed wpa_supplicant should be restarted and join again, with the lease".to_owned()
    });
    checks.check(ping_again.contains("PING-OK"), || {
        format!("the access point should answer a ping after the restart: {ping_again}")
    });
    checks.check(common::zombies(&ps).is_empty(), || {
        format!("no zombies should be left: {ps}")
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn a_network_not_in_range_is_said_once_and_still_searched_for() {
    let dir = TempDir::create("wifi-missing");
    let ap = hostapd_conf("WPA-PSK", PASSPHRASE);
    // The command line's SSID wins over qinit.conf's.
    let mut guest = boot_with_args(
        "wifi-missing",
        &dir,
        (&ap, &ap),
        &qinit_conf("WPA-PSK"),
        PASSPHRASE,
        "qinit.wifi.ssid=elsewhere qinit.dhcp_timeout=5",
    );
    guest.expect_within(
        "wlan0: network \"elsewhere\" not found, retrying",
        Duration::from_secs(90),
    );
    guest.wait_shell_within(Duration::from_secs(90));
    // Scans go on every few seconds; the line is not repeated for each.
    std::thread::sleep(Duration::from_secs(20));
    let status = guest.run("qinit status");
    let alive = guest.run("pidof wpa_supplicant && echo SUPPLICANT-UP");
    let log = guest.log();
    let mut checks = Checks::new("wifi-missing");
    let said = log.matches("not found, retrying").count();
    checks.check(said == 1, || {
        format!("\"not found\" should be said once per search, not {said} times")
    });
    checks.check(!log.contains("joined"), || {
        "no network of that name is in range: nothing to join".to_owned()
    });
    checks.check(
        status.contains("ssid: \"elsewhere\"") && status.contains("state: searching"),
        || format!("qinit status should show the search: {status}"),
    );
    checks.check(alive.contains("SUPPLICANT-UP"), || {
        format!("wpa_supplicant should keep searching: {alive}")
    });
    checks.finish();
}
