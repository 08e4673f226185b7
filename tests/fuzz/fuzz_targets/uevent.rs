//! A kernel uevent message as the netlink socket delivers it: system::uevent::
//! modalias_of_add. A modalias it returns must be the packet's own MODALIAS value, and
//! only printable ASCII of a sane length, since it goes to the log and to matching.

#![no_main]

use libfuzzer_sys::fuzz_target;
use qinit::system::uevent::modalias_of_add;

fuzz_target!(|data: &[u8]| {
    if let Some(m) = modalias_of_add(data) {
        assert!(
            !m.is_empty() && m.len() < 512,
            "modalias of {} bytes",
            m.len()
        );
        assert!(m.bytes().all(|b| b.is_ascii_graphic()), "modalias {m:?}");
        let field = [b"MODALIAS=", m.as_bytes()].concat();
        assert!(
            data.windows(field.len()).any(|w| w == field),
            "{m:?} is not the packet's MODALIAS"
        );
    }
});
