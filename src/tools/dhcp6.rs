//! `qinit dhcp IFACE -6`: PID 1's DHCPv6 client run as an ordinary process. It turns
//! IPv6 on for IFACE, solicits a router, and follows the router's M and O flags (or
//! `--stateless`, `--stateful`), printing what the server gave.

use crate::clock::uptime;
use crate::dhcp::v6_client::{Config6, Mode};
use crate::net::configure::Publish;
use crate::net::dhcp6::{Dhcp6If, Event6};
use crate::net::ipv6_events::{Ipv6Change, Ipv6Events};
use crate::net::link::Netlink;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use std::io::Read;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, PartialEq)]
struct Args {
    iface: String,
    once: bool,
    release: bool,
    mode: Option<Mode>,
    timeout: Option<Duration>,
    etc: Option<PathBuf>,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut mode = None;
    let c = super::parse_client_args(args, |flag| match flag {
        "-6" => true,
        "--stateless" => {
            mode = Some(Mode::Stateless);
            true
        }
        "--stateful" => {
            mode = Some(Mode::Stateful);
            true
        }
        _ => false,
    })?;
    Ok(Args {
        iface: c.iface,
        once: c.once,
        release: c.release,
        mode,
        timeout: c.timeout,
        etc: c.etc,
    })
}

fn print_config(iface: &str, mode: &str, c: &Config6) {
    println!("interface {iface}");
    println!("dhcpv6 {mode}");
    if let Some(a) = c.address {
        println!("address {}/128", a.addr);
        println!("preferred {} s", a.preferred);
        println!("valid {} s", a.valid);
    }
    for d in &c.dns {
        println!("dns {d}");
    }
    if !c.domains.is_empty() {
        println!("search {}", c.domains.join(" "));
    }
}

pub fn main(args: &[String]) -> i32 {
    super::face_main("qinit dhcp -6", parse(args), run)
}

fn run(args: &Args) -> Result<i32, String> {
    // SIGTERM and SIGINT end the client (releasing the lease with --release).
    let mut sig_rx = super::stop_signals()?;
    let mut nl = Netlink::open()?;
    let flags = Ipv6Events::open()?;
    let link = nl.link(&args.iface)?;
    crate::net::router_solicit::allow_optimistic(&link.name);
    crate::net::link::set_ipv6_disabled(&link.name, false)?;
    nl.set_up(&link)?;
    let publish = Publish {
        etc_dir: args.etc.clone(),
        ..Publish::default()
    };
    let seed = crate::net::netif::seed(&link.mac.unwrap_or_default());
    let mut dhcp = Dhcp6If::new(link, publish, None, seed)?;
    if let Some(m) = args.mode {
        dhcp.force(m);
    }
    let started = uptime();
    let deadline = args.timeout.and_then(|t| started.checked_add(t));
    if let Err(e) = crate::net::router_solicit::solicit(&args.iface, dhcp.link.index) {
        crate::debug!("{e}");
    }
    let mut outs = dhcp.ipv6_started(&mut nl, started);
    // Once more at the first address event: the link-local address is there then.
    let mut solicit_again = true;
    loop {
        for o in outs.drain(..) {
            if let Event6::Configured(c) = o {
                print_config(&args.iface, dhcp.state_name(), &c);
                if args.once {
                    if args.release {
                        dhcp.release(&mut nl, uptime());
                    }
                    return Ok(0);
                }
            }
        }
        let now = uptime();
        if deadline.is_some_and(|d| now >= d) {
            eprintln!(
                "qinit dhcp -6: nothing from DHCPv6 on {} within {:?} (state {})",
                args.iface,
                args.timeout.unwrap_or_default(),
                dhcp.state_name()
            );
            return Ok(1);
        }
        let wake = [dhcp.next_wakeup(), deadline].into_iter().flatten().min();
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
        let mut fds = [
            PollFd::new(flags.fd(), PollFlags::POLLIN),
            PollFd::new(sig_rx.as_fd(), PollFlags::POLLIN),
            PollFd::new(dhcp.fd(), PollFlags::POLLIN),
        ];
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
                dhcp.release(&mut nl, now);
            }
            return Ok(0);
        }
        let changes = if ready.first() == Some(&true) {
            flags.read()
        } else {
            Vec::new()
        };
        if solicit_again && changes.contains(&Ipv6Change::Addresses(dhcp.link.index)) {
            solicit_again = false;
            crate::net::router_solicit::solicit_again(&args.iface, dhcp.link.index);
        }
        if changes.contains(&Ipv6Change::Flags(dhcp.link.index)) {
            outs.extend(dhcp.flags_changed(&mut nl, now));
        }
        if ready.get(2) == Some(&true) {
            outs.extend(dhcp.readable(&mut nl, now));
        }
        outs.extend(dhcp.tick(&mut nl, now));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_mode_and_the_interface() {
        let a = parse(&["eth0", "-6", "--stateful", "--once"].map(String::from)).unwrap();
        assert_eq!(a.iface, "eth0");
        assert_eq!(a.mode, Some(Mode::Stateful));
        assert!(a.once);
        assert!(parse(&["-6".to_string()]).is_err());
        assert!(parse(&["eth0", "-6", "--bogus"].map(String::from)).is_err());
    }
}
