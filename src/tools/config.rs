//! `qinit config [--cmdline "WORDS"] [--conf PATH] [--credentials DIR]`: the effective
//! configuration, for the machine, the devices the command line makes and each link it
//! names, every value with where it came from (the kernel command line, qinit.conf, a
//! credential, or the default). `--cmdline` reads those words instead of /proc/cmdline,
//! so that a command line can be checked before it is booted. It only reads; it changes
//! nothing.
//!
//! Each source is read alone as `config::load_from` reads it among the others; a value's
//! source is the strongest one that sets it (or every one that adds to it, joined by
//! " + ", for lists that several fill).

use std::path::Path;

use crate::config::cmdline::{self, Config, OnExit};
use crate::config::credentials::{self, Credentials, Origin};
use crate::config::ip::{self, IpConfig};
use crate::config::{Sources, file, load_from};
use crate::dhcp::acd::mac_text;
use crate::net::plan::{LinkPlan, membership, plan_for, settings_for};

pub const USAGE: &str =
    "usage: qinit config [--cmdline \"WORDS\"] [--conf PATH] [--credentials DIR]";

/// One source read alone, strongest first.
struct Layer {
    name: String,
    cfg: Config,
    ip: Vec<IpConfig>,
}

fn layers(sources: &Sources<'_>) -> Vec<Layer> {
    let words = |name: &str, line: &str| {
        let (mut cfg, _) = cmdline::parse(line);
        let (ip, _) = ip::from_cmdline(line);
        if cfg.hostname.is_none() {
            cfg.hostname = ip.iter().find_map(|c| c.hostname.clone());
        }
        Layer {
            name: name.to_owned(),
            cfg,
            ip,
        }
    };
    let mut out = vec![words("kernel command line", sources.cmdline)];
    let creds = sources.credentials;
    if let Some(extra) = creds
        .map(|c| c.cmdline_extra.as_str())
        .filter(|e| !e.is_empty())
    {
        out.push(words(
            "credential io.systemd.stub.kernel-cmdline-extra",
            extra,
        ));
    }
    if let Some(Ok((name, _))) = creds
        .and_then(|c| c.get(credentials::HOSTNAME))
        .map(|raw| crate::names::hostname(raw.trim_ascii()))
    {
        out.push(Layer {
            name: format!("credential {}", credentials::HOSTNAME),
            cfg: Config {
                hostname: Some(name),
                ..Config::default()
            },
            ip: Vec::new(),
        });
    }
    if let Some(raw) = creds.and_then(|c| c.get(credentials::NOTIFY_SOCKET))
        && let Ok(a) = crate::system::notify::Address::parse(&String::from_utf8_lossy(raw))
    {
        out.push(Layer {
            name: format!("credential {}", credentials::NOTIFY_SOCKET),
            cfg: Config {
                notify_socket: Some(a),
                ..Config::default()
            },
            ip: Vec::new(),
        });
    }
    let conf = match creds.and_then(|c| c.get(credentials::QINIT_CONF)) {
        Some(bytes) => Some((
            String::from_utf8_lossy(bytes).into_owned(),
            "credential qinit.conf",
        )),
        None => sources.file.map(|t| (t.to_owned(), "/etc/qinit.conf")),
    };
    if let Some((text, name)) = conf {
        let (line, _) = file::to_cmdline(&text);
        out.push(words(name, &line));
    }
    out
}

/// Where the value `show` gives came from: the strongest layer that sets it, or every
/// layer that adds to it.
fn source(layers: &[Layer], effective: &Config, show: impl Fn(&Config) -> String) -> String {
    let default = show(&Config::default());
    let value = show(effective);
    let setters: Vec<&Layer> = layers.iter().filter(|l| show(&l.cfg) != default).collect();
    match setters.first() {
        None => "default".to_owned(),
        Some(first) if show(&first.cfg) == value => first.name.clone(),
        Some(_) => {
            let names: Vec<&str> = setters.iter().map(|l| l.name.as_str()).collect();
            names.join(" + ")
        }
    }
}

fn seconds(d: std::time::Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

fn on_off(b: bool) -> String {
    (if b { "on" } else { "off" }).to_owned()
}

fn list<T: ToString>(items: &[T], sep: &str) -> String {
    if items.is_empty() {
        return "-".to_owned();
    }
    let items: Vec<String> = items.iter().map(T::to_string).collect();
    items.join(sep)
}

fn route_text(r: &crate::config::net_keys::ExtraRoute) -> String {
    let dev = r
        .device
        .as_ref()
        .map(|d| format!(" dev {d}"))
        .unwrap_or_default();
    format!("{}/{} via {}{dev}", r.dest, r.prefix_len, r.gateway)
}

type Field = (&'static str, fn(&Config) -> String);

const MACHINE: [Field; 17] = [
    ("host name", |c| {
        c.hostname
            .clone()
            .unwrap_or_else(|| "- (the lease's, else qinit)".into())
    }),
    ("name servers", |c| {
        let mut all: Vec<String> = c.dns.iter().map(|a| a.to_string()).collect();
        all.extend(c.dns6.iter().map(|a| a.to_string()));
        list(&all, " ")
    }),
    ("search domains", |c| list(&c.search, " ")),
    ("DNS from DHCP", |c| on_off(c.peer_dns)),
    ("routes", |c| {
        let r: Vec<String> = c.routes.iter().map(route_text).collect();
        list(&r, ", ")
    }),
    ("foreground program", |c| match &c.exec {
        Some(argv) => argv.join(" "),
        None => format!("{} (shell)", c.shell),
    }),
    ("on exit", |c| match c.on_exit {
        OnExit::Respawn => "respawn".into(),
        OnExit::Shutdown(k) => format!("{k:?}").to_lowercase(),
        OnExit::DebugExit(port) => format!("debug-exit:{port:#x}"),
    }),
    ("console", |c| {
        c.console.clone().unwrap_or_else(|| "-".into())
    }),
    ("modules", |c| list(&c.modules, ",")),
    ("network", |c| on_off(c.net)),
    ("IPv6", |c| on_off(c.ipv6)),
    ("DHCP timeout", |c| seconds(c.dhcp_timeout)),
    ("DHCP rapid commit", |c| on_off(c.rapid_commit)),
    ("PHY wait", |c| seconds(c.phy_wait)),
    ("shutdown timeout", |c| seconds(c.shutdown_timeout)),
    ("notify socket", |c| {
        c.notify_socket
            .map_or_else(|| "-".into(), |a| a.to_string())
    }),
    ("debug", |c| on_off(c.debug)),
];

/// The strongest layer in which `has` finds the item.
fn item_source(layers: &[Layer], has: impl Fn(&Config) -> bool) -> String {
    layers
        .iter()
        .find(|l| has(&l.cfg))
        .map_or_else(|| "default".to_owned(), |l| l.name.clone())
}

fn plan_text(plan: &LinkPlan) -> String {
    match plan {
        LinkPlan::Dhcp => "DHCP".into(),
        LinkPlan::Off => "left down".into(),
        LinkPlan::Static(l) => {
            let via = l.router().map(|r| format!(" via {r}")).unwrap_or_default();
            format!("static {}/{}{via}", l.address, l.prefix_len)
        }
        LinkPlan::Ipv6(m) => {
            let how = match m {
                crate::config::ip::V6Method::Dhcp6 => "DHCPv6 (stateful)",
                crate::config::ip::V6Method::Auto6 => "SLAAC, DHCPv6 as the router's flags ask",
                crate::config::ip::V6Method::Either6 => "SLAAC, or DHCPv6 when it gave nothing",
            };
            format!("IPv6 only: {how}")
        }
        LinkPlan::Static6(s) => {
            let via = s.gateway.map(|r| format!(" via {r}")).unwrap_or_default();
            format!("static {}/{}{via}", s.address, s.prefix_len)
        }
    }
}

/// The report: the machine, the devices to make, each named link, then the errors.
pub fn report(sources: &Sources<'_>) -> String {
    let (cfg, errors) = load_from(sources);
    let layers = layers(sources);
    let mut out = String::from("machine:\n");
    for (label, show) in MACHINE {
        let src = source(&layers, &cfg, show);
        out.push_str(&format!("  {label:<19} {}  [{src}]\n", show(&cfg)));
    }
    out.push_str("devices to create:\n");
    let before = out.len();
    for b in &cfg.bonds {
        let opts: Vec<String> = b.options.iter().map(|o| o.to_string()).collect();
        let mtu = b.mtu.map(|m| format!(", MTU {m}")).unwrap_or_default();
        let src = item_source(&layers, |c| c.bonds.contains(b));
        out.push_str(&format!(
            "  {:<15} bond over {}, {}{mtu}  [{src}]\n",
            b.name,
            b.slaves.join(","),
            opts.join(",")
        ));
    }
    for b in &cfg.bridges {
        let src = item_source(&layers, |c| c.bridges.contains(b));
        out.push_str(&format!(
            "  {:<15} bridge over {}  [{src}]\n",
            b.name,
            b.ports.join(",")
        ));
    }
    for v in &cfg.vlans {
        let src = item_source(&layers, |c| c.vlans.contains(v));
        out.push_str(&format!(
            "  {:<15} VLAN {} on {}  [{src}]\n",
            v.name, v.id, v.parent
        ));
    }
    if out.len() == before {
        out.push_str("  -\n");
    }
    out.push_str("links:\n");
    let ip_source = layers
        .iter()
        .find(|l| !l.ip.is_empty())
        .map_or("default", |l| l.name.as_str());
    let mut names: Vec<String> = Vec::new();
    let mut add = |n: &str| {
        if !names.iter().any(|o| o == n) {
            names.push(n.to_owned());
        }
    };
    cfg.ip
        .iter()
        .filter_map(|c| c.device.as_deref())
        .for_each(&mut add);
    cfg.ifnames.iter().for_each(|n| add(&n.name));
    for b in &cfg.bonds {
        add(&b.name);
        b.slaves.iter().for_each(|s| add(s));
    }
    for b in &cfg.bridges {
        add(&b.name);
        b.ports.iter().for_each(|p| add(p));
    }
    cfg.vlans.iter().for_each(|v| add(&v.name));
    for name in &names {
        out.push_str(&format!("  {name}:\n"));
        if let Some(n) = cfg.ifnames.iter().find(|n| &n.name == name) {
            let src = item_source(&layers, |c| c.ifnames.contains(n));
            out.push_str(&format!(
                "    {:<17} the link with MAC {}  [{src}]\n",
                "renamed from",
                mac_text(&n.mac)
            ));
        }
        if let Some(m) = membership(name, &cfg.bonds, &cfg.bridges) {
            let what = if m.key == "bond" { "slave" } else { "port" };
            let src = item_source(&layers, |c| {
                membership(name, &c.bonds, &c.bridges).is_some_and(|n| n.master == m.master)
            });
            out.push_str(&format!(
                "    {:<17} {what} of {}: no address, no DHCP  [{src}]\n",
                "member", m.master
            ));
            continue;
        }
        let plan = plan_for(name, 0, &cfg.ip, &cfg.search);
        out.push_str(&format!(
            "    {:<17} {}  [{ip_source}]\n",
            "configuration",
            plan_text(&plan)
        ));
        let settings = settings_for(name, &cfg.ip, &cfg.routes);
        let bond_mtu = cfg
            .bonds
            .iter()
            .find(|b| &b.name == name)
            .and_then(|b| b.mtu);
        match (settings.mtu, bond_mtu) {
            (Some(m), _) => out.push_str(&format!("    {:<17} {m}  [{ip_source}]\n", "MTU")),
            (None, Some(m)) => {
                let src = item_source(&layers, |c| c.bonds.iter().any(|b| &b.name == name));
                out.push_str(&format!("    {:<17} {m}  [{src}]\n", "MTU"));
            }
            (None, None) => {}
        }
        if let Some(mac) = settings.mac {
            out.push_str(&format!(
                "    {:<17} {}  [{ip_source}]\n",
                "MAC",
                mac_text(&mac)
            ));
        }
        for r in cfg
            .routes
            .iter()
            .filter(|r| r.device.as_deref() == Some(name))
        {
            let src = item_source(&layers, |c| c.routes.contains(r));
            out.push_str(&format!("    {:<17} {}  [{src}]\n", "route", route_text(r)));
        }
    }
    let other = plan_for("", 1, &cfg.ip, &cfg.search);
    let first = plan_for("", 0, &cfg.ip, &cfg.search);
    let other = if first == other {
        plan_text(&other)
    } else {
        format!(
            "{} on the first, {} on the others",
            plan_text(&first),
            plan_text(&other)
        )
    };
    out.push_str(&format!("  other Ethernet links: {other}  [{ip_source}]\n"));
    if !errors.is_empty() {
        out.push_str("errors (each value left out, the rest applies):\n");
        for e in &errors {
            out.push_str(&format!("  {e}\n"));
        }
    }
    out
}

/// The credentials PID 1 wrote that change the configuration.
fn read_credentials(dir: &Path) -> Credentials {
    let mut creds = Credentials::default();
    for name in [
        credentials::QINIT_CONF,
        credentials::HOSTNAME,
        credentials::NOTIFY_SOCKET,
    ] {
        if let Ok(data) = std::fs::read(dir.join(name)) {
            let _ = creds.add(Origin::FwCfg, name.as_bytes(), data);
        }
    }
    creds
}

pub fn main(args: &[String]) -> i32 {
    let mut cmdline = None;
    let mut conf = "/etc/qinit.conf".to_owned();
    let mut creds_dir = crate::system::credentials::SYSTEM_DIR.to_owned();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let target = match arg.as_str() {
            "--cmdline" => &mut cmdline,
            "--conf" => {
                let Some(v) = args.next() else {
                    eprintln!("{USAGE}");
                    return 2;
                };
                conf = v.clone();
                continue;
            }
            "--credentials" => {
                let Some(v) = args.next() else {
                    eprintln!("{USAGE}");
                    return 2;
                };
                creds_dir = v.clone();
                continue;
            }
            _ => {
                eprintln!("{USAGE}");
                return 2;
            }
        };
        match args.next() {
            Some(v) => *target = Some(v.clone()),
            None => {
                eprintln!("{USAGE}");
                return 2;
            }
        }
    }
    let cmdline = match cmdline {
        Some(c) => c,
        None => match std::fs::read("/proc/cmdline") {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                eprintln!("qinit config: /proc/cmdline: {e}");
                return 1;
            }
        },
    };
    let file = std::fs::read(&conf)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let creds = read_credentials(Path::new(&creds_dir));
    print!(
        "{}",
        report(&Sources {
            file: file.as_deref(),
            credentials: Some(&creds),
            cmdline: &cmdline,
        })
    );
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(report: &'a str, start: &str) -> &'a str {
        report
            .lines()
            .find(|l| l.trim_start().starts_with(start))
            .unwrap_or_else(|| panic!("no line '{start}' in:\n{report}"))
    }

    #[test]
    fn each_value_names_its_source() {
        let file = "hostname = \"fromfile\"\ndhcp_timeout = 9\nnameserver = [\"10.0.2.4\"]\n";
        let r = report(&Sources {
            file: Some(file),
            credentials: None,
            cmdline: "qinit.dhcp_timeout=2 nameserver=2001:db8::53 ip=bond0:dhcp:1400 \
                      bond=bond0:eth0,eth1:mode=active-backup,miimon=100 rd.route=10.9.0.0/16:10.0.2.2:bond0",
        });
        assert_eq!(
            line(&r, "host name").split_whitespace().collect::<Vec<_>>(),
            ["host", "name", "fromfile", "[/etc/qinit.conf]"]
        );
        assert!(
            line(&r, "DHCP timeout").ends_with("2 s  [kernel command line]"),
            "{r}"
        );
        assert!(line(&r, "PHY wait").ends_with("3 s  [default]"), "{r}");
        assert!(
            line(&r, "name servers")
                .ends_with("10.0.2.4 2001:db8::53  [kernel command line + /etc/qinit.conf]"),
            "{r}"
        );
        assert!(
            line(&r, "bond0").contains(
                "bond over eth0,eth1, mode=active-backup,miimon=100  [kernel command line]"
            ),
            "{r}"
        );
        assert!(
            line(&r, "member").contains("slave of bond0: no address, no DHCP"),
            "{r}"
        );
        assert!(
            line(&r, "configuration").contains("DHCP  [kernel command line]"),
            "{r}"
        );
        assert!(
            line(&r, "MTU").contains("1400  [kernel command line]"),
            "{r}"
        );
        assert!(
            line(&r, "route").contains("10.9.0.0/16 via 10.0.2.2 dev bond0"),
            "{r}"
        );
        assert!(
            line(&r, "other Ethernet links").contains("left down"),
            "{r}"
        );
        assert!(!r.contains("errors"), "{r}");
    }

    #[test]
    fn credentials_and_errors_are_shown() {
        let mut creds = Credentials::default();
        creds
            .add(Origin::FwCfg, b"system.hostname", b"credhost\n".to_vec())
            .unwrap();
        let r = report(&Sources {
            file: None,
            credentials: Some(&creds),
            cmdline: "bond=bond0:eth0:frob=1 vlan=eth0.5000:eth0",
        });
        assert!(
            line(&r, "host name").contains("credhost  [credential system.hostname]"),
            "{r}"
        );
        assert!(
            r.contains("  bond=bond0:eth0:frob=1: unknown bonding option 'frob'\n"),
            "{r}"
        );
        assert!(r.contains("cannot read a VLAN id"), "{r}");
        assert!(
            line(&r, "other Ethernet links").contains("DHCP  [default]"),
            "{r}"
        );
    }
}
