//! What the machine is asked to do: the kernel command line, `ip=`, and qinit.conf,
//! read into one `Config`. Pure parsing; nothing here touches the system.

pub mod cmdline;
pub mod file;
pub mod ip;
pub mod words;

/// The settings from /etc/qinit.conf (its text, if there is one) and the kernel command
/// line, which wins: its values are read last, and its `ip=` words, when it has any,
/// replace the file's.
pub fn load(file: Option<&str>, cmdline: &str) -> (cmdline::Config, Vec<String>) {
    let mut errors = Vec::new();
    let file_line = match file {
        Some(text) => {
            let (line, errs) = file::to_cmdline(text);
            errors.extend(errs.into_iter().map(|e| format!("/etc/qinit.conf: {e}")));
            line
        }
        None => String::new(),
    };
    let (mut cfg, errs) = cmdline::parse(&format!("{file_line} {cmdline}"));
    errors.extend(errs);
    let (mut ip, errs) = ip::from_cmdline(cmdline);
    errors.extend(errs);
    if ip.is_empty() {
        let (file_ip, errs) = ip::from_cmdline(&file_line);
        errors.extend(errs.into_iter().map(|e| format!("/etc/qinit.conf: {e}")));
        ip = file_ip;
    }
    // A host name in ip= is the kernel's way to name the machine.
    if cfg.hostname.is_none() {
        cfg.hostname = ip.iter().find_map(|c| c.hostname.clone());
    }
    cfg.ip = ip;
    (cfg, errors)
}
