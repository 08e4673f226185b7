//! The virtio PCI devices held back from their driver while the network's drivers load.
//! virtio_pci, loaded for a virtio NIC, binds every virtio PCI device at once: the disk,
//! the rng, the balloon, the vsock. Each costs the boot ~100 ms of the guest's one CPU
//! under TCG (its ACPI interrupt link is set up through the AML interpreter, then the
//! device is probed), all of it before the NIC's link can come up. Held with the
//! kernel's `driver_override` (a driver name no driver has), they wait for the drivers
//! that load behind the boot; `release` clears it and asks the bus to probe them.

use std::path::{Path, PathBuf};

/// The PCI vendor of every virtio device (Red Hat, Inc.).
const VIRTIO_VENDOR: &str = "0x1af4";
/// What `driver_override` is set to: no driver has this name, so none binds.
const HELD: &str = "qinit-held";

/// The devices held; released (cleared, not probed) when dropped unreleased.
#[derive(Debug, Default)]
pub struct PciHold {
    /// `<sys>/bus/pci`, and the names of the devices held under it.
    bus: PathBuf,
    held: Vec<String>,
}

/// Whether the device at `dir` is a virtio device that is no network controller (PCI
/// class 02) and has no driver yet.
fn to_hold(dir: &Path) -> bool {
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
    read("vendor").trim() == VIRTIO_VENDOR
        && !read("class").trim().starts_with("0x02")
        && !dir.join("driver").exists()
}

impl PciHold {
    /// Holds every virtio PCI device under `sys` (/sys) that is not a NIC and has no
    /// driver yet. Returns the hold and one error per device that could not be held
    /// (it then binds with the NIC, as without a hold).
    pub fn virtio_but_nics(sys: &Path) -> (PciHold, Vec<String>) {
        let bus = sys.join("bus/pci");
        let mut hold = PciHold {
            bus: bus.clone(),
            held: Vec::new(),
        };
        let mut errors = Vec::new();
        let Ok(devices) = std::fs::read_dir(bus.join("devices")) else {
            return (hold, errors);
        };
        let mut names: Vec<String> = devices
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let dir = bus.join("devices").join(&name);
            if !to_hold(&dir) {
                continue;
            }
            match std::fs::write(dir.join("driver_override"), HELD) {
                Ok(()) => hold.held.push(name),
                Err(e) => errors.push(format!("holding PCI device {name}: {e}")),
            }
        }
        (hold, errors)
    }

    /// The devices held, by PCI address.
    pub fn held(&self) -> &[String] {
        &self.held
    }

    /// Clears each device's override and asks the bus to probe it (its driver binds, if
    /// loaded; else it binds when its driver loads). Returns one error per failure.
    pub fn release(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        for name in std::mem::take(&mut self.held) {
            let dir = self.bus.join("devices").join(&name);
            if let Err(e) = std::fs::write(dir.join("driver_override"), "\n") {
                errors.push(format!("releasing PCI device {name}: {e}"));
                continue;
            }
            // No driver for it yet is no error: it binds when its driver registers.
            let _ = std::fs::write(self.bus.join("drivers_probe"), &name);
        }
        errors
    }
}

impl Drop for PciHold {
    /// Unreleased (a shutdown before the drivers began): the overrides are cleared so
    /// that nothing stays held, and nothing is probed.
    fn drop(&mut self) {
        for name in std::mem::take(&mut self.held) {
            let dir = self.bus.join("devices").join(&name);
            let _ = std::fs::write(dir.join("driver_override"), "\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(root: &Path, name: &str, vendor: &str, class: &str, bound: bool) {
        let d = root.join("bus/pci/devices").join(name);
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("vendor"), format!("{vendor}\n")).unwrap();
        std::fs::write(d.join("class"), format!("{class}\n")).unwrap();
        std::fs::write(d.join("driver_override"), "(null)\n").unwrap();
        if bound {
            std::fs::create_dir_all(d.join("driver")).unwrap();
        }
    }

    fn override_of(root: &Path, name: &str) -> String {
        std::fs::read_to_string(
            root.join("bus/pci/devices")
                .join(name)
                .join("driver_override"),
        )
        .unwrap()
    }

    #[test]
    fn holds_virtio_devices_but_nics_and_bound_ones_and_releases_them() {
        let root = std::env::temp_dir().join(format!("qinit-pcihold-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        device(&root, "0000:00:03.0", "0x1af4", "0x020000", false); // virtio-net
        device(&root, "0000:00:04.0", "0x1af4", "0x00ff00", false); // virtio-rng
        device(&root, "0000:00:05.0", "0x1af4", "0x010000", false); // virtio-blk
        device(&root, "0000:00:06.0", "0x1af4", "0x00ff00", true); // bound already
        device(&root, "0000:00:01.1", "0x8086", "0x010180", false); // IDE, not virtio
        std::fs::write(root.join("bus/pci/drivers_probe"), "").unwrap();

        let (mut hold, errors) = PciHold::virtio_but_nics(&root);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(hold.held(), ["0000:00:04.0", "0000:00:05.0"]);
        assert_eq!(override_of(&root, "0000:00:04.0"), HELD);
        assert_eq!(override_of(&root, "0000:00:03.0"), "(null)\n");
        assert_eq!(override_of(&root, "0000:00:06.0"), "(null)\n");
        assert_eq!(override_of(&root, "0000:00:01.1"), "(null)\n");

        assert!(hold.release().is_empty());
        assert_eq!(override_of(&root, "0000:00:04.0"), "\n");
        assert_eq!(override_of(&root, "0000:00:05.0"), "\n");
        // The last device asked to be probed (a file here; the kernel's is write-only).
        assert_eq!(
            std::fs::read_to_string(root.join("bus/pci/drivers_probe")).unwrap(),
            "0000:00:05.0"
        );
        assert!(hold.held().is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn dropped_unreleased_it_clears_the_overrides_and_probes_nothing() {
        let root = std::env::temp_dir().join(format!("qinit-pcihold-drop-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        device(&root, "0000:00:04.0", "0x1af4", "0x00ff00", false);
        std::fs::write(root.join("bus/pci/drivers_probe"), "").unwrap();
        let (hold, _) = PciHold::virtio_but_nics(&root);
        assert_eq!(override_of(&root, "0000:00:04.0"), HELD);
        drop(hold);
        assert_eq!(override_of(&root, "0000:00:04.0"), "\n");
        assert_eq!(
            std::fs::read_to_string(root.join("bus/pci/drivers_probe")).unwrap(),
            ""
        );
        // No PCI bus at all (microvm): nothing held, no error.
        let (none, errors) = PciHold::virtio_but_nics(&root.join("nonexistent"));
        assert!(none.held().is_empty() && errors.is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }
}
