//! /etc/hosts and /etc/resolv.conf: rendered from validated values by pure functions,
//! written whole to a temporary file and renamed, so a reader never sees half a file.

use std::io::Write;
use std::net::Ipv4Addr;
use std::path::Path;

/// What the files say about this machine. Every name here was validated by `names`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub hostname: String,
    pub domain: Option<String>,
    pub address: Option<Ipv4Addr>,
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
    out
}

/// glibc reads at most 3 nameservers; the search list is capped like musl and glibc 2.25-.
pub fn render_resolv(nameservers: &[Ipv4Addr], search: &[String], source: &str) -> String {
    let mut out = format!("# written by qinit from {source}\n");
    let mut line = String::from("search");
    for s in search.iter().take(6) {
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
    for ns in nameservers.iter().take(3) {
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
        };
        let h = render_hosts(&id);
        assert!(h.contains("127.0.0.1\tlocalhost\n"));
        assert!(h.contains("::1\tlocalhost"));
        assert!(h.contains("10.0.2.15\tvm1.example.test vm1\n"));
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
            &[Ipv4Addr::new(10, 0, 2, 3), Ipv4Addr::new(1, 1, 1, 1)],
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
        let ns: Vec<Ipv4Addr> = (1..=5).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        let search: Vec<String> = (0..10).map(|i| format!("d{i}.test")).collect();
        let r = render_resolv(&ns, &search, "x");
        assert_eq!(r.matches("nameserver").count(), 3);
        assert!(r.contains("d5.test") && !r.contains("d6.test"));
        let r = render_resolv(&[], &[], "x");
        assert!(!r.contains("search"));
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
