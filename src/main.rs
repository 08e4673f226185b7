//! qinit: PID 1 for minimal Linux VMs when it is process 1, otherwise a tool
//! (`qinit dhcp IFACE`, `qinit status`), or `shutdown` when started by that name
//! (/sbin/shutdown). This file only dispatches.

use qinit::{config, info, net, pid1, system, tools};

fn main() {
    if std::process::id() == 1 {
        pid1_main();
    }
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if std::path::Path::new(&argv0).file_name() == Some(std::ffi::OsStr::new("shutdown")) {
        std::process::exit(tools::shutdown::main(&args));
    }
    let code = match args.first().map(String::as_str) {
        Some("dhcp") => tools::dhcp::main(args.get(1..).unwrap_or(&[])),
        Some("status") => net::status::main(),
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

/// PID 1 must never exit: a panic that escapes the boot is caught, logged, and the
/// machine keeps a shell and keeps reaping.
fn pid1_main() -> ! {
    std::panic::set_hook(Box::new(|p| info!("BUG: {p}")));
    let _ = std::panic::catch_unwind(|| pid1::boot::boot());
    info!("the boot failed; falling back to a bare shell");
    let cfg = config::cmdline::Config::default();
    let tty = system::console::console_tty(None);
    loop {
        let _ = std::panic::catch_unwind(|| {
            pid1::event_loop::Pid1::new(
                cfg.clone(),
                tty.clone(),
                pid1::signals::Signals::install(),
                net::network::Network::none(&cfg),
                None,
                None,
                pid1::timeline::Timeline::default(),
            )
            .run()
        });
    }
}
