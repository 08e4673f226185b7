//! PID 1's lifecycle under qemu, as a user at the console sees it: every way of asking
//! for a shutdown stops the machine in order (SIGTERM, SIGKILL only when something
//! ignored it, sync, unmount, reboot(2)) within a bound; while the machine runs, orphans
//! are reaped and the shell comes back after each exit; an fstab disk is mounted at boot
//! and left clean by a power-off. qemu runs with -no-reboot, so a power-off or a reboot
//! ends qemu: its exit is what these tests wait for. Each kind of shutdown ends its
//! machine, so each gets its own boot.

#![allow(
    clippy::panic,
    reason = "test helpers: a step that fails fails the test"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Checks, Guest, Net, TempDir};
use rexpect::process::WaitStatus;

/// Host time from typing the command to qemu's exit: the 5 s grace period at most, and
/// a TCG guest's sync and unmount, with another guest on the other core.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(30);

const SHELL_LINE: &str = "qinit: starting /bin/sh on";

/// For the tests where the network plays no part: the shell starts without waiting for
/// a lease, some seconds sooner under TCG.
const NO_NET: &str = "qinit.net=off";

/// How a shutdown ends: qinit's last line and the kernel's.
struct Ending {
    kind: &'static str,
    kernel: &'static str,
}

const POWER_OFF: Ending = Ending {
    kind: "power off",
    kernel: "reboot: Power down",
};
const REBOOT: Ending = Ending {
    kind: "reboot",
    kernel: "reboot: Restarting system",
};
const HALT: Ending = Ending {
    kind: "halt",
    kernel: "reboot: System halted",
};

fn user_net() -> Net {
    Net::User {
        options: String::new(),
    }
}

/// The console lines of qinit's shutdown, for failure messages.
fn shutdown_lines(log: &str) -> String {
    log.lines()
        .filter(|l| l.contains("qinit: shutdown") || l.contains("reboot: "))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first of `steps` that is not found in `log` after the ones before it.
fn first_out_of_order(log: &str, steps: &[String]) -> Option<String> {
    let mut at = 0;
    for step in steps {
        let found = log.get(at..).and_then(|rest| rest.find(step.as_str()));
        match found {
            Some(i) => at += i + step.len(),
            None => return Some(step.clone()),
        }
    }
    None
}

/// The lines a shutdown of `ending` logs, in order; with `killed`, the SIGKILL step too.
fn steps(ending: &Ending, killed: bool) -> Vec<String> {
    let mut steps = vec![
        format!("qinit: shutdown: {} requested", ending.kind),
        "qinit: shutdown: SIGTERM to every process".to_owned(),
    ];
    if killed {
        steps.push("qinit: shutdown: SIGKILL to what is left".to_owned());
    }
    steps.extend([
        "qinit: shutdown: sync".to_owned(),
        "qinit: shutdown: unmount".to_owned(),
        // The whole line: "power off" alone, not "power off requested".
        format!("qinit: shutdown: {}\n", ending.kind),
        ending.kernel.to_owned(),
    ]);
    steps
}

/// Checks the console of a finished shutdown: the steps in order, SIGKILL only when
/// `killed`, and no failure on the way.
fn check_steps(checks: &mut Checks, log: &str, ending: &Ending, killed: bool) {
    let lines = shutdown_lines(log);
    let wanted = steps(ending, killed);
    let missing = first_out_of_order(log, &wanted);
    checks.check(missing.is_none(), || {
        format!(
            "the console should show {wanted:#?} in this order; {:?} is missing or out of \
             order. The shutdown said:\n{lines}",
            missing.unwrap_or_default()
        )
    });
    if !killed {
        checks.check(!log.contains("SIGKILL to what is left"), || {
            format!("nothing ignores SIGTERM here, yet qinit needed SIGKILL:\n{lines}")
        });
        checks.check(!log.contains("some still running"), || {
            format!("every process should end on SIGTERM:\n{lines}")
        });
    }
    for bad in ["reboot(2) failed", "BUG:", "Kernel panic"] {
        checks.check(!log.contains(bad), || {
            format!("the console should not say {bad:?}:\n{lines}")
        });
    }
}

/// Types `command` at the shell and waits for qemu to exit; returns the host time it
/// took and the whole console log, or None (after a failed check) if qemu did not exit.
fn type_and_wait_exit(
    guest: &mut Guest,
    checks: &mut Checks,
    command: &str,
) -> Option<(Duration, String)> {
    guest.send_line(command);
    let typed = Instant::now();
    let status = guest.wait_exit(SHUTDOWN_BOUND);
    let took = typed.elapsed();
    let log = guest.log();
    checks.check(status.is_some(), || {
        format!(
            "`{command}` should end qemu (-no-reboot) within {SHUTDOWN_BOUND:?}; it still runs. \
             The shutdown said:\n{}",
            shutdown_lines(&log)
        )
    });
    let status = status?;
    checks.check(matches!(status, WaitStatus::Exited(_, 0)), || {
        format!("qemu should exit with status 0 after a guest shutdown, not {status:?}")
    });
    guest.note(&format!(
        "`{command}`: qemu exited after {:.1}s",
        took.as_secs_f64()
    ));
    Some((took, log))
}

/// One boot: `command` at the shell must end the machine as `ending` says, within
/// `SHUTDOWN_BOUND`.
fn shutdown_by(name: &str, command: &str, ending: &Ending) {
    let images = common::images();
    let mut guest = Guest::boot(name, &images, "", &user_net());
    let mut checks = Checks::new(name);
    guest.wait_shell();
    if let Some((_, log)) = type_and_wait_exit(&mut guest, &mut checks, command) {
        check_steps(&mut checks, &log, ending, false);
    }
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn busybox_poweroff_powers_off_in_order() {
    shutdown_by("poweroff", "poweroff", &POWER_OFF);
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn busybox_reboot_reboots_in_order() {
    shutdown_by("reboot", "reboot", &REBOOT);
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn sigterm_to_pid1_reboots() {
    shutdown_by("kill-term", "kill -TERM 1", &REBOOT);
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn sigusr2_to_pid1_powers_off() {
    shutdown_by("kill-usr2", "kill -USR2 1", &POWER_OFF);
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn sigpwr_to_pid1_powers_off() {
    shutdown_by("kill-pwr", "kill -PWR 1", &POWER_OFF);
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn qinit_poweroff_powers_off() {
    shutdown_by("qinit-poweroff", "qinit poweroff", &POWER_OFF);
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn busybox_halt_halts_and_qemu_keeps_running() {
    let images = common::images();
    let mut guest = Guest::boot("halt", &images, "", &user_net());
    let mut checks = Checks::new("halt");
    guest.wait_shell();
    guest.send_line("halt");
    let typed = Instant::now();
    guest.expect_within(HALT.kernel, SHUTDOWN_BOUND);
    guest.note(&format!(
        "halted {:.1}s after `halt`",
        typed.elapsed().as_secs_f64()
    ));
    let log = guest.log();
    check_steps(&mut checks, &log, &HALT, false);
    // A halted guest stays; only a power-off or reboot would end qemu.
    let exited = guest.wait_exit(Duration::from_secs(3));
    checks.check(exited.is_none(), || {
        format!("after a halt qemu should keep running, but it exited: {exited:?}")
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn ctrl_alt_del_from_the_monitor_reboots() {
    let images = common::images();
    let mut guest = Guest::boot("ctrl-alt-del", &images, "", &user_net());
    let mut checks = Checks::new("ctrl-alt-del");
    guest.wait_shell();
    // The PS/2 keyboard (atkbd, built into Debian's kernel) reports the keys; the VT
    // keyboard handler turns Ctrl-Alt-Del into SIGINT to PID 1 because qinit disabled
    // the kernel's own reboot (reboot(RB_DISABLE_CAD)).
    guest.monitor("sendkey ctrl-alt-delete");
    let pressed = Instant::now();
    let status = guest.wait_exit(SHUTDOWN_BOUND);
    let log = guest.log();
    checks.check(status.is_some(), || {
        format!(
            "Ctrl-Alt-Del should reboot the guest, ending qemu (-no-reboot), within \
             {SHUTDOWN_BOUND:?}; the shutdown said:\n{}",
            shutdown_lines(&log)
        )
    });
    if status.is_some() {
        guest.note(&format!(
            "qemu exited {:.1}s after Ctrl-Alt-Del",
            pressed.elapsed().as_secs_f64()
        ));
        check_steps(&mut checks, &log, &REBOOT, false);
    }
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn a_process_ignoring_sigterm_is_killed_after_the_grace_period() {
    let images = common::images();
    let mut guest = Guest::boot(
        "ignores-term",
        &images,
        "qinit.shutdown_timeout=2",
        &user_net(),
    );
    let mut checks = Checks::new("ignores-term");
    guest.wait_shell();
    // Ignored signals stay ignored across exec, so the sleep ignores them too. HUP as
    // well: qinit hangs up the console shell first, which must not end this one.
    guest.run("sh -c \"trap '' TERM HUP; exec sleep 1000\" &");
    let survived = guest.run("kill -TERM $(pidof sleep); sleep 1; ps -o pid,ppid,stat,args");
    checks.check(survived.contains("sleep 1000"), || {
        format!("the test's `sleep 1000` should have survived a SIGTERM:\n{survived}")
    });
    if let Some((took, log)) = type_and_wait_exit(&mut guest, &mut checks, "poweroff") {
        check_steps(&mut checks, &log, &POWER_OFF, true);
        checks.check(log.contains("some still running after 2 s"), || {
            format!(
                "the SIGTERM step should report that something outlived \
                 qinit.shutdown_timeout=2:\n{}",
                shutdown_lines(&log)
            )
        });
        checks.check(took >= Duration::from_secs(2), || {
            format!("qinit should give SIGTERM 2 s before SIGKILL; qemu exited after {took:?}")
        });
    }
    checks.finish();
}

/// Children that ended normally and that PID 1 reaped, as qinit.debug logs them.
fn reaped(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("qinit: reaped pid") && l.contains("(exit status 0)"))
        .count()
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn two_hundred_orphans_at_once_leave_no_zombie() {
    let images = common::images();
    // qinit.debug logs each child PID 1 reaps: the count shows who collected them.
    let mut guest = Guest::boot("orphans", &images, "qinit.debug qinit.net=off", &user_net());
    let mut checks = Checks::new("orphans");
    guest.wait_shell();
    let reaped_before = reaped(&guest.log());
    // Each subshell exits at once, leaving its `sleep 2` to PID 1; the sleeps end
    // within moments of each other, so their SIGCHLDs arrive together and merge.
    let started = Instant::now();
    guest.run("for i in $(seq 200); do (sleep 2 &); done");
    guest.note(&format!(
        "200 orphans started in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    let mut ps = String::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        ps = guest.run("sleep 3; ps -o pid,ppid,stat,args");
        if !ps.contains("sleep 2") && common::zombies(&ps).is_empty() {
            break;
        }
    }
    let found = common::zombies(&ps);
    checks.check(found.is_empty(), || {
        format!("every orphan should have been reaped; zombies: {found:?}\n{ps}")
    });
    checks.check(!ps.contains("sleep 2"), || {
        format!("the orphans' `sleep 2` should have ended:\n{ps}")
    });
    let reaped = reaped(&guest.log()).saturating_sub(reaped_before);
    checks.check(reaped >= 200, || {
        format!("PID 1 should have reaped the 200 orphans itself; qinit.debug counted {reaped}")
    });
    guest.note(&format!("PID 1 reaped {reaped} children"));
    checks.check(guest.try_wait_shell(Duration::from_secs(30)), || {
        "the shell should still answer after the orphans".to_owned()
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn the_shell_is_restarted_after_each_of_fifty_exits() {
    let images = common::images();
    const EXITS: usize = 50;
    const BOUND: Duration = Duration::from_secs(300);
    let mut guest = Guest::boot("respawn", &images, NO_NET, &user_net());
    let mut checks = Checks::new("respawn");
    guest.wait_shell();
    let started = Instant::now();
    for i in 1..=EXITS {
        // Each shell lives over a second, so qinit restarts it at once rather than
        // backing off as it does for a shell that dies on start.
        guest.send_line("sleep 1; exit");
        guest.expect(SHELL_LINE);
        if !guest.try_wait_shell(Duration::from_secs(30)) {
            checks.check(false, || {
                format!("shell number {} did not answer after exit {i}", i + 1)
            });
            break;
        }
        assert!(
            started.elapsed() < BOUND,
            "{i} respawns took {:?}, over the {BOUND:?} bound",
            started.elapsed()
        );
    }
    let took = started.elapsed();
    guest.note(&format!(
        "{EXITS} exits and restarts in {:.1}s",
        took.as_secs_f64()
    ));
    let log = guest.log();
    let starts = log.matches(SHELL_LINE).count();
    checks.check(starts == EXITS + 1, || {
        format!(
            "the console should show {} shell starts, not {starts}",
            EXITS + 1
        )
    });
    let restarts = log
        .matches("/bin/sh exited (exit status 0); restarting it")
        .count();
    checks.check(restarts == EXITS, || {
        format!("the console should show {EXITS} `exited ...; restarting it` lines, not {restarts}")
    });
    for bad in ["times in a row at once", "trying again"] {
        checks.check(!log.contains(bad), || {
            format!("shells that lived over a second should restart at once, but the console says {bad:?}")
        });
    }
    checks.finish();
}

fn virtio_disk(path: &str) -> String {
    format!("file={path},if=virtio,format=raw")
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn fstab_disk_is_mounted_at_boot_and_clean_after_poweroff() {
    let images = common::images();
    common::require_tools(&["mkfs.ext4", "e2fsck", "cpio", "gzip"], "the ext4 test");
    let dir = TempDir::create("fstab");
    let data = common::ext4_image(&dir, "data.img", 32, "qdata");
    let other = common::ext4_image(&dir, "other.img", 8, "qlabel");
    let fstab = "\
# written by tests/shutdown.rs
/dev/vda        /data           ext4    defaults                        0 2
LABEL=qlabel    /mnt/by\\040label ext4  noatime                         0 0
tmpfs           /mnt/scratch    tmpfs   nosuid,nodev,size=1m,mode=0700  0 0
/dev/vdz        /mnt/absent     ext4    defaults,nofail                 0 0
/dev/vda        /mnt/never      ext4    noauto                          0 0
/data           /mnt/ro-view    none    bind,ro                         0 0
";
    let images = common::images_with_files(&images, &dir, &[("etc/fstab", fstab)]);
    let disks = [
        "-drive".to_owned(),
        virtio_disk(&data),
        "-drive".to_owned(),
        virtio_disk(&other),
    ];
    let args: Vec<&str> = disks.iter().map(String::as_str).collect();

    let mut checks = Checks::new("fstab");
    let mut guest = Guest::boot_with("fstab-1", &images, NO_NET, &user_net(), &args);
    guest.wait_shell();
    let log = guest.log();
    let fstab_lines: Vec<&str> = log.lines().filter(|l| l.contains("qinit: fstab")).collect();
    let said = fstab_lines.join("\n");
    checks.check(!fstab_lines.is_empty(), || {
        "the console has no `qinit: fstab` line: is fstab::mount_all called at boot?".to_owned()
    });
    if fstab_lines.is_empty() {
        // Every check below would fail for the same reason.
        checks.finish();
        return;
    }
    for (line, wanted) in [
        (2, "/dev/vda on /data: mounted /dev/vda (ext4)"),
        (3, "LABEL=qlabel on /mnt/by label: mounted /dev/vdb (ext4)"),
        (4, "tmpfs on /mnt/scratch: mounted tmpfs (tmpfs)"),
        (5, "/dev/vdz on /mnt/absent: /dev/vdz does not exist"),
        (7, "/data on /mnt/ro-view: mounted /data (bind)"),
    ] {
        let wanted = format!("qinit: fstab: line {line}: {wanted}");
        checks.check(log.contains(&wanted), || {
            format!("the console should say {wanted:?}; qinit's fstab lines were:\n{said}")
        });
    }
    checks.check(log.contains("(nofail: going on)"), || {
        format!("the missing nofail disk should be reported as such:\n{said}")
    });
    checks.check(!log.contains("/mnt/never"), || {
        format!("a noauto entry should be skipped without a word:\n{said}")
    });
    let mounts = guest.run("cat /proc/mounts");
    for (source, target, fstype, options) in [
        ("/dev/vda", "/data", "ext4", "rw,"),
        ("/dev/vdb", "/mnt/by\\040label", "ext4", "rw,noatime"),
        ("tmpfs", "/mnt/scratch", "tmpfs", "rw,nosuid,nodev,"),
        // A bind mount takes `ro` only on a second, remounting call.
        ("/dev/vda", "/mnt/ro-view", "ext4", "ro,"),
    ] {
        let present = mounts.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3
                && f[0] == source
                && f[1] == target
                && f[2] == fstype
                && f[3].starts_with(options)
        });
        checks.check(present, || {
            format!("/proc/mounts should have `{source} {target} {fstype} {options}...`:\n{mounts}")
        });
    }
    checks.check(
        mounts.contains("size=1024k") && mounts.contains("mode=700"),
        || format!("tmpfs data options (size=1m, mode=0700) should reach the kernel:\n{mounts}"),
    );
    let touched = guest.run("touch /mnt/ro-view/x");
    checks.check(touched.contains("Read-only file system"), || {
        format!("the read-only bind mount should refuse a new file:\n{touched}")
    });
    // No sync: the shutdown must write it out.
    guest.run("echo hello-from-boot-1 > /data/f");
    let ended = type_and_wait_exit(&mut guest, &mut checks, "poweroff");
    if let Some((_, log)) = &ended {
        check_steps(&mut checks, log, &POWER_OFF, false);
        checks.check(!shutdown_lines(log).contains("busy:"), || {
            format!(
                "every filesystem should unmount cleanly:\n{}",
                shutdown_lines(log)
            )
        });
    }
    drop(guest);
    if ended.is_none() {
        checks.finish();
        return;
    }

    for image in [&data, &other] {
        let (code, said) = common::host_output("e2fsck", &["-fn", image]);
        checks.check(code == Some(0), || {
            format!("e2fsck -fn {image} should find it clean (exit 0), not {code:?}:\n{said}")
        });
    }

    let mut guest = Guest::boot_with("fstab-2", &images, NO_NET, &user_net(), &args);
    guest.wait_shell();
    let read = guest.run("cat /data/f");
    checks.check(read.trim() == "hello-from-boot-1", || {
        format!("the file written before the power-off should be there after it:\n{read}")
    });
    checks.finish();
}
