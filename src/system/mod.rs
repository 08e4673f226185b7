//! The machine's own setup and teardown: mounts and fstab, block device ids, kernel
//! modules by modalias and uevent (and the virtio PCI devices held back meanwhile), the console, reaping, the power button, and stopping
//! the machine (reboot(2), or qemu's isa-debug-exit).

pub mod acpi_events;
pub mod blkid;
pub mod console;
pub mod credentials;
pub mod debug_exit;
pub mod fstab;
pub mod input_keys;
pub mod modalias;
pub mod modules;
pub mod mounts;
pub mod notify;
pub mod pci_hold;
pub mod power_button;
pub mod reaper;
pub mod shutdown;
pub mod uevent;
