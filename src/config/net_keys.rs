//! The network keys of dracut's command line besides `ip=` (man dracut.cmdline; the
//! cases of systemd's network generator test): `nameserver=`, `rd.route=`,
//! `rd.peerdns=`, `ifname=` and `vlan=`, and the value types they share with `ip=`,
//! `bond=` and `bridge=` (netdev.rs): a device name, a MAC address, an MTU. Pure parsing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::log::escape;

/// A route from `rd.route=<net>/<prefix>:<gateway>[:<interface>]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraRoute {
    /// The network, its host bits cleared: the kernel refuses `10.1.2.3/16` as a route
    /// destination, and dracut's users write it (systemd's test does).
    pub dest: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Ipv4Addr,
    /// Without one, the route goes on the interface whose subnet holds the gateway.
    pub device: Option<String>,
}

/// `ifname=<name>:<MAC>`: the link with this MAC address is renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfName {
    pub name: String,
    pub mac: [u8; 6],
}

/// `vlan=<name>:<phys>`: a VLAN link on `parent`, its id read from its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vlan {
    pub name: String,
    pub parent: String,
    pub id: u16,
}

/// The kernel's dev_valid_name(), narrowed to printable ASCII.
pub fn device_name(name: &str) -> Result<String, String> {
    let why = if name.len() > 15 {
        Some("longer than 15 bytes")
    } else if name.is_empty() || name == "." || name == ".." {
        Some("not a device name")
    } else if !name.bytes().all(|b| b.is_ascii_graphic() && b != b'/') {
        Some("only printable ASCII without '/' is allowed")
    } else {
        None
    };
    match why {
        Some(why) => Err(format!(
            "bad device name '{}': {why}",
            escape(name.as_bytes())
        )),
        None => Ok(name.to_string()),
    }
}

/// Six colon-separated pairs of hex digits, a unicast address that is not all zeros
/// (the kernel refuses the others as a link's address).
pub fn mac(text: &str) -> Result<[u8; 6], String> {
    let bad = |why: &str| format!("bad MAC address '{}': {why}", escape(text.as_bytes()));
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return Err(bad("expected six hex pairs like 52:54:00:12:34:56"));
    }
    let mut out = [0u8; 6];
    for (byte, part) in out.iter_mut().zip(&parts) {
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad("expected six hex pairs like 52:54:00:12:34:56"));
        }
        *byte = u8::from_str_radix(part, 16).map_err(|_| bad("not hex"))?;
    }
    if out == [0; 6] || out.first().is_some_and(|b| b & 1 == 1) {
        return Err(bad("not a unicast address"));
    }
    Ok(out)
}

/// An MTU: 68 (the least IPv4 allows, RFC 791) to 65535.
pub fn mtu(text: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(m @ 68..=65535) => Ok(m),
        _ => Err(format!(
            "bad MTU '{}': expected 68 to 65535",
            escape(text.as_bytes())
        )),
    }
}

/// `nameserver=<IP>`: IPv4, or IPv6 bare or in brackets (`[2001:db8::53]`, as dracut
/// writes IPv6 addresses in `ip=`).
pub fn nameserver(value: &str) -> Result<IpAddr, String> {
    let bare = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(value);
    if let Ok(a) = bare.parse::<Ipv6Addr>() {
        return if a.is_unspecified() || a.is_multicast() {
            Err("expected a unicast IPv6 address".into())
        } else {
            Ok(IpAddr::V6(a))
        };
    }
    match value.parse::<Ipv4Addr>() {
        Ok(a) if !a.is_unspecified() && !a.is_broadcast() && !a.is_multicast() => Ok(IpAddr::V4(a)),
        _ => Err("expected an IPv4 or IPv6 address".into()),
    }
}

/// `rd.peerdns=0|1`: whether DNS servers from DHCP are used.
pub fn peerdns(value: &str) -> Result<bool, String> {
    match value {
        "1" | "yes" | "true" | "on" => Ok(true),
        "0" | "no" | "false" | "off" => Ok(false),
        _ => Err("expected 0 or 1".into()),
    }
}

/// `rd.route=<net>/<prefix>:<gateway>[:<interface>]`.
pub fn route(value: &str) -> Result<ExtraRoute, String> {
    if value.len() > 64 {
        return Err("longer than 64 bytes".into());
    }
    if value.starts_with('[') {
        return Err("IPv6 routes are not supported yet".into());
    }
    let mut fields = value.split(':');
    let (net, gateway, device) = match (fields.next(), fields.next(), fields.next(), fields.next())
    {
        (Some(n), Some(g), d, None) => (n, g, d),
        _ => return Err("expected <net>/<prefix>:<gateway>[:<interface>]".into()),
    };
    let Some((addr, len)) = net.split_once('/') else {
        return Err(format!(
            "bad destination '{}': expected <net>/<prefix>",
            escape(net.as_bytes())
        ));
    };
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("bad destination '{}'", escape(net.as_bytes())))?;
    let prefix_len = match len.parse::<u8>() {
        Ok(l @ 0..=32) => l,
        _ => return Err(format!("bad prefix length '{}'", escape(len.as_bytes()))),
    };
    let gateway = match gateway.parse::<Ipv4Addr>() {
        Ok(g) if !g.is_unspecified() && !g.is_broadcast() && !g.is_multicast() => g,
        _ => return Err(format!("bad gateway '{}'", escape(gateway.as_bytes()))),
    };
    let mask = u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0);
    Ok(ExtraRoute {
        dest: Ipv4Addr::from(u32::from(addr) & mask),
        prefix_len,
        gateway,
        device: match device {
            None | Some("") => None,
            Some(d) => Some(device_name(d)?),
        },
    })
}

/// `ifname=<name>:<MAC>`.
pub fn ifname(value: &str) -> Result<IfName, String> {
    let Some((name, mac_text)) = value.split_once(':') else {
        return Err("expected <name>:<MAC>".into());
    };
    Ok(IfName {
        name: device_name(name)?,
        mac: mac(mac_text)?,
    })
}

/// `vlan=<name>:<phys>`. The id comes from the name as dracut reads it: `eth0.99` and
/// `eth0.0099` (after the last dot), `vlan99` and `vlan0099`.
pub fn vlan(value: &str) -> Result<Vlan, String> {
    let Some((name, parent)) = value.split_once(':') else {
        return Err("expected <name>:<phys>".into());
    };
    let name = device_name(name)?;
    let parent = device_name(parent)?;
    if name == parent {
        return Err(format!("the VLAN '{name}' cannot be its own parent"));
    }
    let digits = match name.rsplit_once('.') {
        Some((_, d)) => d,
        None => name.strip_prefix("vlan").unwrap_or(""),
    };
    let bad =
        || format!("cannot read a VLAN id (1-4094) from '{name}': name it <phys>.<id> or vlan<id>");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match digits.parse::<u16>() {
        Ok(id @ 1..=4094) => Ok(Vlan { name, parent, id }),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn routes_as_systemds_generator_reads_them() {
        // test-network-generator.c: rd.route=10.1.2.3/16:10.0.2.3 and ...:eth0.
        assert_eq!(
            route("10.1.2.3/16:10.0.2.3"),
            Ok(ExtraRoute {
                dest: ip("10.1.0.0"),
                prefix_len: 16,
                gateway: ip("10.0.2.3"),
                device: None,
            })
        );
        assert_eq!(
            route("10.1.2.3/16:10.0.2.3:eth0")
                .unwrap()
                .device
                .as_deref(),
            Some("eth0")
        );
        assert_eq!(route("0.0.0.0/0:10.0.2.2").unwrap().prefix_len, 0);
        assert_eq!(route("10.0.0.1/32:10.0.2.2").unwrap().dest, ip("10.0.0.1"));
    }

    #[test]
    fn bad_routes_say_what_is_wrong() {
        for (value, want) in [
            ("10.1.0.0:10.0.2.3", "bad destination"),
            ("10.1.0.0/33:10.0.2.3", "bad prefix length '33'"),
            ("10.1.0.x/16:10.0.2.3", "bad destination"),
            ("10.1.0.0/16", "expected <net>/<prefix>:<gateway>"),
            (
                "10.1.0.0/16:10.0.2.3:eth0:x",
                "expected <net>/<prefix>:<gateway>",
            ),
            ("10.1.0.0/16:gw", "bad gateway 'gw'"),
            ("10.1.0.0/16:10.0.2.3:eth/0", "bad device name"),
            ("[fd00::]/64:[fd00::1]", "IPv6"),
        ] {
            let e = route(value).expect_err(value);
            assert!(e.contains(want), "{value}: {e}");
        }
        assert!(route(&"1".repeat(5000)).unwrap_err().len() < 100);
    }

    #[test]
    fn nameservers_and_peerdns() {
        assert_eq!(nameserver("10.1.2.3"), Ok(IpAddr::V4(ip("10.1.2.3"))));
        let v6 = IpAddr::V6("2001:4860:4860::8888".parse().unwrap());
        assert_eq!(nameserver("2001:4860:4860::8888"), Ok(v6));
        assert_eq!(nameserver("[2001:4860:4860::8888]"), Ok(v6));
        for bad in [
            "::",
            "ff02::1",
            "[10.0.2.3]",
            "0.0.0.0",
            "224.0.0.1",
            "fe80::1%eth0",
        ] {
            assert!(nameserver(bad).is_err(), "{bad}");
        }
        assert!(nameserver("dns.example").is_err());
        assert_eq!(peerdns("0"), Ok(false));
        assert_eq!(peerdns("1"), Ok(true));
        assert!(peerdns("2").is_err());
    }

    #[test]
    fn ifname_takes_a_name_and_a_mac() {
        // test-network-generator.c: ifname=hogehoge:00:11:22:33:44:55.
        assert_eq!(
            ifname("hogehoge:00:11:22:33:44:55"),
            Ok(IfName {
                name: "hogehoge".into(),
                mac: [0, 0x11, 0x22, 0x33, 0x44, 0x55],
            })
        );
        assert_eq!(
            ifname("lan0:52:54:00:AB:cd:EF").unwrap().mac,
            [0x52, 0x54, 0, 0xab, 0xcd, 0xef]
        );
        for (value, want) in [
            ("lan0", "expected <name>:<MAC>"),
            ("lan0:00:11:22:33:44", "bad MAC address '00:11:22:33:44'"),
            ("lan0:00:11:22:33:44:55:66", "bad MAC address"),
            ("lan0:00:11:22:33:44:5", "bad MAC address"),
            ("lan0:0g:11:22:33:44:55", "bad MAC address"),
            ("lan0:01:00:5e:00:00:01", "not a unicast address"),
            ("lan0:00:00:00:00:00:00", "not a unicast address"),
            ("a/b:00:11:22:33:44:55", "bad device name"),
            ("abcdefghijklmnop:00:11:22:33:44:55", "longer than 15 bytes"),
        ] {
            let e = ifname(value).expect_err(value);
            assert!(e.contains(want), "{value}: {e}");
        }
    }

    #[test]
    fn vlan_ids_come_from_the_name_as_dracut_reads_them() {
        // test-network-generator.c: vlan=vlan99:eth0.
        for (value, id) in [
            ("vlan99:eth0", 99),
            ("eth0.99:eth0", 99),
            ("vlan0099:eth0", 99),
            ("eth0.0099:eth0", 99),
            ("bond0.4094:bond0", 4094),
            ("vlan1:eth1", 1),
        ] {
            let v = vlan(value).unwrap();
            assert_eq!(v.id, id, "{value}");
        }
        assert_eq!(vlan("eth0.99:eth0").unwrap().parent, "eth0");
        for (value, want) in [
            (
                "eth0.4095:eth0",
                "cannot read a VLAN id (1-4094) from 'eth0.4095'",
            ),
            ("eth0.0:eth0", "cannot read a VLAN id"),
            ("eth0.99999:eth0", "cannot read a VLAN id"),
            ("mgmt:eth0", "cannot read a VLAN id"),
            ("vlanx:eth0", "cannot read a VLAN id"),
            ("eth0.:eth0", "cannot read a VLAN id"),
            ("eth0.99", "expected <name>:<phys>"),
            ("vlan99:vlan99", "cannot be its own parent"),
            ("vlan99:eth/0", "bad device name"),
        ] {
            let e = vlan(value).expect_err(value);
            assert!(e.contains(want), "{value}: {e}");
        }
    }

    #[test]
    fn mtu_range() {
        assert_eq!(mtu("1530"), Ok(1530));
        assert_eq!(mtu("68"), Ok(68));
        for bad in ["67", "65536", "-1", "15x", ""] {
            assert!(mtu(bad).is_err(), "{bad}");
        }
    }
}
