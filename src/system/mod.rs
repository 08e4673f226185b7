//! The machine's own setup and teardown: mounts and fstab, block device ids, kernel
//! modules by modalias and uevent, the console, reaping, and stopping the machine
//! (reboot(2), or qemu's isa-debug-exit).

pub mod blkid;
pub mod console;
pub mod debug_exit;
pub mod fstab;
pub mod modalias;
pub mod modules;
pub mod mounts;
pub mod reaper;
pub mod shutdown;
pub mod uevent;
