//! The faces of the binary that are not PID 1: `qinit dhcp IFACE` runs the DHCP client
//! on one interface from a shell (`-6`: the DHCPv6 client); `qinit config` shows the
//! effective configuration and where each value came from; `/sbin/shutdown` (qinit by
//! another name) asks PID 1 to stop the machine; `/sbin/modprobe` loads a module (the
//! image's `.ko.zst` too).

pub mod config;
pub mod dhcp;
pub mod dhcp6;
pub mod modprobe;
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
       shutdown -c
       modprobe [-q] [--] NAME [PARAM=VALUE ...]                (as /sbin/modprobe)";

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

/// What both faces of `qinit dhcp` (v4 and `-6`) take on their command line.
struct ClientArgs {
    iface: String,
    once: bool,
    release: bool,
    timeout: Option<std::time::Duration>,
    etc: Option<std::path::PathBuf>,
}

/// Parses the options both clients share; `own(flag)` takes a face's own flags and says
/// whether it knew the flag.
fn parse_client_args(
    args: &[String],
    mut own: impl FnMut(&str) -> bool,
) -> Result<ClientArgs, String> {
    let mut out = ClientArgs {
        iface: String::new(),
        once: false,
        release: false,
        timeout: None,
        etc: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            s if own(s) => {}
            "--once" => out.once = true,
            "--release" => out.release = true,
            "--debug" => crate::log::set_debug(true),
            "--timeout" => {
                let v = it.next().ok_or("--timeout needs seconds")?;
                let s: f64 = v
                    .parse()
                    .map_err(|_| format!("--timeout: bad seconds '{v}'"))?;
                // try_: from_secs_f64 panics on a value no Duration holds (1e300).
                match std::time::Duration::try_from_secs_f64(s) {
                    Ok(t) if s > 0.0 => out.timeout = Some(t),
                    _ => return Err(format!("--timeout: bad seconds '{v}'")),
                }
            }
            "--etc" => {
                let dir = it.next().ok_or("--etc needs a directory")?;
                out.etc = Some(std::path::PathBuf::from(dir));
            }
            s if s.starts_with('-') => return Err(format!("unknown option '{s}'")),
            s if out.iface.is_empty() => out.iface = s.to_string(),
            s => return Err(format!("unexpected argument '{s}'")),
        }
    }
    if out.iface.is_empty() {
        return Err("no interface given".into());
    }
    Ok(out)
}
