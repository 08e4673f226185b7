//! Whether a link that is still down already has a link partner, as its driver reads
//! the PHY (the ethtool ioctl, ETHTOOL_GSET).
//!
//! Why: e1000 checks its link from a watchdog that, once the interface is up, runs
//! every two seconds, and the interrupt that reports a finished autonegotiation cannot
//! bring that run forward. Set up while autonegotiation is still going (qemu's model
//! takes 500 ms from the driver's probe), the carrier shows at the next run, about two
//! seconds later; set up after it, the first run sees the link at once. So for such a
//! driver the interface is set up when the PHY reports link, or after `HOLD_AT_MOST`.

use crate::clock::Uptime;
use crate::info;
use crate::log::ms;
use crate::net::link::Link;
use crate::net::plan::LinkPlan;
use std::time::Duration;

/// Drivers whose carrier lags like that.
const LAGGING_DRIVERS: &[&str] = &["e1000"];

/// The longest a link is held down waiting for its PHY (a cable may be unplugged).
pub const HOLD_AT_MOST: Duration = crate::config::cmdline::PHY_WAIT_DEFAULT;

/// How often a held link's PHY is asked.
pub const POLL_EVERY: Duration = Duration::from_millis(5);

const ETHTOOL_GSET: u32 = 0x0000_0001;

/// struct ethtool_cmd (linux/ethtool.h), the legacy link settings the ioctl fills in.
#[repr(C)]
#[derive(Default)]
struct EthtoolCmd {
    cmd: u32,
    supported: u32,
    advertising: u32,
    speed: u16,
    duplex: u8,
    port: u8,
    phy_address: u8,
    transceiver: u8,
    autoneg: u8,
    mdio_support: u8,
    maxtxpkt: u32,
    maxrxpkt: u32,
    speed_hi: u16,
    eth_tp_mdix: u8,
    eth_tp_mdix_ctrl: u8,
    lp_advertising: u32,
    reserved: [u32; 2],
}

/// Mb/s, or None while the driver has no link (SPEED_UNKNOWN, or 0).
fn speed(cmd: &EthtoolCmd) -> Option<u32> {
    let s = (u32::from(cmd.speed_hi) << 16) | u32::from(cmd.speed);
    (s != 0 && s != u32::MAX).then_some(s)
}

nix::ioctl_readwrite_bad!(siocethtool, nix::libc::SIOCETHTOOL, nix::libc::ifreq);

/// The PHY's speed in Mb/s if it has link now, None if not; an error if the driver
/// does not say.
pub fn link_speed(iface: &str) -> Result<Option<u32>, String> {
    let ctx = |e: &dyn std::fmt::Display| format!("{iface}: ethtool link settings: {e}");
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None)
        .map_err(|e| ctx(&e))?;
    let mut cmd = EthtoolCmd {
        cmd: ETHTOOL_GSET,
        ..EthtoolCmd::default()
    };
    // SAFETY: an all-zero ifreq is valid (a name of NULs, a null union).
    let mut req: nix::libc::ifreq = unsafe { std::mem::zeroed() };
    let name = iface.as_bytes();
    if name.len() >= req.ifr_name.len() {
        return Err(ctx(&"name too long"));
    }
    for (d, s) in req.ifr_name.iter_mut().zip(name) {
        *d = *s as nix::libc::c_char;
    }
    req.ifr_ifru.ifru_data = std::ptr::from_mut(&mut cmd).cast();
    // SAFETY: SIOCETHTOOL reads the name and writes at most size_of::<EthtoolCmd>()
    // bytes through ifru_data for ETHTOOL_GSET; both live until the call returns.
    unsafe { siocethtool(std::os::fd::AsRawFd::as_raw_fd(&sock), &mut req) }
        .map_err(|e| ctx(&e))?;
    Ok(speed(&cmd))
}

/// The driver bound to an interface (the name of /sys/class/net/IFACE/device/driver).
pub fn driver(iface: &str) -> Option<String> {
    let target = std::fs::read_link(format!("/sys/class/net/{iface}/device/driver")).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// Whether setting `iface` up should wait for its PHY: its driver lags, the driver can
/// tell, and the PHY has no link yet.
pub fn should_hold(iface: &str) -> bool {
    hold_for(driver(iface).as_deref(), || link_speed(iface))
}

/// The decision: hold only a link whose driver lags and whose PHY says it has no link;
/// the PHY is asked only for such a driver.
fn hold_for(driver: Option<&str>, speed: impl FnOnce() -> Result<Option<u32>, String>) -> bool {
    driver.is_some_and(|d| LAGGING_DRIVERS.contains(&d)) && matches!(speed(), Ok(None))
}

/// For a tool with no event loop: blocks while `should_hold` says so, at most
/// `HOLD_AT_MOST`. PID 1 polls from its loop instead.
pub fn wait_before_setting_up(iface: &str) {
    if !should_hold(iface) {
        return;
    }
    let since = std::time::Instant::now();
    while since.elapsed() < HOLD_AT_MOST && matches!(link_speed(iface), Ok(None)) {
        std::thread::sleep(POLL_EVERY);
    }
}

/// Interfaces PID 1 leaves down until their PHY has link, each with its plan and when
/// its wait began; `release` hands back the ones whose wait is over.
#[derive(Debug, Default)]
pub struct PhyHold {
    held: Vec<(Link, LinkPlan, Uptime)>,
}

impl PhyHold {
    pub fn hold(&mut self, link: Link, plan: LinkPlan, now: Uptime) {
        self.held.push((link, plan, now));
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Drops a link that went away.
    pub fn forget(&mut self, index: u32) {
        self.held.retain(|(l, _, _)| l.index != index);
    }

    pub fn links(&self) -> impl Iterator<Item = &Link> {
        self.held.iter().map(|(l, _, _)| l)
    }

    /// The held interfaces whose PHY has link, or whose wait (`wait`) is over, with
    /// their plans; and whether any PHY came up (a mark for the timeline).
    pub fn release(&mut self, now: Uptime, wait: Duration) -> (Vec<(Link, LinkPlan)>, bool) {
        let mut ready = Vec::new();
        let mut linked = false;
        for (i, (link, _, since)) in self.held.iter().enumerate() {
            let waited = now.saturating_sub(*since);
            match link_speed(&link.name) {
                Ok(None) if waited < wait => continue,
                Ok(None) => info!(
                    "{}: no PHY link after {}; setting it up anyway",
                    link.name,
                    ms(waited)
                ),
                Ok(Some(speed)) => {
                    linked = true;
                    info!(
                        "{}: PHY link at {speed} Mb/s after {}",
                        link.name,
                        ms(waited)
                    )
                }
                Err(e) => info!("{e}; setting it up"),
            }
            ready.push(i);
        }
        let mut out = Vec::new();
        for i in ready.into_iter().rev() {
            let (link, plan, _) = self.held.remove(i);
            out.push((link, plan));
        }
        out.reverse();
        (out, linked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ethtool_cmd_has_the_kernel_layout() {
        assert_eq!(std::mem::size_of::<EthtoolCmd>(), 44);
    }

    #[test]
    fn speed_unknown_is_no_link() {
        let mut c = EthtoolCmd {
            speed: 0xffff,
            speed_hi: 0xffff,
            ..EthtoolCmd::default()
        };
        assert_eq!(speed(&c), None);
        c.speed = 0;
        c.speed_hi = 0;
        assert_eq!(speed(&c), None);
        c.speed = 1000;
        assert_eq!(speed(&c), Some(1000));
        c.speed = 0x86a0; // 100000 Mb/s: 0x0001_86a0
        c.speed_hi = 1;
        assert_eq!(speed(&c), Some(100_000));
    }

    #[test]
    fn loopback_has_no_driver_to_wait_for() {
        assert_eq!(driver("lo"), None);
        assert!(!should_hold("lo"));
        let e = link_speed("no-such-iface0").unwrap_err();
        assert!(e.starts_with("no-such-iface0: "), "{e}");
    }

    #[test]
    fn only_a_lagging_driver_without_phy_link_is_held() {
        assert!(hold_for(Some("e1000"), || Ok(None)));
        assert!(!hold_for(Some("e1000"), || Ok(Some(1000))));
        assert!(!hold_for(Some("e1000"), || Err("EOPNOTSUPP".into())));
        // Other drivers, and devices without one, are never held nor is their PHY asked.
        let never = || -> Result<Option<u32>, String> { panic!("the PHY was asked") };
        assert!(!hold_for(Some("virtio_net"), never));
        assert!(!hold_for(Some("e1000e"), never));
        assert!(!hold_for(None, never));
    }
}
