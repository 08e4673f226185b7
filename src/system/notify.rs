//! sd_notify messages to the host over AF_VSOCK, in systemd's convention: the host names
//! its socket with the `vmm.notify_socket` credential (`vsock:CID:PORT`,
//! `vsock-stream:CID:PORT`, `vsock-seqpacket:CID:PORT` or `vsock-dgram:CID:PORT`), and
//! each message is newline-separated `KEY=VALUE` assignments (`READY=1`, `STATUS=...`),
//! one connection (or datagram) per message, as systemd's sd_notify() sends them.
//!
//! A host that does not listen must cost the boot nothing: nothing here blocks. `start`
//! leaves a connection in progress, for the caller's poll loop to `finish`; a refused
//! one fails at once. The address parsing is pure; the rest is the socket adapter. What
//! to send and when is PID 1's policy (pid1::notify).

use std::fmt;
use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, SockAddr, Socket, Type};

/// The socket type an address asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `vsock:`: a datagram, else a seqpacket, else a stream connection, whichever the
    /// kernel's transport offers first (sd_notify's order; virtio has no datagrams).
    Any,
    Stream,
    Seqpacket,
    Dgram,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::Any => "vsock",
            Kind::Stream => "vsock-stream",
            Kind::Seqpacket => "vsock-seqpacket",
            Kind::Dgram => "vsock-dgram",
        }
    }
}

/// A vsock address for notifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Address {
    pub kind: Kind,
    pub cid: u32,
    pub port: u32,
}

/// VMADDR_CID_ANY: not an address one can send to (sd_notify refuses it too).
const CID_ANY: u32 = u32::MAX;

impl Address {
    /// Reads `vsock:CID:PORT` and its typed forms (surrounding whitespace, such as a
    /// credential file's final newline, ignored).
    pub fn parse(text: &str) -> Result<Address, String> {
        let text = text.trim();
        let bad = |why: &str| format!("{}: {why}", crate::log::escape(text.as_bytes()));
        let (prefix, rest) = text
            .split_once(':')
            .ok_or_else(|| bad("expected vsock:CID:PORT"))?;
        let kind = [Kind::Any, Kind::Stream, Kind::Seqpacket, Kind::Dgram]
            .into_iter()
            .find(|k| k.prefix() == prefix)
            .ok_or_else(|| {
                bad("only vsock:, vsock-stream:, vsock-seqpacket: and vsock-dgram: addresses are supported")
            })?;
        let (cid, port) = rest
            .split_once(':')
            .ok_or_else(|| bad("expected vsock:CID:PORT"))?;
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u32>().ok())
                .flatten()
        };
        let cid = number(cid)
            .filter(|&c| c != CID_ANY)
            .ok_or_else(|| bad("the CID must be a number below 4294967295"))?;
        let port = number(port).ok_or_else(|| bad("the port must be a 32-bit number"))?;
        Ok(Address { kind, cid, port })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind.prefix(), self.cid, self.port)
    }
}

/// A connection on its way to the host: poll its fd for POLLOUT, then `finish` it.
pub struct Pending {
    socket: Socket,
}

/// What `start` did.
pub enum Started {
    /// Delivered: a datagram, or a connection the kernel completed at once.
    Sent,
    Connecting(Pending),
}

/// Starts sending `message` to `addr` without waiting: a datagram goes at once, a
/// connection is left in progress.
pub fn start(addr: &Address, message: &str) -> Result<Started, String> {
    // Without a vsock core (the module loads with a transport, or on a socket() call
    // through /sbin/modprobe, which would cost a process), there is no one to tell.
    if !std::path::Path::new("/dev/vsock").exists() {
        return Err("no vsock transport in this guest".into());
    }
    let (socket, kind) = open(addr.kind).map_err(|e| format!("socket: {e}"))?;
    let to = SockAddr::vsock(addr.cid, addr.port);
    if kind == Kind::Dgram {
        return socket
            .send_to_with_flags(message.as_bytes(), &to, nix::libc::MSG_NOSIGNAL)
            .map(|_| Started::Sent)
            .map_err(|e| format!("send: {e}"));
    }
    let pending = Pending { socket };
    match pending.socket.connect(&to) {
        Ok(()) => pending.finish(message).map(|()| Started::Sent),
        Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {
            Ok(Started::Connecting(pending))
        }
        Err(e) => Err(format!("connect: {e}")),
    }
}

impl Pending {
    pub fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Once the fd is ready: the connection's outcome, and the message sent on it.
    pub fn finish(self, message: &str) -> Result<(), String> {
        match self.socket.take_error() {
            Ok(None) => {}
            Ok(Some(e)) | Err(e) => return Err(format!("connect: {e}")),
        }
        let sent = self
            .socket
            .send_with_flags(message.as_bytes(), nix::libc::MSG_NOSIGNAL)
            .map_err(|e| format!("send: {e}"))?;
        if sent < message.len() {
            return Err(format!("sent {sent} of {} bytes", message.len()));
        }
        // The end of the connection ends the message. sd_notify then waits for the
        // host's EOF; we do not wait for anyone.
        let _ = self.socket.shutdown(std::net::Shutdown::Write);
        Ok(())
    }

    /// Waits up to `bound` for the connection, then finishes it.
    pub fn wait_and_finish(self, message: &str, bound: Duration) -> Result<(), String> {
        let ms = u16::try_from(bound.as_millis().max(1)).unwrap_or(u16::MAX);
        let mut fds = [PollFd::new(self.fd(), PollFlags::POLLOUT)];
        if poll(&mut fds, PollTimeout::from(ms)).unwrap_or(0) == 0 {
            return Err(format!(
                "connect: no answer within {}",
                crate::log::ms(bound)
            ));
        }
        self.finish(message)
    }
}

/// A non-blocking socket of the kind asked for; for `vsock:`, the first kind the
/// kernel has (socket() fails with ENODEV or EOPNOTSUPP for a missing one).
fn open(kind: Kind) -> std::io::Result<(Socket, Kind)> {
    let try_kinds: &[Kind] = match kind {
        Kind::Any => &[Kind::Dgram, Kind::Seqpacket, Kind::Stream],
        Kind::Stream => &[Kind::Stream],
        Kind::Seqpacket => &[Kind::Seqpacket],
        Kind::Dgram => &[Kind::Dgram],
    };
    let mut last = std::io::Error::from_raw_os_error(nix::libc::EINVAL);
    for &k in try_kinds {
        let ty = match k {
            Kind::Dgram => Type::DGRAM,
            Kind::Seqpacket => Type::SEQPACKET,
            Kind::Stream | Kind::Any => Type::STREAM,
        };
        match Socket::new(Domain::VSOCK, ty.nonblocking(), None) {
            Ok(s) => return Ok((s, k)),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_systemds_vsock_forms() {
        assert_eq!(
            Address::parse("vsock-stream:2:12345\n").unwrap(),
            Address {
                kind: Kind::Stream,
                cid: 2,
                port: 12345
            }
        );
        assert_eq!(Address::parse("vsock:1:9").unwrap().kind, Kind::Any);
        assert_eq!(Address::parse("vsock-dgram:3:1").unwrap().kind, Kind::Dgram);
        assert_eq!(
            Address::parse("vsock-seqpacket:2:4294967295").unwrap(),
            Address {
                kind: Kind::Seqpacket,
                cid: 2,
                port: u32::MAX
            }
        );
        let a = Address::parse("vsock-stream:2:1234").unwrap();
        assert_eq!(a.to_string(), "vsock-stream:2:1234");
    }

    #[test]
    fn refuses_what_it_cannot_send_to() {
        for bad in [
            "",
            "vsock",
            "vsock:2",
            "vsock::1234",
            "vsock:2:",
            "vsock:-1:5",
            "vsock:+2:5",
            "vsock:4294967295:5",
            "vsock:2:4294967296",
            "vsock:2:5:6",
            "vsock-tcp:2:5",
            "/run/host/notify",
            "@abstract",
            "unix:/run/x",
        ] {
            assert!(Address::parse(bad).is_err(), "accepted {bad:?}");
        }
        let e = Address::parse("vsock:x\n:1").unwrap_err();
        assert!(e.starts_with("vsock:x\\x0a:1:"), "{e}");
    }
}
