//! dracut's `bond=` and `bridge=` (man dracut.cmdline; the cases of systemd's network
//! generator test): the devices the command line asks qinit to make, their members, and
//! the bonding driver's options read from `mode=active-backup,miimon=100`. Pure parsing;
//! src/net/ makes the devices.

use std::fmt;
use std::net::Ipv4Addr;

use crate::config::net_keys::{device_name, mtu};
use crate::log::escape;

/// The most members a bond or bridge may list: more is a typo or an attack.
const MAX_MEMBERS: usize = 32;

/// The bonding driver's modes (Documentation/networking/bonding.rst), with its numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BondMode {
    BalanceRr,
    ActiveBackup,
    BalanceXor,
    Broadcast,
    Ieee8023Ad,
    BalanceTlb,
    BalanceAlb,
}

const MODES: [(BondMode, &str); 7] = [
    (BondMode::BalanceRr, "balance-rr"),
    (BondMode::ActiveBackup, "active-backup"),
    (BondMode::BalanceXor, "balance-xor"),
    (BondMode::Broadcast, "broadcast"),
    (BondMode::Ieee8023Ad, "802.3ad"),
    (BondMode::BalanceTlb, "balance-tlb"),
    (BondMode::BalanceAlb, "balance-alb"),
];

/// xmit_hash_policy's names and the driver's numbers.
const XMIT_HASH_POLICIES: [(&str, u8); 6] = [
    ("layer2", 0),
    ("layer3+4", 1),
    ("layer2+3", 2),
    ("encap2+3", 3),
    ("encap3+4", 4),
    ("vlan+srcmac", 5),
];

impl BondMode {
    /// The name, or the number, as the bonding driver's sysfs file takes them.
    fn parse(text: &str) -> Option<BondMode> {
        MODES
            .iter()
            .zip(0u8..)
            .find(|((_, name), n)| *name == text || n.to_string() == text)
            .map(|((mode, _), _)| *mode)
    }

    pub fn name(self) -> &'static str {
        MODES
            .iter()
            .find(|(m, _)| *m == self)
            .map_or("balance-rr", |(_, n)| n)
    }
}

/// One option of `bond=`'s third field, in the driver's units (milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BondOption {
    Mode(BondMode),
    MiiMon(u32),
    UpDelay(u32),
    DownDelay(u32),
    ArpInterval(u32),
    /// Up to 16 targets (BOND_MAX_ARP_TARGETS), separated by ';' or '+'.
    ArpIpTarget(Vec<Ipv4Addr>),
    /// The number of xmit_hash_policy.
    XmitHashPolicy(u8),
    /// lacp_rate: true for fast (every second), false for slow.
    LacpFast(bool),
    MinLinks(u32),
    /// The slave preferred as the active one; set once it is enslaved.
    Primary(String),
}

impl fmt::Display for BondOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BondOption::Mode(m) => write!(f, "mode={}", m.name()),
            BondOption::MiiMon(v) => write!(f, "miimon={v}"),
            BondOption::UpDelay(v) => write!(f, "updelay={v}"),
            BondOption::DownDelay(v) => write!(f, "downdelay={v}"),
            BondOption::ArpInterval(v) => write!(f, "arp_interval={v}"),
            BondOption::ArpIpTarget(t) => {
                let t: Vec<String> = t.iter().map(Ipv4Addr::to_string).collect();
                write!(f, "arp_ip_target={}", t.join(";"))
            }
            BondOption::XmitHashPolicy(n) => {
                let name = XMIT_HASH_POLICIES
                    .iter()
                    .find(|(_, v)| v == n)
                    .map_or("layer2", |(name, _)| name);
                write!(f, "xmit_hash_policy={name}")
            }
            BondOption::LacpFast(fast) => {
                write!(f, "lacp_rate={}", if *fast { "fast" } else { "slow" })
            }
            BondOption::MinLinks(v) => write!(f, "min_links={v}"),
            BondOption::Primary(p) => write!(f, "primary={p}"),
        }
    }
}

/// `bond=<name>[:<slaves>[:<options>[:<mtu>]]]`: a bond made at boot, its slaves
/// enslaved as they appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bond {
    pub name: String,
    pub slaves: Vec<String>,
    /// Always holds a `Mode`, first: balance-rr unless the options say otherwise.
    pub options: Vec<BondOption>,
    pub mtu: Option<u32>,
}

impl Bond {
    pub fn mode(&self) -> BondMode {
        self.options
            .iter()
            .find_map(|o| match o {
                BondOption::Mode(m) => Some(*m),
                _ => None,
            })
            .unwrap_or(BondMode::BalanceRr)
    }
}

/// `bridge=<name>:<ports>`: a bridge made at boot, its ports added as they appear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    pub name: String,
    pub ports: Vec<String>,
}

/// A comma-separated member list of device `name`: at least one, none twice, never the
/// device itself.
fn members(list: &str, name: &str, what: &str) -> Result<Vec<String>, String> {
    let items: Vec<&str> = list.split(',').collect();
    if items.len() > MAX_MEMBERS {
        return Err(format!("more than {MAX_MEMBERS} {what}s"));
    }
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let m = device_name(item)?;
        if m == name {
            return Err(format!("'{name}' cannot be a {what} of itself"));
        }
        if out.contains(&m) {
            return Err(format!("{what} '{m}' listed twice"));
        }
        out.push(m);
    }
    Ok(out)
}

/// One `key=value` of `bond=`'s options.
fn bond_option(item: &str) -> Result<BondOption, String> {
    let (key, value) = item.split_once('=').unwrap_or((item, ""));
    let shown = || escape(value.as_bytes());
    let millis = || {
        value
            .parse::<u32>()
            .ok()
            .filter(|v| *v <= 3_600_000)
            .ok_or_else(|| {
                format!(
                    "bonding option {key}: bad value '{}': expected milliseconds",
                    shown()
                )
            })
    };
    match key {
        "mode" => BondMode::parse(value).map(BondOption::Mode).ok_or_else(|| {
            format!(
                "bonding option mode: unknown mode '{}': expected balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb or balance-alb",
                shown()
            )
        }),
        "miimon" => millis().map(BondOption::MiiMon),
        "updelay" => millis().map(BondOption::UpDelay),
        "downdelay" => millis().map(BondOption::DownDelay),
        "arp_interval" => millis().map(BondOption::ArpInterval),
        "min_links" => millis().map(BondOption::MinLinks),
        "arp_ip_target" => {
            let targets: Option<Vec<Ipv4Addr>> =
                value.split([';', '+']).map(|t| t.parse().ok()).collect();
            match targets {
                Some(t) if (1..=16).contains(&t.len()) => Ok(BondOption::ArpIpTarget(t)),
                _ => Err(format!(
                    "bonding option arp_ip_target: bad value '{}': expected 1 to 16 IPv4 addresses separated by ';'",
                    shown()
                )),
            }
        }
        "xmit_hash_policy" => XMIT_HASH_POLICIES
            .iter()
            .find(|(name, n)| *name == value || n.to_string() == value)
            .map(|(_, n)| BondOption::XmitHashPolicy(*n))
            .ok_or_else(|| {
                format!(
                    "bonding option xmit_hash_policy: unknown policy '{}'",
                    shown()
                )
            }),
        "lacp_rate" => match value {
            "slow" | "0" => Ok(BondOption::LacpFast(false)),
            "fast" | "1" => Ok(BondOption::LacpFast(true)),
            _ => Err(format!(
                "bonding option lacp_rate: bad value '{}': expected slow or fast",
                shown()
            )),
        },
        "primary" => device_name(value)
            .map(BondOption::Primary)
            .map_err(|e| format!("bonding option primary: {e}")),
        _ => Err(format!(
            "unknown bonding option '{}'",
            escape(key.as_bytes())
        )),
    }
}

/// `bond`, or `bond=<name>[:<slaves>[:<options>[:<mtu>]]]`. As dracut reads it, `bond`
/// alone is bond0 over eth0 and eth1, and no slaves means those two. Returns the bond
/// and one line per option left out (unknown or bad): the rest of them apply.
pub fn bond(value: Option<&str>) -> Result<(Bond, Vec<String>), String> {
    let value = value.unwrap_or("bond0");
    let fields: Vec<&str> = value.split(':').collect();
    let (name, slaves, options, mtu_text) = match fields.as_slice() {
        [n] => (*n, "", "", ""),
        [n, s] => (*n, *s, "", ""),
        [n, s, o] => (*n, *s, *o, ""),
        [n, s, o, m] => (*n, *s, *o, *m),
        _ => return Err("expected <name>[:<slaves>[:<options>[:<mtu>]]]".into()),
    };
    let name = device_name(name)?;
    let slaves = match slaves {
        "" => vec!["eth0".to_string(), "eth1".to_string()],
        list => members(list, &name, "slave")?,
    };
    if slaves.contains(&name) {
        return Err(format!("'{name}' cannot be a slave of itself"));
    }
    let mtu = match mtu_text {
        "" => None,
        m => Some(mtu(m)?),
    };
    let mut warnings = Vec::new();
    let mut opts = Vec::new();
    for item in options.split(',').filter(|i| !i.is_empty()) {
        match bond_option(item) {
            // A later value for the same option replaces the earlier.
            Ok(o) => {
                opts.retain(|p| std::mem::discriminant(p) != std::mem::discriminant(&o));
                opts.push(o);
            }
            Err(e) => warnings.push(e),
        }
    }
    let mode = opts.iter().position(|o| matches!(o, BondOption::Mode(_)));
    let mode = match mode {
        Some(i) => opts.remove(i),
        None => BondOption::Mode(BondMode::BalanceRr),
    };
    opts.insert(0, mode);
    Ok((
        Bond {
            name,
            slaves,
            options: opts,
            mtu,
        },
        warnings,
    ))
}

/// `bridge`, or `bridge=<name>:<ports>`. As dracut reads it, `bridge` alone is br0 over
/// eth0.
pub fn bridge(value: Option<&str>) -> Result<Bridge, String> {
    let Some((name, ports)) = value.unwrap_or("br0:eth0").split_once(':') else {
        return Err("expected <name>:<ports>".into());
    };
    let name = device_name(name)?;
    if ports.is_empty() {
        return Err("expected <name>:<ports>".into());
    }
    let ports = members(ports, &name, "port")?;
    Ok(Bridge { name, ports })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn bonds_as_systemds_generator_reads_them() {
        // test-network-generator.c: bond=bond99:eth0,eth1 and bond99:eth0,eth1::1530.
        let (b, w) = bond(Some("bond99:eth0,eth1")).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(b.name, "bond99");
        assert_eq!(b.slaves, names(&["eth0", "eth1"]));
        assert_eq!(b.mtu, None);
        assert_eq!(b.options, [BondOption::Mode(BondMode::BalanceRr)]);
        let (b, w) = bond(Some("bond99:eth0,eth1::1530")).unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(b.slaves, names(&["eth0", "eth1"]));
        assert_eq!(b.mtu, Some(1530));
    }

    #[test]
    fn bond_alone_is_bond0_over_eth0_and_eth1_in_balance_rr() {
        for value in [None, Some("bond0"), Some("bond0:"), Some("bond0:::")] {
            let (b, w) = bond(value).unwrap();
            assert!(w.is_empty(), "{value:?}: {w:?}");
            assert_eq!(b.name, "bond0");
            assert_eq!(b.slaves, names(&["eth0", "eth1"]), "{value:?}");
            assert_eq!(b.mode(), BondMode::BalanceRr);
            assert_eq!(b.mtu, None);
        }
    }

    #[test]
    fn bond_options_map_to_the_drivers_values() {
        let (b, w) = bond(Some(
            "bond0:eth0,eth1:mode=active-backup,miimon=100,updelay=200,downdelay=300,\
             xmit_hash_policy=layer3+4,lacp_rate=fast,min_links=1,primary=eth1,\
             arp_interval=500,arp_ip_target=10.0.2.2;10.0.2.3:9000",
        ))
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(b.mtu, Some(9000));
        assert_eq!(
            b.options,
            [
                BondOption::Mode(BondMode::ActiveBackup),
                BondOption::MiiMon(100),
                BondOption::UpDelay(200),
                BondOption::DownDelay(300),
                BondOption::XmitHashPolicy(1),
                BondOption::LacpFast(true),
                BondOption::MinLinks(1),
                BondOption::Primary("eth1".into()),
                BondOption::ArpInterval(500),
                BondOption::ArpIpTarget(vec![
                    Ipv4Addr::new(10, 0, 2, 2),
                    Ipv4Addr::new(10, 0, 2, 3)
                ]),
            ]
        );
        let shown: Vec<String> = b.options.iter().map(|o| o.to_string()).collect();
        assert_eq!(
            shown.join(","),
            "mode=active-backup,miimon=100,updelay=200,downdelay=300,\
             xmit_hash_policy=layer3+4,lacp_rate=fast,min_links=1,primary=eth1,\
             arp_interval=500,arp_ip_target=10.0.2.2;10.0.2.3"
        );
        // Modes by number, as the driver's sysfs file takes them; a later mode wins.
        let (b, _) = bond(Some("bond0:eth0:mode=4")).unwrap();
        assert_eq!(b.mode(), BondMode::Ieee8023Ad);
        let (b, _) = bond(Some("bond0:eth0:mode=balance-xor,mode=balance-alb")).unwrap();
        assert_eq!(b.options, [BondOption::Mode(BondMode::BalanceAlb)]);
    }

    #[test]
    fn an_unknown_or_bad_option_is_named_and_the_rest_applies() {
        let (b, w) = bond(Some(
            "bond0:eth0,eth1:mode=active-backup,frobnicate=1,miimon=soon,mode=chaos,miimon=100",
        ))
        .unwrap();
        assert_eq!(
            b.options,
            [
                BondOption::Mode(BondMode::ActiveBackup),
                BondOption::MiiMon(100)
            ]
        );
        assert_eq!(w.len(), 3, "{w:?}");
        assert_eq!(w[0], "unknown bonding option 'frobnicate'");
        assert_eq!(
            w[1],
            "bonding option miimon: bad value 'soon': expected milliseconds"
        );
        assert!(
            w[2].starts_with("bonding option mode: unknown mode 'chaos'"),
            "{}",
            w[2]
        );
        let (_, w) = bond(Some("bond0:eth0:arp_ip_target=10.0.2.300")).unwrap();
        assert!(w[0].contains("arp_ip_target"), "{w:?}");
        let (_, w) = bond(Some("bond0:eth0:evil\x1b[2J=1")).unwrap();
        assert_eq!(w, ["unknown bonding option 'evil\\x1b[2J'"]);
    }

    #[test]
    fn hostile_bonds_are_refused_whole() {
        for (value, want) in [
            ("bond0:eth0,bond0", "'bond0' cannot be a slave of itself"),
            ("bond0:eth0,eth0", "slave 'eth0' listed twice"),
            ("bond0:eth0,,eth1", "bad device name ''"),
            ("bond0:eth0:mode=1:99999", "bad MTU '99999'"),
            ("bond0:eth0:mode=1:1500:x", "expected <name>[:<slaves>"),
            ("bond/0:eth0", "bad device name"),
            ("abcdefghijklmnop:eth0", "longer than 15 bytes"),
        ] {
            let e = bond(Some(value)).expect_err(value);
            assert!(e.contains(want), "{value}: {e}");
        }
        let many: Vec<String> = (0..40).map(|i| format!("eth{i}")).collect();
        let e = bond(Some(&format!("bond0:{}", many.join(",")))).unwrap_err();
        assert_eq!(e, "more than 32 slaves");
        let long = "x".repeat(5000);
        for value in [
            long.clone(),
            format!("bond0:{long}"),
            format!("bond0:eth0:{long}"),
        ] {
            match bond(Some(&value)) {
                Err(e) => assert!(e.len() < 200, "{} bytes", e.len()),
                Ok((_, w)) => assert!(w.iter().all(|l| l.len() < 200), "{w:?}"),
            }
        }
    }

    #[test]
    fn bridges_as_systemds_generator_reads_them() {
        // test-network-generator.c: bridge=bridge99:eth0,eth1.
        assert_eq!(
            bridge(Some("bridge99:eth0,eth1")),
            Ok(Bridge {
                name: "bridge99".into(),
                ports: names(&["eth0", "eth1"]),
            })
        );
        assert_eq!(
            bridge(None),
            Ok(Bridge {
                name: "br0".into(),
                ports: names(&["eth0"]),
            })
        );
        for (value, want) in [
            ("br0", "expected <name>:<ports>"),
            ("br0:", "expected <name>:<ports>"),
            ("br0:eth0,br0", "'br0' cannot be a port of itself"),
            ("br0:eth0,eth0", "port 'eth0' listed twice"),
            ("br0:eth/0", "bad device name"),
        ] {
            let e = bridge(Some(value)).expect_err(value);
            assert!(e.contains(want), "{value}: {e}");
        }
        assert!(
            bridge(Some(&format!("br0:{}", "e".repeat(5000))))
                .unwrap_err()
                .len()
                < 200
        );
    }
}
