//! Bench for `qinit dhcp` in network namespaces: namespaces and veth links the test
//! creates (and always deletes), dnsmasq as a real server, child processes whose output
//! is read line by line with deadlines (`process`), and a scripted DHCP server for what
//! dnsmasq will not do: second-scale leases, NAKs, a second server, hostile replies
//! (`dhcp_server`), and a host that sees and sends ARP (`arp`).
//!
//! Traffic stays inside the namespaces made here. The tests are `#[ignore]`d and run by
//! `./build.sh test`; a missing root, `ip` or `dnsmasq` then fails them.

#![allow(dead_code, reason = "each test uses its own part of the bench")]
#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test bench: a step that fails fails the test"
)]

mod arp;
mod dhcp_server;
mod process;

#[allow(unused_imports, reason = "each suite uses its own part of the bench")]
pub use arp::{ArpHost, Seen, mac_of, mac_text};
#[allow(unused_imports, reason = "each suite uses its own part of the bench")]
pub use dhcp_server::{Answer, Grant, Out, Received, Server, Via, describe, flood};
pub use process::{Pipe, Proc};

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub const CLIENT_IF: &str = "vc0";
pub const SERVER_IF: &str = "vs0";

// ---------------------------------------------------------------------------------------
// Prerequisites

/// A missing prerequisite fails the test: these tests are `#[ignore]`d, so they run only
/// when asked for (`./build.sh test`), and then they must not pass without running.
fn missing(what: &str) -> ! {
    panic!("{what}: cannot run the netns suite (./build.sh test installs what it needs)");
}

/// A program on PATH or in the sbin directories (root's PATH may lack them under CI).
pub fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn ip_program() -> PathBuf {
    find_program("ip").unwrap_or_else(|| PathBuf::from("ip"))
}

/// Fails the test unless it can run: root, `ip`, and `dnsmasq` if `dnsmasq` is set.
pub fn require(dnsmasq: bool) {
    if !nix::unistd::geteuid().is_root() {
        missing("not root, which network namespaces need");
    }
    if find_program("ip").is_none() {
        missing("`ip` (iproute2) is not installed");
    }
    if dnsmasq && find_program("dnsmasq").is_none() {
        missing("`dnsmasq` is not installed (Debian: dnsmasq-base; ./build.sh installs it)");
    }
}

// ---------------------------------------------------------------------------------------
// Namespaces and links

/// Runs `ip ARGS`, panicking with its stderr on failure; returns its stdout.
pub fn ip(args: &[&str]) -> String {
    let out = Command::new(ip_program())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {}: {e}", args.join(" ")));
    assert!(
        out.status.success(),
        "ip {}: {}\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn add(name: String) -> Netns {
        // A leftover of a killed run with the same pid would make `add` fail.
        let _ = Command::new(ip_program())
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    /// `ip -n NAME ARGS`.
    pub fn ip(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// A command that runs `program` inside this namespace. `ip netns exec` execs it, so
    /// the child's pid is the program's own.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(ip_program());
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new(ip_program())
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A veth pair: `name` in namespace `ns`, `peer` in namespace `peer_ns`.
pub fn veth(name: &str, ns: &Netns, peer: &str, peer_ns: &Netns) {
    // "ip link add a ..." would read "a" as "address": names never start that way.
    let args = ["link", "add", name, "netns", &ns.name, "type", "veth"];
    ip(&[&args[..], &["peer", "name", peer, "netns", &peer_ns.name]].concat());
}

/// Waits until `dev` in `ns` is up with its carrier *and* its queueing discipline
/// attached. A veth end whose peer was down has no carrier; when the peer comes up the
/// kernel attaches the qdisc later, from its link-watch work, and until then every packet
/// sent on the device is dropped silently ("qdisc noop"). Bridge ports also start
/// forwarding only then; `ip -d` shows their state.
pub fn wait_link_ready(ns: &Netns, dev: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let line = ns.ip(&["-d", "-o", "link", "show", "dev", dev]);
        let bridged = line.contains("bridge_slave");
        if line.contains("state UP")
            && !line.contains("qdisc noop")
            && (!bridged || line.contains("state forwarding"))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{dev} in {} not ready: {line}",
            ns.name
        );
        thread::sleep(Duration::from_millis(10));
    }
}

/// A client namespace and one or more server namespaces on one Ethernet segment:
/// servers at 10.99.SUBNET.1, .2, ...; the client's vc0 is up with no address, and every
/// link is ready to carry the first packet (see `wait_link_ready`).
pub struct Lan {
    pub client: Netns,
    pub servers: Vec<Netns>,
    /// Holds bridge br0 when there is more than one server.
    pub hub: Option<Netns>,
    pub subnet: u8,
}

impl Lan {
    fn ns_name(tag: &str, role: &str) -> String {
        format!("qd-{tag}-{}-{role}", std::process::id())
    }

    fn address_server(ns: &Netns, subnet: u8, host: u8) {
        let addr = format!("10.99.{subnet}.{host}/24");
        ns.ip(&["addr", "add", &addr, "dev", SERVER_IF]);
        ns.ip(&["link", "set", SERVER_IF, "up"]);
    }

    /// Server namespace `vs0` -- `vc0` client namespace, one veth pair.
    pub fn pair(tag: &str, subnet: u8) -> Lan {
        let server = Netns::add(Self::ns_name(tag, "s"));
        let client = Netns::add(Self::ns_name(tag, "c"));
        veth(SERVER_IF, &server, CLIENT_IF, &client);
        Self::address_server(&server, subnet, 1);
        let lan = Lan {
            client,
            servers: vec![server],
            hub: None,
            subnet,
        };
        lan.plug_client();
        lan
    }

    /// `n` server namespaces and the client, each with a veth into bridge br0 in a hub
    /// namespace.
    pub fn bridged(tag: &str, subnet: u8, n: u8) -> Lan {
        let hub = Netns::add(Self::ns_name(tag, "h"));
        let client = Netns::add(Self::ns_name(tag, "c"));
        // No STP and no forwarding delay: ports forward as soon as they have carrier.
        let bridge = ["type", "bridge", "stp_state", "0", "forward_delay", "0"];
        hub.ip(&[&["link", "add", "br0"][..], &bridge].concat());
        hub.ip(&["link", "set", "br0", "up"]);
        let port = |name: &str, peer: &str, peer_ns: &Netns| {
            veth(name, &hub, peer, peer_ns);
            hub.ip(&["link", "set", name, "master", "br0", "up"]);
        };
        port("hc0", CLIENT_IF, &client);
        let mut servers = Vec::new();
        for i in 1..=n {
            let server = Netns::add(Self::ns_name(tag, &format!("s{i}")));
            port(&format!("hs{i}"), SERVER_IF, &server);
            Self::address_server(&server, subnet, i);
            wait_link_ready(&hub, &format!("hs{i}"));
            servers.push(server);
        }
        let lan = Lan {
            client,
            servers,
            hub: Some(hub),
            subnet,
        };
        lan.plug_client();
        lan
    }

    /// Sets vc0 up and waits until the far end of its link can send to it.
    fn plug_client(&self) {
        self.client.ip(&["link", "set", CLIENT_IF, "up"]);
        wait_link_ready(&self.client, CLIENT_IF);
        match &self.hub {
            Some(hub) => wait_link_ready(hub, "hc0"),
            None => wait_link_ready(&self.servers[0], SERVER_IF),
        }
        for s in &self.servers {
            wait_link_ready(s, SERVER_IF);
        }
    }

    /// Sets vc0 down, so that `qinit dhcp` has to bring it up and wait for carrier. The
    /// far end then gets carrier at that moment and may drop the first reply (see
    /// `wait_link_ready`): the client's retransmit after 1 s has to cover for it.
    pub fn unplug_client(&self) {
        self.client.ip(&["link", "set", CLIENT_IF, "down"]);
    }

    /// The address of server `i` (0-based).
    pub fn server_ip(&self, i: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 99, self.subnet, i + 1)
    }

    /// The client's IPv4 addresses on vc0, as `10.99.1.23/24`.
    pub fn client_addresses(&self) -> Vec<String> {
        self.client
            .ip(&["-4", "-o", "addr", "show", "dev", CLIENT_IF])
            .lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                words.find(|w| *w == "inet")?;
                words.next().map(str::to_owned)
            })
            .collect()
    }

    /// The client namespace's IPv4 routes, one line each.
    pub fn client_routes(&self) -> Vec<String> {
        self.client
            .ip(&["-4", "route", "show"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The client namespace's IPv4 default routes, one line each.
    pub fn client_default_routes(&self) -> Vec<String> {
        self.client
            .ip(&["-4", "route", "show", "default"])
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Removes whatever a previous run left on vc0.
    pub fn flush_client(&self) {
        self.client.ip(&["-4", "route", "flush", "dev", CLIENT_IF]);
        self.client.ip(&["-4", "addr", "flush", "dev", CLIENT_IF]);
    }
}

/// A scratch directory, removed when dropped.
pub struct Scratch {
    pub path: PathBuf,
}

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("qinit-netns-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn str(&self) -> &str {
        self.path.to_str().unwrap()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// dnsmasq

/// dnsmasq serving 10.99.SUBNET.10-50 on vs0 of `lan`'s first server namespace, with its
/// lease file in `dir`, logging every DHCP message to stderr. Returns once it has
/// bound its DHCP socket.
pub fn dnsmasq(lan: &Lan, dir: &Scratch, extra: &[&str]) -> Proc {
    let n = lan.subnet;
    let program = find_program("dnsmasq").unwrap();
    let mut cmd = lan.servers[0].command(program);
    cmd.args([
        "--no-daemon",
        "--conf-file=/dev/null",
        "--port=0",
        &format!("--interface={SERVER_IF}"),
        "--bind-interfaces",
        &format!("--dhcp-range=10.99.{n}.10,10.99.{n}.50,255.255.255.0,2m"),
        &format!("--dhcp-option=option:router,10.99.{n}.1"),
        &format!("--dhcp-option=option:dns-server,10.99.{n}.1"),
        &format!("--dhcp-leasefile={}", dir.join("dnsmasq.leases").display()),
        // Without this dnsmasq pings a new address and waits 3 s for no answer.
        "--no-ping",
        "--log-dhcp",
        "--log-facility=-",
    ]);
    cmd.args(extra);
    let d = Proc::spawn("dnsmasq", cmd);
    d.wait_stderr("DHCP, sockets bound exclusively", Duration::from_secs(10));
    d
}

// ---------------------------------------------------------------------------------------
// Reading what `qinit dhcp` printed and wrote

/// The value of the first stdout line `KEY VALUE`.
pub fn value(lines: &[String], key: &str) -> Option<String> {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ').map(str::to_owned))
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
