//! Stopping the machine: every process asked to end, then killed; sync; every filesystem
//! unmounted (or made read-only when busy); then reboot(2). The order is the classic
//! one (busybox init, systemd-shutdown); each step is logged with its duration.

use crate::clock::uptime;
use crate::info;
use crate::log::ms;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    PowerOff,
    Reboot,
    Halt,
}

impl Kind {
    /// busybox's halt, poweroff and reboot applets signal PID 1 with SIGUSR1, SIGUSR2 and
    /// SIGTERM (init/halt.c); SIGPWR is the power button of some hypervisors; SIGINT is
    /// Ctrl-Alt-Del once reboot(RB_DISABLE_CAD) hands it to us.
    pub fn from_signal(sig: i32) -> Option<Kind> {
        match Signal::try_from(sig).ok()? {
            Signal::SIGUSR1 => Some(Kind::Halt),
            Signal::SIGUSR2 | Signal::SIGPWR => Some(Kind::PowerOff),
            Signal::SIGTERM | Signal::SIGINT => Some(Kind::Reboot),
            _ => None,
        }
    }

    pub fn signal(self) -> Signal {
        match self {
            Kind::Halt => Signal::SIGUSR1,
            Kind::PowerOff => Signal::SIGUSR2,
            Kind::Reboot => Signal::SIGTERM,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::PowerOff => "power off",
            Kind::Reboot => "reboot",
            Kind::Halt => "halt",
        }
    }
}

/// How the machine ends once every process is gone and every filesystem is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// reboot(2): power off, restart or halt.
    Kind(Kind),
    /// An exit status for qemu's isa-debug-exit device at `port`; a power-off if the
    /// write does not stop the machine.
    DebugExit { port: u16, value: u8 },
}

impl Ending {
    pub fn name(self) -> String {
        match self {
            Ending::Kind(kind) => kind.name().to_string(),
            Ending::DebugExit { port, value } => {
                format!("exit status {value} to isa-debug-exit at 0x{port:x}")
            }
        }
    }
}

pub const SIGNALS: [i32; 5] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGUSR1,
    signal_hook::consts::SIGUSR2,
    nix::libc::SIGPWR,
    signal_hook::consts::SIGINT,
];

/// Mount points to take down, deepest last mounted first; the root stays.
pub fn unmount_order(mounts: &str) -> Vec<String> {
    let mut targets: Vec<String> = crate::system::mounts::mounted_targets(mounts)
        .into_iter()
        .filter(|t| t != "/")
        .collect();
    targets.reverse();
    targets
}

/// The network filesystems among the mounts, in `unmount_order`: they go first, while
/// the network that reaches their servers is still configured.
pub fn network_unmount_order(mounts: &str) -> Vec<String> {
    let mut targets: Vec<String> = mounts
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (_, target, fstype, options) = (f.next()?, f.next()?, f.next()?, f.next()?);
            crate::system::fstab::is_network_fs(fstype, options)
                .then(|| crate::system::mounts::unescape(target))
        })
        .filter(|t| t != "/")
        .collect();
    targets.reverse();
    targets
}

/// Unmounts the network filesystems; a busy one is forced (pending requests aborted),
/// then detached, so that an unreachable server cannot hang the shutdown.
fn unmount_network() -> String {
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut done = Vec::new();
    for target in network_unmount_order(&mounts) {
        let how = [
            (nix::mount::MntFlags::empty(), ""),
            (nix::mount::MntFlags::MNT_FORCE, " (forced)"),
            (nix::mount::MntFlags::MNT_DETACH, " (detached)"),
        ]
        .into_iter()
        .find(|(flags, _)| nix::mount::umount2(target.as_str(), *flags).is_ok())
        .map_or(" (still mounted)", |(_, how)| how);
        done.push(format!("{}{how}", crate::log::escape(target.as_bytes())));
    }
    if done.is_empty() {
        " none".to_string()
    } else {
        format!(" {}", done.join(" "))
    }
}

const PF_KTHREAD: u64 = 0x0020_0000;

/// Whether a /proc/PID/stat line is a user process (not a kernel thread). The command
/// name may hold spaces and ')', so the fields are counted after the last ')'.
pub fn is_user_process(stat: &str) -> bool {
    let Some((_, rest)) = stat.rsplit_once(')') else {
        return false;
    };
    // After ')': state ppid pgrp session tty_nr tpgid flags ...
    let flags = rest
        .split_whitespace()
        .nth(6)
        .and_then(|f| f.parse::<u64>().ok());
    flags.is_some_and(|f| f & PF_KTHREAD == 0)
}

/// Whether any process other than us (and kernel threads) is left. kill(-1, 0) cannot
/// tell: kernel threads count as signalled. When /proc cannot be read, some may be:
/// the caller then waits out its bound rather than cut a process's exit short.
fn others_left() -> bool {
    others_left_in(std::path::Path::new("/proc"), std::process::id())
}

/// `others_left` for the process table under `proc`, as seen by process `me`.
fn others_left_in(proc: &std::path::Path, me: u32) -> bool {
    let Ok(dir) = std::fs::read_dir(proc) else {
        return true;
    };
    dir.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
            return false;
        };
        pid != me
            && std::fs::read_to_string(e.path().join("stat")).is_ok_and(|s| is_user_process(&s))
    })
}

/// Signals every process but us and waits (reaping) until none is left or `bound` passes.
/// Returns true when none is left.
fn signal_all(sig: Signal, bound: Duration) -> bool {
    let _ = kill(Pid::from_raw(-1), sig);
    // Stopped processes only see SIGTERM once they run again.
    let _ = kill(Pid::from_raw(-1), Signal::SIGCONT);
    let end = uptime() + bound;
    loop {
        crate::system::reaper::reap_all();
        if !others_left() {
            return true;
        }
        if uptime() >= end {
            return false;
        }
        // Shutdown is the one place that waits: nothing else is left to do.
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn timed(what: &str, f: impl FnOnce() -> String) {
    let t = uptime();
    let detail = f();
    info!(
        "shutdown: {what}{detail} ({})",
        ms(uptime().saturating_sub(t))
    );
}

/// Stops the machine: the foreground program's session hung up, every process stopped,
/// sync, the network filesystems unmounted, then `network_down` (DHCP leases released,
/// addresses and routes removed), then sync, unmount and `ending`. Network filesystems
/// go before the network, or they could not flush and a hard mount would hang. `cause`
/// names who asked ("SIGUSR2", "power button").
pub fn shutdown(
    ending: Ending,
    cause: &str,
    grace: Duration,
    foreground: Option<u32>,
    network_down: impl FnOnce(),
) -> ! {
    info!("shutdown: {} requested ({cause})", ending.name());
    // An interactive shell ignores SIGTERM; its terminal hanging up ends it, and it
    // hangs up its jobs in turn.
    if let Some(pid) = foreground.and_then(|p| i32::try_from(p).ok()) {
        let _ = kill(Pid::from_raw(-pid), Signal::SIGHUP);
    }
    stop_processes(grace);
    timed("sync", || {
        nix::unistd::sync();
        String::new()
    });
    timed("unmount network filesystems:", unmount_network);
    network_down();
    finish(ending)
}

/// Stops processes: SIGTERM to all, then SIGKILL to what is left after `grace`.
fn stop_processes(grace: Duration) {
    let mut all_gone = false;
    timed("SIGTERM to every process", || {
        all_gone = signal_all(Signal::SIGTERM, grace);
        if all_gone {
            String::new()
        } else {
            format!(", some still running after {} s", grace.as_secs_f64())
        }
    });
    if !all_gone {
        timed("SIGKILL to what is left", || {
            signal_all(Signal::SIGKILL, Duration::from_secs(2));
            String::new()
        });
    }
}

/// sync, unmount everything, and end as `ending` says. Never returns.
fn finish(ending: Ending) -> ! {
    timed("sync", || {
        nix::unistd::sync();
        String::new()
    });
    timed("unmount", || {
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        let mut busy = Vec::new();
        for target in unmount_order(&mounts) {
            if nix::mount::umount2(target.as_str(), nix::mount::MntFlags::empty()).is_err() {
                // Still in use: read-only is as safe for the data.
                let ro = nix::mount::mount(
                    None::<&str>,
                    target.as_str(),
                    None::<&str>,
                    nix::mount::MsFlags::MS_REMOUNT | nix::mount::MsFlags::MS_RDONLY,
                    None::<&str>,
                );
                busy.push(format!(
                    "{target}{}",
                    if ro.is_ok() { " (read-only)" } else { "" }
                ));
            }
        }
        if busy.is_empty() {
            String::new()
        } else {
            format!(", busy: {}", busy.join(" "))
        }
    });
    nix::unistd::sync();
    let kind = match ending {
        Ending::Kind(kind) => kind,
        Ending::DebugExit { port, value } => {
            info!("shutdown: {}", ending.name());
            let why = match crate::system::debug_exit::write(port, value) {
                Ok(()) => "no device answered".to_string(),
                Err(e) => e,
            };
            info!("shutdown: isa-debug-exit did not stop the machine ({why}); powering off");
            Kind::PowerOff
        }
    };
    let how = match kind {
        Kind::PowerOff => nix::sys::reboot::RebootMode::RB_POWER_OFF,
        Kind::Reboot => nix::sys::reboot::RebootMode::RB_AUTOBOOT,
        Kind::Halt => nix::sys::reboot::RebootMode::RB_HALT_SYSTEM,
    };
    info!("shutdown: {}", kind.name());
    let err = nix::sys::reboot::reboot(how);
    info!("reboot(2) failed: {err:?}; halting here");
    // PID 1 must not return: wait forever, reaping.
    loop {
        crate::system::reaper::reap_all();
        nix::unistd::pause();
    }
}

/// `qinit poweroff|reboot|halt`: ask PID 1, as busybox's applets do.
pub fn request(kind: Kind) -> i32 {
    match kill(Pid::from_raw(1), kind.signal()) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("qinit {}: signalling PID 1: {e}", kind.name());
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_filesystems_are_picked_deepest_first_and_local_ones_left() {
        let mounts = "\
rootfs / rootfs rw 0 0
proc /proc proc rw 0 0
/dev/vda /data ext4 rw 0 0
10.0.2.2 /net 9p rw,trans=tcp,port=5640 0 0
srv:/x /net/deep\\040dir nfs4 rw,vers=4.2 0 0
host0 /shared 9p rw,trans=virtio 0 0
//srv/s /smb cifs rw 0 0
";
        assert_eq!(
            network_unmount_order(mounts),
            ["/smb", "/net/deep dir", "/net"],
            "network ones only, last mounted first"
        );
    }

    #[test]
    fn busybox_signals_map_to_actions() {
        assert_eq!(
            Kind::from_signal(signal_hook::consts::SIGUSR1),
            Some(Kind::Halt)
        );
        assert_eq!(
            Kind::from_signal(signal_hook::consts::SIGUSR2),
            Some(Kind::PowerOff)
        );
        assert_eq!(
            Kind::from_signal(signal_hook::consts::SIGTERM),
            Some(Kind::Reboot)
        );
        assert_eq!(Kind::from_signal(nix::libc::SIGPWR), Some(Kind::PowerOff));
        assert_eq!(
            Kind::from_signal(signal_hook::consts::SIGINT),
            Some(Kind::Reboot)
        );
        assert_eq!(Kind::from_signal(signal_hook::consts::SIGCHLD), None);
        for k in [Kind::Halt, Kind::PowerOff, Kind::Reboot] {
            assert_eq!(Kind::from_signal(k.signal() as i32), Some(k));
        }
    }

    #[test]
    fn kernel_threads_are_not_user_processes() {
        let kthread = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 2 0 0";
        let shell = "57 (sh) S 1 57 57 34816 60 4194560 300 0 0 0 0 0 0 0 20 0 1 0 170";
        let odd = "58 (a) b) (c) R 1 58 58 0 -1 4194304 0 0";
        assert!(!is_user_process(kthread));
        assert!(is_user_process(shell));
        assert!(is_user_process(odd));
        assert!(!is_user_process("garbage"));
    }

    #[test]
    fn others_left_counts_user_processes_and_assumes_some_when_proc_is_unreadable() {
        let dir = std::env::temp_dir().join(format!("qinit-proc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let stat = |pid: u32, text: &str| {
            std::fs::create_dir_all(dir.join(pid.to_string())).unwrap();
            std::fs::write(dir.join(pid.to_string()).join("stat"), text).unwrap();
        };
        stat(1, "1 (init) S 0 1 1 0 -1 4194560 0 0");
        stat(2, "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0");
        std::fs::create_dir_all(dir.join("self")).unwrap();
        // Only us and a kernel thread: nobody left.
        assert!(!others_left_in(&dir, 1));
        // A process that vanished between readdir and read (no stat) does not count.
        std::fs::create_dir_all(dir.join("77")).unwrap();
        assert!(!others_left_in(&dir, 1));
        // A user process is one left; so is "us" as seen by another pid.
        stat(57, "57 (sh) S 1 57 57 34816 60 4194560 300 0");
        assert!(others_left_in(&dir, 1));
        std::fs::remove_dir_all(dir.join("57")).unwrap();
        assert!(others_left_in(&dir, 99));
        std::fs::remove_dir_all(&dir).unwrap();
        // No /proc to read: assume some are left, so the caller waits out its bound.
        assert!(others_left_in(&dir, 1));
    }

    #[test]
    fn unmounts_in_reverse_and_keeps_root() {
        let m = "rootfs / rootfs rw 0 0\nproc /proc proc rw 0 0\ndevtmpfs /dev devtmpfs rw 0 0\ndevpts /dev/pts devpts rw 0 0\n/dev/vda /mnt/my\\040disk ext4 rw 0 0\n";
        assert_eq!(
            unmount_order(m),
            vec!["/mnt/my disk", "/dev/pts", "/dev", "/proc"]
        );
    }
}
