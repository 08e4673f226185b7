//! The kernel's `ip=` parameter (config::ip): one value through parse_ip, and the input as
//! a whole command line through from_cmdline. What is accepted must be usable as it is:
//! a unicast static address with a prefix of 1 to 32, a device name the kernel takes, a
//! valid host name; each device configured at most once; and every error one clean line.

#![no_main]

mod common;

use common::{assert_clean_line, assert_clean_lines};
use libfuzzer_sys::fuzz_target;
use qinit::config::ip::{IpConfig, Method, from_cmdline, parse_ip};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match parse_ip(&text) {
        Ok(cfg) => check(&cfg),
        Err(e) => assert_clean_line("ip= error", &e.to_string()),
    }
    let (configs, errors) = from_cmdline(&text);
    assert_clean_lines("ip= error", &errors);
    for (i, cfg) in configs.iter().enumerate() {
        check(cfg);
        assert!(
            configs
                .iter()
                .skip(i + 1)
                .all(|other| other.device != cfg.device),
            "device {:?} configured twice: {configs:?}",
            cfg.device
        );
    }
});

fn check(cfg: &IpConfig) {
    if let Some(d) = &cfg.device {
        assert!(
            !d.is_empty()
                && d.len() <= 15
                && d != "."
                && d != ".."
                && d.bytes().all(|b| b.is_ascii_graphic() && b != b'/'),
            "device name {d:?}"
        );
    }
    if let Some(h) = &cfg.hostname {
        assert_eq!(qinit::names::hostname(h.as_bytes()), Ok((h.clone(), None)));
    }
    for a in cfg.dns.iter().chain(&cfg.ntp).chain(&cfg.server) {
        assert!(!a.is_unspecified(), "address {a} given as not given");
    }
    if let Method::Static(s) = &cfg.method {
        let a = s.address;
        assert!(
            !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_broadcast()),
            "static address {a}"
        );
        assert!((1..=32).contains(&s.prefix_len), "prefix /{}", s.prefix_len);
        if let Some(gw) = s.gateway {
            assert!(!gw.is_unspecified(), "gateway 0.0.0.0");
        }
    }
}
