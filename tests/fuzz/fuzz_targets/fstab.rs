//! /etc/fstab: system::fstab::parse, then mount_options on every entry. Errors are one
//! clean line each, naming a line that exists; option lists hold no empty option; the
//! options mount(8) keeps for itself never reach the kernel's data string; the data
//! string keeps the other options in order; `ro`/`rw` end as the last one says; and the
//! flags mount(8) reads (noauto, nofail, _netdev) are set exactly when present.

#![no_main]

mod common;

use common::assert_clean_lines;
use libfuzzer_sys::fuzz_target;
use nix::mount::MsFlags;
use qinit::system::fstab::{is_network_fs, mount_options, parse};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (entries, errors) = parse(&text);
    assert_clean_lines("fstab error", &errors);
    let lines = text.lines().count();
    let mut last = 0;
    for e in &entries {
        assert!(
            e.line > last && e.line <= lines,
            "line {} of {lines}",
            e.line
        );
        last = e.line;
        assert!(e.options.iter().all(|o| !o.is_empty() && !o.contains(',')));
        let (flags, data, own) = mount_options(&e.options);
        let kept: Vec<&str> = if data.is_empty() {
            Vec::new()
        } else {
            data.split(',').collect()
        };
        let mut rest = e.options.iter();
        for k in &kept {
            assert!(
                rest.any(|o| o == k),
                "data {data:?} is not a subsequence of {:?}",
                e.options
            );
            assert!(
                !matches!(
                    *k,
                    "defaults" | "noauto" | "nofail" | "_netdev" | "ro" | "rw" | "bind"
                ) && !k.starts_with("x-"),
                "{k:?} reached the data string {data:?}"
            );
        }
        assert_eq!(own.noauto, e.options.iter().any(|o| o == "noauto"));
        assert_eq!(own.nofail, e.options.iter().any(|o| o == "nofail"));
        assert_eq!(own.netdev, e.options.iter().any(|o| o == "_netdev"));
        let ro = e.options.iter().rev().find(|o| *o == "ro" || *o == "rw");
        assert_eq!(
            flags.contains(MsFlags::MS_RDONLY),
            ro.is_some_and(|o| o == "ro"),
            "{:?}",
            e.options
        );
        let _ = is_network_fs(&e.vfstype, &data);
    }
});
