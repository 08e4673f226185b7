//! What the machine is asked to do: the kernel command line, `ip=`, and qinit.conf,
//! read into one `Config`. Pure parsing; nothing here touches the system.

pub mod cmdline;
pub mod file;
pub mod ip;
