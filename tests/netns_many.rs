//! Many clients at once: 200 `qinit dhcp` clients, each in a network namespace of its
//! own, on one bridge with one dnsmasq. All must be bound within 10 s, each on its own
//! address, and the server must see no retransmission storm (at most 2.5 packets from
//! each client).
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "integration tests: a step that fails fails the test"
)]

mod netns;

use netns::{CLIENT_IF, Netns, Pipe, Proc, SERVER_IF, Scratch, require, veth, wait_link_ready};
use std::collections::HashSet;
use std::process::Command;
use std::time::{Duration, Instant};

const QINIT: &str = env!("CARGO_BIN_EXE_qinit");
const CLIENTS: usize = 200;

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn two_hundred_clients_on_one_bridge_all_bind_at_once_without_a_storm() {
    require(true);
    let tag = std::process::id();
    let hub = Netns::add(format!("qm-{tag}-hub"));
    let bridge = ["type", "bridge", "stp_state", "0", "forward_delay", "0"];
    hub.ip(&[&["link", "add", "br0"][..], &bridge].concat());
    hub.ip(&["link", "set", "br0", "up"]);
    let server = Netns::add(format!("qm-{tag}-srv"));
    veth("hs0", &hub, SERVER_IF, &server);
    hub.ip(&["link", "set", "hs0", "master", "br0", "up"]);
    server.ip(&["addr", "add", "10.98.0.1/16", "dev", SERVER_IF]);
    server.ip(&["link", "set", SERVER_IF, "up"]);
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let ns = Netns::add(format!("qm-{tag}-c{i}"));
        let port = format!("hc{i}");
        veth(&port, &hub, CLIENT_IF, &ns);
        hub.ip(&["link", "set", &port, "master", "br0", "up"]);
        ns.ip(&["link", "set", CLIENT_IF, "up"]);
        clients.push(ns);
    }
    wait_link_ready(&server, SERVER_IF);
    for (i, ns) in clients.iter().enumerate() {
        wait_link_ready(ns, CLIENT_IF);
        wait_link_ready(&hub, &format!("hc{i}"));
    }

    let dir = Scratch::new("many");
    let mut cmd = server.command("dnsmasq");
    cmd.args([
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        &format!("--interface={SERVER_IF}"),
        "--bind-interfaces",
        "--dhcp-range=10.98.1.1,10.98.3.254,255.255.0.0,10m",
        &format!("--dhcp-leasefile={}", dir.join("leases").display()),
        "--dhcp-lease-max=1000",
        "--no-ping",
        "--log-facility=-",
    ]);
    let dnsmasq = Proc::spawn("dnsmasq", cmd);
    dnsmasq.wait_stderr("DHCP, sockets bound exclusively", Duration::from_secs(10));

    let start = Instant::now();
    let mut procs: Vec<Proc> = clients
        .iter()
        .map(|ns| {
            let mut c: Command = ns.command(QINIT);
            c.args(["dhcp", CLIENT_IF, "--once"]);
            Proc::spawn("qinit dhcp", c)
        })
        .collect();
    let spawned = start.elapsed();
    let mut addresses = HashSet::new();
    let mut slowest = Duration::ZERO;
    let mut slowest_log = String::new();
    for p in &mut procs {
        let left = Duration::from_secs(30).saturating_sub(start.elapsed());
        let status = p.wait_exit(left);
        assert!(
            status.success(),
            "a client failed: {status}\n{}",
            p.transcript()
        );
        if start.elapsed() > slowest {
            slowest = start.elapsed();
            slowest_log = p.transcript();
        }
        let address = p
            .stdout()
            .iter()
            .find_map(|l| l.strip_prefix("address ").map(str::to_owned))
            .unwrap_or_else(|| panic!("no address:\n{}", p.transcript()));
        assert!(addresses.insert(address.clone()), "{address} given twice");
    }
    let cpu = std::fs::read_to_string(format!("/proc/{}/stat", dnsmasq.pid()))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1.to_owned();
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(f.get(10)? + f.get(11)?)
        })
        .unwrap_or(0);

    let log = dnsmasq.lines(Pipe::Stderr);
    let received = log
        .iter()
        .filter(|l| l.contains("DHCPDISCOVER(") || l.contains("DHCPREQUEST("))
        .count();
    let discovers = log.iter().filter(|l| l.contains("DHCPDISCOVER(")).count();
    eprintln!(
        "{CLIENTS} clients started in {:.2} s and bound in {:.2} s; the server received {received} DISCOVER and REQUEST ({discovers} DISCOVER; {:.2} per client), using {:.2} s of CPU",
        spawned.as_secs_f64(),
        slowest.as_secs_f64(),
        received as f64 / CLIENTS as f64,
        cpu as f64 / 100.0
    );
    assert_eq!(addresses.len(), CLIENTS);
    assert!(
        slowest <= Duration::from_secs(10),
        "the last client bound after {:.2} s:\n{slowest_log}",
        slowest.as_secs_f64()
    );
    assert!(
        received as f64 <= 2.5 * CLIENTS as f64,
        "{received} packets for {CLIENTS} clients: a retransmission storm"
    );
}
