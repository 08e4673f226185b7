//! `qinit dhcp` against real and scripted DHCP servers in network namespaces: each test
//! makes its own namespaces, a veth link (or a bridge) and a /24 of its own under
//! 10.99.0.0/16, runs the client in the client namespace, and reads its stdout, its
//! stderr, the interface and the files it wrote, the way a user would.
//!
//! Needs root, `ip` and `dnsmasq`: `#[ignore]`d, run by `./build.sh test`, and failed
//! (never skipped) when one is missing.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "integration tests: a step that fails fails the test"
)]

mod netns;

use dhcproto::v4::MessageType;
use netns::{
    Answer, Grant, Lan, Out, Pipe, Proc, Received, Scratch, Server, Via, dnsmasq, read, require,
    value,
};
use nix::sys::signal::Signal;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

const QINIT: &str = env!("CARGO_BIN_EXE_qinit");
/// A lease from a server on the link takes milliseconds; this bounds a lost first try
/// (retransmit after 1 s) and a loaded machine.
const LEASE_WAIT: Duration = Duration::from_secs(10);
const SHORT: Duration = Duration::from_secs(5);

/// Starts `qinit dhcp vc0 ARGS` in the client namespace. `QINIT_NETNS_DEBUG=1` adds
/// `--debug` (why each packet was dropped) for reading a failure; no test depends on it.
fn qinit_dhcp(lan: &Lan, args: &[&str]) -> Proc {
    let mut cmd = lan.client.command(QINIT);
    cmd.args(["dhcp", netns::CLIENT_IF]).args(args);
    if std::env::var("QINIT_NETNS_DEBUG").is_ok_and(|v| v == "1") {
        cmd.arg("--debug");
    }
    Proc::spawn("qinit dhcp", cmd)
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Asserts that `at` lies within [lo, hi] seconds after `since`.
fn assert_between(what: &str, since: Instant, at: Instant, lo: f64, hi: f64) {
    let d = secs(at.saturating_duration_since(since));
    assert!(
        (lo..=hi).contains(&d),
        "{what} came {d:.3} s after its reference, expected {lo}..{hi} s"
    );
}

// ---------------------------------------------------------------------------------------
// Against dnsmasq

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn once_takes_a_dnsmasq_lease_and_configures_address_route_and_files() {
    require(true);
    let lan = Lan::pair("lease", 1);
    // Here the client brings vc0 up itself and waits for carrier, as at boot.
    lan.unplug_client();
    let dir = Scratch::new("lease");
    let _dnsmasq = dnsmasq(&lan, &dir, &[]);
    let mut qinit = qinit_dhcp(&lan, &["--once", "--etc", dir.str()]);
    let status = qinit.wait_exit(LEASE_WAIT);
    assert!(status.success(), "{status}\n{}", qinit.transcript());

    let out = qinit.stdout();
    assert_eq!(value(&out, "interface").as_deref(), Some("vc0"), "{out:?}");
    let address = value(&out, "address").unwrap_or_else(|| panic!("no address in {out:?}"));
    let host: u8 = address
        .strip_prefix("10.99.1.")
        .and_then(|r| r.strip_suffix("/24"))
        .and_then(|h| h.parse().ok())
        .unwrap_or_else(|| panic!("address {address} is not 10.99.1.X/24"));
    assert!((10..=50).contains(&host), "{address} is outside the range");
    // The client sends its DISCOVER on the carrier event, not on a timer (its first
    // retransmit would come seconds later), and says how soon it went.
    let bound = qinit
        .stderr()
        .into_iter()
        .find(|l| l.contains("vc0: bound "))
        .unwrap_or_else(|| panic!("no bound line:\n{}", qinit.transcript()));
    let sent: f64 = bound
        .split("(first request sent ")
        .nth(1)
        .and_then(|r| r.split(" ms after it)").next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            panic!("the bound line should say when the first request left: {bound}")
        });
    assert!(
        sent < 500.0,
        "the DISCOVER should leave on the carrier event, not {sent} ms after it: {bound}"
    );
    for line in [
        "router 10.99.1.1",
        "dns 10.99.1.1",
        "server 10.99.1.1",
        "lease 120 s",
    ] {
        assert!(out.iter().any(|l| l == line), "no '{line}' in {out:?}");
    }

    assert_eq!(lan.client_addresses(), vec![address.clone()]);
    let routes = lan.client_default_routes();
    assert!(
        routes
            .iter()
            .any(|r| r.starts_with("default via 10.99.1.1 dev vc0")),
        "{routes:?}"
    );
    let resolv = read(&dir.join("resolv.conf"));
    assert!(
        resolv.lines().any(|l| l == "nameserver 10.99.1.1"),
        "{resolv}"
    );
    let ip = address.trim_end_matches("/24");
    let hosts = read(&dir.join("hosts"));
    assert!(
        hosts.lines().any(|l| l.starts_with(&format!("{ip}\t"))),
        "{hosts}"
    );
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn sigterm_with_release_sends_dhcprelease_to_dnsmasq_and_removes_the_address() {
    require(true);
    let lan = Lan::pair("rel", 2);
    let dir = Scratch::new("rel");
    let dnsmasq = dnsmasq(&lan, &dir, &[]);
    let mut qinit = qinit_dhcp(&lan, &["--release"]);
    qinit.wait_stderr("bound 10.99.2.", LEASE_WAIT);
    let (_, line) = qinit.wait_stdout("address ", SHORT);
    let address = line.trim_start_matches("address ").to_owned();
    let ip = address.trim_end_matches("/24").to_owned();
    assert_eq!(lan.client_addresses(), vec![address.clone()]);
    // `ip netns exec` execs: the pid we hold is qinit's, so the signal reaches it.
    assert_eq!(
        qinit.exe().canonicalize().unwrap(),
        Path::new(QINIT).canonicalize().unwrap(),
        "pid {} is not qinit",
        qinit.pid()
    );
    assert!(qinit.exited().is_none(), "{}", qinit.transcript());

    qinit.signal(Signal::SIGTERM);
    let status = qinit.wait_exit(SHORT);
    assert!(status.success(), "{status}\n{}", qinit.transcript());
    let err = qinit.stderr().join("\n");
    assert!(
        err.contains(&format!("releasing {ip} to 10.99.2.1")),
        "{err}"
    );
    assert!(
        err.contains(&format!("lease on {ip} ended; address removed")),
        "{err}"
    );
    dnsmasq.wait_stderr(&format!("DHCPRELEASE(vs0) {ip} "), SHORT);
    assert_eq!(lan.client_addresses(), Vec::<String>::new());
    assert_eq!(lan.client_default_routes(), Vec::<String>::new());
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn rapid_commit_binds_from_discover_and_ack_without_a_request() {
    require(true);
    let lan = Lan::pair("rapid", 3);
    let dir = Scratch::new("rapid");
    let dnsmasq = dnsmasq(&lan, &dir, &["--dhcp-rapid-commit"]);
    let mut qinit = qinit_dhcp(&lan, &["--once", "--rapid-commit"]);
    let status = qinit.wait_exit(LEASE_WAIT);
    assert!(status.success(), "{status}\n{}", qinit.transcript());
    let out = qinit.stdout();
    let address = value(&out, "address").unwrap_or_else(|| panic!("no address in {out:?}"));
    assert!(address.starts_with("10.99.3."), "{address}");
    assert_eq!(lan.client_addresses(), vec![address.clone()]);

    let ip = address.trim_end_matches("/24");
    dnsmasq.wait_stderr(&format!("DHCPACK(vs0) {ip} "), SHORT);
    let log = dnsmasq.stderr();
    let exchange: Vec<&String> = log
        .iter()
        .filter(|l| l.contains("DHCP") && l.contains("(vs0)"))
        .collect();
    assert!(
        exchange.iter().any(|l| l.contains("DHCPDISCOVER(vs0)")),
        "{exchange:#?}"
    );
    assert!(
        !exchange
            .iter()
            .any(|l| l.contains("DHCPREQUEST") || l.contains("DHCPOFFER")),
        "rapid commit should need no OFFER and no REQUEST: {exchange:#?}"
    );
}

// ---------------------------------------------------------------------------------------
// Against the scripted server

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn rapid_commit_ack_binds_only_when_asked_for_and_marked() {
    require(false);
    let lan = Lan::pair("rcack", 10);
    let server_ip = lan.server_ip(0);
    let offered = Grant::new(server_ip, Ipv4Addr::new(10, 99, 10, 70), 60);
    let marked = Grant::new(server_ip, Ipv4Addr::new(10, 99, 10, 77), 60);
    let unmarked = Grant::new(server_ip, Ipv4Addr::new(10, 99, 10, 78), 60);
    let later = Duration::from_millis(150);
    // To a DISCOVER asking for rapid commit: an ACK without option 80, then one with it.
    // To one not asking: an ACK with option 80, then an ordinary OFFER.
    let server = Server::start(&lan.servers[0], server_ip, move |r| match r.kind {
        Some(MessageType::Discover) if r.rapid_commit => vec![
            unmarked.ack(r).now(),
            marked.ack(r).option(80, []).after(later),
        ],
        Some(MessageType::Discover) => vec![
            marked.ack(r).option(80, []).now(),
            offered.offer(r).after(later),
        ],
        _ => offered.answers(r),
    });

    let mut plain = qinit_dhcp(&lan, &["--once"]);
    let status = plain.wait_exit(LEASE_WAIT);
    assert!(status.success(), "{status}\n{}", plain.transcript());
    assert_eq!(
        value(&plain.stdout(), "address").as_deref(),
        Some("10.99.10.70/24"),
        "an ACK to a DISCOVER that did not ask for rapid commit is ignored\n{}",
        plain.transcript()
    );
    let log = server.received();
    assert!(
        log.iter().all(|r| !r.rapid_commit),
        "rapid commit asked without --rapid-commit: {}",
        netns::describe(&log)
    );
    assert_eq!(lan.client_addresses(), vec!["10.99.10.70/24".to_owned()]);

    lan.flush_client();
    let before = server.received().len();
    let mut rapid = qinit_dhcp(&lan, &["--once", "--rapid-commit"]);
    let status = rapid.wait_exit(LEASE_WAIT);
    assert!(status.success(), "{status}\n{}", rapid.transcript());
    assert_eq!(
        value(&rapid.stdout(), "address").as_deref(),
        Some("10.99.10.77/24"),
        "only the ACK with option 80 binds\n{}",
        rapid.transcript()
    );
    assert_eq!(lan.client_addresses(), vec!["10.99.10.77/24".to_owned()]);
    let log = server.received();
    let exchange = &log[before..];
    assert!(
        !exchange.is_empty()
            && exchange
                .iter()
                .all(|r| r.is(MessageType::Discover) && r.rapid_commit),
        "DISCOVER with option 80 and no REQUEST: {}",
        netns::describe(exchange)
    );
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn renews_at_t1_rebinds_at_t2_and_drops_the_address_at_expiry() {
    require(false);
    let lan = Lan::pair("timers", 4);
    let server_ip = lan.server_ip(0);
    let address = Ipv4Addr::new(10, 99, 4, 20);
    let grant = Grant {
        t1: Some(2),
        t2: Some(4),
        ..Grant::new(server_ip, address, 6)
    };
    let server = Server::start(&lan.servers[0], server_ip, move |r| grant.answers(r));
    let qinit = qinit_dhcp(&lan, &[]);
    // Each reference time is when the client's log line was read: the moment it applied
    // the ACK, to a few milliseconds.
    let (bound, _) = qinit.wait_stderr("bound 10.99.4.20/24", LEASE_WAIT);
    let renewal = |r: &Received| r.is(MessageType::Request) && r.ciaddr == address;

    // T1: a unicast REQUEST with ciaddr, answered.
    let renew = server.wait_nth("renewal REQUEST", 1, SHORT, renewal);
    assert_eq!(renew.via, Via::Unicast, "{renew:?}");
    assert_eq!(
        (renew.requested, renew.server_id),
        (None, None),
        "{renew:?}"
    );
    assert_between("the renewal", bound, renew.at, 1.7, 3.0);
    let (renewed, _) = qinit.wait_stderr("renewed 10.99.4.20/24", SHORT);
    assert_eq!(lan.client_addresses(), vec!["10.99.4.20/24".to_owned()]);

    // The server now ignores unicast: the next T1 goes unanswered, T2 rebinds by
    // broadcast, and that is answered.
    server.set_script(move |r| match r.via {
        Via::Broadcast => grant.answers(r),
        Via::Unicast => Vec::new(),
    });
    let unanswered = server.wait_nth("renewal REQUEST", 2, SHORT, renewal);
    assert_eq!(unanswered.via, Via::Unicast, "{unanswered:?}");
    assert_between("the second renewal", renewed, unanswered.at, 1.7, 3.0);
    let rebind = server.wait_nth("rebinding REQUEST", 3, SHORT, renewal);
    assert_eq!(rebind.via, Via::Broadcast, "{rebind:?}");
    assert_eq!(rebind.ciaddr, address);
    assert_between("the rebinding", renewed, rebind.at, 3.7, 5.0);
    let (rebound, _) = qinit.wait_nth(Pipe::Stderr, "renewed 10.99.4.20/24", 2, SHORT);

    // The server goes silent: renewal and rebinding fail, and at expiry the address goes
    // and the client discovers again.
    server.set_script(|_| Vec::new());
    let (ended, _) = qinit.wait_stderr(
        "lease on 10.99.4.20 ended; address removed",
        Duration::from_secs(10),
    );
    assert_between("expiry", rebound, ended, 5.5, 7.5);
    assert_eq!(lan.client_addresses(), Vec::<String>::new());
    assert_eq!(lan.client_default_routes(), Vec::<String>::new());
    let after = server.wait_for("a DISCOVER after expiry", SHORT, |log| {
        log.iter()
            .find(|r| r.is(MessageType::Discover) && r.at > rebind.at)
            .cloned()
    });
    assert_eq!(after.ciaddr, Ipv4Addr::UNSPECIFIED);
    let log = server.received();
    let between: Vec<&Received> = log
        .iter()
        .filter(|r| r.at > rebind.at && r.at < after.at)
        .collect();
    assert!(
        between.iter().all(|r| renewal(r)),
        "only renewals between rebinding and expiry: {}",
        netns::describe(&log)
    );
    assert!(
        between.iter().any(|r| r.via == Via::Unicast)
            && between.iter().any(|r| r.via == Via::Broadcast),
        "a unicast renewal and a broadcast rebinding before expiry: {}",
        netns::describe(&log)
    );
    assert_eq!(
        qinit.count(Pipe::Stderr, "bound "),
        1,
        "{}",
        qinit.transcript()
    );
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn carrier_return_verifies_the_held_address_and_a_nak_replaces_it() {
    require(false);
    let lan = Lan::pair("reboot", 11);
    let server_ip = lan.server_ip(0);
    let old = Grant::new(server_ip, Ipv4Addr::new(10, 99, 11, 20), 60);
    let new = Grant::new(server_ip, Ipv4Addr::new(10, 99, 11, 21), 60);
    let server = Server::start(&lan.servers[0], server_ip, move |r| old.answers(r));
    let qinit = qinit_dhcp(&lan, &[]);
    qinit.wait_stderr("bound 10.99.11.20/24", LEASE_WAIT);

    // The far end goes down: the client loses carrier and keeps its lease meanwhile.
    lan.servers[0].ip(&["link", "set", netns::SERVER_IF, "down"]);
    qinit.wait_stderr("vc0: carrier lost", SHORT);
    assert_eq!(lan.client_addresses(), vec!["10.99.11.20/24".to_owned()]);

    // On its return the client asks for the held address (INIT-REBOOT); this server
    // NAKs that and hands out another one.
    server.set_script(move |r| {
        if r.is(MessageType::Request) && r.requested == Some(old.address) {
            vec![new.nak(r).now()]
        } else {
            new.answers(r)
        }
    });
    let before = server.received().len();
    lan.servers[0].ip(&["link", "set", netns::SERVER_IF, "up"]);
    let reboot = server.wait_for("an INIT-REBOOT REQUEST", SHORT, |log| {
        log.get(before..)?.first().cloned()
    });
    assert!(reboot.is(MessageType::Request), "{reboot:?}");
    assert_eq!(reboot.requested, Some(old.address), "{reboot:?}");
    assert_eq!(reboot.server_id, None, "{reboot:?}");
    assert_eq!(reboot.ciaddr, Ipv4Addr::UNSPECIFIED, "{reboot:?}");
    assert_eq!(reboot.via, Via::Broadcast, "{reboot:?}");
    qinit.wait_stderr("lease on 10.99.11.20 ended; address removed", SHORT);
    qinit.wait_stderr("bound 10.99.11.21/24", LEASE_WAIT);
    assert_eq!(lan.client_addresses(), vec!["10.99.11.21/24".to_owned()]);
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn nak_backs_off_then_discovers_and_binds() {
    require(false);
    let lan = Lan::pair("nak", 5);
    let server_ip = lan.server_ip(0);
    let grant = Grant::new(server_ip, Ipv4Addr::new(10, 99, 5, 30), 60);
    let mut naked = false;
    let server = Server::start(&lan.servers[0], server_ip, move |r| {
        if r.is(MessageType::Request) && !naked {
            naked = true;
            return vec![grant.nak(r).now()];
        }
        grant.answers(r)
    });
    let mut qinit = qinit_dhcp(&lan, &["--once"]);
    let status = qinit.wait_exit(LEASE_WAIT);
    assert!(status.success(), "{status}\n{}", qinit.transcript());
    assert_eq!(
        value(&qinit.stdout(), "address").as_deref(),
        Some("10.99.5.30/24")
    );
    assert_eq!(lan.client_addresses(), vec!["10.99.5.30/24".to_owned()]);

    // DISCOVER (retransmitted if a reply was lost), the REQUEST that got the NAK; then,
    // after the back-off, a new exchange: DISCOVER(s) and the REQUEST that got the ACK.
    let log = server.received();
    let why = netns::describe(&log);
    let nak = log
        .iter()
        .position(|r| r.is(MessageType::Request))
        .unwrap_or_else(|| panic!("no REQUEST: {why}"));
    let (first, second) = log.split_at(nak + 1);
    assert!(first.iter().all(|r| r.xid == log[nak].xid), "{why}");
    let (last, rediscover) = second
        .split_last()
        .unwrap_or_else(|| panic!("nothing after the NAK: {why}"));
    assert!(last.is(MessageType::Request), "{why}");
    assert!(
        !rediscover.is_empty() && rediscover.iter().all(|r| r.is(MessageType::Discover)),
        "{why}"
    );
    assert!(
        second
            .iter()
            .all(|r| r.xid == second[0].xid && r.xid != log[nak].xid),
        "a new exchange after the NAK: {why}"
    );
    assert_between(
        "DISCOVER after the NAK",
        log[nak].at,
        second[0].at,
        0.9,
        2.5,
    );
    assert_eq!(
        qinit.count(Pipe::Stderr, "bound "),
        1,
        "{}",
        qinit.transcript()
    );
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn binds_to_the_chosen_server_and_ignores_the_others_ack_and_nak() {
    require(false);
    let lan = Lan::bridged("two", 6, 2);
    let (a_ip, b_ip) = (lan.server_ip(0), lan.server_ip(1));
    let a = Grant::new(a_ip, Ipv4Addr::new(10, 99, 6, 101), 60);
    let b = Grant::new(b_ip, Ipv4Addr::new(10, 99, 6, 102), 60);
    // A offers first and acknowledges late; B offers late and answers every REQUEST at
    // once with an ACK for its own address and a NAK, both with the client's xid.
    let server_a = Server::start(&lan.servers[0], a_ip, move |r| match r.kind {
        Some(MessageType::Request) => a
            .answers(r)
            .into_iter()
            .map(|o| Out {
                delay: Duration::from_millis(300),
                ..o
            })
            .collect(),
        _ => a.answers(r),
    });
    let server_b = Server::start(&lan.servers[1], b_ip, move |r| match r.kind {
        Some(MessageType::Discover) => vec![b.offer(r).after(Duration::from_millis(150))],
        Some(MessageType::Request) => {
            vec![b.ack(r).now(), b.nak(r).now()]
        }
        _ => Vec::new(),
    });
    let mut qinit = qinit_dhcp(&lan, &["--once"]);
    let status = qinit.wait_exit(LEASE_WAIT);
    assert!(status.success(), "{status}\n{}", qinit.transcript());
    let out = qinit.stdout();
    assert_eq!(
        value(&out, "address").as_deref(),
        Some("10.99.6.101/24"),
        "{out:?}"
    );
    assert_eq!(
        value(&out, "server").as_deref(),
        Some("10.99.6.1"),
        "{out:?}"
    );
    assert_eq!(lan.client_addresses(), vec!["10.99.6.101/24".to_owned()]);

    let log_a = server_a.received();
    let requests: Vec<&Received> = log_a
        .iter()
        .filter(|r| r.is(MessageType::Request))
        .collect();
    assert_eq!(requests.len(), 1, "{}", netns::describe(&log_a));
    assert_eq!(requests[0].server_id, Some(a_ip), "{:?}", requests[0]);
    assert_eq!(requests[0].requested, Some(Ipv4Addr::new(10, 99, 6, 101)));
    assert_eq!(
        log_a.iter().filter(|r| r.is(MessageType::Discover)).count(),
        1,
        "no new DISCOVER (B's NAK was ignored): {}",
        netns::describe(&log_a)
    );
    // B did see the REQUEST and answered it before A did.
    let log_b = server_b.received();
    assert!(
        log_b
            .iter()
            .any(|r| r.is(MessageType::Request) && r.xid == requests[0].xid),
        "{}",
        netns::describe(&log_b)
    );
}

/// Replies a client must drop, each built from a valid `base` reply to the same message.
fn hostile_batch(base: &Answer) -> Vec<Out> {
    let mut out = Vec::new();
    let variant = |f: &dyn Fn(&mut Answer)| {
        let mut a = base.clone();
        f(&mut a);
        a.now()
    };
    out.push(variant(&|a| a.xid = a.xid.wrapping_add(1)));
    out.push(variant(&|a| a.chaddr[5] ^= 0xff));
    out.push(variant(&|a| a.hlen = 255));
    out.push(variant(&|a| a.hlen = 16));
    out.push(variant(&|a| a.op = 1));
    out.push(variant(&|a| a.yiaddr = Ipv4Addr::BROADCAST));
    out.push(variant(&|a| a.options.retain(|(c, _)| *c != 54)));
    let bytes = base.encode();
    out.push(Out::raw(bytes[..100].to_vec()));
    out.push(Out::raw(bytes[..236].to_vec()));
    // The server id (54) claims 200 bytes and runs past the end of the datagram: the
    // option is lost, and the reply with it (a good option cut short would cost only
    // itself, so it must be the required one).
    let mut overrun = bytes[..240].to_vec();
    overrun.extend_from_slice(&[53, 1, base.options[0].1[0], 54, 200]);
    overrun.extend_from_slice(&base.options[1].1);
    out.push(Out::raw(overrun));
    out.push(Out::raw(Vec::new()));
    out.push(Out::raw(vec![0xff; 1400]));
    out
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn hostile_replies_are_survived_and_the_valid_one_binds() {
    require(false);
    let lan = Lan::pair("junk", 7);
    let server_ip = lan.server_ip(0);
    let good = Grant::new(server_ip, Ipv4Addr::new(10, 99, 7, 40), 60);
    let decoy = Grant::new(server_ip, Ipv4Addr::new(10, 99, 7, 66), 60);
    let mut discovers = 0;
    let server = Server::start(&lan.servers[0], server_ip, move |r| match r.kind {
        // The first DISCOVER gets only junk; the next one junk, then a valid offer.
        Some(MessageType::Discover) => {
            discovers += 1;
            let mut out = hostile_batch(&decoy.offer(r));
            if discovers > 1 {
                out.push(good.offer(r).now());
            }
            out
        }
        // The ACK's lease time has 2 bytes; the options after it must still count.
        Some(MessageType::Request) => {
            let mut out = hostile_batch(&decoy.ack(r));
            out.push(good.ack(r).set(51, [0, 60]).now());
            out
        }
        _ => Vec::new(),
    });
    let mut qinit = qinit_dhcp(&lan, &[]);
    // The first batch is answered at once; the retransmitted DISCOVER 1 s later shows
    // the client lived through it.
    let deadline = Instant::now() + SHORT;
    while server
        .received()
        .iter()
        .filter(|r| r.is(MessageType::Discover))
        .count()
        < 2
    {
        if let Some(status) = qinit.exited() {
            panic!(
                "the client died on the first batch: {status}\n{}",
                qinit.transcript()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no second DISCOVER: {}\n{}",
            netns::describe(&server.received()),
            qinit.transcript()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    qinit.wait_stderr("bound 10.99.7.40/24", LEASE_WAIT);
    qinit.wait_stdout("lease 3600 s", SHORT);
    let out = qinit.stdout();
    for line in ["address 10.99.7.40/24", "router 10.99.7.1", "dns 10.99.7.1"] {
        assert!(out.iter().any(|l| l == line), "no '{line}' in {out:?}");
    }
    assert_eq!(lan.client_addresses(), vec!["10.99.7.40/24".to_owned()]);
    let err = qinit.stderr().join("\n");
    assert!(err.contains("ignored from the server: option 51"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        qinit.exited().is_none(),
        "the client died after binding\n{}",
        qinit.transcript()
    );
    qinit.signal(Signal::SIGTERM);
    let status = qinit.wait_exit(SHORT);
    assert!(status.success(), "{status}\n{}", qinit.transcript());
}

/// Option 119 (RFC 1035 labels, no compression) for names given as lists of labels.
fn search_option(names: &[&[&[u8]]]) -> Vec<u8> {
    let mut out = Vec::new();
    for labels in names {
        for l in *labels {
            out.push(u8::try_from(l.len()).unwrap());
            out.extend_from_slice(l);
        }
        out.push(0);
    }
    out
}

/// A file qinit wrote holds only printable ASCII, tabs and newlines, and each line is one
/// that `line_ok` accepts.
fn assert_clean_file(path: &Path, line_ok: impl Fn(&str) -> bool, forbidden: &[&str]) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        bytes
            .iter()
            .all(|b| (0x20..0x7f).contains(b) || *b == b'\t' || *b == b'\n'),
        "{} has a byte outside printable ASCII:\n{text:?}",
        path.display()
    );
    for line in text.lines() {
        assert!(
            line_ok(line),
            "{}: unexpected line {line:?}\n{text}",
            path.display()
        );
    }
    for f in forbidden {
        assert!(
            !text.contains(f),
            "{} contains {f:?}:\n{text}",
            path.display()
        );
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn hostile_names_are_logged_escaped_and_never_reach_the_files() {
    require(false);
    let lan = Lan::pair("names", 8);
    let server_ip = lan.server_ip(0);
    let grant = Grant::new(server_ip, Ipv4Addr::new(10, 99, 8, 50), 60);
    let server = Server::start(&lan.servers[0], server_ip, move |r| grant.answers(r));
    // 300 bytes of valid labels: too long as a whole; sent as two option-12 TLVs.
    let mut long = vec![vec![b'a'; 49]; 6].join(&b'.');
    long.push(b'b');
    assert_eq!(long.len(), 300);

    struct Case {
        name: &'static str,
        options: Vec<(u8, Vec<u8>)>,
        /// Must appear in stderr (escaped).
        logged: Vec<&'static str>,
        /// Must not appear in either file.
        forbidden: Vec<&'static str>,
        /// The search line expected in resolv.conf, if any.
        search: Option<&'static str>,
    }
    let cases = [
        Case {
            name: "newline, NUL, space",
            options: vec![
                (12, b"a\nb".to_vec()),
                (15, b"ex\0ample.test".to_vec()),
                (
                    119,
                    search_option(&[&[b"good", b"test"], &[b"bad label", b"test"]]),
                ),
            ],
            logged: vec![
                "ignored from the server: host name (option 12): bad name 'a\\x0ab'",
                "ignored from the server: domain (option 15): bad name 'ex\\x00ample.test'",
                "ignored from the server: option 119",
            ],
            forbidden: vec!["ample", "bad", "label"],
            search: Some("search good.test"),
        },
        Case {
            name: "shell and line injection",
            options: vec![
                (12, b"x;reboot".to_vec()),
                (15, b"evil.test\nnameserver 6.6.6.6".to_vec()),
                (119, search_option(&[&[b"a\nnameserver 6", b"test"]])),
            ],
            logged: vec![
                "ignored from the server: host name (option 12): bad name 'x;reboot'",
                "ignored from the server: domain (option 15): bad name 'evil.test\\x0anameserver 6.6.6.6'",
                "ignored from the server: option 119",
            ],
            forbidden: vec!["reboot", "6.6.6.6", "evil", ";"],
            search: None,
        },
        Case {
            name: "300-byte name in two TLVs",
            options: vec![(12, long.clone()), (15, b"ok.test".to_vec())],
            logged: vec!["ignored from the server: host name (option 12): bad name 'aaaa"],
            forbidden: vec!["aaaa"],
            search: Some("search ok.test"),
        },
    ];
    for (i, case) in cases.into_iter().enumerate() {
        lan.flush_client();
        let dir = Scratch::new(&format!("names{i}"));
        let options = case.options.clone();
        server.set_script(move |r| {
            let mut out = grant.answers(r);
            if r.is(MessageType::Request) {
                let mut ack = grant.ack(r);
                for (code, value) in &options {
                    ack = ack.option(*code, value.clone());
                }
                out = vec![ack.now()];
            }
            out
        });
        let mut qinit = qinit_dhcp(&lan, &["--once", "--etc", dir.str()]);
        let status = qinit.wait_exit(LEASE_WAIT);
        let ctx = format!("case '{}'\n{}", case.name, qinit.transcript());
        assert!(status.success(), "{status}\n{ctx}");

        // The lease stands: address, route, DNS.
        let out = qinit.stdout();
        assert_eq!(
            value(&out, "address").as_deref(),
            Some("10.99.8.50/24"),
            "{ctx}"
        );
        assert_eq!(
            lan.client_addresses(),
            vec!["10.99.8.50/24".to_owned()],
            "{ctx}"
        );
        assert_eq!(value(&out, "hostname"), None, "{ctx}");
        let known = [
            "interface",
            "address",
            "router",
            "dns",
            "server",
            "lease",
            "hostname",
            "domain",
            "search",
            "mtu",
        ];
        for l in &out {
            let key = l.split(' ').next().unwrap_or("");
            assert!(known.contains(&key), "stray stdout line {l:?}\n{ctx}");
        }
        // Every stderr line is a whole log line: no value broke a line.
        let err = qinit.stderr();
        for l in &err {
            assert!(
                l.starts_with('[') || l.starts_with("qinit dhcp:"),
                "stray stderr line {l:?}\n{ctx}"
            );
        }
        let err = err.join("\n");
        for needle in &case.logged {
            assert!(err.contains(needle), "stderr lacks {needle:?}\n{ctx}");
        }

        assert_clean_file(
            &dir.join("resolv.conf"),
            |l| {
                l.starts_with('#')
                    || l == "nameserver 10.99.8.1"
                    || l.strip_prefix("search ")
                        .is_some_and(|s| s.split(' ').all(is_name))
            },
            &case.forbidden,
        );
        let resolv = read(&dir.join("resolv.conf"));
        assert_eq!(
            resolv
                .lines()
                .filter(|l| l.starts_with("nameserver"))
                .count(),
            1,
            "{resolv}\n{ctx}"
        );
        let search = resolv.lines().find(|l| l.starts_with("search"));
        assert_eq!(search, case.search, "{resolv}\n{ctx}");
        assert_clean_file(
            &dir.join("hosts"),
            |l| {
                l.starts_with('#')
                    || l.split_once('\t').is_some_and(|(addr, names)| {
                        addr.parse::<std::net::IpAddr>().is_ok() && names.split(' ').all(is_name)
                    })
            },
            &case.forbidden,
        );
        let hosts = read(&dir.join("hosts"));
        assert!(
            hosts.lines().any(|l| l.starts_with("10.99.8.50\t")),
            "{hosts}\n{ctx}"
        );
    }
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn exits_1_after_timeout_when_no_server_answers() {
    require(false);
    let lan = Lan::pair("quiet", 9);
    let server_ip = lan.server_ip(0);
    let server = Server::start(&lan.servers[0], server_ip, |_| Vec::new());
    let started = Instant::now();
    let mut qinit = qinit_dhcp(&lan, &["--timeout", "2"]);
    let status = qinit.wait_exit(SHORT + SHORT);
    assert_eq!(status.code(), Some(1), "{}", qinit.transcript());
    assert_between("the exit", started, Instant::now(), 1.9, 4.0);
    assert!(
        qinit.stderr().iter().any(|l| l.contains("no lease on vc0")),
        "{}",
        qinit.transcript()
    );
    assert!(qinit.stdout().is_empty(), "{}", qinit.transcript());
    let discovers = server
        .received()
        .iter()
        .filter(|r| r.is(MessageType::Discover) && r.via == Via::Broadcast)
        .count();
    assert!(discovers >= 2, "{}", netns::describe(&server.received()));
    assert_eq!(lan.client_addresses(), Vec::<String>::new());
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn a_host_mask_lease_gets_a_32_address_and_an_on_link_route_to_its_gateway() {
    require(false);
    let lan = Lan::pair("mask32", 12);
    let server_ip = lan.server_ip(0);
    let gw = server_ip.octets();
    let grant = Grant::new(server_ip, Ipv4Addr::new(10, 99, 12, 20), 60);
    // As Google Cloud leases: mask 255.255.255.255, option 121 with an on-link host route
    // to the gateway and the default route through it (and option 3 too).
    let classless = [
        vec![32],
        gw.to_vec(),
        vec![0, 0, 0, 0],
        vec![0],
        gw.to_vec(),
    ]
    .concat();
    let with_121 = move |r: &Received| -> Vec<Out> {
        let a = match r.kind {
            Some(MessageType::Discover) => grant.offer(r),
            Some(MessageType::Request) => grant.ack(r),
            _ => return Vec::new(),
        };
        vec![a.set(1, [255; 4]).option(121, classless.clone()).now()]
    };
    // The same mask with option 3 alone: the client makes the host route itself.
    let router_only = move |r: &Received| -> Vec<Out> {
        let a = match r.kind {
            Some(MessageType::Discover) => grant.offer(r),
            Some(MessageType::Request) => grant.ack(r),
            _ => return Vec::new(),
        };
        vec![a.set(1, [255; 4]).now()]
    };
    let server = Server::start(&lan.servers[0], server_ip, with_121);
    for style in ["option 121", "option 3"] {
        if style == "option 3" {
            lan.flush_client();
            server.set_script(router_only);
        }
        let mut qinit = qinit_dhcp(&lan, &["--once"]);
        let status = qinit.wait_exit(LEASE_WAIT);
        let ctx = format!("{style}\n{}", qinit.transcript());
        assert!(status.success(), "{status}\n{ctx}");
        assert_eq!(
            value(&qinit.stdout(), "address").as_deref(),
            Some("10.99.12.20/32"),
            "{ctx}"
        );
        assert_eq!(
            lan.client_addresses(),
            vec!["10.99.12.20/32".to_owned()],
            "{ctx}"
        );
        let routes = lan.client_routes();
        let ctx = format!("{ctx}\nroutes: {routes:#?}");
        assert!(
            routes
                .iter()
                .any(|r| r.starts_with("10.99.12.1 dev vc0") && r.contains("scope link")),
            "no on-link route to the gateway\n{ctx}"
        );
        assert!(
            routes
                .iter()
                .any(|r| r.starts_with("default via 10.99.12.1 dev vc0")),
            "no default route through the gateway\n{ctx}"
        );
        // Nothing classful: no 10.0.0.0/8, nor the server's /24, on-link.
        assert!(
            routes
                .iter()
                .all(|r| !r.starts_with("10.0.0.0/8") && !r.starts_with("10.99.12.0/24")),
            "{ctx}"
        );
        assert_eq!(routes.len(), 2, "{ctx}");
        // The kernel reaches the gateway directly and anything else through it.
        let direct = lan.client.ip(&["-4", "route", "get", "10.99.12.1"]);
        assert!(
            direct.starts_with("10.99.12.1 dev vc0 src 10.99.12.20"),
            "{direct}\n{ctx}"
        );
        let beyond = lan.client.ip(&["-4", "route", "get", "10.99.13.7"]);
        assert!(
            beyond.starts_with("10.99.13.7 via 10.99.12.1 dev vc0 src 10.99.12.20"),
            "{beyond}\n{ctx}"
        );
    }
}

/// The client's CPU time so far (utime + stime), from /proc/PID/stat.
fn cpu_time(pid: i32) -> Duration {
    let stat = read(Path::new(&format!("/proc/{pid}/stat")));
    // The fields after the command name, which is in parentheses and may hold spaces.
    let rest: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap();
    let hz = u64::try_from(
        nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    Duration::from_micros(ticks * 1_000_000 / hz)
}

/// Waits until `count` reaches `n`; fails after `timeout`.
fn wait_for_count(count: &std::sync::atomic::AtomicU64, n: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while count.load(std::sync::atomic::Ordering::Relaxed) < n {
        assert!(
            Instant::now() < deadline,
            "the flooder sent only {} of {n} in {timeout:?}",
            count.load(std::sync::atomic::Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn a_flood_of_replies_costs_little_and_signals_stay_on_time() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    require(false);
    let lan = Lan::pair("flood", 13);
    let server_ip = lan.server_ip(0);
    let server = Server::start(&lan.servers[0], server_ip, |_| Vec::new());
    let mut qinit = qinit_dhcp(&lan, &[]);
    let discover = server.wait_nth("a DISCOVER", 1, SHORT, |r| r.is(MessageType::Discover));
    let grant = Grant::new(server_ip, Ipv4Addr::new(10, 99, 13, 50), 60);
    const RATE: u32 = 50_000;

    // Offers to other clients (another MAC, another xid), as on a busy segment.
    let foreign: Vec<Vec<u8>> = (1..=64u8)
        .map(|i| {
            let mut a = grant.offer(&discover);
            a.xid ^= u32::from(i) << 8;
            a.chaddr[5] ^= i;
            a.encode()
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let before = cpu_time(qinit.pid());
    let flooder = netns::flood(
        &lan.servers[0],
        server_ip,
        foreign,
        RATE,
        Arc::clone(&stop),
        Arc::clone(&sent),
    );
    // 50,000 replies or more (a loaded machine may send them slower than asked).
    wait_for_count(&sent, 50_000, Duration::from_secs(10));
    stop.store(true, Ordering::Relaxed);
    flooder.join().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let used = cpu_time(qinit.pid()) - before;
    let n = sent.load(Ordering::Relaxed);
    let per_reply = used.as_secs_f64() * 1e6 / n as f64;
    assert!(
        per_reply <= 2.0,
        "{n} replies to other clients cost the client {used:?} of CPU, {per_reply:.2} us each"
    );

    // Replies with our xid and MAC that must be refused (an ACK while selecting, no
    // server id): they reach the client's code, and still a signal is answered at once.
    let ours: Vec<Vec<u8>> = vec![
        grant.ack(&discover).encode(),
        grant.offer(&discover).remove(54).encode(),
    ];
    stop.store(false, Ordering::Relaxed);
    sent.store(0, Ordering::Relaxed);
    let flooder = netns::flood(
        &lan.servers[0],
        server_ip,
        ours,
        RATE,
        Arc::clone(&stop),
        Arc::clone(&sent),
    );
    wait_for_count(&sent, 10_000, Duration::from_secs(5));
    let signalled = Instant::now();
    qinit.signal(Signal::SIGTERM);
    let status = qinit.wait_exit(SHORT);
    let took = signalled.elapsed();
    stop.store(true, Ordering::Relaxed);
    flooder.join().unwrap();
    assert!(status.success(), "{status}\n{}", qinit.transcript());
    assert!(
        took <= Duration::from_millis(100),
        "SIGTERM took {took:?} under the flood\n{}",
        qinit.transcript()
    );
    assert!(qinit.stdout().is_empty(), "{}", qinit.transcript());
    assert_eq!(lan.client_addresses(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------------------
// Address conflict detection (RFC 5227): the lease is bound at once, then probed,
// announced and defended in the background.

/// The address of a "vc0: bound A/N ..." line, as A.
fn bound_address(line: &str) -> Ipv4Addr {
    line.split("vc0: bound ")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line}"))
}

/// The uptime stamp qinit puts before each log line ("[    5.123456] qinit: ..."), in
/// seconds: when it happened, without the delay of reading the pipe.
fn stamp(line: &str) -> f64 {
    line.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or_else(|| panic!("no time stamp on {line}"))
}

/// ARP packets sent by `mac`.
fn from_mac(seen: &[netns::Seen], mac: [u8; 6]) -> Vec<netns::Seen> {
    seen.iter()
        .filter(|s| s.arp.sender_mac == mac)
        .cloned()
        .collect()
}

/// Waits until `host` has seen `n` packets from `mac` that `pick` accepts.
fn wait_seen(
    host: &netns::ArpHost,
    mac: [u8; 6],
    n: usize,
    timeout: Duration,
    pick: impl Fn(&netns::Seen) -> bool,
) -> Vec<netns::Seen> {
    let deadline = Instant::now() + timeout;
    loop {
        let got: Vec<netns::Seen> = from_mac(&host.seen(), mac)
            .into_iter()
            .filter(|s| pick(s))
            .collect();
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "saw {} of {n} packets within {timeout:?}: {:#?}",
            got.len(),
            host.seen()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn a_free_address_is_bound_at_once_then_probed_and_announced_without_a_decline() {
    require(true);
    let lan = Lan::pair("acdfree", 41);
    let wire = netns::ArpHost::start(&lan.servers[0], netns::SERVER_IF);
    let client_mac = netns::mac_of(&lan.client, netns::CLIENT_IF);
    let dir = Scratch::new("acdfree");
    let dnsmasq = dnsmasq(&lan, &dir, &[]);
    // --debug: the end of probing is a debug line.
    let qinit = qinit_dhcp(&lan, &["--debug"]);
    let (ack_at, _) = dnsmasq.wait_stderr("DHCPACK(vs0)", LEASE_WAIT);
    let (bound_at, line) = qinit.wait_stderr("vc0: bound ", SHORT);
    let ip = bound_address(&line);
    // The lease is applied on the ACK: probing (4 s at the least) does not come first.
    let ack_to_bound = secs(bound_at.saturating_duration_since(ack_at));
    eprintln!("ACK to bound: {:.1} ms", ack_to_bound * 1000.0);
    assert!(
        ack_to_bound < 0.5,
        "bound {ack_to_bound:.3} s after dnsmasq's ACK\n{}",
        qinit.transcript()
    );
    assert_eq!(lan.client_addresses(), vec![format!("{ip}/24")]);

    // RFC 5227 2.1 and 2.3: a wait of up to PROBE_WAIT (1 s), 3 probes 1 to 2 s apart,
    // ANNOUNCE_WAIT (2 s), 2 announcements 2 s apart.
    let (claimed_at, _) = qinit.wait_stderr(&format!("no other host uses {ip}"), SHORT * 2);
    assert_between("the claim", bound_at, claimed_at, 3.9, 7.5);
    let announcements = wait_seen(&wire, client_mac, 2, SHORT, |s| s.is_announcement_of(ip));
    let probes: Vec<netns::Seen> = from_mac(&wire.seen(), client_mac)
        .into_iter()
        .filter(|s| s.is_probe_for(ip))
        .collect();
    assert_eq!(probes.len(), 3, "{probes:#?}");
    assert_between("the first probe", ack_at, probes[0].at, 0.0, 1.3);
    // Spacing from the kernel's receive times: PROBE_MIN..PROBE_MAX, ANNOUNCE_WAIT and
    // ANNOUNCE_INTERVAL, late by a loaded machine's wakeup at most; a message sent late
    // can leave the next one a few ms short of its interval (1.994 s seen once under
    // load), so the lower bounds allow 20 ms.
    let gap = |a: &netns::Seen, b: &netns::Seen| secs(b.wire.saturating_sub(a.wire));
    for w in probes.windows(2) {
        let g = gap(&w[0], &w[1]);
        assert!(
            (0.98..2.25).contains(&g),
            "probes {g:.3} s apart: {probes:#?}"
        );
    }
    let g = gap(&probes[2], &announcements[0]);
    assert!(
        (1.98..2.25).contains(&g),
        "first announcement {g:.3} s after the last probe"
    );
    let g = gap(&announcements[0], &announcements[1]);
    assert!((1.98..2.25).contains(&g), "announcements {g:.3} s apart");
    // And nothing more: no other ARP about the address, no decline, the lease kept.
    std::thread::sleep(Duration::from_millis(500));
    let about_ip = from_mac(&wire.seen(), client_mac)
        .into_iter()
        .filter(|s| s.is_probe_for(ip) || s.is_announcement_of(ip))
        .count();
    assert_eq!(about_ip, 5, "{:#?}", wire.seen());
    assert_eq!(dnsmasq.count(Pipe::Stderr, "DHCPDECLINE"), 0);
    assert_eq!(
        qinit.count(Pipe::Stderr, "in use"),
        0,
        "{}",
        qinit.transcript()
    );
    assert_eq!(qinit.count(Pipe::Stderr, "vc0: bound "), 1);
    assert_eq!(lan.client_addresses(), vec![format!("{ip}/24")]);
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn an_address_another_host_holds_is_declined_and_another_one_bound() {
    require(true);
    // dnsmasq on the first namespace; the second holds 10.99.40.20, which dnsmasq
    // offers this client first (dhcp-host) and, with --no-ping, never checks itself.
    let lan = Lan::bridged("acd", 40, 2);
    let squatter = &lan.servers[1];
    let taken = Ipv4Addr::new(10, 99, 40, 20);
    squatter.ip(&["addr", "add", "10.99.40.20/24", "dev", netns::SERVER_IF]);
    let squatter_mac = netns::mac_of(squatter, netns::SERVER_IF);
    let wire = netns::ArpHost::start(squatter, netns::SERVER_IF);
    let client_mac = netns::mac_of(&lan.client, netns::CLIENT_IF);
    let dir = Scratch::new("acd");
    let host = format!("--dhcp-host={},{taken}", netns::mac_text(client_mac));
    let dnsmasq = dnsmasq(&lan, &dir, &[&host]);
    let qinit = qinit_dhcp(&lan, &["--debug"]);

    // Bound at once, as on a clean link; the first probe finds the squatter.
    let (_, bound) = qinit.wait_stderr(&format!("vc0: bound {taken}/24"), LEASE_WAIT);
    let (_, line) = qinit.wait_stderr(&format!("{taken} is in use by"), SHORT);
    let to_conflict = stamp(&line) - stamp(&bound);
    eprintln!("bound to conflict found: {:.1} ms", to_conflict * 1000.0);
    // The first probe found it (the squatter's kernel answers at once): one probe only.
    wait_seen(&wire, client_mac, 1, SHORT, |s| s.is_probe_for(taken));
    assert!(
        line.contains(&netns::mac_text(squatter_mac)) && line.contains("found by probing"),
        "{line}"
    );
    assert!(line.contains("DISCOVER again in 10 s"), "{line}");
    // PROBE_WAIT (up to 1 s), then the squatter's kernel answers the first probe.
    assert!(
        (0.0..1.3).contains(&to_conflict),
        "{to_conflict} s\n{}",
        qinit.transcript()
    );
    let found = line;
    dnsmasq.wait_stderr(&format!("DHCPDECLINE(vs0) {taken} "), SHORT);
    assert!(
        !lan.client_addresses().contains(&format!("{taken}/24")),
        "{:?}",
        lan.client_addresses()
    );

    // RFC 2131 3.1: at least ten seconds before the next DISCOVER; then another address.
    let (_, line) = qinit.wait_nth(Pipe::Stderr, "vc0: bound ", 2, Duration::from_secs(25));
    let backoff = stamp(&line) - stamp(&found);
    assert!(
        (10.0..13.0).contains(&backoff),
        "next lease {backoff} s after the conflict"
    );
    let ip = bound_address(&line);
    assert_ne!(ip, taken);
    assert!(
        (10..=50).contains(&ip.octets()[3]) && ip.octets()[..3] == [10, 99, 40],
        "{ip}"
    );
    assert_eq!(lan.client_addresses(), vec![format!("{ip}/24")]);
    let out = qinit.stdout();
    let addresses: Vec<&String> = out.iter().filter(|l| l.starts_with("address ")).collect();
    assert_eq!(
        addresses,
        [&format!("address {taken}/24"), &format!("address {ip}/24")],
        "{out:?}"
    );
    // The new address passes its own probes.
    qinit.wait_stderr(&format!("no other host uses {ip}"), SHORT * 2);
    assert_eq!(dnsmasq.count(Pipe::Stderr, "DHCPDECLINE"), 1);
    let probes = from_mac(&wire.seen(), client_mac)
        .into_iter()
        .filter(|s| s.is_probe_for(taken))
        .count();
    assert_eq!(probes, 1, "{:#?}", wire.seen());
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn a_rival_claiming_the_address_is_defended_once_then_the_address_is_given_up() {
    require(true);
    let lan = Lan::bridged("acddef", 42, 2);
    let rival = netns::ArpHost::start(&lan.servers[1], netns::SERVER_IF);
    let client_mac = netns::mac_of(&lan.client, netns::CLIENT_IF);
    let dir = Scratch::new("acddef");
    let dnsmasq = dnsmasq(&lan, &dir, &[]);
    let qinit = qinit_dhcp(&lan, &["--debug"]);
    let (_, line) = qinit.wait_stderr("vc0: bound ", LEASE_WAIT);
    let ip = bound_address(&line);
    qinit.wait_stderr(&format!("no other host uses {ip}"), SHORT * 2);
    wait_seen(&rival, client_mac, 2, SHORT, |s| s.is_announcement_of(ip));

    // RFC 5227 2.4 (b): a first conflicting ARP is answered with one announcement.
    let first = Instant::now();
    rival.send(etherparse::ArpOperation::REQUEST, ip, ip);
    let defended = wait_seen(&rival, client_mac, 3, SHORT, |s| s.is_announcement_of(ip));
    assert_between("the defence", first, defended[2].at, 0.0, 0.5);
    qinit.wait_stderr(&format!("claims {ip}: defended it"), SHORT);
    assert_eq!(lan.client_addresses(), vec![format!("{ip}/24")]);
    assert_eq!(qinit.count(Pipe::Stderr, "in use"), 0);

    // A second within DEFEND_INTERVAL (10 s): the address is given up and declined.
    std::thread::sleep(Duration::from_secs(1));
    rival.send(etherparse::ArpOperation::REPLY, ip, ip);
    let (_, line) = qinit.wait_stderr(&format!("{ip} is in use by"), SHORT);
    assert!(
        line.contains(&netns::mac_text(rival.mac))
            && line.contains("a second conflict while defending it"),
        "{line}"
    );
    dnsmasq.wait_stderr(&format!("DHCPDECLINE(vs0) {ip} "), SHORT);
    assert_eq!(lan.client_addresses(), Vec::<String>::new());
    // One defence only: no announcement answered the second conflict.
    std::thread::sleep(Duration::from_millis(300));
    let announced = from_mac(&rival.seen(), client_mac)
        .into_iter()
        .filter(|s| s.is_announcement_of(ip))
        .count();
    assert_eq!(announced, 3, "{:#?}", rival.seen());
}
