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

/// A tool's main: `parsed` arguments, then `run`. Bad arguments exit 2 with the usage,
/// a failed run 1, each with one line naming the tool.
fn face_main<A>(
    name: &str,
    parsed: Result<A, String>,
    run: impl FnOnce(&A) -> Result<i32, String>,
) -> i32 {
    let args = match parsed {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{name}: {e}\n{USAGE}");
            return 2;
        }
    };
    run(&args).unwrap_or_else(|e| {
        eprintln!("{name}: {e}");
        1
    })
}

/// The read end of a non-blocking pipe that SIGTERM and SIGINT write to: a tool's poll
/// wakes on it and ends (releasing, if asked). The handlers only write to the pipe.
fn stop_signals() -> Result<std::os::unix::net::UnixStream, String> {
    let (rx, tx) =
        std::os::unix::net::UnixStream::pair().map_err(|e| format!("signal pipe: {e}"))?;
    rx.set_nonblocking(true)
        .map_err(|e| format!("signal pipe: {e}"))?;
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        let tx = tx.try_clone().map_err(|e| format!("signal pipe: {e}"))?;
        signal_hook::low_level::pipe::register(sig, tx)
            .map_err(|e| format!("signal {sig}: {e}"))?;
    }
    Ok(rx)
}
