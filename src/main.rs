//! qinit: PID 1 for minimal Linux VMs when it is process 1, otherwise a tool
//! (`qinit dhcp IFACE`, `qinit status`). This file only dispatches.

mod blkid;
mod boot;
mod cmdline;
mod config_file;
mod console;
mod dhcp;
mod dhcp_tool;
mod etc_files;
mod foreground;
mod fstab;
mod ip_config;
mod link;
mod log;
mod modalias;
mod modules;
mod mounts;
mod names;
mod net_config;
mod net_plan;
mod netif;
mod phy;
mod pid1;
mod reaper;
mod shutdown;
mod status;
mod timeline;
mod uevent;

const USAGE: &str =
    "usage: qinit dhcp IFACE [--once] [--release] [--rapid-commit] [--debug] [--timeout S] [--etc DIR]
       qinit status
       qinit analyze
       qinit poweroff|reboot|halt";

fn main() {
    if std::process::id() == 1 {
        pid1_main();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("dhcp") => dhcp_tool::main(args.get(1..).unwrap_or(&[])),
        Some("status") => status::main(),
        Some("analyze") => timeline::analyze(),
        Some("poweroff") => shutdown::request(shutdown::Kind::PowerOff),
        Some("reboot") => shutdown::request(shutdown::Kind::Reboot),
        Some("halt") => shutdown::request(shutdown::Kind::Halt),
        Some("--version") => {
            println!("qinit {}", env!("CARGO_PKG_VERSION"));
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    std::process::exit(code);
}

/// PID 1 must never exit: a panic that escapes the boot is caught, logged, and the
/// machine keeps a shell and keeps reaping.
fn pid1_main() -> ! {
    std::panic::set_hook(Box::new(|p| info!("BUG: {p}")));
    let _ = std::panic::catch_unwind(|| boot::boot());
    info!("the boot failed; falling back to a bare shell");
    let cfg = cmdline::Config::default();
    let tty = console::console_tty(None);
    loop {
        let _ = std::panic::catch_unwind(|| pid1::Pid1::new(cfg.clone(), tty.clone()).run());
    }
}
