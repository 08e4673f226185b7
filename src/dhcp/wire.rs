//! DHCP messages on the wire: requests built with dhcproto, replies checked field by field
//! before anything in them is believed (RFC 2131 section 4.1: op, xid, chaddr, and the
//! message type and server identifier a reply must carry).

use super::options::{RawOptions, ReplyOptions, decode_one, walk};
use dhcproto::v4::{DhcpOption, Flags, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};
use std::net::Ipv4Addr;

pub const SERVER_PORT: u16 = 67;
pub const CLIENT_PORT: u16 = 68;
const MAGIC: [u8; 4] = [99, 130, 83, 99];
const HEADER_LEN: usize = 236;
/// RFC 1542: some relays and servers drop BOOTP messages shorter than 300 bytes.
const MIN_LEN: usize = 300;
/// The parameter request list, the same in DISCOVER and REQUEST. 121 comes before 3: a
/// server short of room fills options in the order asked (RFC 3442).
const PARAMS: [u8; 14] = [1, 121, 3, 6, 12, 15, 26, 28, 42, 51, 54, 58, 59, 119];

/// Who we are on the wire: the same in every message of a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientId {
    pub mac: [u8; 6],
    pub hostname: Option<String>,
    /// Ask for rapid commit (option 80, RFC 4039) in DISCOVER.
    pub rapid_commit: bool,
}

/// What a request carries besides the fixed fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Discover,
    /// SELECTING: REQUEST naming the offer's address and server.
    Select {
        requested: Ipv4Addr,
        server: Ipv4Addr,
    },
    /// RENEWING/REBINDING: ciaddr set, no server id, no requested address.
    Renew {
        ciaddr: Ipv4Addr,
    },
    /// INIT-REBOOT: the held address in option 50.
    Reboot {
        requested: Ipv4Addr,
    },
    Release {
        ciaddr: Ipv4Addr,
        server: Ipv4Addr,
    },
    /// The address is in use by another host (RFC 2131 4.4.1): options 50 and 54 only.
    Decline {
        requested: Ipv4Addr,
        server: Ipv4Addr,
    },
}

/// A BOOTREQUEST with our chaddr, built from bytes because dhcproto's constructors draw
/// the xid from `rand::random()`, which can block early in boot.
fn base(xid: u32, mac: &[u8; 6]) -> Result<Message, String> {
    let mut raw = Vec::with_capacity(HEADER_LEN + 5);
    raw.extend_from_slice(&[1, 1, 6, 0]);
    raw.extend_from_slice(&xid.to_be_bytes());
    raw.resize(28, 0);
    raw.extend_from_slice(mac);
    raw.resize(HEADER_LEN, 0);
    raw.extend_from_slice(&MAGIC);
    raw.push(255);
    Message::decode(&mut Decoder::new(&raw)).map_err(|e| format!("building a request: {e}"))
}

pub fn build(req: Request, xid: u32, secs: u16, id: &ClientId) -> Result<Vec<u8>, String> {
    let mut msg = base(xid, &id.mac)?;
    // secs >= 1: some servers ignore a request that says no time has passed.
    msg.set_secs(secs.max(1));
    let (kind, broadcast) = match req {
        Request::Discover => (MessageType::Discover, true),
        Request::Select { .. } | Request::Reboot { .. } => (MessageType::Request, true),
        Request::Renew { .. } => (MessageType::Request, false),
        Request::Release { .. } => (MessageType::Release, false),
        Request::Decline { .. } => (MessageType::Decline, false),
    };
    if broadcast {
        msg.set_flags(Flags::default().set_broadcast());
    }
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    opts.insert(DhcpOption::ClientIdentifier(client_id(&id.mac).to_vec()));
    match req {
        Request::Select { requested, server } => {
            opts.insert(DhcpOption::RequestedIpAddress(requested));
            opts.insert(DhcpOption::ServerIdentifier(server));
        }
        Request::Reboot { requested } => {
            opts.insert(DhcpOption::RequestedIpAddress(requested));
        }
        Request::Renew { ciaddr } => {
            msg.set_ciaddr(ciaddr);
        }
        Request::Release { ciaddr, server } => {
            msg.set_ciaddr(ciaddr);
            msg.opts_mut().insert(DhcpOption::ServerIdentifier(server));
        }
        Request::Decline { requested, server } => {
            opts.insert(DhcpOption::RequestedIpAddress(requested));
            opts.insert(DhcpOption::ServerIdentifier(server));
        }
        Request::Discover => {
            if id.rapid_commit {
                opts.insert(DhcpOption::RapidCommit);
            }
        }
    }
    // RFC 2131 table 5: no parameter list, size or host name in a RELEASE or DECLINE.
    if !matches!(req, Request::Release { .. } | Request::Decline { .. }) {
        let opts = msg.opts_mut();
        opts.insert(DhcpOption::MaxMessageSize(1500));
        opts.insert(DhcpOption::ParameterRequestList(
            PARAMS.iter().map(|&c| OptionCode::from(c)).collect(),
        ));
        if let Some(h) = &id.hostname {
            opts.insert(DhcpOption::Hostname(h.clone()));
        }
    }
    let mut bytes = msg
        .to_vec()
        .map_err(|e| format!("encoding a request: {e}"))?;
    if bytes.len() < MIN_LEN {
        bytes.resize(MIN_LEN, 0);
    }
    Ok(bytes)
}

/// Option 61 as we send it: type 1 (Ethernet) and the MAC.
pub fn client_id(mac: &[u8; 6]) -> [u8; 7] {
    let [a, b, c, d, e, f] = *mac;
    [1, a, b, c, d, e, f]
}

/// Whether a datagram is a BOOTREPLY to our exchange at all (op, htype, hlen, xid,
/// chaddr), read from the bytes before anything is decoded: the cheap first test every
/// datagram goes through, so that replies to other clients cost next to nothing. The
/// error says why it is someone else's.
pub fn addressed_to(buf: &[u8], xid: u32, mac: &[u8; 6]) -> Result<(), String> {
    let Some(&[op, htype, hlen, _, x0, x1, x2, x3]) = buf.first_chunk::<8>() else {
        return Err(format!("short packet ({} bytes)", buf.len()));
    };
    if op != 2 {
        return Err("not a BOOTREPLY".into());
    }
    if htype != 1 {
        return Err(format!("htype {htype}, not Ethernet"));
    }
    // dhcproto slices chaddr by the wire hlen and panics above 16: checked before decoding.
    if hlen != 6 {
        return Err(format!("hlen {hlen}, not 6"));
    }
    let theirs = u32::from_be_bytes([x0, x1, x2, x3]);
    if theirs != xid {
        return Err(format!("xid {theirs:#010x}, not ours ({xid:#010x})"));
    }
    if buf.get(28..34) != Some(&mac[..]) {
        return Err("chaddr is not our MAC".into());
    }
    Ok(())
}

/// A reply that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: MessageType,
    pub yiaddr: Ipv4Addr,
    pub server: Ipv4Addr,
    pub opts: ReplyOptions,
}

/// Checks a BOOTREPLY against our xid and MAC and reads its options. The error says why a
/// packet was dropped, for the debug log.
pub fn parse_reply(buf: &[u8], xid: u32, mac: &[u8; 6]) -> Result<Reply, String> {
    addressed_to(buf, xid, mac)?;
    if buf.len() < HEADER_LEN {
        return Err(format!("short packet ({} bytes)", buf.len()));
    }
    if buf.get(HEADER_LEN..HEADER_LEN + 4) != Some(&MAGIC[..]) {
        return Err("no magic cookie".into());
    }
    // The fixed header is read in place: only its options need dhcproto.
    let yiaddr = buf
        .get(16..20)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(Ipv4Addr::from)
        .unwrap_or(Ipv4Addr::UNSPECIFIED);

    let mut raw = RawOptions::new();
    walk(buf.get(HEADER_LEN + 4..).unwrap_or(&[]), &mut raw);
    // Option 52 (RFC 2132 9.3): more options in `file` (1), `sname` (2) or both, file first.
    let overload = raw.get(&52).and_then(|v| v.first().copied()).unwrap_or(0);
    if overload & 1 != 0 {
        walk(buf.get(108..236).unwrap_or(&[]), &mut raw);
    }
    if overload & 2 != 0 {
        walk(buf.get(44..108).unwrap_or(&[]), &mut raw);
    }
    // What decides alone whether the reply can be ours is checked before the other
    // options are decoded.
    let kind = match raw.get(&53).map(|v| decode_one(53, v)) {
        Some(Ok(DhcpOption::MessageType(t))) => t,
        _ => return Err("no message type (option 53)".into()),
    };
    if !matches!(
        kind,
        MessageType::Offer | MessageType::Ack | MessageType::Nak
    ) {
        return Err(format!("message type {kind:?} is not for a client"));
    }
    let server = match raw.get(&54).map(|v| decode_one(54, v)) {
        Some(Ok(DhcpOption::ServerIdentifier(a))) => a,
        _ => return Err("no server identifier (option 54)".into()),
    };
    if !is_unicast(server) {
        return Err(format!(
            "server identifier {server} is not a unicast address"
        ));
    }
    if kind != MessageType::Nak && !is_unicast(yiaddr) {
        return Err(format!("yiaddr {yiaddr} is not a unicast address"));
    }
    let opts = ReplyOptions::from_raw(&raw);
    // RFC 6842: a server that echoes option 61 echoes ours; another one is for someone
    // else.
    if let Some(theirs) = &opts.client_id
        && theirs[..] != client_id(mac)[..]
    {
        let hex: Vec<String> = theirs.iter().take(20).map(|b| format!("{b:02x}")).collect();
        return Err(format!(
            "client identifier {} (option 61) is not ours",
            hex.join(":")
        ));
    }
    Ok(Reply {
        kind,
        yiaddr,
        server,
        opts,
    })
}

fn is_unicast(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
        && a.octets().first() != Some(&0)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    pub const XID: u32 = 0x1234_5678;

    /// A reply as qemu's slirp would send it, with extra options appended.
    pub fn reply(kind: u8, yiaddr: [u8; 4], extra: &[u8]) -> Vec<u8> {
        let mut b = vec![2, 1, 6, 0];
        b.extend_from_slice(&XID.to_be_bytes());
        b.resize(16, 0);
        b.extend_from_slice(&yiaddr);
        b.resize(28, 0);
        b.extend_from_slice(&MAC);
        b.resize(236, 0);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&[53, 1, kind, 54, 4, 10, 0, 2, 2]);
        b.extend_from_slice(&[1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 2, 2, 6, 4, 10, 0, 2, 3]);
        b.extend_from_slice(&[51, 4, 0, 1, 81, 128]);
        b.extend_from_slice(extra);
        b.push(255);
        b
    }

    fn id() -> ClientId {
        ClientId {
            mac: MAC,
            hostname: None,
            rapid_commit: false,
        }
    }

    #[test]
    fn discover_is_padded_broadcast_and_asks_for_our_options() {
        let b = build(Request::Discover, XID, 0, &id()).unwrap();
        assert_eq!(b.len(), 300);
        let m = Message::decode(&mut Decoder::new(&b)).unwrap();
        assert_eq!(m.xid(), XID);
        assert_eq!(m.chaddr(), &MAC);
        assert_eq!(m.hlen(), 6);
        assert!(m.secs() >= 1);
        assert!(m.flags().broadcast());
        assert_eq!(m.opts().msg_type(), Some(MessageType::Discover));
        let Some(DhcpOption::ParameterRequestList(p)) =
            m.opts().get(OptionCode::ParameterRequestList)
        else {
            panic!("no parameter list")
        };
        let codes: Vec<u8> = p.iter().map(|&c| u8::from(c)).collect();
        assert_eq!(codes, PARAMS);
        // RFC 3442: classless routes asked for before the router.
        let at = |c: u8| codes.iter().position(|&x| x == c).unwrap();
        assert!(at(121) < at(3), "{codes:?}");
        assert_eq!(
            m.opts().get(OptionCode::ClientIdentifier),
            Some(&DhcpOption::ClientIdentifier(vec![
                1, 0x52, 0x54, 0, 0x12, 0x34, 0x56
            ]))
        );
    }

    #[test]
    fn select_request_names_address_and_server() {
        let server = Ipv4Addr::new(10, 0, 2, 2);
        let requested = Ipv4Addr::new(10, 0, 2, 15);
        let b = build(Request::Select { requested, server }, XID, 3, &id()).unwrap();
        let m = Message::decode(&mut Decoder::new(&b)).unwrap();
        assert_eq!(m.opts().msg_type(), Some(MessageType::Request));
        assert_eq!(
            m.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(requested))
        );
        assert_eq!(
            m.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(server))
        );
        assert_eq!(m.secs(), 3);
    }

    #[test]
    fn decline_names_the_address_and_server_and_asks_for_nothing() {
        let server = Ipv4Addr::new(10, 0, 2, 2);
        let requested = Ipv4Addr::new(10, 0, 2, 15);
        let id = ClientId {
            hostname: Some("vm1".into()),
            rapid_commit: true,
            ..id()
        };
        let b = build(Request::Decline { requested, server }, XID, 0, &id).unwrap();
        let m = Message::decode(&mut Decoder::new(&b)).unwrap();
        assert_eq!(m.opts().msg_type(), Some(MessageType::Decline));
        assert_eq!(m.ciaddr(), Ipv4Addr::UNSPECIFIED);
        assert_eq!(m.chaddr(), &MAC);
        assert_eq!(
            m.opts().get(OptionCode::RequestedIpAddress),
            Some(&DhcpOption::RequestedIpAddress(requested))
        );
        assert_eq!(
            m.opts().get(OptionCode::ServerIdentifier),
            Some(&DhcpOption::ServerIdentifier(server))
        );
        // RFC 2131 table 5: MUST NOT for these in a DHCPDECLINE.
        for code in [
            OptionCode::ParameterRequestList,
            OptionCode::MaxMessageSize,
            OptionCode::Hostname,
            OptionCode::RapidCommit,
        ] {
            assert!(m.opts().get(code).is_none(), "{code:?} in a DECLINE");
        }
    }

    #[test]
    fn accepts_a_good_offer() {
        let r = parse_reply(&reply(2, [10, 0, 2, 15], &[]), XID, &MAC).unwrap();
        assert_eq!(r.kind, MessageType::Offer);
        assert_eq!(r.yiaddr, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(r.server, Ipv4Addr::new(10, 0, 2, 2));
    }

    #[test]
    fn rejects_replies_that_are_not_for_us() {
        let good = reply(2, [10, 0, 2, 15], &[]);
        type Mutation = Box<dyn Fn(&mut Vec<u8>)>;
        let cases: Vec<(&str, Mutation)> = vec![
            ("op", Box::new(|b| b[0] = 1)),
            ("htype", Box::new(|b| b[1] = 6)),
            ("hlen 255", Box::new(|b| b[2] = 255)),
            ("hlen 16", Box::new(|b| b[2] = 16)),
            ("xid", Box::new(|b| b[7] ^= 1)),
            ("chaddr", Box::new(|b| b[33] ^= 1)),
            ("cookie", Box::new(|b| b[236] = 0)),
            (
                "yiaddr 0",
                Box::new(|b| b[16..20].copy_from_slice(&[0, 0, 0, 0])),
            ),
            (
                "yiaddr bcast",
                Box::new(|b| b[16..20].copy_from_slice(&[255; 4])),
            ),
            ("yiaddr mcast", Box::new(|b| b[16] = 224)),
            ("no server id", Box::new(|b| b[243] = 99)),
            (
                "server id 0.0.0.0",
                Box::new(|b| b[245..249].copy_from_slice(&[0, 0, 0, 0])),
            ),
            (
                "server id broadcast",
                Box::new(|b| b[245..249].copy_from_slice(&[255; 4])),
            ),
            ("server id multicast", Box::new(|b| b[245] = 239)),
            ("truncated", Box::new(|b| b.truncate(200))),
        ];
        for (name, mutate) in cases {
            let mut b = good.clone();
            mutate(&mut b);
            assert!(parse_reply(&b, XID, &MAC).is_err(), "accepted bad {name}");
        }
    }

    // Found by the dhcp_client fuzz target: an ACK naming server 0.0.0.0 made the client
    // renew by unicast to 0.0.0.0.
    #[test]
    fn a_server_identifier_that_is_not_unicast_is_refused() {
        for server in [
            [0, 0, 0, 0],
            [255, 255, 255, 255],
            [224, 0, 0, 1],
            [127, 0, 0, 1],
        ] {
            let mut b = reply(5, [10, 0, 2, 15], &[]);
            b[245..249].copy_from_slice(&server);
            let err = parse_reply(&b, XID, &MAC).unwrap_err();
            assert!(err.contains("server identifier"), "{server:?}: {err}");
        }
    }

    #[test]
    fn overload_reads_file_and_sname() {
        // Option 52 = 3; hostname in `file`, domain in `sname`.
        let mut b = reply(5, [10, 0, 2, 15], &[52, 1, 3]);
        b[108..114].copy_from_slice(&[12, 3, b'v', b'm', b'1', 255]);
        b[44..52].copy_from_slice(&[15, 4, b'a', b'.', b'b', b'c', 255, 0]);
        let r = parse_reply(&b, XID, &MAC).unwrap();
        assert_eq!(r.opts.hostname.as_deref(), Some(&b"vm1"[..]));
        assert_eq!(r.opts.domain.as_deref(), Some(&b"a.bc"[..]));
    }

    #[test]
    fn an_echoed_client_id_must_be_ours() {
        let mut ours = vec![61, 7];
        ours.extend_from_slice(&client_id(&MAC));
        assert!(parse_reply(&reply(2, [10, 0, 2, 15], &ours), XID, &MAC).is_ok());
        let mut theirs = ours.clone();
        theirs[8] ^= 1;
        let e = parse_reply(&reply(2, [10, 0, 2, 15], &theirs), XID, &MAC).unwrap_err();
        assert!(e.contains("option 61"), "{e}");
        // A longer identifier (RFC 4361 style) is someone else's too.
        let e = parse_reply(&reply(5, [10, 0, 2, 15], &[61, 3, 255, 1, 2]), XID, &MAC);
        assert!(e.is_err());
    }

    /// Bytes a reply is checked on before anything else: op, htype, hlen, xid, chaddr,
    /// the magic cookie.
    fn checked_byte(i: usize) -> bool {
        matches!(i, 0..=2 | 4..=7 | 28..=33 | 236..=239)
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let good = reply(
            5,
            [10, 0, 2, 15],
            &[12, 3, b'v', b'm', b'1', 121, 5, 8, 10, 10, 0, 2],
        );
        assert!(parse_reply(&good, XID, &MAC).is_ok());
        let (mut accepted, mut refused) = (0, 0);
        for _ in 0..5000 {
            let mut b = good.clone();
            let mut header_changed = false;
            for _ in 0..8 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % b.len();
                let v = (seed >> 32) as u8;
                header_changed |= checked_byte(i) && b[i] != v;
                b[i] = v;
            }
            let cut = (seed as usize >> 8) % (b.len() + 1);
            let short = &b[..cut.max(b.len() / 2)];
            // Cut inside the header or before the cookie's end: never a reply.
            if short.len() < 240 {
                assert!(parse_reply(short, XID, &MAC).is_err(), "{short:?}");
            }
            match parse_reply(&b, XID, &MAC) {
                Ok(r) => {
                    accepted += 1;
                    // Whatever was mutated, what is accepted passed every check.
                    assert!(
                        !header_changed,
                        "a changed header field was accepted: {b:?}"
                    );
                    assert!(matches!(
                        r.kind,
                        MessageType::Offer | MessageType::Ack | MessageType::Nak
                    ));
                    assert!(is_unicast(r.server), "{r:?}");
                    assert!(r.kind == MessageType::Nak || is_unicast(r.yiaddr), "{r:?}");
                    assert_eq!(r.yiaddr, Ipv4Addr::new(b[16], b[17], b[18], b[19]));
                }
                Err(_) => refused += 1,
            }
        }
        // The mutations reach both outcomes, or the test proves nothing.
        assert!(
            accepted > 100 && refused > 100,
            "{accepted} accepted, {refused} refused"
        );
    }
}
