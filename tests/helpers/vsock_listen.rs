//! Test helper, not part of qinit: a vsock listener for the guest, because busybox has
//! none. tests/credentials.rs compiles it with rustc as a static binary and puts it in the
//! image; it depends on nothing but std and the C library.
//!
//! `vsock-listen PORT`: listens on AF_VSOCK stream port PORT (any CID), goes to the
//! background once it listens (the parent exits), and prints each connection's bytes as
//! one line, `vsock-listen: got <bytes>`, newlines shown as `|`. It ignores SIGTERM, so
//! that it can still print what PID 1 sends while the machine stops (SIGKILL ends it).

use std::io::Write;

const AF_VSOCK: i32 = 40;
const SOCK_STREAM: i32 = 1;
const VMADDR_CID_ANY: u32 = u32::MAX;
const SIGTERM: i32 = 15;
const SIG_IGN: usize = 1;

#[repr(C)]
struct SockaddrVm {
    family: u16,
    reserved1: u16,
    port: u32,
    cid: u32,
    flags: u8,
    zero: [u8; 3],
}

unsafe extern "C" {
    fn socket(domain: i32, kind: i32, protocol: i32) -> i32;
    fn bind(fd: i32, addr: *const SockaddrVm, len: u32) -> i32;
    fn listen(fd: i32, backlog: i32) -> i32;
    fn accept(fd: i32, addr: *mut u8, len: *mut u32) -> i32;
    fn read(fd: i32, buf: *mut u8, n: usize) -> isize;
    fn close(fd: i32) -> i32;
    fn signal(sig: i32, handler: usize) -> usize;
    fn fork() -> i32;
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("vsock-listen: {line}\n").as_bytes());
    let _ = out.flush();
}

fn main() {
    let port: u32 = match std::env::args().nth(1).and_then(|p| p.parse().ok()) {
        Some(p) => p,
        None => {
            say("usage: vsock-listen PORT");
            std::process::exit(2);
        }
    };
    let addr = SockaddrVm {
        family: AF_VSOCK as u16,
        reserved1: 0,
        port,
        cid: VMADDR_CID_ANY,
        flags: 0,
        zero: [0; 3],
    };
    // SAFETY: plain system calls on our own fd and buffers of the sizes given.
    unsafe {
        signal(SIGTERM, SIG_IGN);
        let fd = socket(AF_VSOCK, SOCK_STREAM, 0);
        let size = std::mem::size_of::<SockaddrVm>() as u32;
        if fd < 0 || bind(fd, &addr, size) != 0 || listen(fd, 16) != 0 {
            say(&format!(
                "cannot listen: {}",
                std::io::Error::last_os_error()
            ));
            std::process::exit(1);
        }
        say(&format!("listening on port {port}"));
        if fork() != 0 {
            return;
        }
        loop {
            let conn = accept(fd, std::ptr::null_mut(), std::ptr::null_mut());
            if conn < 0 {
                continue;
            }
            let mut message = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = read(conn, buf.as_mut_ptr(), buf.len());
                if n <= 0 {
                    break;
                }
                message.extend_from_slice(&buf[..n as usize]);
            }
            close(conn);
            say(&format!(
                "got {}",
                String::from_utf8_lossy(&message).replace('\n', "|")
            ));
        }
    }
}
