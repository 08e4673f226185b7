//! The faces of the binary that are not PID 1: `qinit dhcp IFACE` runs the DHCP client
//! on one interface from a shell (`-6`: the DHCPv6 client); `qinit config` shows the
//! effective configuration and where each value came from; `/sbin/shutdown` (qinit by
//! another name) asks PID 1 to stop the machine.

pub mod config;
pub mod dhcp;
pub mod dhcp6;
pub mod shutdown;

/// What `qinit` with no or a wrong subcommand prints.
pub const USAGE: &str =
    "usage: qinit dhcp IFACE [--once] [--release] [--rapid-commit] [--debug] [--timeout S] [--etc DIR]
       qinit dhcp IFACE -6 [--stateless|--stateful] [--once] [--release] [--debug] [--timeout S] [--etc DIR]
       qinit status
       qinit config [--cmdline \"WORDS\"] [--conf PATH] [--credentials DIR]
       qinit analyze
       qinit poweroff|reboot|halt
       shutdown [-h|-P|-H|-r] [now|+0] [WALL MESSAGE...]   (as /sbin/shutdown)
       shutdown -c";
