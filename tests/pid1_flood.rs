//! PID 1 under a flood of DHCP replies: orphans are still reaped at once. The guest is on
//! a tap device in a network namespace this test creates, where no server answers, so
//! eth0's client stays in SELECTING with its packet socket open; bench/flood_send.py
//! broadcasts 50,000 replies a second that carry the client's own xid and MAC (so the
//! kernel's filter cannot drop them) and that PID 1 must each read and refuse. Meanwhile
//! the shell makes orphans, and times how long each stays a zombie.
//!
//! Under TCG the guest takes 6,000-8,000 of the 50,000 replies a second, and its own
//! kernel spends the vCPU on them: orphans then stay zombies 20-170 ms whether the
//! replies reach PID 1 (ours) or are dropped by the socket filter before PID 1 could see
//! them (another client's), against 0-20 ms with no flood. So the median is held to
//! the 100 ms goal, and every one to 500 ms: a PID 1 that let a flood starve its
//! reaping would keep zombies for as long as the flood lasts.
#![allow(clippy::panic, reason = "test: a step that cannot run fails the test")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Checks, Guest, Net, Netns};

/// The flood: replies a second, and how many (enough to outlast boot and measurement).
const RATE: u32 = 50_000;
const COUNT: u32 = 3_000_000;
/// How long orphans may stay zombies under the flood: the median, and the worst.
const MEDIAN_BOUND: Duration = Duration::from_millis(100);
const WORST_BOUND: Duration = Duration::from_millis(500);
const ORPHANS: usize = 10;

/// The flooder, inside `netns` on tap0, following the client's xid.
fn flooder(netns: &Netns) -> Child {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/flood_send.py");
    Command::new("ip")
        .args([
            "netns",
            "exec",
            &netns.name,
            "python3",
            script,
            "tap0",
            "10.79.0.1",
        ])
        .args([
            "0",
            &RATE.to_string(),
            &COUNT.to_string(),
            "ours",
            "--follow",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {script}: {e}"))
}

/// Makes `ORPHANS` orphans one after the other; for each, the guest's uptime just
/// before it exits and once /proc has no entry for it (it was reaped), then eth0's
/// received packets and the uptime before and after.
const MEASURE: &str = r#"read t0 _ </proc/uptime; rx0=$(cat /sys/class/net/eth0/statistics/rx_packets)
for i in $(seq ORPHANS); do
  rm -f /tmp/exit_at
  p=$(sh -c '(sleep 0.2; read u _ </proc/uptime; echo $u >/tmp/exit_at) </dev/null >/dev/null 2>&1 & echo $!')
  while [ -e /proc/$p ]; do :; done
  read v _ </proc/uptime; read u </tmp/exit_at; echo "orphan $p exited $u reaped $v"
done
read t1 _ </proc/uptime; rx1=$(cat /sys/class/net/eth0/statistics/rx_packets); echo "rx $rx0 $rx1 $t0 $t1"
for i in $(seq 30); do ls -i /run/qinit/eth0.lease; sleep 0.1; done | sort -u | wc -l | sed 's/^/state files /'"#;

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn orphans_are_reaped_within_100_ms_under_a_flood_of_replies() {
    let images = common::images();
    common::require_root("a network namespace with a tap device");
    common::require_tools(&["python3"], "the flooder, bench/flood_send.py");
    let netns = Netns::create("flood");
    netns.exec(&["ip", "tuntap", "add", "dev", "tap0", "mode", "tap"]);
    netns.exec(&["ip", "addr", "add", "10.79.0.1/24", "dev", "tap0"]);
    netns.exec(&["ip", "link", "set", "tap0", "up"]);
    // Waiting for the first DISCOVER, then flooding from it on.
    let mut flood = flooder(&netns);
    let mut guest = Guest::boot(
        "pid1-flood",
        &images,
        "qinit.dhcp_timeout=2",
        &Net::Tap {
            netns: netns.name.clone(),
            ifname: "tap0".to_owned(),
        },
    );
    let mut checks = Checks::new("pid1-flood");
    let stderr = flood.stderr.take().map(BufReader::new);
    let learned = stderr.and_then(|mut r| {
        let mut line = String::new();
        r.read_line(&mut line).ok().map(|_| line)
    });
    guest.note(&format!("flooder: {learned:?}"));
    guest.wait_shell_within(Duration::from_secs(120));
    let out = guest.run(&MEASURE.replace("ORPHANS", &ORPHANS.to_string()));
    let still_flooding = matches!(flood.try_wait(), Ok(None));
    let _ = flood.kill();
    let _ = flood.wait();

    checks.check(
        learned.as_deref().is_some_and(|l| l.contains("client xid")),
        || format!("the flooder should have seen eth0's DISCOVER: {learned:?}"),
    );
    checks.check(still_flooding, || {
        "the flood should have lasted until the measurement ended".to_owned()
    });
    let delays: Vec<f64> = out
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            match f.as_slice() {
                ["orphan", _, "exited", u, "reaped", v] => {
                    Some(v.parse::<f64>().ok()? - u.parse::<f64>().ok()?)
                }
                _ => None,
            }
        })
        .collect();
    checks.check(delays.len() == ORPHANS, || {
        format!("each of the {ORPHANS} orphans should have been timed:\n{out}")
    });
    // /proc/uptime counts in 10 ms steps.
    let mut sorted = delays.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted.get(sorted.len() / 2).copied().unwrap_or(f64::MAX);
    let worst = sorted.last().copied().unwrap_or(f64::MAX);
    checks.check(median <= MEDIAN_BOUND.as_secs_f64(), || {
        format!("orphans should be reaped within {MEDIAN_BOUND:?} (median) under the flood; took {delays:?}")
    });
    checks.check(worst <= WORST_BOUND.as_secs_f64(), || {
        format!("no orphan should stay a zombie {WORST_BOUND:?} under the flood; took {delays:?}")
    });
    let rx: Vec<f64> = out
        .lines()
        .find_map(|l| l.strip_prefix("rx "))
        .map(|l| {
            l.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let rate = match rx.as_slice() {
        [rx0, rx1, t0, t1] if t1 > t0 => (rx1 - rx0) / (t1 - t0),
        _ => 0.0,
    };
    guest.note(&format!(
        "eth0 took {rate:.0} replies/s during the measurement; zombie times {delays:?}"
    ));
    // Under TCG the guest cannot take all 50,000/s; it must at least be kept busy.
    checks.check(rate >= 2_000.0, || {
        format!("the guest should receive the flood (at least 2,000/s); got {rate:.0}/s:\n{out}")
    });
    // Each refused reply changes the reason there is no lease; the state file, written
    // by rename (a new inode each time), shows it at most once a second.
    let files: Option<u32> = out
        .lines()
        .find_map(|l| l.strip_prefix("state files "))
        .and_then(|n| n.trim().parse().ok());
    guest.note(&format!(
        "/run/qinit/eth0.lease had {files:?} inodes in 30 looks 0.1 s apart"
    ));
    checks.check(files.is_some_and(|n| (1..=6).contains(&n)), || {
        format!("/run/qinit/eth0.lease should be rewritten at most once a second under the flood; it had {files:?} inodes in about 3 s:\n{out}")
    });
    let log = guest.log();
    checks.check(!log.contains("qinit: dhcp eth0: bound"), || {
        "no reply of the flood is usable, yet the console reports a lease".to_owned()
    });
    checks.finish();
}
