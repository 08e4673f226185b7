//! The kernel's `ip=` parameter (Documentation/admin-guide/nfs/nfsroot.rst, parsed as
//! net/ipv4/ipconfig.c does) and dracut's additions to it, read into one value per `ip=`
//! word. This file parses; bringing links up and running DHCP is other modules' job.
//!
//! Forms read:
//! - `ip=<autoconf>`: `dhcp`, `on`, `any` (DHCP on the default device); `off`, `none` or
//!   an empty value (no configuration), as the kernel reads them.
//! - `ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>:<dns0-ip>:<dns1-ip>:<ntp0-ip>`,
//!   any field empty and trailing fields left out (the kernel's form; dracut's form with
//!   two DNS servers is its first nine fields).
//! - `ip=<device>:<autoconf>[:<mtu>[:<macaddr>]]` (dracut).
//! - dracut's long form: the first seven fields, then `<mtu>[:<macaddr>]` (a number, or
//!   empty before a MAC address) where the kernel has `<dns0-ip>`; the MAC's colons make
//!   it six fields.
//!
//! - IPv6 (dracut): `ip=dhcp6`, `ip=auto6`, `ip=either6` (also as `<device>:<autoconf>`
//!   and in the long form's `<autoconf>`), and the long form with the addresses in
//!   brackets, `ip=[2001:db8::2]::[2001:db8::1]:64:host:eth0:none[:[dns0]:[dns1]]`,
//!   the netmask a prefix length (64 when empty). An IPv6 address without brackets is an
//!   error (its colons would read as field separators), as is one form mixing families.
//!
//! Choices where the kernel has no answer or a worse one:
//! - `bootp` and `both` are read as `dhcp`: qinit speaks DHCP only, which is BOOTP
//!   extended, and the servers a qemu VM meets (slirp, dnsmasq) answer it. `rarp` is an
//!   error, as is dracut's `dhcp,<type>,<id>` client identifier.
//! - An unknown `<autoconf>` is an error; the kernel reads it as `off`, which turns a typo
//!   of `dhcp` into a silent static setup.
//! - A netmask may also be a prefix length (`24`), as dracut allows.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::config::net_keys::{device_name, mac, mtu};
use crate::config::words::split_words;
use crate::log::escape;

/// What one `ip=` word asks for. `hostname` and `dns` apply whatever the method: the
/// kernel sets the host name from `ip=` even when it configures nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpConfig {
    /// The device to configure; `None` leaves the choice to the boot.
    pub device: Option<String>,
    /// The first label of `<hostname>`. The kernel makes the rest its NIS domain name,
    /// which qinit has no use for; dropped as `qinit.hostname` drops it.
    pub hostname: Option<String>,
    /// `<dns0-ip>` and `<dns1-ip>`. With DHCP the kernel lets these win over the lease's
    /// servers (it fills only the empty slots).
    pub dns: Vec<Ipv4Addr>,
    /// `<ntp0-ip>`: kept, unused (the kernel only shows it in /proc/net/ipconfig).
    pub ntp: Option<Ipv4Addr>,
    /// `<server-ip>`, the NFS root server: kept, unused.
    pub server: Option<Ipv4Addr>,
    pub method: Method,
    /// dracut's `<mtu>`: set on the link before it comes up, and kept (a lease's MTU
    /// option does not replace it).
    pub mtu: Option<u32>,
    /// dracut's `<macaddr>`: set on the link before it comes up.
    pub mac: Option<[u8; 6]>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    /// Leave the device (all devices, without one) unconfigured.
    Off,
    /// Ask a DHCP server. Any `<client-ip>`, `<gw-ip>` and `<netmask>` given with
    /// `dhcp`/`on`/`any` are checked and then ignored, as dracut does. (The kernel keeps
    /// each given value and asks only for the rest, and with one device and a client
    /// address it does not ask at all.)
    Dhcp,
    Static(StaticAddr),
    /// IPv6 only on the device (no DHCPv4), IPv6 on at once.
    Ipv6(V6Method),
    /// A static IPv6 address from the bracketed form.
    Static6(Static6Addr),
}

/// dracut's IPv6 autoconf methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V6Method {
    /// `dhcp6`: an address from DHCPv6 (stateful), whatever the router says.
    Dhcp6,
    /// `auto6`: the kernel's SLAAC; DHCPv6 only as the router's flags ask.
    Auto6,
    /// `either6`: SLAAC, and a DHCPv6 address when none came from the router in time.
    Either6,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Static6Addr {
    pub address: Ipv6Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv6Addr>,
    /// `<dns0-ip>` and `<dns1-ip>`, bracketed.
    pub dns: Vec<Ipv6Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticAddr {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    /// May lie outside the subnet: the kernel then refuses it ("Gateway not on directly
    /// connected network"); qinit accepts it, and the route code must add an on-link route
    /// to the gateway before the default route through it.
    pub gateway: Option<Ipv4Addr>,
}

/// A bad `ip=` value: shown as `ip=<value>: <reason>`, the value escaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpError {
    pub value: String,
    pub reason: String,
}

impl fmt::Display for IpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ip={}: {}", self.value, self.reason)
    }
}

/// Longer than any real value (ten fields with a 253-character host name fit in 400).
const MAX_LEN: usize = 512;
const MAX_FIELDS: usize = 10;
/// The fields of the long form that hold addresses (the others are hostname, device,
/// autoconf).
const ADDRESS_FIELDS: [usize; 7] = [0, 1, 2, 3, 7, 8, 9];
const IPV6: &str =
    "an IPv6 address in ip= goes in brackets, as in ip=[2001:db8::2]::[2001:db8::1]:64::eth0:none";
const CLIENT_ID: &str = "a DHCP client identifier (dhcp,<type>,<id>) is not supported";

/// Collects every `ip=` word of the command line, split with the kernel's quoting. A later
/// word for the same device (or a second one naming no device) replaces the earlier, as
/// later words win elsewhere on the command line. Returns one error line per bad value.
pub fn from_cmdline(line: &str) -> (Vec<IpConfig>, Vec<String>) {
    let mut configs: Vec<IpConfig> = Vec::new();
    let mut errors = Vec::new();
    for word in split_words(line) {
        let Some(value) = word.strip_prefix("ip=") else {
            continue;
        };
        match parse_ip(value) {
            Ok(cfg) => {
                configs.retain(|old| old.device != cfg.device);
                configs.push(cfg);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    (configs, errors)
}

/// Parses the value of one `ip=` word (without `ip=`).
pub fn parse_ip(value: &str) -> Result<IpConfig, IpError> {
    parse_value(value).map_err(|reason| IpError {
        value: escape(value.as_bytes()),
        reason,
    })
}

/// The `<autoconf>` field, or the whole value in the short form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Autoconf {
    /// Empty: the kernel's default, "any", unless a client address is given.
    Unset,
    Off,
    Dhcp,
    V6(V6Method),
}

/// Splits at the colons outside brackets: `[2001:db8::2]::[2001:db8::1]:64` gives
/// `[2001:db8::2]`, ``, `[2001:db8::1]` and `64`.
fn split_bracketed(value: &str) -> Result<Vec<&str>, String> {
    let mut fields = Vec::new();
    let mut start = 0;
    let mut inside = false;
    for (i, c) in value.char_indices() {
        match c {
            '[' if !inside => inside = true,
            ']' if inside => inside = false,
            '[' | ']' => return Err("unbalanced brackets".into()),
            ':' if !inside => {
                fields.push(value.get(start..i).unwrap_or(""));
                start = i + 1;
            }
            _ => {}
        }
    }
    if inside {
        return Err("unbalanced brackets".into());
    }
    fields.push(value.get(start..).unwrap_or(""));
    Ok(fields)
}

/// A bracketed IPv6 address field; empty is "not given".
fn address6(text: &str, what: &str) -> Result<Option<Ipv6Addr>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let bad = || {
        format!(
            "bad {what} '{}': expected [IPv6 address]",
            escape(text.as_bytes())
        )
    };
    let inner = text
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(bad)?;
    match inner.parse::<Ipv6Addr>() {
        Ok(a) if a.is_unspecified() => Ok(None),
        Ok(a) => Ok(Some(a)),
        Err(_) => Err(bad()),
    }
}

/// dracut's long form with IPv6 addresses in brackets:
/// `[<client>]:[<server>]:[<gw>]:<prefix>:<hostname>:<device>:<autoconf>[:[<dns0>]:[<dns1>]]`.
fn bracketed_form(f: &[&str]) -> Result<IpConfig, String> {
    if f.len() > 9 {
        return Err(format!("{} fields, at most 9 in the IPv6 form", f.len()));
    }
    let field = |i: usize| f.get(i).copied().unwrap_or("");
    if field(0).parse::<Ipv4Addr>().is_ok() {
        return Err("one ip= holds one family: give IPv4 and IPv6 in two ip= words".into());
    }
    let client = address6(field(0), "client address")?;
    if let Some(a) = client
        && (a.is_loopback() || a.is_multicast() || a.is_unicast_link_local())
    {
        return Err(format!(
            "bad client address '{a}': not a global unicast address"
        ));
    }
    address6(field(1), "server address")?;
    let gateway = address6(field(2), "gateway")?;
    let prefix_len = match field(3) {
        "" => 64,
        t => match t.parse::<u8>() {
            Ok(n @ 1..=128) => n,
            _ => {
                return Err(format!(
                    "bad prefix length '{}': expected 1 to 128",
                    escape(t.as_bytes())
                ));
            }
        },
    };
    let hostname = match field(4) {
        "" => None,
        h => match crate::names::hostname(h.as_bytes()) {
            Ok((host, _)) => Some(host),
            Err(e) => return Err(format!("bad hostname '{}': {}", e.value, e.reason)),
        },
    };
    let device = match field(5) {
        "" => None,
        d => Some(device_name(d)?),
    };
    let mut dns = Vec::new();
    for i in [7, 8] {
        if let Some(a) = address6(field(i), "DNS server")? {
            dns.push(a);
        }
    }
    let method = match (autoconf(field(6))?, client) {
        (Autoconf::V6(m), _) => Method::Ipv6(m),
        (Autoconf::Off | Autoconf::Unset, Some(address)) => Method::Static6(Static6Addr {
            address,
            prefix_len,
            gateway,
            dns,
        }),
        (Autoconf::Off, None) => Method::Off,
        (Autoconf::Unset | Autoconf::Dhcp, _) => {
            return Err(
                "with IPv6 addresses, autoconf is none, off, dhcp6, auto6 or either6".into(),
            );
        }
    };
    Ok(IpConfig {
        hostname,
        ..only_method(method, device)
    })
}

fn parse_value(value: &str) -> Result<IpConfig, String> {
    if value.len() > MAX_LEN {
        return Err(format!("longer than {MAX_LEN} bytes"));
    }
    // dracut writes IPv6 addresses in brackets, each a whole field.
    if value.starts_with('[') || value.contains(":[") {
        return bracketed_form(&split_bracketed(value)?);
    }
    // Before splitting: the identifier may be a MAC address, colons and all.
    if value.starts_with("dhcp,") {
        return Err(CLIENT_ID.into());
    }
    // Field starts are byte offsets into `value`, kept to look for IPv6 across fields.
    let mut fields: Vec<(usize, &str)> = Vec::new();
    let mut start = 0;
    for field in value.split(':') {
        fields.push((start, field));
        start += field.len() + 1;
    }
    let texts: Vec<&str> = fields.iter().map(|&(_, f)| f).collect();
    // dracut's `<device>:<autoconf>[:<mtu>[:<macaddr>]]`: the first field is a name, where
    // the long form has the client's address (a field starting with a digit is taken
    // for a mistyped address).
    if let [device, auto, rest @ ..] = texts.as_slice()
        && !device.is_empty()
        && !device.starts_with(|c: char| c.is_ascii_digit())
        && ipv6_in_address_field(value, &fields, &[0]).is_none()
    {
        return dracut_device_form(device, auto, rest);
    }
    // dracut's `...:<autoconf>:<mtu>[:<macaddr>]` in place of the kernel's DNS fields.
    let mtu_tail = matches!(texts.len(), 8 | 14)
        && texts.get(7).is_some_and(|f| {
            (!f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
                || (f.is_empty() && texts.len() == 7 + 7)
        });
    let v6_fields: &[usize] = if mtu_tail {
        &[0, 1, 2, 3]
    } else {
        &ADDRESS_FIELDS
    };
    if let Some(v6) = ipv6_in_address_field(value, &fields, v6_fields) {
        return Err(format!("{IPV6} (saw '{}')", escape(v6.as_bytes())));
    }
    if !mtu_tail && fields.len() > MAX_FIELDS {
        return Err(format!(
            "{} fields, at most {MAX_FIELDS} (client-ip:server-ip:gw-ip:netmask:hostname:device:autoconf:dns0-ip:dns1-ip:ntp0-ip)",
            fields.len()
        ));
    }
    match texts.as_slice() {
        [word] if word.parse::<Ipv4Addr>().is_err() => short_form(word),
        _ => long_form(&texts, mtu_tail),
    }
}

/// `[<mtu>][:<macaddr>]`, the MAC address as six fields since ':' separates them.
fn mtu_and_mac(f: &[&str]) -> Result<(Option<u32>, Option<[u8; 6]>), String> {
    let (mtu_text, mac_fields) = match f {
        [] => return Ok((None, None)),
        [m] => (*m, None),
        [m, rest @ ..] if rest.len() == 6 => (*m, Some(rest.join(":"))),
        _ => {
            return Err(format!(
                "expected <mtu> and then a MAC address (six hex pairs), saw '{}'",
                escape(f.join(":").as_bytes())
            ));
        }
    };
    let mtu = match mtu_text {
        "" => None,
        t => Some(mtu(t)?),
    };
    let mac = match mac_fields {
        Some(m) => Some(mac(&m)?),
        None => None,
    };
    Ok((mtu, mac))
}

/// `ip=dhcp`, `ip=off`, ...: the autoconf keyword alone. An empty value is `off` (the
/// kernel's `*addrs == 0`).
fn short_form(word: &str) -> Result<IpConfig, String> {
    let method = match known_autoconf(word)? {
        Some(Autoconf::Unset | Autoconf::Off) => Method::Off,
        Some(Autoconf::Dhcp) => Method::Dhcp,
        Some(Autoconf::V6(m)) => Method::Ipv6(m),
        None => {
            return Err("expected dhcp, on, any, off, none, <device>:<autoconf> or \
                 <client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>"
                .into());
        }
    };
    Ok(only_method(method, None))
}

/// dracut's `ip=<device>:{dhcp|on|any|off|none}[:<mtu>[:<macaddr>]]`.
fn dracut_device_form(device: &str, auto: &str, rest: &[&str]) -> Result<IpConfig, String> {
    let method = match autoconf(auto)? {
        Autoconf::Dhcp => Method::Dhcp,
        Autoconf::V6(m) => Method::Ipv6(m),
        Autoconf::Off => Method::Off,
        Autoconf::Unset => {
            return Err("expected <device>:{dhcp|on|any|off|none}".into());
        }
    };
    let device = device_name(device)?;
    let (mtu, mac) = mtu_and_mac(rest)?;
    Ok(IpConfig {
        mtu,
        mac,
        ..only_method(method, Some(device))
    })
}

fn only_method(method: Method, device: Option<String>) -> IpConfig {
    IpConfig {
        device,
        hostname: None,
        dns: Vec::new(),
        ntp: None,
        server: None,
        method,
        mtu: None,
        mac: None,
    }
}

/// The kernel's ten fields, missing trailing fields empty; or, with `mtu_tail`, seven
/// and dracut's `<mtu>[:<macaddr>]`.
fn long_form(f: &[&str], mtu_tail: bool) -> Result<IpConfig, String> {
    let field = |i: usize| f.get(i).copied().unwrap_or("");
    let client = address(field(0), "client address")?;
    if let Some(a) = client
        && (a.is_loopback() || a.is_multicast() || a.is_broadcast())
    {
        return Err(format!("bad client address '{a}': not a unicast address"));
    }
    let server = address(field(1), "server address")?;
    let gateway = address(field(2), "gateway")?;
    let netmask = prefix_len(field(3))?;
    let hostname = match field(4) {
        "" => None,
        h => match crate::names::hostname(h.as_bytes()) {
            Ok((host, _nis_domain)) => Some(host),
            Err(e) => return Err(format!("bad hostname '{}': {}", e.value, e.reason)),
        },
    };
    let device = match field(5) {
        "" => None,
        d => Some(device_name(d)?),
    };
    let auto = autoconf(field(6))?;
    let mut dns = Vec::new();
    let (mut ntp, mut mtu, mut mac) = (None, None, None);
    if mtu_tail {
        (mtu, mac) = mtu_and_mac(f.get(7..).unwrap_or(&[]))?;
    } else {
        for i in [7, 8] {
            if let Some(a) = address(field(i), "DNS server")? {
                dns.push(a);
            }
        }
        ntp = address(field(9), "NTP server")?;
    }
    let method = match (auto, client) {
        (Autoconf::V6(m), _) => Method::Ipv6(m),
        (Autoconf::Dhcp, _) | (Autoconf::Unset, None) => Method::Dhcp,
        (Autoconf::Off, None) => Method::Off,
        (Autoconf::Off | Autoconf::Unset, Some(address)) => Method::Static(StaticAddr {
            address,
            prefix_len: match netmask {
                Some(len) => len,
                None => classful_prefix_len(address)?,
            },
            gateway,
        }),
    };
    Ok(IpConfig {
        device,
        hostname,
        dns,
        ntp,
        server,
        method,
        mtu,
        mac,
    })
}

fn autoconf(word: &str) -> Result<Autoconf, String> {
    known_autoconf(word)?.ok_or_else(|| {
        format!(
            "bad autoconf '{}': expected off, none, dhcp, on, any, dhcp6, auto6 or either6",
            escape(word.as_bytes())
        )
    })
}

/// `Ok(None)` for a word that is no autoconf method at all; an error for the methods
/// qinit knows but does not do.
fn known_autoconf(word: &str) -> Result<Option<Autoconf>, String> {
    match word {
        "" => Ok(Some(Autoconf::Unset)),
        "off" | "none" => Ok(Some(Autoconf::Off)),
        "on" | "any" | "dhcp" | "bootp" | "both" => Ok(Some(Autoconf::Dhcp)),
        "rarp" => Err("RARP is not supported; use dhcp".into()),
        "dhcp6" => Ok(Some(Autoconf::V6(V6Method::Dhcp6))),
        "auto6" => Ok(Some(Autoconf::V6(V6Method::Auto6))),
        "either6" => Ok(Some(Autoconf::V6(V6Method::Either6))),
        "link6" => Err("link6 (link-local only) is not supported; use auto6".into()),
        w if w.starts_with("dhcp,") => Err(CLIENT_ID.into()),
        _ => Ok(None),
    }
}

/// An address field: empty or 0.0.0.0 mean "not given", as in the kernel.
fn address(text: &str, what: &str) -> Result<Option<Ipv4Addr>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    match text.parse::<Ipv4Addr>() {
        Ok(a) if a.is_unspecified() => Ok(None),
        Ok(a) => Ok(Some(a)),
        Err(_) => Err(format!("bad {what} '{}'", escape(text.as_bytes()))),
    }
}

/// `<netmask>`: empty or 0.0.0.0 for the classful default, dotted and contiguous, or a
/// prefix length.
fn prefix_len(text: &str) -> Result<Option<u8>, String> {
    let bad = || Err(format!("bad netmask '{}'", escape(text.as_bytes())));
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<u8>() {
            Ok(len @ 1..=32) => Ok(Some(len)),
            _ => bad(),
        };
    }
    let Some(mask) = address(text, "netmask")? else {
        return Ok(None);
    };
    let bits = u32::from(mask);
    if bits.leading_ones() + bits.trailing_zeros() != 32 {
        return bad();
    }
    u8::try_from(bits.leading_ones())
        .map(Some)
        .or_else(|_| bad())
}

/// The kernel's ic_defaults(): class A /8, B /16, C /24, E /32.
fn classful_prefix_len(address: Ipv4Addr) -> Result<u8, String> {
    match address.octets() {
        [0..=127, ..] => Ok(8),
        [128..=191, ..] => Ok(16),
        [192..=223, ..] => Ok(24),
        [240..=255, ..] => Ok(32),
        _ => Err(format!("cannot guess a netmask for '{address}'; give one")),
    }
}

/// Looks for an IPv6 address where the long form wants an IPv4 one. Since ':' separates
/// fields, `fd00::5::10.0.2.2` reads as fields "fd00", "", "5", "", ...; so from each
/// address field that is not IPv4, try the longest run of text up to a ':' that parses as
/// IPv6. Only address fields are tried, so a hex-looking host or device name is not taken
/// for one.
fn ipv6_in_address_field<'a>(
    value: &'a str,
    fields: &[(usize, &str)],
    which: &[usize],
) -> Option<&'a str> {
    // The longest IPv6 text ("ffff:...:255.255.255.255") is 45 characters.
    const MAX_V6: usize = 45;
    for &i in which {
        let Some(&(start, text)) = fields.get(i) else {
            break;
        };
        let prefix_len = i == 3 && text.bytes().all(|b| b.is_ascii_digit());
        if text.is_empty() || prefix_len || text.parse::<Ipv4Addr>().is_ok() {
            continue;
        }
        let rest = value.get(start..)?;
        let mut found = None;
        for (end, c) in rest.char_indices().chain([(rest.len(), ':')]) {
            if end > MAX_V6 {
                break;
            }
            if c == ':'
                && let Some(candidate) = rest.get(..end)
                && candidate.contains(':')
                && candidate.parse::<Ipv6Addr>().is_ok()
            {
                found = Some(candidate);
            }
        }
        if found.is_some() {
            return found;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn fixed(address: &str, prefix_len: u8, gateway: Option<&str>) -> Method {
        Method::Static(StaticAddr {
            address: ip(address),
            prefix_len,
            gateway: gateway.map(ip),
        })
    }

    fn method(device: Option<&str>, method: Method) -> IpConfig {
        only_method(method, device.map(str::to_string))
    }

    #[test]
    fn reads_real_lines() {
        let table: Vec<(&str, IpConfig)> = vec![
            // The kernel's documentation.
            ("dhcp", method(None, Method::Dhcp)),
            ("on", method(None, Method::Dhcp)),
            ("any", method(None, Method::Dhcp)),
            ("off", method(None, Method::Off)),
            ("none", method(None, Method::Off)),
            ("", method(None, Method::Off)),
            // bootp and both: read as DHCP (see the file's doc).
            ("bootp", method(None, Method::Dhcp)),
            ("both", method(None, Method::Dhcp)),
            // dracut.
            ("eth0:dhcp", method(Some("eth0"), Method::Dhcp)),
            ("eth1:off", method(Some("eth1"), Method::Off)),
            (
                "192.168.1.5::192.168.1.1:255.255.255.0:myhost:eth0:none:8.8.8.8",
                IpConfig {
                    hostname: Some("myhost".into()),
                    dns: vec![ip("8.8.8.8")],
                    ..method(Some("eth0"), fixed("192.168.1.5", 24, Some("192.168.1.1")))
                },
            ),
            // initramfs-tools.
            ("::::::dhcp", method(None, Method::Dhcp)),
            (
                "192.168.0.10::192.168.0.1:255.255.255.0::eth0:off",
                method(Some("eth0"), fixed("192.168.0.10", 24, Some("192.168.0.1"))),
            ),
            // qinit's appliance example.
            (
                "10.0.2.50::10.0.2.2:255.255.255.0:appliance:eth0:off:10.0.2.3",
                IpConfig {
                    hostname: Some("appliance".into()),
                    dns: vec![ip("10.0.2.3")],
                    ..method(Some("eth0"), fixed("10.0.2.50", 24, Some("10.0.2.2")))
                },
            ),
            // All ten fields; the NIS domain after the first dot is dropped.
            (
                "10.0.2.15:10.0.2.4:10.0.2.2:255.255.255.0:vm1.example.test:eth0:off:10.0.2.3:10.0.2.5:10.0.2.6",
                IpConfig {
                    hostname: Some("vm1".into()),
                    dns: vec![ip("10.0.2.3"), ip("10.0.2.5")],
                    ntp: Some(ip("10.0.2.6")),
                    server: Some(ip("10.0.2.4")),
                    ..method(Some("eth0"), fixed("10.0.2.15", 24, Some("10.0.2.2")))
                },
            ),
        ];
        for (value, want) in table {
            assert_eq!(parse_ip(value), Ok(want), "ip={value}");
        }
    }

    #[test]
    fn an_address_without_autoconf_is_static_with_a_classful_netmask() {
        assert_eq!(
            parse_ip("10.1.2.3").unwrap().method,
            fixed("10.1.2.3", 8, None)
        );
        assert_eq!(
            parse_ip("172.16.0.5:::::eth0").unwrap(),
            method(Some("eth0"), fixed("172.16.0.5", 16, None))
        );
        assert_eq!(
            parse_ip("192.168.7.7:::0.0.0.0:::").unwrap().method,
            fixed("192.168.7.7", 24, None)
        );
    }

    #[test]
    fn empty_autoconf_without_an_address_means_dhcp() {
        assert_eq!(
            parse_ip(":::::eth0").unwrap(),
            method(Some("eth0"), Method::Dhcp)
        );
    }

    #[test]
    fn autoconf_dhcp_ignores_the_static_address() {
        let c = parse_ip("10.0.2.50::10.0.2.2:255.255.255.0:vm:eth0:dhcp:10.0.2.3").unwrap();
        assert_eq!(c.method, Method::Dhcp);
        assert_eq!(c.hostname.as_deref(), Some("vm"));
        assert_eq!(c.dns, vec![ip("10.0.2.3")]);
    }

    #[test]
    fn zero_address_means_not_given() {
        assert_eq!(parse_ip("0.0.0.0::::::off").unwrap().method, Method::Off);
    }

    #[test]
    fn netmask_may_be_a_prefix_length_or_a_host_mask() {
        let m = |v| parse_ip(v).unwrap().method;
        assert_eq!(m("10.0.2.50:::24::eth0:off"), fixed("10.0.2.50", 24, None));
        assert_eq!(
            m("10.0.2.50:::255.255.255.255::eth0:off"),
            fixed("10.0.2.50", 32, None)
        );
    }

    #[test]
    fn gateway_outside_the_subnet_is_kept() {
        assert_eq!(
            parse_ip("10.0.2.50::192.168.1.1:255.255.255.0::eth0:off")
                .unwrap()
                .method,
            fixed("10.0.2.50", 24, Some("192.168.1.1"))
        );
    }

    /// Each bad value gives one line that starts with `ip=<value>` and holds `reason`.
    fn rejects(value: &str, reason: &str) {
        let e = parse_ip(value).expect_err(value).to_string();
        assert!(e.starts_with("ip="), "{e}");
        assert!(!e.contains('\n'), "{e}");
        assert!(e.contains(reason), "ip={value}: want '{reason}' in '{e}'");
    }

    #[test]
    fn bad_netmask_names_the_value() {
        let e = parse_ip("10.0.2.50::10.0.2.2:255.0.255.0::eth0:off").unwrap_err();
        assert_eq!(
            e.to_string(),
            "ip=10.0.2.50::10.0.2.2:255.0.255.0::eth0:off: bad netmask '255.0.255.0'"
        );
        rejects("10.0.2.50:::33::eth0:off", "bad netmask '33'");
        rejects("10.0.2.50:::0::eth0:off", "bad netmask '0'");
        rejects("10.0.2.50:::255.255.255::eth0:off", "bad netmask");
    }

    #[test]
    fn rejects_ipv6_clearly() {
        for value in [
            "fe80::1",
            "fd00::5::10.0.2.2:255.255.255.0::eth0:off",
            "2001:db8::5:::64::eth0:none",
            "10.0.2.50::fe80::1:255.255.255.0::eth0:off",
            "10.0.2.50::10.0.2.2:255.255.255.0::eth0:off:2001:4860:4860::8888",
        ] {
            rejects(value, IPV6);
        }
        rejects(
            "[fe80::1]::[fe80::2]:64::eth0:none",
            "not a global unicast address",
        );
        rejects(
            "10.0.2.50::[fe80::2]:24::eth0:none",
            "one ip= holds one family",
        );
        rejects(
            "[2001:db8::2]::[2001:db8::1]:129::eth0:none",
            "bad prefix length '129'",
        );
        rejects(
            "[2001:db8::2::[2001:db8::1]:64::eth0:none",
            "unbalanced brackets",
        );
        rejects("[2001:db8::2]]:64::eth0:none", "unbalanced brackets");
        rejects(
            "[2001:db8::zz]:::64::eth0:none",
            "bad client address '[2001:db8::zz]'",
        );
        rejects(
            "[2001:db8::2]:::64::eth0:dhcp",
            "autoconf is none, off, dhcp6",
        );
        rejects("[2001:db8::2]:::64::eth0:none:[::1", "unbalanced brackets");
        rejects("eth0:link6", "link6 (link-local only) is not supported");
    }

    #[test]
    fn reads_dracuts_ipv6_forms() {
        let v6 = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(
            parse_ip("[2001:db8::2]::[2001:db8::1]:64:host:eth0:none"),
            Ok(IpConfig {
                hostname: Some("host".into()),
                ..method(
                    Some("eth0"),
                    Method::Static6(Static6Addr {
                        address: v6("2001:db8::2"),
                        prefix_len: 64,
                        gateway: Some(v6("2001:db8::1")),
                        dns: vec![],
                    })
                )
            })
        );
        let c = parse_ip("[2001:db8::2]:::::eth1::[2001:db8::53]:[2001:db8::54]").unwrap();
        assert_eq!(c.device.as_deref(), Some("eth1"));
        assert_eq!(
            c.method,
            Method::Static6(Static6Addr {
                address: v6("2001:db8::2"),
                prefix_len: 64,
                gateway: None,
                dns: vec![v6("2001:db8::53"), v6("2001:db8::54")],
            })
        );
        assert_eq!(
            parse_ip("dhcp6").unwrap().method,
            Method::Ipv6(V6Method::Dhcp6)
        );
        assert_eq!(
            parse_ip("auto6").unwrap().method,
            Method::Ipv6(V6Method::Auto6)
        );
        assert_eq!(
            parse_ip("either6").unwrap().method,
            Method::Ipv6(V6Method::Either6)
        );
        assert_eq!(
            parse_ip("eth0:dhcp6"),
            Ok(method(Some("eth0"), Method::Ipv6(V6Method::Dhcp6)))
        );
        let c = parse_ip("[2001:1234:56:8f63::10]::[2001:1234:56:8f63::1]:64:hogehoge:eth0:auto6")
            .unwrap();
        assert_eq!(c.method, Method::Ipv6(V6Method::Auto6));
        assert_eq!(c.hostname.as_deref(), Some("hogehoge"));
    }

    #[test]
    fn hex_looking_names_are_not_taken_for_ipv6() {
        let c = parse_ip("10.0.2.50::::cafe:beef::").unwrap();
        assert_eq!(c.hostname.as_deref(), Some("cafe"));
        assert_eq!(c.device.as_deref(), Some("beef"));
        let c = parse_ip("10.0.2.50:::24::beef:off").unwrap();
        assert_eq!(c.method, fixed("10.0.2.50", 24, None));
    }

    #[test]
    fn rejects_hostile_values() {
        rejects(&":".repeat(299), "300 fields, at most 10");
        rejects("10.0.2.50::::::off:1.1.1.1:1.1.1.2:1.1.1.3:x", "11 fields");
        rejects(&"a".repeat(64 * 1024), "longer than 512 bytes");
        rejects("1.2.3.4:::::eth0/../x:off", "bad device name 'eth0/../x'");
        rejects("1.2.3.4:::::abcdefghijklmnop:off", "longer than 15 bytes");
        rejects("1.2.3.4:::::..:off", "not a device name");
        rejects("1.2.3.4:::::eth 0:off", "bad device name");
        rejects("eth\u{1b}[2J:dhcp", "bad device name 'eth\\x1b[2J'");
        rejects(
            "10.0.2.50::::a;reboot:eth0:off",
            "bad hostname 'a;reboot': only letters",
        );
        rejects("10.0.2.50::::-x:eth0:off", "bad hostname '-x'");
        rejects("10.0.2.50::::::dchp", "bad autoconf 'dchp'");
        rejects("eth0", "expected dhcp, on, any, off, none");
        rejects("eth0:", "expected <device>:");
        rejects("rarp", "RARP is not supported");
        rejects("dhcp,1,00:11:22", "client identifier");
        rejects("224.0.0.1::::::off", "not a unicast address");
        rejects("127.0.0.1::::::off", "not a unicast address");
        rejects("10.0.2.300::::::off", "bad client address '10.0.2.300'");
        rejects("10.0.2.50::10.0.2.x", "bad gateway '10.0.2.x'");
        rejects("eth0:dhcp:67", "bad MTU '67'");
        rejects(
            "eth0:dhcp:1500:00:11:22:33:44",
            "expected <mtu> and then a MAC",
        );
        rejects("eth0:dhcp:1500:00:11:22:33:44:5g", "bad MAC address");
        rejects("eth0:dhcp:1500:01:11:22:33:44:55", "not a unicast address");
        rejects("10.0.2.50::10.0.2.2:24::eth0:off:99999", "bad MTU '99999'");
        rejects(
            "10.0.2.50::10.0.2.2:24::eth0:off:1500:00:11:22",
            "11 fields, at most 10",
        );
    }

    /// The `ip=` cases of systemd's src/network/generator/test-network-generator.c that
    /// qinit supports (IPv4), in qinit's terms. `on` is DHCP: dracut ignores the address.
    #[test]
    fn reads_systemds_generator_cases() {
        const MAC: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
        let dhcp0 = |mtu, mac| IpConfig {
            mtu,
            mac,
            ..method(Some("eth0"), Method::Dhcp)
        };
        assert_eq!(parse_ip("eth0:dhcp"), Ok(dhcp0(None, None)));
        assert_eq!(parse_ip("eth0:dhcp:1530"), Ok(dhcp0(Some(1530), None)));
        assert_eq!(
            parse_ip("eth0:dhcp:1530:00:11:22:33:44:55"),
            Ok(dhcp0(Some(1530), Some(MAC)))
        );
        assert_eq!(
            parse_ip("eth0:dhcp::00:11:22:33:44:55"),
            Ok(dhcp0(None, Some(MAC)))
        );
        let long = "192.168.0.10:192.168.0.2:192.168.0.1:255.255.255.0:hogehoge:eth0:on";
        let base = IpConfig {
            hostname: Some("hogehoge".into()),
            server: Some(ip("192.168.0.2")),
            ..method(Some("eth0"), Method::Dhcp)
        };
        assert_eq!(parse_ip(long), Ok(base.clone()));
        assert_eq!(
            parse_ip(&format!("{long}:1530")),
            Ok(IpConfig {
                mtu: Some(1530),
                ..base.clone()
            })
        );
        assert_eq!(
            parse_ip(&format!("{long}:1530:00:11:22:33:44:55")),
            Ok(IpConfig {
                mtu: Some(1530),
                mac: Some(MAC),
                ..base.clone()
            })
        );
        assert_eq!(
            parse_ip(&format!("{long}::00:11:22:33:44:55")),
            Ok(IpConfig {
                mac: Some(MAC),
                ..base.clone()
            })
        );
        assert_eq!(
            parse_ip(&format!("{long}:10.10.10.10")),
            Ok(IpConfig {
                dns: vec![ip("10.10.10.10")],
                ..base.clone()
            })
        );
        assert_eq!(
            parse_ip(&format!("{long}:10.10.10.10:10.10.10.11")),
            Ok(IpConfig {
                dns: vec![ip("10.10.10.10"), ip("10.10.10.11")],
                ..base.clone()
            })
        );
        // The end-to-end test's line: static, with MTU and MAC.
        assert_eq!(
            parse_ip("10.0.2.50::10.0.2.2:255.255.255.0:h:eth0:none:1400:52:54:00:aa:bb:cc"),
            Ok(IpConfig {
                hostname: Some("h".into()),
                mtu: Some(1400),
                mac: Some([0x52, 0x54, 0, 0xaa, 0xbb, 0xcc]),
                ..method(Some("eth0"), fixed("10.0.2.50", 24, Some("10.0.2.2")))
            })
        );
        // IPv6 addresses with IPv4's autoconf are refused, clearly.
        rejects(
            "[2001:1234:56:8f63::10]::[2001:1234:56:8f63::1]:64:hogehoge:eth0:on",
            "autoconf is none, off, dhcp6",
        );
    }

    #[test]
    fn long_values_give_short_lines() {
        let e = parse_ip(&"a".repeat(64 * 1024)).unwrap_err().to_string();
        assert!(e.len() < 200, "{} bytes", e.len());
    }

    #[test]
    fn non_utf8_arrives_as_replacement_characters_and_is_escaped() {
        let lossy = String::from_utf8_lossy(b"10.0.2.\xff::::::off").into_owned();
        rejects(&lossy, "bad client address '10.0.2.\\xef\\xbf\\xbd'");
        rejects("10.0.2.50:::::eth\u{FFFD}:off", "bad device name");
        rejects("10.0.2.50::::h\u{FFFD}st:eth0:off", "bad hostname");
    }

    #[test]
    fn from_cmdline_collects_every_ip_word() {
        let (cfgs, errors) = from_cmdline(
            "console=ttyS0 ip=eth0:dhcp \"ip=10.0.2.50:::24::eth1:off\" ipv6.disable=1 ip quiet",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            cfgs,
            vec![
                method(Some("eth0"), Method::Dhcp),
                method(Some("eth1"), fixed("10.0.2.50", 24, None)),
            ]
        );
    }

    #[test]
    fn from_cmdline_lets_a_later_word_for_the_same_device_win() {
        let (cfgs, _) = from_cmdline("ip=dhcp ip=eth0:dhcp ip=off ip=eth0:off");
        assert_eq!(
            cfgs,
            vec![method(None, Method::Off), method(Some("eth0"), Method::Off)]
        );
    }

    #[test]
    fn from_cmdline_reports_bad_words_and_keeps_the_rest() {
        let (cfgs, errors) = from_cmdline("ip=bogus ip=dhcp ip=1.2.3.4:::::eth0/../x:off");
        assert_eq!(cfgs, vec![method(None, Method::Dhcp)]);
        assert_eq!(errors.len(), 2);
        assert!(errors[0].starts_with("ip=bogus: "), "{}", errors[0]);
        assert!(errors[1].contains("eth0/../x"), "{}", errors[1]);
    }
}
