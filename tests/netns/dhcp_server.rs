//! A scripted DHCP server for the bench, run in a thread that enters a server namespace.
//! Each test decides with a closure what to answer to each message, and may change it
//! mid-test; the server records every message it receives, and whether it came by
//! broadcast or unicast.

use super::{Netns, SERVER_IF};
use dhcproto::v4::{DhcpOption, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::fs::File;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const SERVER_PORT: u16 = 67;
const CLIENT_PORT: u16 = 68;
const MAGIC: [u8; 4] = [99, 130, 83, 99];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Sent to 255.255.255.255.
    Broadcast,
    /// Sent to the server's own address.
    Unicast,
}

/// A message the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub via: Via,
    pub from: SocketAddrV4,
    pub kind: Option<MessageType>,
    pub xid: u32,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub requested: Option<Ipv4Addr>,
    pub server_id: Option<Ipv4Addr>,
    pub rapid_commit: bool,
}

impl Received {
    fn parse(buf: &[u8], from: SocketAddrV4, via: Via) -> Option<Received> {
        // dhcproto slices chaddr by hlen and panics above 16.
        if buf.len() < 240 || buf[2] > 16 {
            return None;
        }
        let msg = Message::decode(&mut Decoder::new(buf)).ok()?;
        let requested = match msg.opts().get(OptionCode::RequestedIpAddress) {
            Some(DhcpOption::RequestedIpAddress(a)) => Some(*a),
            _ => None,
        };
        let server_id = match msg.opts().get(OptionCode::ServerIdentifier) {
            Some(DhcpOption::ServerIdentifier(a)) => Some(*a),
            _ => None,
        };
        Some(Received {
            at: Instant::now(),
            via,
            from,
            kind: msg.opts().msg_type(),
            xid: msg.xid(),
            flags: u16::from_be_bytes([buf[10], buf[11]]),
            ciaddr: msg.ciaddr(),
            chaddr: buf[28..44].try_into().unwrap(),
            requested,
            server_id,
            rapid_commit: msg.opts().get(OptionCode::RapidCommit).is_some(),
        })
    }

    pub fn is(&self, kind: MessageType) -> bool {
        self.kind == Some(kind)
    }
}

/// A datagram to send: when, and to whom (None: 255.255.255.255).
#[derive(Debug, Clone)]
pub struct Out {
    pub bytes: Vec<u8>,
    pub delay: Duration,
    pub to: Option<Ipv4Addr>,
}

impl Out {
    pub fn raw(bytes: Vec<u8>) -> Out {
        Out {
            bytes,
            delay: Duration::ZERO,
            to: None,
        }
    }
}

/// A BOOTREPLY being built: fields and options exactly as given, so that tests can make
/// it wrong on purpose. Options longer than 255 bytes are split into consecutive TLVs
/// (RFC 3396).
#[derive(Debug, Clone)]
pub struct Answer {
    pub op: u8,
    pub hlen: u8,
    pub xid: u32,
    pub flags: u16,
    pub ciaddr: Ipv4Addr,
    pub yiaddr: Ipv4Addr,
    pub chaddr: [u8; 16],
    pub options: Vec<(u8, Vec<u8>)>,
    /// None: broadcast.
    pub to: Option<Ipv4Addr>,
}

impl Answer {
    /// A reply of `kind` (option 53) from `server` (option 54) to `req`, addressed as RFC
    /// 2131 4.1 says for a client on the link: to ciaddr when the client has one (not for a
    /// NAK), else broadcast.
    pub fn new(req: &Received, kind: MessageType, server: Ipv4Addr, yiaddr: Ipv4Addr) -> Answer {
        let unicast = !req.ciaddr.is_unspecified() && kind != MessageType::Nak;
        Answer {
            op: 2,
            hlen: 6,
            xid: req.xid,
            flags: req.flags,
            ciaddr: if kind == MessageType::Ack {
                req.ciaddr
            } else {
                Ipv4Addr::UNSPECIFIED
            },
            yiaddr,
            chaddr: req.chaddr,
            options: vec![(53, vec![u8::from(kind)]), (54, server.octets().to_vec())],
            to: unicast.then_some(req.ciaddr),
        }
    }

    /// Appends an option.
    pub fn option(mut self, code: u8, value: impl Into<Vec<u8>>) -> Answer {
        self.options.push((code, value.into()));
        self
    }

    /// Replaces an option where it stands (or appends it).
    pub fn set(mut self, code: u8, value: impl Into<Vec<u8>>) -> Answer {
        let value = value.into();
        match self.options.iter_mut().find(|(c, _)| *c == code) {
            Some(o) => o.1 = value,
            None => self.options.push((code, value)),
        }
        self
    }

    pub fn remove(mut self, code: u8) -> Answer {
        self.options.retain(|(c, _)| *c != code);
        self
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![self.op, 1, self.hlen, 0];
        b.extend_from_slice(&self.xid.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.flags.to_be_bytes());
        b.extend_from_slice(&self.ciaddr.octets());
        b.extend_from_slice(&self.yiaddr.octets());
        b.extend_from_slice(&[0; 8]); // siaddr, giaddr
        b.extend_from_slice(&self.chaddr);
        b.resize(236, 0); // sname, file
        b.extend_from_slice(&MAGIC);
        for (code, value) in &self.options {
            if value.is_empty() {
                b.extend_from_slice(&[*code, 0]);
            }
            for chunk in value.chunks(255) {
                b.push(*code);
                b.push(u8::try_from(chunk.len()).unwrap());
                b.extend_from_slice(chunk);
            }
        }
        b.push(255);
        if b.len() < 300 {
            b.resize(300, 0);
        }
        b
    }

    pub fn now(&self) -> Out {
        self.after(Duration::ZERO)
    }

    pub fn after(&self, delay: Duration) -> Out {
        Out {
            bytes: self.encode(),
            delay,
            to: self.to,
        }
    }
}

/// What one server grants: `address`/24 with the server as router and DNS.
#[derive(Debug, Clone, Copy)]
pub struct Grant {
    pub server: Ipv4Addr,
    pub address: Ipv4Addr,
    pub secs: u32,
    pub t1: Option<u32>,
    pub t2: Option<u32>,
}

impl Grant {
    pub fn new(server: Ipv4Addr, address: Ipv4Addr, secs: u32) -> Grant {
        Grant {
            server,
            address,
            secs,
            t1: None,
            t2: None,
        }
    }

    /// An OFFER or ACK with lease time (51), T1/T2 (58/59) if set, mask, router, DNS.
    pub fn answer(&self, req: &Received, kind: MessageType) -> Answer {
        let mut a =
            Answer::new(req, kind, self.server, self.address).option(51, self.secs.to_be_bytes());
        if let Some(t1) = self.t1 {
            a = a.option(58, t1.to_be_bytes());
        }
        if let Some(t2) = self.t2 {
            a = a.option(59, t2.to_be_bytes());
        }
        a.option(1, [255, 255, 255, 0])
            .option(3, self.server.octets())
            .option(6, self.server.octets())
    }

    pub fn offer(&self, req: &Received) -> Answer {
        self.answer(req, MessageType::Offer)
    }

    pub fn ack(&self, req: &Received) -> Answer {
        self.answer(req, MessageType::Ack)
    }

    pub fn nak(&self, req: &Received) -> Answer {
        Answer::new(req, MessageType::Nak, self.server, Ipv4Addr::UNSPECIFIED)
    }

    /// What a well-behaved server answers: OFFER to DISCOVER; ACK to a REQUEST for our
    /// address, NAK to one for another; silence to a REQUEST naming another server and
    /// to anything else.
    pub fn answers(&self, req: &Received) -> Vec<Out> {
        match req.kind {
            Some(MessageType::Discover) => vec![self.offer(req).now()],
            Some(MessageType::Request) => {
                if req.server_id.is_some_and(|s| s != self.server) {
                    return Vec::new();
                }
                let wanted = req
                    .requested
                    .or((!req.ciaddr.is_unspecified()).then_some(req.ciaddr));
                if wanted == Some(self.address) {
                    vec![self.ack(req).now()]
                } else {
                    vec![self.nak(req).now()]
                }
            }
            _ => Vec::new(),
        }
    }
}

pub type Script = Box<dyn FnMut(&Received) -> Vec<Out> + Send>;

struct Shared {
    stop: AtomicBool,
    log: Mutex<Vec<Received>>,
    changed: Condvar,
    script: Mutex<Script>,
}

/// A DHCP server on vs0 of one server namespace, answering as its script says and
/// recording every message it receives. It listens on two sockets, one bound to its
/// address and one to 255.255.255.255, so each message says how it was addressed.
pub struct Server {
    pub ip: Ipv4Addr,
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Moves this thread (only) into network namespace `name`.
pub(super) fn enter_netns(name: &str) -> Result<(), String> {
    let f = File::open(format!("/run/netns/{name}")).map_err(|e| format!("netns {name}: {e}"))?;
    // SAFETY: setns(2) on a descriptor we hold open; CLONE_NEWNET affects only the
    // calling thread, which is ours alone.
    let rc = unsafe { nix::libc::setns(f.as_raw_fd(), nix::libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(format!("setns {name}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn server_socket(addr: Ipv4Addr) -> Result<UdpSocket, String> {
    let ctx = |what: &str, e: std::io::Error| format!("server socket {addr}:67: {what}: {e}");
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| ctx("socket", e))?;
    s.set_reuse_address(true)
        .map_err(|e| ctx("SO_REUSEADDR", e))?;
    s.set_broadcast(true).map_err(|e| ctx("SO_BROADCAST", e))?;
    s.bind_device(Some(SERVER_IF.as_bytes()))
        .map_err(|e| ctx("SO_BINDTODEVICE", e))?;
    s.bind(&SockAddr::from(SocketAddrV4::new(addr, SERVER_PORT)))
        .map_err(|e| ctx("bind", e))?;
    s.set_nonblocking(true).map_err(|e| ctx("O_NONBLOCK", e))?;
    Ok(UdpSocket::from(s))
}

/// Broadcasts `packets` in turn to port 68 from `ip` on vs0 of `ns`, `rate` a second,
/// from a thread, until `stop`; `sent` counts them.
pub fn flood(
    ns: &Netns,
    ip: Ipv4Addr,
    packets: Vec<Vec<u8>>,
    rate: u32,
    stop: Arc<AtomicBool>,
    sent: Arc<std::sync::atomic::AtomicU64>,
) -> JoinHandle<()> {
    let name = ns.name.clone();
    let (ready_tx, ready_rx) = mpsc::channel();
    let thread = thread::spawn(move || {
        let sock = enter_netns(&name).and_then(|()| {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
                .map_err(|e| format!("flood socket: {e}"))?;
            s.set_broadcast(true)
                .map_err(|e| format!("SO_BROADCAST: {e}"))?;
            s.bind_device(Some(SERVER_IF.as_bytes()))
                .map_err(|e| format!("SO_BINDTODEVICE: {e}"))?;
            s.bind(&SockAddr::from(SocketAddrV4::new(ip, 0)))
                .map_err(|e| format!("bind: {e}"))?;
            Ok(UdpSocket::from(s))
        });
        let sock = match sock {
            Ok(s) => {
                let _ = ready_tx.send(Ok(()));
                s
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        let to = SocketAddrV4::new(Ipv4Addr::BROADCAST, CLIENT_PORT);
        let start = Instant::now();
        let mut n: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            // Catch up with the schedule, then sleep until the next millisecond.
            let due = (start.elapsed().as_secs_f64() * f64::from(rate)) as u64;
            while n < due {
                if sock
                    .send_to(&packets[(n % packets.len() as u64) as usize], to)
                    .is_ok()
                {
                    sent.fetch_add(1, Ordering::Relaxed);
                }
                n += 1;
            }
            thread::sleep(Duration::from_millis(1));
        }
    });
    let ready = ready_rx
        .recv_timeout(Duration::from_secs(5))
        .unwrap_or_else(|e| Err(format!("flood thread: {e}")));
    if let Err(e) = ready {
        panic!("flood in {}: {e}", ns.name);
    }
    thread
}

impl Server {
    /// Starts the server in `ns` at `ip` (already on vs0) and returns once it listens.
    pub fn start(
        ns: &Netns,
        ip: Ipv4Addr,
        script: impl FnMut(&Received) -> Vec<Out> + Send + 'static,
    ) -> Server {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            log: Mutex::new(Vec::new()),
            changed: Condvar::new(),
            script: Mutex::new(Box::new(script)),
        });
        let (ready_tx, ready_rx) = mpsc::channel();
        let name = ns.name.clone();
        let s = Arc::clone(&shared);
        let thread = thread::spawn(move || {
            let sockets = enter_netns(&name)
                .and_then(|()| Ok((server_socket(ip)?, server_socket(Ipv4Addr::BROADCAST)?)));
            match sockets {
                Ok((unicast, broadcast)) => {
                    let _ = ready_tx.send(Ok(()));
                    serve(&s, &unicast, &broadcast);
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                }
            }
        });
        let ready = ready_rx
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_else(|e| Err(format!("server thread: {e}")));
        if let Err(e) = ready {
            panic!("DHCP server in {}: {e}", ns.name);
        }
        Server {
            ip,
            shared,
            thread: Some(thread),
        }
    }

    /// Changes how the server answers from the next message on.
    pub fn set_script(&self, script: impl FnMut(&Received) -> Vec<Out> + Send + 'static) {
        *self.shared.script.lock().unwrap() = Box::new(script);
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.log.lock().unwrap().clone()
    }

    /// Waits until `f` finds something in what the server received so far.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&[Received]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let mut log = self.shared.log.lock().unwrap();
        loop {
            if let Some(t) = f(&log) {
                return t;
            }
            let now = Instant::now();
            if now >= deadline {
                panic!(
                    "server {} timed out waiting for {what}; it received:\n{}",
                    self.ip,
                    describe(&log)
                );
            }
            log = self
                .shared
                .changed
                .wait_timeout(log, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Waits for the `n`-th (1-based) received message that matches `pred`.
    pub fn wait_nth(
        &self,
        what: &str,
        n: usize,
        timeout: Duration,
        pred: impl Fn(&Received) -> bool,
    ) -> Received {
        self.wait_for(&format!("{what} #{n}"), timeout, |log| {
            log.iter().filter(|r| pred(r)).nth(n - 1).cloned()
        })
    }
}

/// One line per received message, for failure messages.
pub fn describe(log: &[Received]) -> String {
    let t0 = log.first().map(|r| r.at);
    log.iter()
        .map(|r| {
            format!(
                "  +{:.3}s {:?} {:?} xid {:#010x} ciaddr {} from {} requested {:?} server {:?}{}",
                t0.map(|t| r.at.duration_since(t).as_secs_f64())
                    .unwrap_or(0.0),
                r.kind,
                r.via,
                r.xid,
                r.ciaddr,
                r.from,
                r.requested,
                r.server_id,
                if r.rapid_commit { " rapid-commit" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn serve(shared: &Shared, unicast: &UdpSocket, broadcast: &UdpSocket) {
    let mut pending: Vec<(Instant, Out)> = Vec::new();
    let mut buf = [0u8; 2048];
    while !shared.stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let tick = Duration::from_millis(50);
        let wait = pending
            .iter()
            .map(|(due, _)| due.saturating_duration_since(now))
            .min()
            .unwrap_or(tick)
            .min(tick);
        {
            let mut fds = [
                PollFd::new(unicast.as_fd(), PollFlags::POLLIN),
                PollFd::new(broadcast.as_fd(), PollFlags::POLLIN),
            ];
            let ms = u16::try_from(wait.as_millis()).unwrap_or(50);
            let _ = poll(&mut fds, PollTimeout::from(ms));
        }
        for (sock, via) in [(unicast, Via::Unicast), (broadcast, Via::Broadcast)] {
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                let SocketAddr::V4(from) = from else { continue };
                let Some(rec) = Received::parse(&buf[..n], from, via) else {
                    continue;
                };
                shared.log.lock().unwrap().push(rec.clone());
                shared.changed.notify_all();
                let outs = {
                    let mut script = shared.script.lock().unwrap();
                    (*script)(&rec)
                };
                let at = Instant::now();
                pending.extend(outs.into_iter().map(|o| (at + o.delay, o)));
            }
        }
        let now = Instant::now();
        let (due, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(t, _)| *t <= now);
        pending = later;
        for (_, out) in due {
            let to = SocketAddrV4::new(out.to.unwrap_or(Ipv4Addr::BROADCAST), CLIENT_PORT);
            if let Err(e) = unicast.send_to(&out.bytes, to) {
                let _ = writeln!(std::io::stderr(), "scripted server: send to {to}: {e}");
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Received {
        Received {
            at: Instant::now(),
            via: Via::Broadcast,
            from: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68),
            kind: Some(MessageType::Request),
            xid: 0x1234_5678,
            flags: 0x8000,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: [2, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            requested: None,
            server_id: None,
            rapid_commit: false,
        }
    }

    #[test]
    fn answers_decode_with_dhcproto_and_long_options_are_split() {
        let g = Grant::new(Ipv4Addr::new(10, 99, 0, 1), Ipv4Addr::new(10, 99, 0, 9), 60);
        let long = vec![b'a'; 300];
        let bytes = g.ack(&request()).option(12, long.clone()).encode();
        let m = Message::decode(&mut Decoder::new(&bytes)).unwrap();
        assert_eq!(m.xid(), 0x1234_5678);
        assert_eq!(m.yiaddr(), Ipv4Addr::new(10, 99, 0, 9));
        assert_eq!(m.opts().msg_type(), Some(MessageType::Ack));
        assert!(m.flags().broadcast());
        assert_eq!(
            m.opts().get(OptionCode::Hostname),
            Some(&DhcpOption::Hostname(String::from_utf8(long).unwrap()))
        );
    }
}
