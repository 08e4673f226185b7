//! `qinit dhcp IFACE`: the same client as PID 1's, run as an ordinary process, so it can
//! be tested and used alone. It configures IFACE and prints the lease.

use crate::clock::uptime;
use crate::dhcp::lease::Lease;
use crate::net::configure::Publish;
use crate::net::link::{LinkEvents, Netlink};
use crate::net::netif::{NetIf, Outcome};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

struct Args {
    iface: String,
    once: bool,
    release: bool,
    rapid_commit: bool,
    timeout: Option<Duration>,
    etc: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut rapid_commit = false;
    let c = super::parse_client_args(args, |flag| {
        rapid_commit |= flag == "--rapid-commit";
        flag == "--rapid-commit"
    })?;
    Ok(Args {
        iface: c.iface,
        once: c.once,
        release: c.release,
        rapid_commit,
        timeout: c.timeout,
        etc: c.etc,
    })
}

pub fn print_lease(iface: &str, l: &Lease) {
    println!("interface {iface}");
    println!("address {}/{}", l.address, l.prefix_len);
    if let Some(r) = l.router() {
        println!("router {r}");
    }
    for d in &l.dns {
        println!("dns {d}");
    }
    println!("server {}", l.server);
    match l.lease_time {
        Some(t) => println!("lease {} s", t.as_secs()),
        None => println!("lease infinite"),
    }
    if let Some(h) = &l.hostname {
        println!("hostname {h}");
    }
    if let Some(d) = &l.domain {
        println!("domain {d}");
    }
    if !l.search.is_empty() {
        println!("search {}", l.search.join(" "));
    }
    if let Some(m) = l.mtu {
        println!("mtu {m}");
    }
}

pub fn main(args: &[String]) -> i32 {
    if args.iter().any(|a| a == "-6") {
        return super::dhcp6::main(args);
    }
    super::face_main("qinit dhcp", parse(args), run)
}

fn run(args: &Args) -> Result<i32, String> {
    // SIGTERM and SIGINT end the client (releasing the lease with --release).
    let mut sig_rx = super::stop_signals()?;
    let mut nl = Netlink::open()?;
    let events = LinkEvents::open()?;
    let link = nl.link(&args.iface)?;
    if !link.up {
        crate::net::phy::wait_before_setting_up(&link.name);
    }
    nl.set_up(&link)?;
    let publish = Publish {
        etc_dir: args.etc.clone(),
        ..Publish::default()
    };
    let mut netif = NetIf::new(
        link,
        publish,
        None,
        args.rapid_commit,
        crate::net::netif::DefaultOwner::default(),
    )?;
    let started = uptime();
    // A timeout beyond what the clock can count is no timeout.
    let deadline = args.timeout.and_then(|t| started.checked_add(t));
    let current = nl.link(&args.iface)?;
    let mut outs = if current.carrier {
        netif.carrier(&mut nl, started, true)
    } else {
        Vec::new()
    };
    loop {
        for o in outs.drain(..) {
            if let Outcome::Bound(l) = o {
                print_lease(&args.iface, &l);
                if args.once {
                    if args.release {
                        netif.release(&mut nl, uptime());
                    }
                    return Ok(0);
                }
            }
        }
        let now = uptime();
        if deadline.is_some_and(|d| now >= d) {
            eprintln!(
                "qinit dhcp: no lease on {} within {:?}",
                args.iface,
                args.timeout.unwrap_or_default()
            );
            return Ok(1);
        }
        let wake = [netif.next_wakeup(), deadline].into_iter().flatten().min();
        let timeout = match wake {
            Some(t) => PollTimeout::try_from(
                t.saturating_sub(now)
                    .as_millis()
                    .saturating_add(1)
                    .min(60_000),
            )
            .unwrap_or(PollTimeout::MAX),
            None => PollTimeout::NONE,
        };
        let mut fds = vec![
            PollFd::new(events.fd(), PollFlags::POLLIN),
            PollFd::new(sig_rx.as_fd(), PollFlags::POLLIN),
        ];
        fds.extend(
            netif
                .fds()
                .into_iter()
                .map(|fd| PollFd::new(fd, PollFlags::POLLIN)),
        );
        match poll(&mut fds, timeout) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
        let ready: Vec<bool> = fds
            .iter()
            .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
            .collect();
        let now = uptime();
        if ready.get(1) == Some(&true) && sig_rx.read(&mut [0u8; 16]).is_ok() {
            if args.release {
                netif.release(&mut nl, now);
            }
            return Ok(0);
        }
        if ready.first() == Some(&true) {
            for change in events.read() {
                if let crate::net::link::LinkChange::Changed(l) = change
                    && l.index == netif.link.index
                {
                    outs.extend(netif.carrier(&mut nl, now, l.carrier));
                }
            }
        }
        if ready.iter().skip(2).any(|r| *r) {
            outs.extend(netif.readable(&mut nl, now, ready.get(2..).unwrap_or(&[])));
        }
        if netif.next_wakeup().is_some_and(|t| t <= now) {
            outs.extend(netif.tick(&mut nl, now));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Args, String> {
        parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn timeout_takes_positive_seconds_a_duration_can_hold() {
        let a = args(&["eth0", "--timeout", "2.5"]).unwrap();
        assert_eq!(a.timeout, Some(Duration::from_millis(2500)));
        assert_eq!(a.iface, "eth0");
        for bad in ["1e300", "inf", "NaN", "0", "-1", "x", "1e20"] {
            let e = args(&["eth0", "--timeout", bad]).err();
            assert_eq!(e, Some(format!("--timeout: bad seconds '{bad}'")), "{bad}");
        }
        // The largest a Duration holds is accepted, and no deadline overflows from it.
        let a = args(&["eth0", "--timeout", "1e19"]).unwrap();
        assert!(a.timeout.unwrap().checked_add(uptime()).is_some());
    }
}
