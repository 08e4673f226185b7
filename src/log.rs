//! Console logging: one line per step, prefixed like the kernel's own lines with the
//! uptime (CLOCK_BOOTTIME), so a boot reads as one timeline.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static DEBUG: AtomicBool = AtomicBool::new(false);

pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// One of qinit's console lines, with its uptime and the final newline.
pub fn format_line(msg: std::fmt::Arguments<'_>) -> String {
    let t = crate::clock::uptime();
    format!(
        "[{:5}.{:06}] qinit: {}\n",
        t.as_secs(),
        t.subsec_micros(),
        msg
    )
}

/// Writes one line to stderr (the console for PID 1). Errors are ignored: there is
/// nowhere else to report them.
pub fn write_line(msg: std::fmt::Arguments<'_>) {
    let line = format_line(msg);
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::write_line(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => {
        if $crate::log::debug_enabled() { $crate::log::write_line(format_args!($($arg)*)) }
    };
}

/// Makes bytes from the network safe to print: printable ASCII stays, everything else
/// (newlines, escape sequences, NUL, non-ASCII) becomes `\xNN`, and the result is capped.
pub fn escape(bytes: &[u8]) -> String {
    const MAX: usize = 128;
    let mut out = String::new();
    for (i, &b) in bytes.iter().enumerate() {
        if i == MAX {
            out.push_str("...");
            break;
        }
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// Milliseconds of a duration, for "took N ms" lines.
pub fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_keeps_printable_and_hexes_the_rest() {
        assert_eq!(escape(b"host-1.example"), "host-1.example");
        assert_eq!(escape(b"a\nb\x1b[2J\0"), "a\\x0ab\\x1b[2J\\x00");
        assert_eq!(escape(b"back\\slash"), "back\\x5cslash");
    }

    #[test]
    fn escape_caps_long_input() {
        let long = vec![b'a'; 1000];
        let e = escape(&long);
        assert!(e.len() < 140);
        assert!(e.ends_with("..."));
    }
}
