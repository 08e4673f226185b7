//! A kernel uevent message as the netlink socket delivers it: system::uevent::parse_add.
//! A modalias or evdev node it returns must be the packet's own MODALIAS or DEVNAME
//! value, and only printable ASCII of a sane length, since it goes to the log, to
//! matching and to a path under /dev.

#![no_main]

use libfuzzer_sys::fuzz_target;
use qinit::system::uevent::parse_add;

fn check(data: &[u8], key: &[u8], value: &str) {
    assert!(
        !value.is_empty() && value.len() < 512,
        "value of {} bytes",
        value.len()
    );
    assert!(value.bytes().all(|b| b.is_ascii_graphic()), "value {value:?}");
    let field = [key, value.as_bytes()].concat();
    assert!(
        data.windows(field.len()).any(|w| w == field),
        "{value:?} is not the packet's own"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Some(added) = parse_add(data) {
        assert!(added.modalias.is_some() || added.input_node.is_some());
        if let Some(m) = &added.modalias {
            check(data, b"MODALIAS=", m);
        }
        if let Some(n) = &added.input_node {
            check(data, b"DEVNAME=", n);
            assert!(n.starts_with("input/event"), "{n:?}");
        }
    }
});
