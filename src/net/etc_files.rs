//! /etc/hosts and /etc/resolv.conf: rendered from validated values by pure functions,
//! written whole to a temporary file and renamed, so a reader never sees half a file.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

/// What the files say about this machine. Every name here was validated by `names`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub hostname: String,
    pub domain: Option<String>,
    pub address: Option<Ipv4Addr>,
    /// The global IPv6 address (SLAAC's or DHCPv6's), named beside the IPv4 one.
    pub address6: Option<Ipv6Addr>,
}

impl Identity {
    pub fn fqdn(&self) -> Option<String> {
        self.domain
            .as_ref()
            .map(|d| format!("{}.{}", self.hostname, d))
    }
}

pub fn render_hosts(id: &Identity) -> String {
    let mut out = String::from(
        "# written by qinit\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    let names = match id.fqdn() {
        Some(fqdn) => format!("{fqdn} {}", id.hostname),
        None => id.hostname.clone(),
    };
    // Without a lease the host name still resolves, as Debian does with 127.0.1.1.
    let addr = id.address.unwrap_or(Ipv4Addr::new(127, 0, 1, 1));
    out.push_str(&format!("{addr}\t{names}\n"));
    if let Some(a6) = id.address6 {
        out.push_str(&format!("{a6}\t{names}\n"));
    }
    out
}

/// glibc reads at most 3 nameservers and 6 search domains (musl and glibc 2.25-).
pub const MAX_NAMESERVERS: usize = 3;
pub const MAX_SEARCH: usize = 6;

/// What resolv.conf says once both families are merged, and what did not fit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolv {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
    /// The servers and domains left out over the resolver's limits.
    pub dropped: Vec<String>,
}

/// The one merge of IPv4 (DHCP, static or configured) and IPv6 (router advertisement)
/// DNS: IPv4's first, then IPv6's, each in its own order, no duplicates, within the
/// resolver's limits. The order is stable: the same inputs give the same file.
pub fn merge_resolv(
    v4: &[Ipv4Addr],
    v4_search: &[String],
    v6: &[Ipv6Addr],
    v6_search: &[String],
) -> Resolv {
    let mut r = Resolv::default();
    let all = v4
        .iter()
        .map(|a| IpAddr::V4(*a))
        .chain(v6.iter().map(|a| IpAddr::V6(*a)));
    for a in all {
        if r.servers.contains(&a) {
            continue;
        }
        if r.servers.len() < MAX_NAMESERVERS {
            r.servers.push(a);
        } else {
            r.dropped.push(format!("nameserver {a}"));
        }
    }
    for d in v4_search.iter().chain(v6_search) {
        if r.search.contains(d) {
            continue;
        }
        if r.search.len() < MAX_SEARCH {
            r.search.push(d.clone());
        } else {
            r.dropped.push(format!("search {d}"));
        }
    }
    r
}

pub fn render_resolv(nameservers: &[IpAddr], search: &[String], source: &str) -> String {
    let mut out = format!("# written by qinit from {source}\n");
    let mut line = String::from("search");
    for s in search.iter().take(MAX_SEARCH) {
        if line.len() + 1 + s.len() > 256 {
            break;
        }
        line.push(' ');
        line.push_str(s);
    }
    if line != "search" {
        out.push_str(&line);
        out.push('\n');
    }
    for ns in nameservers.iter().take(MAX_NAMESERVERS) {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    out
}

/// Writes `contents` to `path` through `path.tmp` and a rename.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".qinit-tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_has_localhost_and_the_leased_name() {
        let id = Identity {
            hostname: "vm1".into(),
            domain: Some("example.test".into()),
            address: Some(Ipv4Addr::new(10, 0, 2, 15)),
            address6: None,
        };
        let h = render_hosts(&id);
        assert!(h.contains("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("::1\tlocalhost"));
        assert!(h.contains("10.0.2.15\tvm1.example.test vm1\n"));
        assert_eq!(h.lines().count(), 4, "{h}");
    }

    #[test]
    fn hosts_names_the_global_ipv6_address_beside_the_ipv4_one() {
        let id = Identity {
            hostname: "vm1".into(),
            domain: None,
            address: Some(Ipv4Addr::new(10, 0, 2, 15)),
            address6: Some("fec0::5054:ff:fe12:3456".parse().unwrap()),
        };
        let h = render_hosts(&id);
        assert!(
            h.ends_with("10.0.2.15\tvm1\nfec0::5054:ff:fe12:3456\tvm1\n"),
            "{h}"
        );
    }

    #[test]
    fn hosts_without_lease_uses_127_0_1_1() {
        let id = Identity {
            hostname: "qinit".into(),
            ..Default::default()
        };
        assert!(render_hosts(&id).contains("127.0.1.1\tqinit\n"));
    }

    #[test]
    fn resolv_lists_search_then_nameservers() {
        let r = render_resolv(
            &[
                IpAddr::V4(Ipv4Addr::new(10, 0, 2, 3)),
                IpAddr::V4(Ipv4Addr::new(1, 1, 1, 1)),
            ],
            &["corp.test".into(), "example.test".into()],
            "DHCP on eth0",
        );
        assert_eq!(
            r,
            "# written by qinit from DHCP on eth0\nsearch corp.test example.test\nnameserver 10.0.2.3\nnameserver 1.1.1.1\n"
        );
    }

    #[test]
    fn resolv_caps_nameservers_and_search() {
        let ns: Vec<IpAddr> = (1..=5)
            .map(|i| IpAddr::V4(Ipv4Addr::new(10, 0, 0, i)))
            .collect();
        let search: Vec<String> = (0..10).map(|i| format!("d{i}.test")).collect();
        let r = render_resolv(&ns, &search, "x");
        assert_eq!(r.matches("nameserver").count(), 3);
        assert!(r.contains("d5.test") && !r.contains("d6.test"));
        let r = render_resolv(&[], &[], "x");
        assert!(!r.contains("search"));
    }

    #[test]
    fn merge_puts_ipv4_first_drops_duplicates_and_says_what_did_not_fit() {
        let v4 = [Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(10, 0, 2, 3)];
        let v6: Vec<Ipv6Addr> = ["fd00::1", "fd00::2", "fd00::3"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect();
        let s4: Vec<String> = vec!["a.test".into(), "b.test".into()];
        let s6: Vec<String> = (0..6)
            .map(|i| format!("{}.test", (b'a' + i) as char))
            .collect();
        let r = merge_resolv(&v4, &s4, &v6, &s6);
        assert_eq!(
            r.servers,
            vec![IpAddr::V4(v4[0]), IpAddr::V6(v6[0]), IpAddr::V6(v6[1])]
        );
        assert_eq!(
            r.search,
            vec!["a.test", "b.test", "c.test", "d.test", "e.test", "f.test"]
        );
        assert_eq!(r.dropped, vec!["nameserver fd00::3".to_string()]);
        // The same inputs in the same order: the same result.
        assert_eq!(merge_resolv(&v4, &s4, &v6, &s6), r);
        // Only IPv6.
        let r = merge_resolv(&[], &[], &v6[..1], &s6[..1]);
        assert_eq!(
            render_resolv(&r.servers, &r.search, "RA"),
            "# written by qinit from RA\nsearch a.test\nnameserver fd00::1\n"
        );
    }

    #[test]
    fn write_atomic_replaces_whole_file() {
        let dir = std::env::temp_dir().join(format!("qinit-etc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("hosts");
        std::fs::write(&p, "old contents that are longer").unwrap();
        write_atomic(&p, "new\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new\n");
        assert!(!dir.join("hosts.qinit-tmp").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
