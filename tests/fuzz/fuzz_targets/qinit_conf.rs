//! /etc/qinit.conf: config::file::to_cmdline, then what config::load does with the line
//! it makes (cmdline::parse and ip::from_cmdline). The file's words must come back whole
//! when the kernel's quoting splits the line made of them (split_words(to_cmdline(text))
//! == to_cmdline_words(text)), what the parsers accept must be sane (as in the cmdline
//! target), and every error one clean line.

#![no_main]

mod common;

use common::assert_clean_lines;
use libfuzzer_sys::fuzz_target;
use qinit::config::file::{to_cmdline, to_cmdline_words};
use qinit::config::words::split_words;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (line, errors) = to_cmdline(&text);
    assert_clean_lines("qinit.conf error", &errors);
    let (words, _) = to_cmdline_words(&text);
    assert_eq!(
        split_words(&line),
        words,
        "the line {line:?} does not give its words back"
    );
    // What config::load does with the file's line (without parsing the file again).
    let (cfg, errors) = qinit::config::cmdline::parse(&line);
    assert_clean_lines("qinit.conf error", &errors);
    let (ip, errors) = qinit::config::ip::from_cmdline(&line);
    assert_clean_lines("qinit.conf error", &errors);
    assert!(
        ip.iter()
            .all(|c| c.device.as_deref().is_none_or(|d| !d.is_empty()))
    );
    assert!(cfg.dhcp_timeout.as_secs_f64() <= 3600.0);
    assert!(cfg.phy_wait.as_secs_f64() <= 60.0);
    assert!(cfg.shutdown_timeout.as_secs_f64() <= 600.0);
    assert!(cfg.shell.starts_with('/'), "shell {:?}", cfg.shell);
    if let Some(h) = &cfg.hostname {
        assert_eq!(qinit::names::hostname(h.as_bytes()), Ok((h.clone(), None)));
    }
    if let Some(argv) = &cfg.exec {
        assert!(
            argv.first().is_some_and(|p| p.starts_with('/')),
            "exec {argv:?}"
        );
    }
});
