//! The host drives qinit without touching its kernel command line: credentials in
//! systemd's protocol (qemu fw_cfg entries and SMBIOS type 11 strings), systemd-stub's
//! extra command-line words, and sd_notify messages back to the host over vsock
//! (`vmm.notify_socket`), each checked on a real boot under TCG.
//!
//! This machine has no vhost-vsock, so the notify test listens inside the guest, over
//! vsock_loopback (CID 1). busybox has no vsock, so the listener is a tiny static program
//! of the test's own (tests/helpers/vsock_listen.rs, compiled here with rustc), started by
//! an `rdinit=` script that then execs /init: qinit is still PID 1, and the listener is
//! up before qinit starts, long before it sends READY=1 as the appliance starts.
#![allow(clippy::panic, reason = "test: a step that cannot run fails the test")]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Checks, Guest, Net, TempDir};

/// systemd's CREDENTIAL_SIZE_MAX.
const CREDENTIAL_SIZE_MAX: usize = 1024 * 1024;

/// What the notify cost may be when no one listens, on an unloaded machine. Two refused
/// connects cost 5-12 ms under TCG; a notify that waited for the host (a blocking
/// connect, a retry with a sleep) would cost seconds. The margin keeps the test from
/// failing on the first and makes it fail on the second.
const NOTIFY_BOUND_MS: f64 = 40.0;
/// When the kernel starts /init under TCG on an unloaded machine of this kind: the
/// yardstick for how much slower a loaded one runs the guest.
const PID1_UNLOADED_S: f64 = 1.8;

/// `-fw_cfg` for credential `name` with the contents of `file`.
fn fw_cfg(name: &str, file: &Path) -> String {
    format!(
        "name=opt/io.systemd.credentials/{name},file={}",
        file.display()
    )
}

/// Bytes of every value, NUL and newline included, in an order no text file has.
fn binary_blob(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            if i < 256 {
                u8::try_from(i).unwrap_or(0)
            } else {
                x.to_le_bytes()[0]
            }
        })
        .collect()
}

fn write(dir: &TempDir, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.path.join(name);
    std::fs::write(&path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// The host's sha256sum of `file`: the hex digest.
fn sha256(file: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("sha256sum: {e}"));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// "NAME at N s" among the marks of the boot summary line, in seconds.
fn stages_mark(summary: &str, name: &str) -> Option<f64> {
    let (_, marks) = summary.split_once("; ")?;
    marks
        .split(", ")
        .find_map(|m| m.trim().strip_prefix(name)?.strip_prefix(" at "))
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
}

fn lines_with<'a>(log: &'a str, needle: &str) -> Vec<&'a str> {
    log.lines().filter(|l| l.contains(needle)).collect()
}

/// busybox ip's flags, "<BROADCAST,MULTICAST,UP,...>", of `ip link show` output.
fn is_up(link: &str) -> bool {
    link.split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .is_some_and(|(f, _)| f.split(',').any(|x| x == "UP"))
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn fw_cfg_credentials_configure_the_machine_and_bad_ones_are_refused() {
    let images = common::images();
    let dir = TempDir::create("creds-fwcfg");
    // The image's own file: the credential takes its place whole, so none of it applies.
    let image_conf = "hostname = \"fromimage\"\ndns = [\"10.9.9.9\"]\n";
    let images = common::images_with_files(&images, &dir, &[("etc/qinit.conf", image_conf)]);
    let conf = write(
        &dir,
        "qinit.conf",
        b"# from the host\nhostname = \"fromfwcfg\"\nip = [\"10.0.2.50::10.0.2.2:255.255.255.0::eth0:off:10.0.2.3\"]\nsearch = [\"fromconf.test\"]\n",
    );
    let blob = write(&dir, "blob", &binary_blob(3000));
    let huge = write(&dir, "huge", &vec![b'x'; CREDENTIAL_SIZE_MAX + 1]);
    let small = write(&dir, "small", b"fine\n");
    let smbios_bytes: Vec<u8> = (0..=255u8).rev().chain([0, b'\n', 0]).collect();
    let qemu_args = [
        fw_cfg("qinit.conf", &conf),
        fw_cfg("blob", &blob),
        fw_cfg("huge", &huge),
        fw_cfg("bad:name", &small),
        format!(
            "type=11,value=io.systemd.credential.binary:fromsmbios={}",
            base64(&smbios_bytes)
        ),
        "type=11,value=io.systemd.credential.binary:badbase64=@@@".to_owned(),
        // No one listens on this port: the boot must not notice.
        "type=11,value=io.systemd.credential:vmm.notify_socket=vsock-stream:1:7777".to_owned(),
    ];
    let flags: Vec<&str> = qemu_args
        .iter()
        .flat_map(|a| {
            let flag = if a.starts_with("type=11") {
                "-smbios"
            } else {
                "-fw_cfg"
            };
            [flag, a.as_str()]
        })
        .collect();
    let mut guest = Guest::boot_with(
        "creds-fwcfg",
        &images,
        "qinit.search=fromcmdline.test qinit.modules=vsock_loopback qinit.debug",
        &Net::User {
            options: String::new(),
        },
        &flags,
    );
    guest.wait_shell();
    let mut checks = Checks::new("creds-fwcfg");

    // qinit.conf from fw_cfg: a static address and a host name, under the command line.
    let name = guest.run("hostname");
    checks.check(name.trim() == "fromfwcfg", || {
        format!("the host name should come from the fw_cfg qinit.conf: {name}")
    });
    let addr = guest.run("ip -4 addr show eth0");
    checks.check(addr.contains("inet 10.0.2.50/24"), || {
        format!("eth0 should have the credential's static 10.0.2.50/24:\n{addr}")
    });
    let ping = guest.run("ping -c 1 -W 5 10.0.2.2");
    checks.check(ping.contains(" 0% packet loss"), || {
        format!("ping 10.0.2.2 through the static address:\n{ping}")
    });
    let resolv = guest.run("cat /etc/resolv.conf");
    checks.check(
        resolv.contains("search fromcmdline.test") && !resolv.contains("fromconf.test"),
        || format!("the command line's qinit.search should win over the credential's:\n{resolv}"),
    );
    checks.check(
        resolv.contains("nameserver 10.0.2.3") && !resolv.contains("10.9.9.9"),
        || format!("the image's /etc/qinit.conf should not apply at all:\n{resolv}"),
    );

    // The directory and its files, as systemd makes them.
    let env = guest.run("echo CD=$CREDENTIALS_DIRECTORY");
    checks.check(env.contains("CD=/run/credentials/@system"), || {
        format!("the shell should have $CREDENTIALS_DIRECTORY: {env}")
    });
    let modes = guest.run("stat -c '%a %U %n' /run/credentials/@system /run/credentials/@system/*");
    checks.check(
        modes.contains("700 root /run/credentials/@system\n"),
        || format!("the directory should be 0700:\n{modes}"),
    );
    let files: Vec<&str> = modes.lines().skip(1).collect();
    let names: Vec<&str> = files.iter().filter_map(|l| l.rsplit('/').next()).collect();
    checks.check(
        names == ["blob", "fromsmbios", "qinit.conf", "vmm.notify_socket"],
        || format!("exactly the good credentials should be there:\n{modes}"),
    );
    checks.check(files.iter().all(|l| l.starts_with("400 root ")), || {
        format!("every credential file should be 0400:\n{modes}")
    });
    // Byte for byte.
    let sum = guest.run("sha256sum /run/credentials/@system/blob");
    let want = sha256(&blob);
    checks.check(!want.is_empty() && sum.starts_with(&want), || {
        format!("the binary fw_cfg credential should arrive intact: guest {sum}, host {want}")
    });
    let od = guest.run("od -An -v -tx1 /run/credentials/@system/fromsmbios | tr -d ' \\n'");
    let want: String = smbios_bytes.iter().map(|b| format!("{b:02x}")).collect();
    checks.check(od.trim() == want, || {
        format!(
            "the base64 SMBIOS credential should decode byte for byte:\nguest {od}\nwant  {want}"
        )
    });

    let log = guest.log();
    for (needle, what) in [
        (
            "credential 'huge' from fw_cfg refused: 1048577 bytes, more than the 1048576",
            "the oversized credential",
        ),
        (
            "credential 'bad:name' from fw_cfg refused: the name holds '/' or ':'",
            "the credential with a ':' in its name",
        ),
        (
            "credential 'badbase64' from SMBIOS refused: bad base64",
            "the credential that is not base64",
        ),
    ] {
        checks.check(lines_with(&log, needle).len() == 1, || {
            format!("{what} should be refused on one console line ({needle:?})")
        });
    }
    checks.check(!log.contains("dhcp eth0"), || {
        "no DHCP with the credential's static ip=".to_owned()
    });

    // No listener: each message is refused at once, and the boot never waits for it.
    // The first refusal is a console line; the same again only a debug line
    // (qinit.debug is on in this boot to show them).
    let failures = lines_with(&log, "notify vsock-stream:1:7777: ");
    let shown = failures
        .iter()
        .filter(|l| l.contains("logged only with qinit.debug"))
        .count();
    checks.check(shown == 1, || {
        format!("one refusal should be a console line, the rest debug lines:\n{failures:#?}")
    });
    checks.check(
        failures
            .iter()
            .any(|l| l.contains("READY=1 not sent: connect:")),
        || format!("READY=1 should be sent and refused:\n{failures:#?}"),
    );
    checks.check(!log.contains("nothing more will be sent"), || {
        format!("a refused connection is not a host that does not answer:\n{failures:#?}")
    });
    // What notify cost the boot, as its timeline measured it: "notify N ms" in the
    // summary line, the time its calls took up to the shell's start.
    let summary = lines_with(&log, "qinit: boot: ")
        .first()
        .copied()
        .unwrap_or_default();
    let stages = summary.split_once("; ").map_or(summary, |(s, _)| s);
    let cost = stages
        .split(", ")
        .find_map(|s| s.trim().strip_prefix("notify "))
        .and_then(|s| s.strip_suffix(" ms"))
        .and_then(|s| s.parse::<f64>().ok());
    // Under TCG everything the guest does, this too, takes longer when the host's cores
    // are shared (other guests of the suite): the bound grows with how late the kernel
    // (no part of qinit) reached /init.
    let pid1_at = stages_mark(summary, "pid1");
    let slowdown = pid1_at.map_or(1.0, |s| (s / PID1_UNLOADED_S).max(1.0));
    let bound = NOTIFY_BOUND_MS * slowdown;
    checks.check(cost.is_some_and(|ms| ms < bound), || {
        format!(
            "the boot summary should show notify < {bound:.1} ms ({NOTIFY_BOUND_MS} ms, the guest {slowdown:.1}x slower than unloaded):\n{summary}"
        )
    });
    guest.note(&format!(
        "notify without a listener: {} refusals, cost {cost:?} ms (bound {bound:.1} ms, pid1 at {pid1_at:?} s)",
        failures.len()
    ));
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn smbios_credentials_set_the_host_name_and_extra_words_turn_the_network_off() {
    let images = common::images();
    let mut guest = Guest::boot_with(
        "creds-smbios",
        &images,
        "",
        &Net::User {
            options: String::new(),
        },
        &[
            "-smbios",
            "type=11,value=io.systemd.credential:system.hostname=fromsmbios",
            "-smbios",
            "type=11,value=io.systemd.stub.kernel-cmdline-extra=ip=off",
            // The extra words win over a credential: this DHCP never runs.
            "-smbios",
            "type=11,value=io.systemd.credential:qinit.conf=ip = [\"dhcp\"]",
        ],
    );
    guest.wait_shell_within(Duration::from_secs(60));
    let mut checks = Checks::new("creds-smbios");
    let name = guest.run("hostname");
    checks.check(name.trim() == "fromsmbios", || {
        format!("the host name should come from SMBIOS: {name}")
    });
    let link = guest.run("ip link show eth0");
    checks.check(link.contains("eth0") && !is_up(&link), || {
        format!("ip=off from the extra words should leave eth0 down:\n{link}")
    });
    let log = guest.log();
    checks.check(!log.contains("dhcp eth0"), || {
        "no DHCP should run with ip=off from SMBIOS".to_owned()
    });
    checks.check(log.contains("eth0: left down"), || {
        "the console should say eth0 is left down".to_owned()
    });
    checks.check(
        log.contains("kernel command line extra from SMBIOS: ip=off"),
        || "the console should show the extra words it read".to_owned(),
    );
    checks.finish();
}

/// The listener, compiled for the guest: static, nothing but std and libc.
fn build_listener(dir: &TempDir) -> Vec<u8> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/helpers/vsock_listen.rs");
    let out = dir.path.join("vsock-listen");
    let status = Command::new("rustc")
        .args(["--edition", "2024", "-O", "-C", "strip=symbols"])
        .args(["-C", "target-feature=+crt-static"])
        .args(["--target", "x86_64-unknown-linux-gnu", "-o"])
        .arg(&out)
        .arg(&source)
        .status()
        .unwrap_or_else(|e| panic!("cannot run rustc: {e}"));
    assert!(status.success(), "rustc {} failed", source.display());
    std::fs::read(&out).unwrap_or_else(|e| panic!("reading {}: {e}", out.display()))
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn the_host_hears_ready_and_the_appliance_exit_status() {
    let images = common::images();
    let dir = TempDir::create("creds-notify");
    let listener = build_listener(&dir);
    // Runs as PID 1 before qinit: the listener first, then qinit in its place. The image
    // has no /sbin/modprobe until qinit links it, so the wrapper links it itself.
    let rdinit = b"#!/bin/sh\nln -s /init /sbin/modprobe\n/sbin/modprobe vsock_loopback\n/vsock-listen 5555\nexec /init\n";
    let images = common::images_with_entries(
        &images,
        &dir,
        &[
            ("vsock-listen", listener.as_slice(), 0o755),
            ("listen-then-init", rdinit.as_slice(), 0o755),
        ],
    );
    let mut guest = Guest::boot_with(
        "creds-notify",
        &images,
        "rdinit=/listen-then-init \"qinit.exec=/bin/sh -c 'echo CD=$CREDENTIALS_DIRECTORY; sleep 1; exit 3'\" qinit.on_exit=poweroff qinit.shutdown_timeout=1",
        &Net::User {
            options: String::new(),
        },
        &[
            "-smbios",
            "type=11,value=io.systemd.credential:vmm.notify_socket=vsock-stream:1:5555",
        ],
    );
    let status = guest.wait_exit(Duration::from_secs(120));
    let log = guest.log();
    let mut checks = Checks::new("creds-notify");
    checks.check(status.is_some(), || {
        "qemu should exit once the appliance's exit powers it off".to_owned()
    });
    let listening = log.find("vsock-listen: listening on port 5555");
    let pid1 = log.find("started as PID 1");
    checks.check(
        matches!((listening, pid1), (Some(l), Some(p)) if l < p),
        || "the listener should be up before qinit starts".to_owned(),
    );
    let got = lines_with(&log, "vsock-listen: got ");
    let position = |needle: &str| got.iter().position(|l| l.contains(needle));
    let ready = position("got READY=1|STATUS=Running /bin/sh -c echo CD=");
    let stopping = position("got STOPPING=1|STATUS=Stopping: power off|EXIT_STATUS=3");
    checks.check(ready.is_some(), || {
        format!("the host should hear READY=1 with the appliance's name:\n{got:#?}")
    });
    checks.check(stopping.is_some(), || {
        format!("the host should hear STOPPING=1 and EXIT_STATUS=3:\n{got:#?}")
    });
    checks.check(
        matches!((ready, stopping), (Some(r), Some(s)) if r < s),
        || format!("READY=1 should come before the exit status:\n{got:#?}"),
    );
    checks.check(
        position("got STATUS=Booting").is_some()
            && position("got STATUS=Network: configured by DHCP").is_some(),
        || format!("the boot's milestones should come as STATUS= lines:\n{got:#?}"),
    );
    checks.check(!log.contains("not sent"), || {
        format!(
            "every message should be delivered:\n{:#?}",
            lines_with(&log, "not sent")
        )
    });
    checks.check(log.contains("CD=/run/credentials/@system"), || {
        "the appliance should have $CREDENTIALS_DIRECTORY".to_owned()
    });
    checks.check(log.contains("exited (exit status 3)"), || {
        "the appliance's exit should be logged".to_owned()
    });
    checks.finish();
}
