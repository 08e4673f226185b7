//! The lease state file under /run/qinit and `qinit status`, which reads it. The file is
//! key=value lines, written atomically by whoever holds the lease.

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

/// `qinit status`: every interface's state file.
pub fn main() -> i32 {
    let Ok(dir) = std::fs::read_dir(STATE_DIR) else {
        eprintln!("qinit status: no state in {STATE_DIR} (is qinit running as PID 1?)");
        return 1;
    };
    let mut files: Vec<_> = dir
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "lease"))
        .collect();
    files.sort();
    if files.is_empty() {
        println!("no interface is managed by DHCP");
    }
    for p in files {
        if let Ok(text) = std::fs::read_to_string(&p) {
            print!("{}", describe(&text, crate::clock::uptime()));
            println!();
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
