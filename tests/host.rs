//! The host drives the guest, as hypervisors do: qemu's `system_powerdown` (what
//! `virsh shutdown` sends) presses the ACPI power button on pc, q35 and microvm, and the
//! machine powers off with its disk clean; without ACPI the power key of an input
//! device does the same; `/sbin/shutdown`, as qemu's guest agent runs it, powers off or
//! reboots now and refuses a time it cannot keep; and an appliance's exit status reaches
//! the host as qemu's own exit code through the isa-debug-exit device.

#![allow(
    clippy::panic,
    reason = "test helpers: a step that fails fails the test"
)]

mod common;

use std::time::{Duration, Instant};

use common::{Checks, Guest, Images, Net, TempDir};
use rexpect::process::WaitStatus;

/// Host time from the request to qemu's exit: the 5 s grace period at most, and a TCG
/// guest's sync and unmount, with another guest on the other core.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(30);

/// The network plays no part here: the shell starts without waiting for a lease.
const NO_NET: &str = "qinit.net=off";

/// qinit's steps of a power-off, in order, after `requested`.
fn power_off_steps(requested: &str, kernel: &str) -> Vec<String> {
    vec![
        requested.to_owned(),
        "qinit: shutdown: SIGTERM to every process".to_owned(),
        "qinit: shutdown: sync".to_owned(),
        "qinit: shutdown: unmount".to_owned(),
        "qinit: shutdown: power off\n".to_owned(),
        kernel.to_owned(),
    ]
}

/// The first of `steps` that is not found in `log` after the ones before it.
fn first_out_of_order(log: &str, steps: &[String]) -> Option<String> {
    let mut at = 0;
    for step in steps {
        match log.get(at..).and_then(|rest| rest.find(step.as_str())) {
            Some(i) => at += i + step.len(),
            None => return Some(step.clone()),
        }
    }
    None
}

/// The console lines of qinit's shutdown and the power button, for failure messages.
fn shutdown_lines(log: &str) -> String {
    log.lines()
        .filter(|l| {
            l.contains("qinit: shutdown")
                || l.contains("qinit: power button")
                || l.contains("reboot: ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_steps(checks: &mut Checks, log: &str, steps: &[String]) {
    let missing = first_out_of_order(log, steps);
    checks.check(missing.is_none(), || {
        format!(
            "the console should show {steps:#?} in this order; {:?} is missing or out of \
             order. The shutdown said:\n{}",
            missing.unwrap_or_default(),
            shutdown_lines(log)
        )
    });
    for bad in [
        "SIGKILL to what is left",
        "busy:",
        "reboot(2) failed",
        "BUG:",
        "Kernel panic",
    ] {
        checks.check(!log.contains(bad), || {
            format!(
                "the console should not say {bad:?}:\n{}",
                shutdown_lines(log)
            )
        });
    }
}

/// `tsc_early_khz=` with the host's TSC frequency: microvm has no timer to calibrate the
/// TSC against, and under TCG the guest reads the host's (see tests/nics.rs).
fn tsc_early_khz() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map(|mhz| format!("tsc_early_khz={}", (mhz * 1000.0) as u64))
        .unwrap_or_default()
}

/// Boots `machine` with the disk in /etc/fstab; on microvm, once more should the kernel
/// stall before /init (before qinit exists; see tests/nics.rs).
fn boot_with_disk(name: &str, machine: &str, images: &Images, disk: &str) -> Guest {
    let microvm = machine.starts_with("microvm");
    let drive = if microvm {
        format!("file={disk},if=none,id=d0,format=raw")
    } else {
        format!("file={disk},if=virtio,format=raw")
    };
    let mut args = vec!["-M", machine, "-nic", "none", "-drive", &drive];
    if microvm {
        args.extend(["-device", "virtio-blk-device,drive=d0"]);
    }
    let append = if microvm {
        format!("{NO_NET} {}", tsc_early_khz())
    } else {
        NO_NET.to_owned()
    };
    let mut guest = Guest::boot_with(name, images, &append, &Net::None, &args);
    if microvm
        && guest
            .try_expect("Run /init as init process", Duration::from_secs(40))
            .is_none()
    {
        guest.note("the kernel stalled before /init; booting once more");
        drop(guest);
        guest = Guest::boot_with(&format!("{name}-2"), images, &append, &Net::None, &args);
    }
    guest
}

/// `system_powerdown` on `machine`: qemu exits, the power-off names the power button,
/// and a file written without sync to the fstab disk is there, on a clean filesystem.
fn powerdown_keeps_the_disk(name: &str, machine: &str) {
    let images = common::images();
    common::require_tools(
        &["mkfs.ext4", "e2fsck", "debugfs", "cpio", "gzip"],
        "the power button test",
    );
    let dir = TempDir::create(name);
    let disk = common::ext4_image(&dir, "data.img", 16, "qdata");
    let fstab = "/dev/vda /data ext4 defaults 0 2\n";
    let images = common::images_with_files(&images, &dir, &[("etc/fstab", fstab)]);
    let mut checks = Checks::new(name);
    let mut guest = boot_with_disk(name, machine, &images, &disk);
    guest.wait_shell();
    let log = guest.log();
    checks.check(
        log.contains(
            "qinit: power button: listening to ACPI events (acpi_event, group acpi_mc_group)",
        ),
        || {
            format!(
                "qinit should listen to ACPI's netlink events:\n{}",
                shutdown_lines(&log)
            )
        },
    );
    let modules = guest.run("lsmod");
    checks.check(modules.contains("button"), || {
        format!("coldplug should have loaded `button` by its modalias:\n{modules}")
    });
    let mounted = guest.run("grep ' /data ' /proc/mounts");
    checks.check(mounted.contains("/dev/vda /data ext4 rw"), || {
        format!("/data should be mounted from /etc/fstab:\n{mounted}")
    });
    // No sync: the power-off must write it out.
    guest.run("echo written-before-the-button > /data/f");
    guest.monitor("system_powerdown");
    let pressed = Instant::now();
    let status = guest.wait_exit(SHUTDOWN_BOUND);
    let log = guest.log();
    checks.check(status.is_some(), || {
        format!(
            "system_powerdown should end qemu (a power-off) within {SHUTDOWN_BOUND:?}; \
             the console said:\n{}",
            shutdown_lines(&log)
        )
    });
    if let Some(status) = status {
        guest.note(&format!(
            "qemu exited {:.1}s after system_powerdown",
            pressed.elapsed().as_secs_f64()
        ));
        checks.check(matches!(status, WaitStatus::Exited(_, 0)), || {
            format!("qemu should exit with status 0 after a power-off, not {status:?}")
        });
    }
    guest.note(&shutdown_lines(&log));
    checks.check(
        log.contains("qinit: power button pressed (ACPI button/power "),
        || {
            format!(
                "the console should name the press:\n{}",
                shutdown_lines(&log)
            )
        },
    );
    check_steps(
        &mut checks,
        &log,
        &power_off_steps(
            "qinit: shutdown: power off requested (power button)",
            "reboot: Power down",
        ),
    );
    drop(guest);

    let (code, said) = common::host_output("e2fsck", &["-fn", &disk]);
    checks.check(code == Some(0), || {
        format!("e2fsck -fn should find the disk clean (exit 0), not {code:?}:\n{said}")
    });
    let (code, said) = common::host_output("debugfs", &["-R", "cat /f", &disk]);
    checks.check(
        code == Some(0) && said.contains("written-before-the-button"),
        || format!("the file written before the press should be on the disk:\n{said}"),
    );
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn system_powerdown_on_pc_powers_off_with_the_disk_clean() {
    powerdown_keeps_the_disk("powerdown-pc", "pc");
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn system_powerdown_on_q35_powers_off_with_the_disk_clean() {
    powerdown_keeps_the_disk("powerdown-q35", "q35");
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn system_powerdown_on_microvm_through_ged_powers_off_with_the_disk_clean() {
    powerdown_keeps_the_disk("powerdown-microvm", "microvm,acpi=on");
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn without_acpi_the_power_key_of_the_keyboard_powers_off() {
    let images = common::images();
    let name = "power-key";
    let mut checks = Checks::new(name);
    // acpi=off: no acpi_event family, so qinit falls back to evdev; the PS/2 keyboard
    // (atkbd, built into the kernel) reports KEY_POWER for qemu's `sendkey power`.
    let append = format!("{NO_NET} acpi=off");
    let mut guest = Guest::boot_with(name, &images, &append, &Net::None, &["-nic", "none"]);
    guest.wait_shell();
    let log = guest.log();
    checks.check(
        log.contains("qinit: power button: no acpi_event netlink family; watching the power key of /dev/input/event"),
        || format!("qinit should fall back to evdev:\n{}", shutdown_lines(&log)),
    );
    // The keyboard goes away and comes back as a new input device, as a hot-plugged
    // one would: qinit drops the old node and watches the new one from its uevent.
    guest.run("echo serio0 > /sys/bus/serio/drivers/atkbd/unbind");
    guest.run("echo serio0 > /sys/bus/serio/drivers/atkbd/bind");
    // Only the rescan says it this way (the boot's line starts with why it falls back);
    // it may come within the `bind` command's output.
    let rescanned = guest.wait_log(
        "qinit: power button: watching the power key of /dev/input/event",
        Duration::from_secs(20),
    );
    checks.check(rescanned, || {
        format!(
            "the keyboard bound again should be watched again:\n{}",
            shutdown_lines(&guest.log())
        )
    });
    guest.monitor("sendkey power");
    // Without ACPI the kernel cannot power off: reboot(2) halts, and qemu stays.
    guest.expect_within("reboot: System halted", SHUTDOWN_BOUND);
    let log = guest.log();
    guest.note(&shutdown_lines(&log));
    checks.check(
        log.contains("qinit: power button pressed (KEY_POWER on /dev/input/event"),
        || format!("the console should name the key:\n{}", shutdown_lines(&log)),
    );
    check_steps(
        &mut checks,
        &log,
        &power_off_steps(
            "qinit: shutdown: power off requested (power button)",
            "reboot: System halted",
        ),
    );
    checks.finish();
}

/// What the guest agent runs for guest-shutdown, here from the console but detached
/// from it (no terminal, no output), as the agent's child would be.
const AGENT_SHUTDOWN: &str =
    "setsid /sbin/shutdown -h -P +0 \"from the agent\" </dev/null >/dev/null 2>&1";

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn sbin_shutdown_as_the_guest_agent_runs_it_powers_off() {
    let images = common::images();
    let name = "shutdown-agent";
    let mut checks = Checks::new(name);
    let mut guest = Guest::boot_with(name, &images, NO_NET, &Net::None, &["-nic", "none"]);
    guest.wait_shell();
    let link = guest.run("readlink /sbin/shutdown");
    checks.check(link.trim() == "/init", || {
        format!("/sbin/shutdown should be a link to /init (qinit), not {link:?}")
    });
    // A time qinit cannot keep: one clear line, a failure, and the machine runs on.
    let later = guest.run("/sbin/shutdown -h +5 'in five'; echo rc=$?");
    checks.check(
        later.contains("shutdown: cannot schedule a shutdown at '+5'") && later.contains("rc=1"),
        || format!("`shutdown +5` should refuse with one line and exit 1:\n{later}"),
    );
    let cancel = guest.run("/sbin/shutdown -c; echo rc=$?");
    checks.check(
        cancel.contains("nothing to cancel") && cancel.contains("rc=0"),
        || format!("`shutdown -c` should say nothing is scheduled and exit 0:\n{cancel}"),
    );
    std::thread::sleep(Duration::from_secs(1));
    checks.check(guest.try_wait_shell(Duration::from_secs(20)), || {
        "the shell should still answer after `shutdown +5` and `shutdown -c`".to_owned()
    });
    let log = guest.log();
    checks.check(
        !log.contains("qinit: shutdown: power off requested"),
        || {
            format!(
                "`shutdown +5` and `shutdown -c` must not stop the machine:\n{}",
                shutdown_lines(&log)
            )
        },
    );

    guest.send_line(AGENT_SHUTDOWN);
    let typed = Instant::now();
    let status = guest.wait_exit(SHUTDOWN_BOUND);
    let log = guest.log();
    guest.note(&shutdown_lines(&log));
    checks.check(status.is_some(), || {
        format!(
            "`{AGENT_SHUTDOWN}` should end qemu within {SHUTDOWN_BOUND:?}:\n{}",
            shutdown_lines(&log)
        )
    });
    if let Some(status) = status {
        guest.note(&format!(
            "qemu exited {:.1}s after the agent's shutdown",
            typed.elapsed().as_secs_f64()
        ));
        checks.check(matches!(status, WaitStatus::Exited(_, 0)), || {
            format!("qemu should exit with status 0 after a power-off, not {status:?}")
        });
    }
    checks.check(log.contains("qinit: shutdown: from the agent"), || {
        format!(
            "the wall message should reach the console:\n{}",
            shutdown_lines(&log)
        )
    });
    check_steps(
        &mut checks,
        &log,
        &power_off_steps(
            "qinit: shutdown: power off requested (SIGUSR2)",
            "reboot: Power down",
        ),
    );
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn sbin_shutdown_r_now_reboots() {
    let images = common::images();
    let name = "shutdown-reboot";
    let mut checks = Checks::new(name);
    let mut guest = Guest::boot_with(name, &images, NO_NET, &Net::None, &["-nic", "none"]);
    guest.wait_shell();
    guest.send_line("/sbin/shutdown -r now");
    let status = guest.wait_exit(SHUTDOWN_BOUND);
    let log = guest.log();
    checks.check(matches!(status, Some(WaitStatus::Exited(_, 0))), || {
        format!(
            "`shutdown -r now` should reboot, ending qemu (-no-reboot) with status 0 within \
                 {SHUTDOWN_BOUND:?}, not {status:?}:\n{}",
            shutdown_lines(&log)
        )
    });
    check_steps(
        &mut checks,
        &log,
        &[
            "qinit: shutdown: reboot requested (SIGTERM)".to_owned(),
            "qinit: shutdown: SIGTERM to every process".to_owned(),
            "qinit: shutdown: sync".to_owned(),
            "qinit: shutdown: unmount".to_owned(),
            "qinit: shutdown: reboot\n".to_owned(),
            "reboot: Restarting system".to_owned(),
        ],
    );
    checks.finish();
}

/// The appliance that exits 3, with the status for isa-debug-exit.
const EXITS_3: &str =
    "qinit.net=off \"qinit.exec=/bin/sh -c 'echo APP-$((40+2)); exit 3'\" qinit.on_exit=debug-exit";

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn the_appliances_exit_status_becomes_qemus_exit_code() {
    let images = common::images();
    let name = "debug-exit";
    let mut checks = Checks::new(name);
    let mut guest = Guest::boot_with(
        name,
        &images,
        EXITS_3,
        &Net::None,
        &[
            "-nic",
            "none",
            "-device",
            "isa-debug-exit,iobase=0xf4,iosize=4",
        ],
    );
    let status = guest.wait_exit(Duration::from_secs(120));
    let log = guest.log();
    guest.note(&shutdown_lines(&log));
    checks.check(log.contains("APP-42"), || {
        "the appliance's output (APP-42) should be on the console".to_owned()
    });
    // (3 << 1) | 1
    checks.check(matches!(status, Some(WaitStatus::Exited(_, 7))), || {
        format!(
            "qemu should exit with code 7 for an appliance that exits 3, not {status:?}:\n{}",
            shutdown_lines(&log)
        )
    });
    let steps = [
        "qinit: /bin/sh -c echo APP-$((40+2)); exit 3 exited (exit status 3); qinit.on_exit says debug-exit: 3 to port 0xf4",
        "qinit: shutdown: exit status 3 to isa-debug-exit at 0xf4 requested (appliance exited)",
        "qinit: shutdown: SIGTERM to every process",
        "qinit: shutdown: sync",
        "qinit: shutdown: unmount",
        "qinit: shutdown: exit status 3 to isa-debug-exit at 0xf4\n",
    ]
    .map(str::to_owned);
    check_steps(&mut checks, &log, &steps);
    checks.check(!log.contains("did not stop the machine"), || {
        format!(
            "the device should have stopped qemu:\n{}",
            shutdown_lines(&log)
        )
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn without_the_debug_exit_device_the_machine_powers_off() {
    let images = common::images();
    let name = "debug-exit-absent";
    let mut checks = Checks::new(name);
    let mut guest = Guest::boot_with(name, &images, EXITS_3, &Net::None, &["-nic", "none"]);
    let status = guest.wait_exit(Duration::from_secs(120));
    let log = guest.log();
    guest.note(&shutdown_lines(&log));
    checks.check(matches!(status, Some(WaitStatus::Exited(_, 0))), || {
        format!(
            "with no device the machine should power off (qemu exits 0), not {status:?}:\n{}",
            shutdown_lines(&log)
        )
    });
    check_steps(
        &mut checks,
        &log,
        &[
            "qinit: shutdown: exit status 3 to isa-debug-exit at 0xf4\n".to_owned(),
            "qinit: shutdown: isa-debug-exit did not stop the machine (no device answered); powering off".to_owned(),
            "qinit: shutdown: power off\n".to_owned(),
            "reboot: Power down".to_owned(),
        ],
    );
    checks.finish();
}
