//! qinit: PID 1 for minimal Linux VMs when it is process 1, otherwise a tool
//! (`qinit dhcp IFACE`, `qinit status`), or `shutdown` or `modprobe` when started by
//! that name (/sbin/shutdown, /sbin/modprobe). This file only dispatches.

use qinit::{info, net, pid1, system, tools};

fn main() {
    if std::process::id() == 1 {
        pid1_main();
    }
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let face = std::path::Path::new(&argv0).file_name();
    if face == Some(std::ffi::OsStr::new("shutdown")) {
        std::process::exit(tools::shutdown::main(&args));
    }
    if face == Some(std::ffi::OsStr::new("modprobe")) {
        std::process::exit(tools::modprobe::main(&args));
    }
    let code = match args.first().map(String::as_str) {
        Some("dhcp") => tools::dhcp::main(args.get(1..).unwrap_or(&[])),
        Some("status") => net::status::main(),
        Some("config") => tools::config::main(args.get(1..).unwrap_or(&[])),
        Some("analyze") => pid1::timeline::analyze(),
        Some("poweroff") => system::shutdown::request(system::shutdown::Kind::PowerOff),
        Some("reboot") => system::shutdown::request(system::shutdown::Kind::Reboot),
        Some("halt") => system::shutdown::request(system::shutdown::Kind::Halt),
        Some("--version") => {
            println!("qinit {}", env!("CARGO_PKG_VERSION"));
            0
        }
        _ => {
            eprintln!("{}", tools::USAGE);
            2
        }
    };
    std::process::exit(code);
}

/// PID 1 must never exit. Each boot step and each turn of the loop catches its own
/// panics (`pid1::guard`); should one escape the boot anyway, PID 1 goes on with the
/// configured policy (an appliance stays an appliance), without the network, and backs
/// off if that fails too.
fn pid1_main() -> ! {
    // fds 0-2 are open: Rust's runtime opens /dev/null on any that the kernel (finding
    // no console) or an rdinit= wrapper left closed, so no socket of PID 1 lands there.
    // PID 1's lines then go to /dev/console (log::console_never_blocks).
    std::panic::set_hook(Box::new(|p| info!("BUG: {p}")));
    if let Err(e) = qinit::log::console_never_blocks() {
        info!("{e}");
    }
    let _ = std::panic::catch_unwind(|| pid1::boot::boot());
    info!("the boot failed; going on without the network");
    let cfg = std::panic::catch_unwind(|| pid1::boot::read_config(None).0.0).unwrap_or_default();
    let tty = system::console::console_tty(cfg.console.as_deref());
    let signals = pid1::signals::Signals::install();
    let mut guard = pid1::guard::Guard::default();
    let mut signals = Some(signals);
    loop {
        let Some(s) = signals.take() else {
            // Run never returns; reaching here means it could not even start.
            std::thread::sleep(std::time::Duration::from_secs(1));
            system::reaper::reap_all();
            continue;
        };
        let (cfg, tty) = (cfg.clone(), tty.clone());
        let _ = guard.run("PID 1 without the network", move || {
            pid1::event_loop::Pid1::new(
                cfg.clone(),
                tty,
                s,
                net::network::Network::none(&cfg),
                None,
                None,
                pid1::timeline::Timeline::default(),
            )
            .run()
        });
        std::thread::sleep(guard.backoff());
    }
}
