//! `qinit dhcp vc0 -6` against dnsmasq's router advertisements and DHCPv6 server in
//! network namespaces: stateless (O=1, DNS and search domains only, beside the kernel's
//! SLAAC address) and stateful (M=1, an address from dnsmasq's range, released at the
//! end). Each test has its own namespaces and a /64 of its own under fd99::/16.
//!
//! Needs root, `ip`, busybox (for ping) and `dnsmasq`: `#[ignore]`d, run by `./build.sh test`.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "integration tests: a step that fails fails the test"
)]

mod netns;

use netns::{Lan, Proc, Scratch, read, require, value};
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

const QINIT: &str = env!("CARGO_BIN_EXE_qinit");
/// The router answers the client's solicitation at once and DHCPv6 takes milliseconds;
/// this covers a lost first try (retransmit after 1 s) on a loaded machine.
const WAIT: Duration = Duration::from_secs(15);
const SHORT: Duration = Duration::from_secs(5);

fn qinit_dhcp6(lan: &Lan, args: &[&str]) -> Proc {
    let mut cmd = lan.client.command(QINIT);
    cmd.args(["dhcp", netns::CLIENT_IF, "-6"]).args(args);
    if std::env::var("QINIT_NETNS_DEBUG").is_ok_and(|v| v == "1") {
        cmd.arg("--debug");
    }
    Proc::spawn("qinit dhcp -6", cmd)
}

/// Gives the server end `prefix::1/64` and waits until no address of it is tentative,
/// so that dnsmasq can bind and send at once.
fn address_server_v6(lan: &Lan, prefix: &str) {
    let s = &lan.servers[0];
    s.ip(&[
        "-6",
        "addr",
        "add",
        &format!("{prefix}::1/64"),
        "dev",
        netns::SERVER_IF,
        "nodad",
    ]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s
        .ip(&["-6", "addr", "show", "dev", netns::SERVER_IF, "tentative"])
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "vs0's addresses stay tentative");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// dnsmasq as router (RA) and DHCPv6 server on vs0, DNS server `prefix::53` and search
/// domain v6.example offered by both; `range` is its --dhcp-range.
fn dnsmasq6(lan: &Lan, dir: &Scratch, prefix: &str, range: &str) -> Proc {
    let program = netns::find_program("dnsmasq").unwrap();
    let mut cmd = lan.servers[0].command(program);
    cmd.args([
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        &format!("--interface={}", netns::SERVER_IF),
        "--bind-interfaces",
        "--enable-ra",
        &format!("--dhcp-range={range}"),
        &format!("--dhcp-option=option6:dns-server,[{prefix}::53]"),
        "--dhcp-option=option6:domain-search,v6.example",
        &format!("--dhcp-leasefile={}", dir.join("dnsmasq.leases").display()),
        "--log-dhcp",
        "--log-facility=-",
    ]);
    let d = Proc::spawn("dnsmasq", cmd);
    d.wait_stderr("router advertisement on", Duration::from_secs(10));
    d
}

/// The client's global IPv6 addresses on vc0 that are past DAD, as `addr/len`.
fn client_v6(lan: &Lan) -> Vec<String> {
    lan.client
        .ip(&[
            "-6",
            "-o",
            "addr",
            "show",
            "dev",
            netns::CLIENT_IF,
            "scope",
            "global",
        ])
        .lines()
        .filter(|l| !l.contains("tentative"))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            w.find(|x| *x == "inet6")?;
            w.next().map(str::to_owned)
        })
        .collect()
}

fn wait_client_v6(lan: &Lan, want: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(a) = client_v6(lan).into_iter().find(|a| want(a)) {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no such address on vc0: {:?}",
            client_v6(lan)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn stateless_o_flag_gets_dns_and_search_beside_slaac_and_pings_the_router() {
    require(true);
    let lan = Lan::pair("v6sl", 61);
    let prefix = "fd99:61";
    address_server_v6(&lan, prefix);
    let dir = Scratch::new("v6sl");
    let dnsmasq = dnsmasq6(&lan, &dir, prefix, "::,constructor:vs0,ra-stateless,64,10m");
    let mut qinit = qinit_dhcp6(&lan, &["--once", "--etc", dir.str(), "--timeout", "20"]);
    let status = qinit.wait_exit(WAIT + SHORT);
    assert!(status.success(), "{status}\n{}", qinit.transcript());
    let out = qinit.stdout();
    assert_eq!(
        value(&out, "dhcpv6").as_deref(),
        Some("informed"),
        "{out:?}"
    );
    assert_eq!(
        value(&out, "dns").as_deref(),
        Some("fd99:61::53"),
        "{out:?}"
    );
    assert_eq!(
        value(&out, "search").as_deref(),
        Some("v6.example"),
        "{out:?}"
    );
    assert_eq!(
        value(&out, "address"),
        None,
        "stateless gives no address: {out:?}"
    );
    let err = qinit.stderr().join("\n");
    assert!(
        err.contains("stateless (DNS only), the router's O flag"),
        "{err}"
    );
    // For the figures: how soon after IPv6 started.
    for l in qinit
        .stderr()
        .iter()
        .filter(|l| l.contains("after IPv6 started"))
    {
        println!("qinit: {l}");
    }
    dnsmasq.wait_stderr("DHCPINFORMATION-REQUEST(vs0)", SHORT);
    assert_eq!(dnsmasq.count(netns::Pipe::Stderr, "DHCPSOLICIT"), 0);

    let resolv = read(&dir.join("resolv.conf"));
    assert!(
        resolv.lines().any(|l| l == "nameserver fd99:61::53"),
        "{resolv}"
    );
    assert!(resolv.lines().any(|l| l == "search v6.example"), "{resolv}");
    assert!(resolv.contains("DHCPv6"), "{resolv}");

    // The kernel's SLAAC address from the advertisement, and the router reachable.
    let slaac = wait_client_v6(&lan, |a| a.starts_with("fd99:61::") && a.ends_with("/64"));
    let ping = lan
        .client
        .command(netns::find_program("busybox").expect("busybox (busybox-static)"))
        .args(["ping", "-6", "-c", "1", "-W", "3", &format!("{prefix}::1")])
        .output()
        .unwrap();
    assert!(
        ping.status.success(),
        "ping from {slaac}: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn stateful_m_flag_binds_an_address_from_the_range_and_releases_it_on_sigterm() {
    require(true);
    let lan = Lan::pair("v6sf", 62);
    let prefix = "fd99:62";
    address_server_v6(&lan, prefix);
    let dir = Scratch::new("v6sf");
    let dnsmasq = dnsmasq6(&lan, &dir, prefix, "fd99:62::100,fd99:62::1ff,64,10m");
    let mut qinit = qinit_dhcp6(&lan, &["--release", "--etc", dir.str()]);
    let (_, line) = qinit.wait_stdout("address ", WAIT);
    let address = line.trim_start_matches("address ").to_owned();
    let ip = address.trim_end_matches("/128").to_owned();
    // The last line printed: all of it is there.
    qinit.wait_stdout("search ", SHORT);
    let host = u16::from_str_radix(ip.trim_start_matches("fd99:62::"), 16)
        .unwrap_or_else(|_| panic!("{ip} is not in fd99:62::/64"));
    assert!((0x100..=0x1ff).contains(&host), "{ip} is outside the range");
    let out = qinit.stdout();
    assert_eq!(value(&out, "dhcpv6").as_deref(), Some("bound"), "{out:?}");
    assert_eq!(value(&out, "valid").as_deref(), Some("600 s"), "{out:?}");
    assert_eq!(
        value(&out, "dns").as_deref(),
        Some("fd99:62::53"),
        "{out:?}"
    );
    let err = qinit.stderr().join("\n");
    assert!(
        err.contains("stateful (an address and DNS), the router's M flag"),
        "{err}"
    );
    // For the figures: how soon after IPv6 started.
    for l in qinit
        .stderr()
        .iter()
        .filter(|l| l.contains("after IPv6 started"))
    {
        println!("qinit: {l}");
    }
    dnsmasq.wait_stderr(&format!("DHCPREPLY(vs0) {ip} "), SHORT);
    // On the interface, with the kernel counting its lifetime down.
    let shown = wait_client_v6(&lan, |a| a == address);
    assert_eq!(shown, address);
    let detail = lan.client.ip(&[
        "-6",
        "addr",
        "show",
        "dev",
        netns::CLIENT_IF,
        "to",
        &address,
    ]);
    assert!(
        detail.contains("valid_lft 5") || detail.contains("valid_lft 6"),
        "{detail}"
    );
    let resolv = read(&dir.join("resolv.conf"));
    assert!(
        resolv.lines().any(|l| l == "nameserver fd99:62::53"),
        "{resolv}"
    );

    qinit.signal(Signal::SIGTERM);
    let status = qinit.wait_exit(SHORT);
    assert!(status.success(), "{status}\n{}", qinit.transcript());
    let err = qinit.stderr().join("\n");
    assert!(err.contains(&format!("releasing {ip}")), "{err}");
    dnsmasq.wait_stderr("DHCPRELEASE(vs0)", SHORT);
    assert!(
        !client_v6(&lan).contains(&address),
        "{address} is still on vc0 after the release"
    );
    let resolv = read(&dir.join("resolv.conf"));
    assert!(
        !resolv.contains("fd99:62::53"),
        "released DNS left in {resolv}"
    );
}

#[test]
#[ignore = "needs root, ip and dnsmasq: ./build.sh test"]
fn a_dhcpv6_address_is_renewed_at_t1_with_the_same_server() {
    require(true);
    let lan = Lan::pair("v6rn", 63);
    let prefix = "fd99:63";
    address_server_v6(&lan, prefix);
    let dir = Scratch::new("v6rn");
    // dnsmasq's shortest lease, 2 minutes: T1 at 1 minute.
    let dnsmasq = dnsmasq6(&lan, &dir, prefix, "fd99:63::100,fd99:63::1ff,64,2m");
    let mut qinit = qinit_dhcp6(&lan, &["--stateful"]);
    let (bound_at, line) = qinit.wait_stdout("address ", WAIT);
    let address = line.trim_start_matches("address ").to_owned();
    let ip = address.trim_end_matches("/128").to_owned();
    let (renewed_at, _) = qinit.wait_stderr(&format!("renewed {address}"), Duration::from_secs(90));
    let t1 = renewed_at.saturating_duration_since(bound_at).as_secs_f64();
    assert!(
        (55.0..=70.0).contains(&t1),
        "renewed {t1:.1} s after binding, T1 is 60 s"
    );
    dnsmasq.wait_stderr("DHCPRENEW(vs0)", SHORT);
    dnsmasq.wait_stderr(&format!("DHCPREPLY(vs0) {ip} "), SHORT);
    assert!(
        client_v6(&lan).contains(&address),
        "{address} left vc0 at the renewal"
    );
    // One Solicit only: the renewal went to the server, with no new exchange.
    assert_eq!(dnsmasq.count(netns::Pipe::Stderr, "DHCPSOLICIT(vs0)"), 1);
    qinit.signal(Signal::SIGTERM);
    let status = qinit.wait_exit(SHORT);
    assert!(status.success(), "{status}\n{}", qinit.transcript());
}
