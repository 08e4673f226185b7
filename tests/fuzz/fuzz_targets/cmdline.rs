//! The kernel command line: config::load with no qinit.conf (cmdline::parse, then
//! `ip=`). Every value accepted must be within its documented range or form
//! (timeouts, an absolute shell and program, valid names), and every error one clean
//! line naming the key.

#![no_main]

mod common;

use common::assert_clean_lines;
use libfuzzer_sys::fuzz_target;
use qinit::config::cmdline::Config;

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    // load is parse, then ip= and the host name it may give.
    let (cfg, errors) = qinit::config::load(None, &line);
    assert_clean_lines("command line error", &errors);
    check(&cfg);
});

pub fn check(cfg: &Config) {
    assert!(cfg.dhcp_timeout.as_secs_f64() <= 3600.0);
    assert!(cfg.phy_wait.as_secs_f64() <= 60.0);
    assert!(cfg.shutdown_timeout.as_secs_f64() <= 600.0);
    if let Some(h) = &cfg.hostname {
        assert_eq!(qinit::names::hostname(h.as_bytes()), Ok((h.clone(), None)));
    }
    assert!(cfg.shell.starts_with('/'), "shell {:?}", cfg.shell);
    if let Some(argv) = &cfg.exec {
        assert!(
            argv.first().is_some_and(|p| p.starts_with('/')),
            "exec {argv:?}"
        );
    }
    for d in &cfg.search {
        assert_eq!(qinit::names::domain(d.as_bytes()).as_ref(), Ok(d));
    }
    assert!(cfg.modules.iter().all(|m| !m.is_empty()));
}
