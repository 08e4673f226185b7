//! Console logging: one line per step, prefixed like the kernel's own lines with the
//! uptime (CLOCK_BOOTTIME), so a boot reads as one timeline.

use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

static DEBUG: AtomicBool = AtomicBool::new(false);

pub fn set_debug(on: bool) {
    DEBUG.store(on, Ordering::Relaxed);
}

pub fn debug_enabled() -> bool {
    DEBUG.load(Ordering::Relaxed)
}

/// Lines the console did not take (a stalled serial line, XOFF), not yet reported.
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Makes PID 1's console writes non-blocking: a console that stops taking output (a
/// serial line held by XOFF, a host that stopped reading) then costs lines, counted and
/// reported once it moves again, instead of freezing PID 1.
///
/// The console is opened again, as a file description of PID 1's own: O_NONBLOCK on
/// fd 2 itself would also make the writes of every process sharing it (one started
/// before qinit from an rdinit= script, say) fail instead of wait.
///
/// When fd 2 is /dev/null (PID 1 was started with fds 0-2 closed, which Rust's runtime
/// fills with /dev/null), the lines go to /dev/console, where the kernel's own go.
/// Otherwise fd 2 is reopened through /proc, so PID 1 calls this again once /proc is
/// mounted; until then (and when it is already done) this does nothing.
pub fn console_never_blocks() -> Result<(), String> {
    if CONSOLE.get().is_some() {
        return Ok(());
    }
    let path = if is_dev_null(std::io::stderr().as_fd()) {
        "/dev/console"
    } else if std::path::Path::new("/proc/self/fd").is_dir() {
        "/proc/self/fd/2"
    } else {
        return Ok(());
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .map_err(|e| format!("console: opening {path} without blocking: {e}"))?;
    CONSOLE
        .set(file)
        .map_err(|_| "console: already reopened".to_string())
}

/// Whether `fd` is the character device /dev/null (1:3).
fn is_dev_null(fd: BorrowedFd<'_>) -> bool {
    rustix::fs::fstat(fd).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice
            && rustix::fs::major(st.st_rdev) == 1
            && rustix::fs::minor(st.st_rdev) == 3
    })
}

/// PID 1's own non-blocking console, once `console_never_blocks` opened it.
static CONSOLE: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();

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
    let stderr = std::io::stderr();
    // The lock keeps lines from threads whole; the writes go straight to the fd.
    let _lock = stderr.lock();
    match CONSOLE.get() {
        Some(console) => write_bounded(console.as_fd(), line.as_bytes(), &DROPPED),
        None => write_bounded(stderr.as_fd(), line.as_bytes(), &DROPPED),
    }
}

/// Writes as much of `buf` as `fd` takes without waiting; true when all of it went.
fn write_some(fd: BorrowedFd<'_>, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        match rustix::io::write(fd, buf) {
            Ok(0) => return false,
            Ok(n) => buf = buf.get(n..).unwrap_or(&[]),
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Writes `line` unless the fd would block; a line that does not go (or goes in part)
/// is counted in `dropped`, and the count is reported before the next line that does.
fn write_bounded(fd: BorrowedFd<'_>, line: &[u8], dropped: &AtomicU64) {
    let lost = dropped.load(Ordering::Relaxed);
    if lost > 0 {
        // A line cut short is ended first, so the note starts a line of its own.
        let note =
            format!("\nqinit: {lost} console line(s) dropped: the console was not taking output\n");
        if !write_some(fd, note.as_bytes()) {
            dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        dropped.fetch_sub(lost, Ordering::Relaxed);
    }
    if !write_some(fd, line) {
        dropped.fetch_add(1, Ordering::Relaxed);
    }
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
    #[test]
    fn dev_null_is_told_from_other_files() {
        use std::os::fd::AsFd;
        let null = std::fs::File::open("/dev/null").unwrap();
        let zero = std::fs::File::open("/dev/zero").unwrap();
        let file = std::fs::File::open("Cargo.toml").unwrap();
        let (pipe, _w) = nix::unistd::pipe().unwrap();
        assert!(super::is_dev_null(null.as_fd()));
        assert!(!super::is_dev_null(zero.as_fd()));
        assert!(!super::is_dev_null(file.as_fd()));
        assert!(!super::is_dev_null(pipe.as_fd()));
    }

    use super::*;

    #[test]
    fn a_console_that_takes_nothing_costs_lines_not_time_and_the_loss_is_reported() {
        let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).unwrap();
        let dropped = AtomicU64::new(0);
        let line = [b'x'; 1000];
        let start = std::time::Instant::now();
        // A pipe holds 64 KiB: well before 200 lines it is full, like a stalled serial line.
        for _ in 0..200 {
            write_bounded(tx.as_fd(), &line, &dropped);
        }
        assert!(start.elapsed() < std::time::Duration::from_secs(1));
        let lost = dropped.load(Ordering::Relaxed);
        assert!(lost >= 130, "only {lost} lines counted as dropped");
        // The console moves again: drain it, and the next line carries the count.
        let mut buf = vec![0u8; 1 << 20];
        while rustix::io::read(&rx, &mut buf).is_ok_and(|n| n > 0) {}
        write_bounded(tx.as_fd(), b"next\n", &dropped);
        let n = rustix::io::read(&rx, &mut buf).unwrap();
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        assert!(
            text.contains(&format!("{lost} console line(s) dropped")) && text.ends_with("next\n"),
            "{text:?}"
        );
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
    }

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
