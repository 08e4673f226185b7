//! Any NIC and disk qemu offers: drivers loaded by modalias at boot (coldplug) and for a
//! device added later (hotplug), every Ethernet interface configured by DHCP, on the pc,
//! q35 and microvm machines. Each NIC is on its own qemu user network.
#![allow(clippy::panic, reason = "test: a step that cannot run fails the test")]

mod common;

use std::time::Duration;

use common::{Checks, Guest, Net};

/// The NIC models, each with its own MAC and user network 10.0.<n>.0/24.
const MODELS: [(&str, u8); 5] = [
    ("e1000", 2),
    ("e1000e", 3),
    ("virtio-net-pci", 4),
    ("rtl8139", 5),
    ("vmxnet3", 6),
];

fn nic_args(model: &str, n: u8) -> Vec<String> {
    vec![
        "-netdev".into(),
        format!("user,id=n{n},net=10.0.{n}.0/24,restrict=off"),
        "-device".into(),
        format!("{model},netdev=n{n},mac=52:54:00:00:00:0{n}"),
    ]
}

/// The interface whose MAC ends in `n`, from `ip -o link`.
fn iface_with_mac(links: &str, n: u8) -> Option<String> {
    let mac = format!("52:54:00:00:00:0{n}");
    links
        .lines()
        .find(|l| l.contains(&mac))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_owned())
}

fn every_model_gets_a_lease(machine: &str) {
    let images = common::images();
    let mut args: Vec<String> = vec![
        "-M".into(),
        machine.into(),
        "-device".into(),
        "virtio-rng-pci".into(),
    ];
    for (model, n) in MODELS {
        args.extend(nic_args(model, n));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let name = format!("nics-{machine}");
    let mut guest = Guest::boot_with(&name, &images, "qinit.dhcp_timeout=20", &Net::None, &args);
    let mut checks = Checks::new(&name);
    // The leases come in any order: look in the whole console log.
    for (model, n) in MODELS {
        let bound = guest.wait_log(&format!("bound 10.0.{n}.15/24"), Duration::from_secs(90));
        checks.check(bound, || {
            format!("{model}: no lease from 10.0.{n}.0/24 on the console")
        });
    }
    guest.wait_shell();
    let links = guest.run("ip -o link");
    for (model, n) in MODELS {
        let Some(iface) = iface_with_mac(&links, n) else {
            checks.check(false, || {
                format!("{model}: no interface with its MAC:\n{links}")
            });
            continue;
        };
        let addr = guest.run(&format!("ip -4 addr show {iface}"));
        checks.check(addr.contains(&format!("inet 10.0.{n}.15/24")), || {
            format!("{model} ({iface}) should hold 10.0.{n}.15/24:\n{addr}")
        });
        let ping = guest.run(&format!("ping -c 1 -W 5 10.0.{n}.2"));
        checks.check(ping.contains(" 0% packet loss"), || {
            format!("{model}: ping 10.0.{n}.2:\n{ping}")
        });
    }
    let routes = guest.run("ip route");
    let defaults = routes.lines().filter(|l| l.starts_with("default")).count();
    checks.check(defaults == 1, || format!("one default route:\n{routes}"));
    // virtio_pci, loaded for the virtio NIC, binds only the NIC while the network's
    // drivers load: the rng is held back (pci_hold) and becomes a virtio device after.
    // It sits on a lower PCI slot (its -device comes first), so without the hold
    // virtio_pci would probe it first and it would be virtio0.
    let first = guest.run("cat /sys/bus/virtio/devices/virtio0/device");
    checks.check(first.trim() == "0x0001", || {
        format!("virtio0 should be the NIC (0x0001), the rng held back until after it: {first}")
    });
    checks.finish();
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn every_nic_model_gets_a_lease_on_pc() {
    every_model_gets_a_lease("pc");
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn every_nic_model_gets_a_lease_on_q35() {
    every_model_gets_a_lease("q35");
}

/// The virtio disk reads and the virtio rng gives bytes, with no insmod typed.
fn disk_and_rng_work(guest: &mut Guest, checks: &mut Checks) {
    // Drivers nothing waits for (no fstab here) load behind the shell; their end is
    // the background loader's "modules: done" line.
    checks.check(
        guest.wait_log("qinit: modules: done in", Duration::from_secs(30)),
        || "the background drivers never said they were done".to_owned(),
    );
    let disk = guest.run("dd if=/dev/vda bs=512 count=1 2>/dev/null | wc -c");
    checks.check(disk.trim() == "512", || {
        format!("/dev/vda readable: {disk}")
    });
    let rng = guest.run("cat /sys/class/misc/hw_random/rng_current; head -c 16 /dev/hwrng | wc -c");
    checks.check(
        rng.contains("virtio_rng") && rng.trim_end().ends_with("16"),
        || format!("virtio-rng:\n{rng}"),
    );
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn microvm_with_virtio_mmio_gets_a_lease_and_its_disk_and_rng() {
    let images = common::images();
    let dir = common::TempDir::create("microvm");
    let disk = dir.path.join("disk.img");
    std::fs::write(&disk, vec![0u8; 4 << 20]).unwrap_or_else(|e| panic!("disk image: {e}"));
    let drive = format!("file={},if=none,id=d0,format=raw", disk.display());
    let args = [
        "-M",
        "microvm,acpi=on",
        "-netdev",
        "user,id=n0,restrict=off",
        "-device",
        "virtio-net-device,netdev=n0",
        "-device",
        "virtio-rng-device",
        "-drive",
        &drive,
        "-device",
        "virtio-blk-device,drive=d0",
    ];
    // Should the kernel still stall before /init (before qinit exists), one more boot is
    // allowed for that case only; all that qinit does is checked on the boot that runs it.
    // microvm has no HPET or PM timer, and under a loaded host the kernel's quick TSC
    // calibration against the PIT fails; it then marks the TSC unstable and stalls. Under
    // TCG the guest reads the host's TSC, so its frequency is the host's: give it.
    let tsc = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .map(|mhz| format!("tsc_early_khz={}", (mhz * 1000.0) as u64))
        .unwrap_or_default();
    let mut guest = Guest::boot_with("microvm", &images, &tsc, &Net::None, &args);
    if guest
        .try_expect("Run /init as init process", Duration::from_secs(40))
        .is_none()
    {
        guest.note("the kernel stalled before /init; booting once more");
        drop(guest);
        guest = Guest::boot_with("microvm-2", &images, &tsc, &Net::None, &args);
        guest.expect("Run /init as init process");
    }
    guest.expect("dhcp eth0: bound 10.0.2.15/24");
    guest.wait_shell();
    let mut checks = Checks::new("microvm");
    let ping = guest.run("ping -c 1 -W 5 10.0.2.2");
    checks.check(ping.contains(" 0% packet loss"), || {
        format!("ping 10.0.2.2:\n{ping}")
    });
    disk_and_rng_work(&mut guest, &mut checks);
    checks.finish();
}

/// A pc guest on the user network with a blank 4 MiB virtio disk, leased and at its shell;
/// the directory holding the disk goes with it.
fn boot_with_virtio_disk(name: &str) -> (Guest, common::TempDir) {
    let images = common::images();
    let dir = common::TempDir::create(name);
    let disk = dir.path.join("disk.img");
    std::fs::write(&disk, vec![0u8; 4 << 20]).unwrap_or_else(|e| panic!("disk image: {e}"));
    let drive = format!("file={},if=virtio,format=raw", disk.display());
    let mut guest = Guest::boot_with(
        name,
        &images,
        "",
        &Net::User {
            options: String::new(),
        },
        &["-drive", &drive],
    );
    guest.expect("dhcp eth0: bound 10.0.2.15/24");
    guest.wait_shell();
    (guest, dir)
}

#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn disk_and_rng_need_no_insmod_and_a_hot_added_nic_gets_a_lease() {
    let (mut guest, _dir) = boot_with_virtio_disk("hotplug");
    let mut checks = Checks::new("hotplug");
    disk_and_rng_work(&mut guest, &mut checks);
    let before = guest.run("lsmod");
    checks.check(
        before.contains("virtio_blk") && before.contains("virtio_rng"),
        || format!("lsmod:\n{before}"),
    );

    guest.monitor("netdev_add user,id=hot,net=10.0.9.0/24,restrict=on");
    guest.expect("(qemu)");
    guest.send_line("device_add virtio-net-pci,netdev=hot,id=hotnic,mac=52:54:00:00:00:09");
    guest.expect("(qemu)");
    guest.leave_monitor();
    let bound = guest.try_expect("bound 10.0.9.15/24", Duration::from_secs(60));
    checks.check(bound.is_some(), || {
        "the hot-added virtio NIC should get a lease from 10.0.9.0/24".to_owned()
    });
    guest.wait_shell();
    let routes = guest.run("ip route");
    checks.check(routes.contains("default via 10.0.2.2 dev eth0"), || {
        format!("the default route stays with the first lease:\n{routes}")
    });
    checks.finish();
}

/// The image stores the modules no boot waits for as `.ko.zst` (the kernel cannot read
/// them): qinit decompresses them, at coldplug (virtio_blk, by modalias) and as
/// /sbin/modprobe (bonding and its dependency tls, both compressed), which the shell's
/// user and the kernel run.
#[test]
#[ignore = "needs root and qemu: ./build.sh test"]
fn compressed_modules_load_by_modalias_and_by_modprobe() {
    let (mut guest, _dir) = boot_with_virtio_disk("kozst");
    let mut checks = Checks::new("kozst");
    checks.check(
        guest.wait_log("qinit: modules: done in", Duration::from_secs(60)),
        || "the background drivers never said they were done".to_owned(),
    );
    // What this test is about: these are compressed in the image, and busybox is not
    // the modprobe.
    let files = guest.run(
        "cd /lib/modules/$(uname -r) && ls kernel/drivers/block/virtio_blk.ko* \
         kernel/drivers/net/bonding/bonding.ko* kernel/net/tls/tls.ko* \
         kernel/drivers/net/virtio_net.ko*; readlink /sbin/modprobe; cd /",
    );
    checks.check(
        files.contains("virtio_blk.ko.zst")
            && files.contains("bonding.ko.zst")
            && files.contains("tls.ko.zst")
            && files.contains("virtio_net.ko\n")
            && files.trim_end().ends_with("/init"),
        || format!("the image's modules and /sbin/modprobe:\n{files}"),
    );
    // By modalias: virtio_blk once virtio_pci shows its device, evdev for the power
    // button's input device (qinit logs either as "coldplug: loaded ..." or "hotplug:
    // MODALIAS: loaded ...").
    let log = guest.log();
    for module in ["virtio_blk", "evdev"] {
        let by_modalias = log.lines().any(|l| {
            (l.contains("qinit: coldplug: loaded") || l.contains("qinit: hotplug: "))
                && l.split_whitespace().any(|w| w == module)
        });
        checks.check(by_modalias, || {
            format!("{module} (compressed) should be loaded by modalias")
        });
    }
    checks.check(!log.contains("decompressing"), || {
        "no module should fail to decompress at boot".to_owned()
    });
    let blk = guest.run("test -e /sys/module/virtio_blk/initstate && dd if=/dev/vda bs=512 count=1 2>/dev/null | wc -c");
    checks.check(blk.trim() == "512", || format!("virtio_blk: {blk}"));

    let before = guest.run("ls -d /sys/module/bonding /sys/module/tls 2>&1");
    checks.check(before.contains("No such file"), || {
        format!("bonding should not be loaded before modprobe:\n{before}")
    });
    let out = guest.run("modprobe bonding max_bonds=0; echo rc=$?");
    checks.check(out.trim() == "rc=0", || format!("modprobe bonding:\n{out}"));
    let after = guest.run("cat /sys/module/bonding/initstate /sys/module/tls/initstate; test -e /sys/class/net/bond0; echo bond0=$?");
    checks.check(after.trim() == "live\nlive\nbond0=1", || {
        format!("bonding and tls live, max_bonds=0 given (no bond0):\n{after}")
    });
    let again = guest.run("modprobe bonding; echo rc=$?");
    checks.check(again.trim() == "rc=0", || {
        format!("modprobe bonding again:\n{again}")
    });
    // By alias, as the kernel asks: a filesystem type, then a crypto algorithm.
    let alias = guest.run("modprobe -q -- fs-vfat; echo rc=$?; cat /sys/module/vfat/initstate");
    checks.check(alias.trim() == "rc=0\nlive", || {
        format!("modprobe fs-vfat:\n{alias}")
    });

    let quiet = guest.run("modprobe -q nosuchmod; echo rc=$?");
    checks.check(quiet.trim() == "rc=0", || {
        format!("modprobe -q of a missing module is silent and succeeds:\n{quiet}")
    });
    let loud = guest.run("modprobe nosuchmod; echo rc=$?");
    checks.check(
        loud.lines().count() == 2
            && loud.contains("modprobe: module nosuchmod not found")
            && loud.trim_end().ends_with("rc=1"),
        || format!("modprobe of a missing module: one line, exit 1:\n{loud}"),
    );
    let remove = guest.run("modprobe -r bonding; echo rc=$?");
    checks.check(
        remove.lines().count() == 2
            && remove.contains("modprobe: unsupported option '-r'")
            && remove.trim_end().ends_with("rc=2"),
        || format!("modprobe -r: a clear error, exit 2:\n{remove}"),
    );
    checks.finish();
}
