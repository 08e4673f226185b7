//! The machine's own setup and teardown: mounts and fstab, block device ids, kernel
//! modules by modalias and uevent, the console, reaping, and stopping the machine.

pub mod blkid;
pub mod console;
pub mod credentials;
pub mod fstab;
pub mod modalias;
pub mod modules;
pub mod mounts;
pub mod notify;
pub mod reaper;
pub mod shutdown;
pub mod uevent;
