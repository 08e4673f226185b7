//! The kernel command line, parsed into qinit's settings. Quoting as the kernel does it:
//! double quotes group words with spaces. Unknown keys belong to the kernel or to other
//! programs and are ignored; a bad value of ours gets one line naming key and value.

use std::time::Duration;

use std::net::IpAddr;

use crate::config::{net_keys, netdev, wifi};

/// How long an e1000 interface is held down for its PHY unless `qinit.phy_wait` says
/// otherwise: qemu's model autonegotiates in 500 ms, real ones within about 3 s.
pub const PHY_WAIT_DEFAULT: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
/// What follows the appliance's exit (`qinit.on_exit=`).
pub enum OnExit {
    #[default]
    Respawn,
    Shutdown(crate::system::shutdown::Kind),
    /// The exit status to qemu's isa-debug-exit device at this I/O port.
    DebugExit(u16),
}

impl OnExit {
    pub fn parse(v: &str) -> Option<OnExit> {
        match v {
            "respawn" => Some(OnExit::Respawn),
            "poweroff" => Some(OnExit::Shutdown(crate::system::shutdown::Kind::PowerOff)),
            "reboot" => Some(OnExit::Shutdown(crate::system::shutdown::Kind::Reboot)),
            "halt" => Some(OnExit::Shutdown(crate::system::shutdown::Kind::Halt)),
            "debug-exit" => Some(OnExit::DebugExit(crate::system::debug_exit::DEFAULT_PORT)),
            _ => {
                // debug-exit:0xf4 or debug-exit:244
                let port = v.strip_prefix("debug-exit:")?;
                let port = match port.strip_prefix("0x").or_else(|| port.strip_prefix("0X")) {
                    Some(hex) => u16::from_str_radix(hex, 16).ok()?,
                    None => port.parse().ok()?,
                };
                Some(OnExit::DebugExit(port))
            }
        }
    }
}

/// What the foreground program waits for before it starts (`qinit.wait=`), each bounded
/// by the DHCP timeout (see `net::readiness`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// An IPv4 address (a lease or `ip=`).
    Ipv4,
    /// A global IPv6 address and a name server; IPv6 is not held back for DHCPv4.
    Ipv6,
    /// Either (the default).
    Any,
    /// Both.
    All,
    /// Nothing: start at once.
    None,
}

impl Wait {
    pub fn parse(v: &str) -> Option<Wait> {
        match v {
            "ipv4" => Some(Wait::Ipv4),
            "ipv6" => Some(Wait::Ipv6),
            "any" => Some(Wait::Any),
            "all" => Some(Wait::All),
            "none" => Some(Wait::None),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub dhcp_timeout: Duration,
    /// The longest an interface is held down waiting for its PHY (src/net/phy.rs); 0: never.
    pub phy_wait: Duration,
    pub hostname: Option<String>,
    pub shell: String,
    pub console: Option<String>,
    pub modules: Vec<String>,
    pub net: bool,
    pub debug: bool,
    pub shutdown_timeout: Duration,
    pub rapid_commit: bool,
    /// IPv6 on the network interfaces (`qinit.ipv6=off` keeps it disabled on each).
    pub ipv6: bool,
    /// What the shell (or appliance) waits for (`qinit.wait=`).
    pub wait: Wait,
    /// Appliance mode: this command instead of the shell.
    pub exec: Option<Vec<String>>,
    pub on_exit: OnExit,
    /// `ip=` words (the kernel's syntax), from the command line or else the file.
    pub ip: Vec<crate::config::ip::IpConfig>,
    /// Name servers and search domains that win over the lease's.
    pub dns: Vec<std::net::Ipv4Addr>,
    /// IPv6 name servers from `nameserver=`: listed with the IPv4 ones, before those
    /// router advertisements give.
    pub dns6: Vec<std::net::Ipv6Addr>,
    pub search: Vec<String>,
    /// `rd.peerdns=0` makes this false: name servers from DHCP are not used.
    pub peer_dns: bool,
    /// `rd.route=` words, in order.
    pub routes: Vec<crate::config::net_keys::ExtraRoute>,
    /// `ifname=` words: links renamed by MAC address before anything configures them.
    pub ifnames: Vec<crate::config::net_keys::IfName>,
    /// `vlan=` words: VLAN links made on their parent when it appears.
    pub vlans: Vec<crate::config::net_keys::Vlan>,
    /// `bond=` words: bonds made at boot, their slaves enslaved as they appear.
    pub bonds: Vec<crate::config::netdev::Bond>,
    /// `bridge=` words: bridges made at boot, their ports added as they appear.
    pub bridges: Vec<crate::config::netdev::Bridge>,
    /// Where to send sd_notify messages: the `vmm.notify_socket` credential.
    pub notify_socket: Option<crate::system::notify::Address>,
    /// The wireless network to join (`qinit.wifi.*`, qinit.conf's `[wifi]`).
    pub wifi: crate::config::wifi::Wifi,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            dhcp_timeout: Duration::from_secs(5),
            phy_wait: PHY_WAIT_DEFAULT,
            hostname: None,
            shell: "/bin/sh".into(),
            console: None,
            modules: Vec::new(),
            net: true,
            debug: false,
            shutdown_timeout: Duration::from_secs(5),
            rapid_commit: false,
            ipv6: true,
            wait: Wait::Any,
            exec: None,
            on_exit: OnExit::Respawn,
            ip: Vec::new(),
            dns: Vec::new(),
            search: Vec::new(),
            peer_dns: true,
            routes: Vec::new(),
            ifnames: Vec::new(),
            vlans: Vec::new(),
            bonds: Vec::new(),
            bridges: Vec::new(),
            dns6: Vec::new(),
            notify_socket: None,
            wifi: crate::config::wifi::Wifi::default(),
        }
    }
}

/// A value for an error line: escaped, and cut short when long (a hostile 5,000-byte
/// value gives a line of a readable length).
fn shown(value: &str) -> String {
    const MAX_CHARS: usize = 64;
    if value.chars().count() <= MAX_CHARS {
        return crate::log::escape(value.as_bytes());
    }
    let head: String = value.chars().take(MAX_CHARS).collect();
    format!(
        "{}... ({} bytes)",
        crate::log::escape(head.as_bytes()),
        value.len()
    )
}

/// Parses the command line; returns the settings and one error line per bad value.
pub fn parse(line: &str) -> (Config, Vec<String>) {
    let mut cfg = Config::default();
    let mut errors = Vec::new();
    for word in crate::config::words::split_words(line) {
        let (key, value) = match word.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (word.as_str(), None),
        };
        // The key too: a `qinit.wifi.` word matches by its prefix, whatever follows.
        let bad = |why: &str| format!("{}={}: {why}", shown(key), shown(value.unwrap_or("")));
        match (key, value) {
            ("qinit.dhcp_timeout", Some(v)) => match v.parse::<f64>() {
                Ok(s) if s.is_finite() && (0.0..=3600.0).contains(&s) => {
                    cfg.dhcp_timeout = Duration::from_secs_f64(s)
                }
                _ => errors.push(bad("expected seconds between 0 and 3600")),
            },
            ("qinit.phy_wait", Some(v)) => match v.parse::<f64>() {
                Ok(s) if s.is_finite() && (0.0..=60.0).contains(&s) => {
                    cfg.phy_wait = Duration::from_secs_f64(s)
                }
                _ => errors.push(bad("expected seconds between 0 and 60")),
            },
            ("qinit.shutdown_timeout", Some(v)) => match v.parse::<f64>() {
                Ok(s) if s.is_finite() && (0.0..=600.0).contains(&s) => {
                    cfg.shutdown_timeout = Duration::from_secs_f64(s)
                }
                _ => errors.push(bad("expected seconds between 0 and 600")),
            },
            ("qinit.hostname", Some(v)) => match crate::names::hostname(v.as_bytes()) {
                Ok((h, _)) => cfg.hostname = Some(h),
                Err(e) => errors.push(bad(e.reason)),
            },
            ("qinit.shell", Some(v)) if v.starts_with('/') => cfg.shell = v.to_string(),
            ("qinit.shell", Some(_)) => errors.push(bad("expected an absolute path")),
            ("qinit.console", Some(v)) => {
                cfg.console = Some(v.trim_start_matches("/dev/").to_string())
            }
            ("qinit.modules", Some(v)) => cfg
                .modules
                .extend(v.split(',').filter(|m| !m.is_empty()).map(str::to_string)),
            ("qinit.net", Some("off")) => cfg.net = false,
            ("qinit.net", Some("on")) => cfg.net = true,
            ("qinit.net", Some(_)) => errors.push(bad("expected on or off")),
            ("qinit.ipv6", Some("off")) => cfg.ipv6 = false,
            ("qinit.ipv6", Some("on")) => cfg.ipv6 = true,
            ("qinit.ipv6", Some(_)) => errors.push(bad("expected on or off")),
            ("qinit.wait", Some(v)) => match Wait::parse(v) {
                Some(w) => cfg.wait = w,
                None => errors.push(bad("expected ipv4, ipv6, any, all or none")),
            },
            ("qinit.debug", None) => cfg.debug = true,
            ("qinit.dns", Some(v)) => {
                let parsed: Result<Vec<std::net::Ipv4Addr>, _> = v
                    .split(',')
                    .filter(|a| !a.is_empty())
                    .map(str::parse)
                    .collect();
                match parsed {
                    Ok(list) => cfg.dns = list,
                    Err(_) => errors.push(bad("expected IPv4 addresses separated by commas")),
                }
            }
            ("qinit.search", Some(v)) => {
                let parsed: Result<Vec<String>, _> = v
                    .split(',')
                    .filter(|d| !d.is_empty())
                    .map(|d| crate::names::domain(d.as_bytes()))
                    .collect();
                match parsed {
                    Ok(list) => cfg.search = list,
                    Err(e) => errors.push(bad(e.reason)),
                }
            }
            // Split like a POSIX shell would, without running one.
            ("qinit.exec", Some(v)) => match shlex::split(v) {
                Some(argv) if argv.first().is_some_and(|p| p.starts_with('/')) => {
                    cfg.exec = Some(argv)
                }
                Some(_) => errors.push(bad("expected a command starting with an absolute path")),
                None => errors.push(bad("unbalanced quotes")),
            },
            ("qinit.on_exit", Some(v)) => match OnExit::parse(v) {
                Some(o) => cfg.on_exit = o,
                None => errors.push(bad(
                    "expected respawn, poweroff, reboot, halt or debug-exit[:PORT]",
                )),
            },
            ("qinit.dhcp_rapid_commit", None) => cfg.rapid_commit = true,
            // dracut's keys (man dracut.cmdline); `ip=` is read in ip.rs.
            ("nameserver", Some(v)) => match net_keys::nameserver(v) {
                Ok(IpAddr::V4(a)) if cfg.dns.contains(&a) => {}
                Ok(IpAddr::V4(a)) => cfg.dns.push(a),
                Ok(IpAddr::V6(a)) if cfg.dns6.contains(&a) => {}
                Ok(IpAddr::V6(a)) => cfg.dns6.push(a),
                Err(e) => errors.push(bad(&e)),
            },
            ("rd.peerdns", Some(v)) => match net_keys::peerdns(v) {
                Ok(b) => cfg.peer_dns = b,
                Err(e) => errors.push(bad(&e)),
            },
            ("rd.route", Some(v)) => match net_keys::route(v) {
                Ok(r) => cfg.routes.push(r),
                Err(e) => errors.push(bad(&e)),
            },
            ("ifname", Some(v)) => match net_keys::ifname(v) {
                // A later word for the same name or MAC replaces the earlier.
                Ok(n) => {
                    cfg.ifnames.retain(|o| o.name != n.name && o.mac != n.mac);
                    cfg.ifnames.push(n);
                }
                Err(e) => errors.push(bad(&e)),
            },
            ("vlan", Some(v)) => match net_keys::vlan(v) {
                Ok(n) => {
                    cfg.vlans.retain(|o| o.name != n.name);
                    cfg.vlans.push(n);
                }
                Err(e) => errors.push(bad(&e)),
            },
            // `bond` and `bridge` alone are dracut's defaults (bond0 over eth0,eth1; br0
            // over eth0). A later word for the same name replaces the earlier.
            ("bond", v) => match netdev::bond(v) {
                Ok((b, warnings)) => {
                    errors.extend(warnings.iter().map(|w| bad(w)));
                    cfg.bonds.retain(|o| o.name != b.name);
                    cfg.bonds.push(b);
                }
                Err(e) => errors.push(bad(&e)),
            },
            ("bridge", v) => match netdev::bridge(v) {
                Ok(b) => {
                    cfg.bridges.retain(|o| o.name != b.name);
                    cfg.bridges.push(b);
                }
                Err(e) => errors.push(bad(&e)),
            },
            (k, Some(v)) if k.starts_with(wifi::PREFIX) => {
                let name = k.strip_prefix(wifi::PREFIX).unwrap_or(k);
                if let Err(e) = cfg.wifi.set(name, v) {
                    // A secret's value never reaches the console.
                    errors.push(if wifi::is_secret(name) {
                        format!("{}: {e}", shown(key))
                    } else {
                        bad(&e)
                    });
                }
            }
            _ => {}
        }
    }
    (cfg, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_kernel() {
        assert_eq!(
            crate::config::words::split_words("console=ttyS0  a=\"b c\" \"d e\"=f quiet\n"),
            vec!["console=ttyS0", "a=b c", "d e=f", "quiet"]
        );
        assert_eq!(crate::config::words::split_words(""), Vec::<String>::new());
    }

    #[test]
    fn wait_is_any_unless_told() {
        assert_eq!(parse("console=ttyS0").0.wait, Wait::Any);
        assert_eq!(parse("qinit.wait=ipv6").0.wait, Wait::Ipv6);
        assert_eq!(parse("qinit.wait=none").0.wait, Wait::None);
        let (c, e) = parse("qinit.wait=all qinit.wait=v6");
        assert_eq!(c.wait, Wait::All);
        assert_eq!(
            e,
            vec!["qinit.wait=v6: expected ipv4, ipv6, any, all or none".to_string()]
        );
    }

    #[test]
    fn ipv6_is_on_unless_turned_off() {
        assert!(parse("console=ttyS0").0.ipv6);
        assert!(!parse("qinit.ipv6=off").0.ipv6);
        let (c, e) = parse("qinit.ipv6=off qinit.ipv6=maybe");
        assert!(!c.ipv6);
        assert_eq!(e, vec!["qinit.ipv6=maybe: expected on or off".to_string()]);
    }

    #[test]
    fn phy_wait_out_of_range_keeps_the_default() {
        let (c, e) = parse("qinit.phy_wait=61 qinit.phy_wait=-1 qinit.phy_wait=0.5s");
        assert_eq!(c.phy_wait, PHY_WAIT_DEFAULT);
        assert_eq!(
            e,
            [
                "qinit.phy_wait=61: expected seconds between 0 and 60",
                "qinit.phy_wait=-1: expected seconds between 0 and 60",
                "qinit.phy_wait=0.5s: expected seconds between 0 and 60"
            ]
        );
    }

    #[test]
    fn reads_our_keys() {
        let (c, e) = parse(
            "console=ttyS0 qinit.dhcp_timeout=2.5 qinit.hostname=box qinit.debug qinit.modules=virtio_net,e1000e qinit.phy_wait=0",
        );
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(c.dhcp_timeout, Duration::from_millis(2500));
        assert_eq!(c.phy_wait, Duration::ZERO);
        assert_eq!(c.hostname.as_deref(), Some("box"));
        assert!(c.debug);
        assert_eq!(c.modules, vec!["virtio_net", "e1000e"]);
    }

    #[test]
    fn appliance_command_is_split_like_a_shell() {
        let (c, e) = parse("\"qinit.exec=/bin/sh -c 'echo APP; exit 3'\" qinit.on_exit=poweroff");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            c.exec,
            Some(vec![
                "/bin/sh".to_string(),
                "-c".into(),
                "echo APP; exit 3".into()
            ])
        );
        assert_eq!(
            c.on_exit,
            OnExit::Shutdown(crate::system::shutdown::Kind::PowerOff)
        );
        let (c, e) = parse("qinit.exec=app \"qinit.exec=/bin/x 'y\" qinit.on_exit=later");
        assert_eq!(c.exec, None);
        assert_eq!(e.len(), 3, "{e:?}");
    }

    #[test]
    fn debug_exit_takes_an_optional_port() {
        assert_eq!(OnExit::parse("debug-exit"), Some(OnExit::DebugExit(0xf4)));
        assert_eq!(
            OnExit::parse("debug-exit:0x501"),
            Some(OnExit::DebugExit(0x501))
        );
        assert_eq!(
            OnExit::parse("debug-exit:244"),
            Some(OnExit::DebugExit(244))
        );
        for bad in [
            "debug-exit:",
            "debug-exit:0x10000",
            "debug-exit:-1",
            "debug-exit:f4",
        ] {
            assert_eq!(OnExit::parse(bad), None, "{bad}");
        }
        let (c, e) = crate::config::load(Some("on_exit = \"debug-exit:0xf4\"\n"), "");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(c.on_exit, OnExit::DebugExit(0xf4));
        let (_, e) = parse("qinit.on_exit=debug-exit:port");
        assert_eq!(
            e,
            [
                "qinit.on_exit=debug-exit:port: expected respawn, poweroff, reboot, halt or debug-exit[:PORT]"
            ]
        );
    }

    #[test]
    fn command_line_wins_over_the_file() {
        let file =
            "hostname = \"filehost\"\ndhcp_timeout = 9\nip = [\"dhcp\"]\ndns = [\"10.0.2.3\"]\n";
        let (c, e) = crate::config::load(Some(file), "qinit.dhcp_timeout=1 ip=eth0:off");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(c.hostname.as_deref(), Some("filehost"));
        assert_eq!(c.dhcp_timeout, Duration::from_secs(1));
        assert_eq!(c.ip.len(), 1);
        assert_eq!(c.ip[0].device.as_deref(), Some("eth0"));
        assert_eq!(c.dns, vec![std::net::Ipv4Addr::new(10, 0, 2, 3)]);
        let (c, _) = crate::config::load(Some(file), "quiet");
        assert_eq!(c.ip[0].method, crate::config::ip::Method::Dhcp);
    }

    #[test]
    fn errors_in_the_file_name_it_and_the_rest_applies() {
        let (c, e) = crate::config::load(
            Some("hostnmae = \"x\"\nshell = \"/bin/ash\"\n"),
            "ip=1.2.3.4::::x;y:eth0:off qinit.search=a.test,b.test",
        );
        assert_eq!(c.shell, "/bin/ash");
        assert_eq!(c.search, vec!["a.test".to_string(), "b.test".to_string()]);
        assert!(
            e.iter()
                .any(|l| l.starts_with("/etc/qinit.conf:") && l.contains("hostnmae")),
            "{e:?}"
        );
        assert!(e.iter().any(|l| l.starts_with("ip=")), "{e:?}");
    }

    #[test]
    fn ip_hostname_names_the_machine_unless_qinit_hostname_does() {
        let (c, _) = crate::config::load(
            None,
            "ip=10.0.2.50::10.0.2.2:255.255.255.0:appliance:eth0:off",
        );
        assert_eq!(c.hostname.as_deref(), Some("appliance"));
        let (c, _) = crate::config::load(
            None,
            "qinit.hostname=box ip=10.0.2.50::10.0.2.2:255.255.255.0:appliance:eth0:off",
        );
        assert_eq!(c.hostname.as_deref(), Some("box"));
    }

    #[test]
    fn reads_dracuts_network_keys() {
        let (c, e) = parse(
            "nameserver=10.0.2.3 nameserver=10.1.2.3 nameserver=10.0.2.3 rd.peerdns=0 \
             rd.route=10.1.2.3/16:10.0.2.3 rd.route=10.9.0.0/16:10.0.2.2:eth0 \
             ifname=lan0:52:54:00:12:34:56 ifname=wan0:52:54:00:12:34:57 \
             vlan=eth0.99:eth0 vlan=eth0.99:eth1 vlan=vlan7:eth0",
        );
        assert!(e.is_empty(), "{e:?}");
        let ip = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
        assert_eq!(c.dns, vec![ip("10.0.2.3"), ip("10.1.2.3")]);
        assert!(!c.peer_dns);
        assert_eq!(c.routes.len(), 2);
        assert_eq!(c.routes[0].dest, ip("10.1.0.0"));
        assert_eq!(c.routes[1].device.as_deref(), Some("eth0"));
        assert_eq!(c.ifnames.len(), 2);
        assert_eq!(c.ifnames[0].name, "lan0");
        // A later vlan= for the same name replaces the earlier.
        let vlans: Vec<(&str, u16, &str)> = c
            .vlans
            .iter()
            .map(|v| (v.name.as_str(), v.id, v.parent.as_str()))
            .collect();
        assert_eq!(vlans, [("eth0.99", 99, "eth1"), ("vlan7", 7, "eth0")]);
        assert!(parse("rd.peerdns=1").0.peer_dns);
        assert!(Config::default().peer_dns);
    }

    #[test]
    fn reads_bonds_bridges_and_ipv6_name_servers() {
        use crate::config::netdev::{BondMode, BondOption};
        let (c, e) = parse(
            "bond=bond0:eth0,eth1:mode=active-backup,miimon=100,bogus=1 bond=bond1:eth2:mode=3 \
             bond=bond1:eth3 bridge=br0:eth4 bridge nameserver=2001:db8::53 \
             nameserver=[2001:db8::53] nameserver=10.0.2.3",
        );
        assert_eq!(
            e,
            [
                "bond=bond0:eth0,eth1:mode=active-backup,miimon=100,bogus=1: unknown bonding option 'bogus'"
            ]
        );
        let bonds: Vec<(&str, Vec<String>, BondMode)> = c
            .bonds
            .iter()
            .map(|b| (b.name.as_str(), b.slaves.clone(), b.mode()))
            .collect();
        assert_eq!(
            bonds,
            [
                (
                    "bond0",
                    vec!["eth0".into(), "eth1".into()],
                    BondMode::ActiveBackup
                ),
                ("bond1", vec!["eth3".into()], BondMode::BalanceRr),
            ]
        );
        assert!(c.bonds[0].options.contains(&BondOption::MiiMon(100)));
        assert_eq!(
            c.bridges.len(),
            1,
            "a bare bridge is br0 again, replacing it"
        );
        assert_eq!(c.bridges[0].ports, ["eth0"]);
        assert_eq!(
            c.dns6,
            ["2001:db8::53".parse::<std::net::Ipv6Addr>().unwrap()]
        );
        assert_eq!(c.dns, [std::net::Ipv4Addr::new(10, 0, 2, 3)]);
        let (c, e) = parse("bond");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(c.bonds[0].name, "bond0");
        assert_eq!(c.bonds[0].slaves, ["eth0", "eth1"]);
    }

    #[test]
    fn bad_network_keys_name_key_and_value_and_the_rest_applies() {
        let long = "9".repeat(5000);
        let (c, e) = parse(&format!(
            "nameserver=ns1 rd.peerdns=maybe rd.route=10.0.0.0/40:10.0.2.2 \
             ifname=lan0:52:54:00:12:34 nameserver=10.0.2.3 rd.route={long}"
        ));
        assert_eq!(c.dns, vec![std::net::Ipv4Addr::new(10, 0, 2, 3)]);
        assert!(c.peer_dns && c.routes.is_empty() && c.ifnames.is_empty());
        assert_eq!(e.len(), 5, "{e:?}");
        assert_eq!(e[0], "nameserver=ns1: expected an IPv4 or IPv6 address");
        assert_eq!(e[1], "rd.peerdns=maybe: expected 0 or 1");
        assert_eq!(
            e[2],
            "rd.route=10.0.0.0/40:10.0.2.2: bad prefix length '40'"
        );
        assert!(
            e[3].starts_with("ifname=lan0:52:54:00:12:34: bad MAC address"),
            "{}",
            e[3]
        );
        assert!(e[4].starts_with("rd.route=999"), "{}", e[4]);
        assert!(
            e[4].contains("... (5000 bytes): longer than 64 bytes"),
            "{}",
            e[4]
        );
        assert!(e[4].len() < 200, "{} bytes", e[4].len());
        for key in [
            "nameserver",
            "rd.peerdns",
            "ifname",
            "vlan",
            "bond",
            "bridge",
            "rd.route",
            "ip",
        ] {
            let (c, e) = parse(&format!("{key}=a:{long}\x1b[2J"));
            assert_eq!(c, Config::default(), "{key}");
            if key != "ip" {
                assert_eq!(e.len(), 1, "{key}: {e:?}");
                assert!(
                    e[0].len() < 300 && !e[0].contains('\x1b'),
                    "{key}: {}",
                    e[0]
                );
            }
        }
        assert!(e.iter().all(|l| !l.contains('\n')));
    }

    #[test]
    fn a_wifi_key_with_control_characters_is_shown_escaped() {
        // Found by the cmdline fuzz target: any key with the prefix reaches the error.
        let (_, e) = parse("qinit.wifi.passphra\u{8f}\x1b[2J=x qinit.wifi.ss\x07id=home");
        assert_eq!(e.len(), 2, "{e:?}");
        for line in &e {
            assert!(!line.chars().any(char::is_control), "{line:?}");
            assert!(line.starts_with("qinit.wifi."), "{line:?}");
        }
    }

    #[test]
    fn bad_values_name_key_and_value_and_keep_defaults() {
        let (c, e) = parse("qinit.dhcp_timeout=soon qinit.hostname=a;b qinit.shell=sh");
        assert_eq!(c, Config::default());
        assert_eq!(e.len(), 3);
        assert!(e[0].contains("qinit.dhcp_timeout=soon"), "{}", e[0]);
        assert!(e[1].contains("qinit.hostname=a;b"), "{}", e[1]);
    }
}
