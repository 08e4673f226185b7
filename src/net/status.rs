//! The lease state file under /run/qinit and `qinit status`, which reads it (with the
//! wireless state files, IFACE.wifi, that net::wifi writes). The file is
//! key=value lines, written atomically by whoever holds the lease. IPv6: the DNS that
//! router advertisements give is in /run/qinit/ipv6-dns; the addresses are read from
//! the kernel (/proc/net/if_inet6).

use crate::dhcp::lease::Lease;
use std::time::Duration;

pub const STATE_DIR: &str = "/run/qinit";

/// What `qinit status` shows for one interface.
pub fn render(
    iface: &str,
    state: &str,
    lease: Option<&Lease>,
    bound_at: Duration,
    note: &str,
) -> String {
    let mut out = format!("iface={iface}\nstate={state}\n");
    if let Some(l) = lease {
        let join = |v: &[std::net::Ipv4Addr]| {
            v.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        out.push_str(&format!("address={}/{}\n", l.address, l.prefix_len));
        if let Some(r) = l.router() {
            out.push_str(&format!("router={r}\n"));
        }
        out.push_str(&format!("dns={}\n", join(&l.dns)));
        out.push_str(&format!("server={}\n", l.server));
        out.push_str(&format!("bound_at={:.3}\n", bound_at.as_secs_f64()));
        match l.lease_time {
            Some(t) => out.push_str(&format!("expires_at={:.3}\n", (bound_at + t).as_secs_f64())),
            None => out.push_str("expires_at=never\n"),
        }
        if let Some(h) = &l.hostname {
            out.push_str(&format!("hostname={h}\n"));
        }
        if let Some(d) = &l.domain {
            out.push_str(&format!("domain={d}\n"));
        }
    }
    if !note.is_empty() {
        out.push_str(&format!("note={}\n", note.replace('\n', " ")));
    }
    out
}

/// Turns a state file into lines for a person, with the time left computed at `now`.
pub fn describe(file: &str, now: Duration) -> String {
    let mut out = String::new();
    for line in file.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let shown = match k {
            "expires_at" => match v.parse::<f64>() {
                Ok(t) => format!("{:.0} s left", (t - now.as_secs_f64()).max(0.0)),
                Err(_) => v.to_string(),
            },
            "bound_at" => match v.parse::<f64>() {
                Ok(t) => format!(
                    "{:.0} s ago (uptime {t:.3} s)",
                    (now.as_secs_f64() - t).max(0.0)
                ),
                Err(_) => v.to_string(),
            },
            _ => v.to_string(),
        };
        let label = match k {
            "expires_at" => "lease",
            "bound_at" => "bound",
            other => other,
        };
        out.push_str(&format!("{label:>9}: {shown}\n"));
    }
    out
}

/// Where PID 1 writes the DNS from router advertisements.
pub const RA_DNS_FILE: &str = "/run/qinit/ipv6-dns";

/// Writes the DNS from router advertisements for `qinit status`; a failure only costs
/// the status line.
pub fn write_ra_dns(servers: &[std::net::Ipv6Addr], domains: &[String]) {
    let servers: Vec<String> = servers.iter().map(|a| a.to_string()).collect();
    let text = format!(
        "ipv6 dns={}\nipv6 search={}\n",
        servers.join(" "),
        domains.join(" ")
    );
    let _ = std::fs::create_dir_all(STATE_DIR);
    let _ = crate::net::etc_files::write_atomic(std::path::Path::new(RA_DNS_FILE), &text);
}

/// The global and unique-local IPv6 addresses in a /proc/net/if_inet6 text, as
/// (interface, address/prefix).
pub fn ipv6_addresses(if_inet6: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in if_inet6.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(hex), Some(plen), Some(scope), Some(name)) =
            (f.first(), f.get(2), f.get(3), f.get(5))
        else {
            continue;
        };
        if *scope != "00" || hex.len() != 32 {
            continue;
        }
        let Ok(bits) = u128::from_str_radix(hex, 16) else {
            continue;
        };
        let Ok(plen) = u8::from_str_radix(plen, 16) else {
            continue;
        };
        out.push((
            (*name).to_string(),
            format!("{}/{plen}", std::net::Ipv6Addr::from(bits)),
        ));
    }
    out
}

/// The IPv6 default routers in a /proc/net/ipv6_route text, as (interface, router).
pub fn ipv6_routers(ipv6_route: &str) -> Vec<(String, std::net::Ipv6Addr)> {
    let mut out = Vec::new();
    for line in ipv6_route.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(dest), Some(plen), Some(hop), Some(name)) =
            (f.first(), f.get(1), f.get(4), f.get(9))
        else {
            continue;
        };
        let parse = |h: &str| {
            (h.len() == 32)
                .then(|| u128::from_str_radix(h, 16).ok())
                .flatten()
        };
        if parse(dest) != Some(0) || *plen != "00" {
            continue;
        }
        match parse(hop) {
            Some(bits) if bits != 0 => {
                let entry = ((*name).to_string(), std::net::Ipv6Addr::from(bits));
                if !out.contains(&entry) {
                    out.push(entry);
                }
            }
            _ => {}
        }
    }
    out
}

/// `qinit status`: every interface's state file, then IPv6.
pub fn main() -> i32 {
    let Ok(dir) = std::fs::read_dir(STATE_DIR) else {
        eprintln!("qinit status: no state in {STATE_DIR} (is qinit running as PID 1?)");
        return 1;
    };
    let mut files: Vec<_> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lease" || x == "wifi"))
        .collect();
    files.sort();
    if !files
        .iter()
        .any(|p| p.extension().is_some_and(|x| x == "lease"))
    {
        println!("no interface is managed by DHCP");
    }
    for p in files {
        if let Ok(text) = std::fs::read_to_string(&p) {
            print!("{}", describe(&text, crate::clock::uptime()));
            println!();
        }
    }
    let v6 = std::fs::read_to_string("/proc/net/if_inet6").unwrap_or_default();
    for (iface, addr) in ipv6_addresses(&v6) {
        println!("{:>9}: {iface} {addr}", "ipv6");
    }
    let routes = std::fs::read_to_string("/proc/net/ipv6_route").unwrap_or_default();
    for (iface, router) in ipv6_routers(&routes) {
        println!("{:>9}: {iface} {router}", "router6");
    }
    let Ok(dir) = std::fs::read_dir(STATE_DIR) else {
        return 0;
    };
    let mut files: Vec<_> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "dhcp6"))
        .collect();
    files.sort();
    for p in files {
        let text = std::fs::read_to_string(&p).unwrap_or_default();
        let iface = text
            .lines()
            .find_map(|l| l.strip_prefix("interface="))
            .unwrap_or_default();
        for line in text.lines().filter(|l| l.starts_with("dhcpv6")) {
            if let Some((k, v)) = line.split_once('=') {
                let v = if k == "dhcpv6" {
                    format!("{iface} {v}")
                } else {
                    v.to_string()
                };
                println!("{k:>9}: {v}");
            }
        }
    }
    if let Ok(text) = std::fs::read_to_string(RA_DNS_FILE) {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                println!("{k:>9}: {v}");
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::lease::Route;
    use std::net::Ipv4Addr;

    #[test]
    fn ipv6_addresses_are_the_global_ones() {
        let text = "fd007700000000005054fffe123456 02 40 00 00     eth0\n\
                    fd007700000000005054fffe12345601 02 40 00 00     eth0\n\
                    fe800000000000005054fffe12345601 02 40 20 80     eth0\n\
                    00000000000000000000000000000001 01 80 10 80       lo\n";
        assert_eq!(
            ipv6_addresses(text),
            vec![(
                "eth0".to_string(),
                "fd00:7700::5054:fffe:1234:5601/64".to_string()
            )]
        );
    }

    #[test]
    fn ipv6_routers_are_the_default_routes_next_hops() {
        let text = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000002 00000400 00000001 00000000 00000003     eth0\n\
                    fd007700000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0\n\
                    00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n";
        assert_eq!(
            ipv6_routers(text),
            vec![("eth0".to_string(), "fe80::2".parse().unwrap())]
        );
    }

    #[test]
    fn state_file_round_trip_shows_time_left() {
        let lease = Lease {
            address: Ipv4Addr::new(10, 0, 2, 15),
            prefix_len: 24,
            server: Ipv4Addr::new(10, 0, 2, 2),
            routes: vec![Route {
                dest: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
                gateway: Ipv4Addr::new(10, 0, 2, 2),
            }],
            dns: vec![Ipv4Addr::new(10, 0, 2, 3)],
            hostname: None,
            domain: None,
            search: vec![],
            mtu: None,
            lease_time: Some(Duration::from_secs(100)),
            t1: None,
            t2: None,
            rejected: vec![],
        };
        let f = render("eth0", "bound", Some(&lease), Duration::from_secs(10), "");
        assert!(f.contains("address=10.0.2.15/24\n"));
        assert!(f.contains("router=10.0.2.2\n"));
        let d = describe(&f, Duration::from_secs(50));
        assert!(d.contains("lease: 60 s left"), "{d}");
        assert!(d.contains("state: bound"), "{d}");
    }
}
