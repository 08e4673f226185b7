//! DHCPv6 messages on the wire (RFC 8415): requests built with dhcproto's v6 module, and
//! replies checked before anything in them is believed. dhcproto's decoder subtracts
//! from option lengths unchecked (a Status Code shorter than 2 bytes, a Vendor Class
//! shorter than 4) and stops silently at the first option it cannot read, so every
//! reply is first walked here, options and the options inside IA_NA and IA Address,
//! and one with a bad length is refused whole.

use dhcproto::v6::{
    DhcpOption, DhcpOptions, IAAddr, IANA, Message, MessageType, ORO, OptionCode, Status,
};
use dhcproto::{Decodable, Decoder, Encodable};
use std::net::Ipv6Addr;

pub const CLIENT_PORT: u16 = 546;
pub const SERVER_PORT: u16 = 547;
/// All_DHCP_Relay_Agents_and_Servers (RFC 8415 section 7.1).
pub const ALL_SERVERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

const OPT_CLIENT_ID: u16 = 1;
const OPT_SERVER_ID: u16 = 2;
const OPT_IA_NA: u16 = 3;
const OPT_IA_ADDR: u16 = 5;
const OPT_PREFERENCE: u16 = 7;
const OPT_ELAPSED: u16 = 8;
const OPT_SERVER_UNICAST: u16 = 12;
const OPT_STATUS: u16 = 13;
const OPT_RAPID_COMMIT: u16 = 14;
const OPT_VENDOR_CLASS: u16 = 16;
const OPT_VENDOR_OPTS: u16 = 17;
const OPT_RECONF_MSG: u16 = 19;
const OPT_DNS: u16 = 23;
const OPT_INFO_REFRESH: u16 = 32;

/// A DUID-LL (RFC 8415 section 11.4): type 3, hardware type 1 (Ethernet), the MAC. The
/// same on every boot of a machine with the same MAC, with no file to keep it in.
pub fn duid_ll(mac: &[u8; 6]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(mac);
    d
}

/// What a client message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    InformationRequest,
    Solicit {
        iaid: u32,
    },
    Request {
        iaid: u32,
        server: Vec<u8>,
    },
    Renew {
        iaid: u32,
        server: Vec<u8>,
        addr: Ipv6Addr,
    },
    Rebind {
        iaid: u32,
        addr: Ipv6Addr,
    },
    Release {
        iaid: u32,
        server: Vec<u8>,
        addr: Ipv6Addr,
    },
}

/// A message with our transaction id, built from bytes because dhcproto's constructors
/// draw one from `rand::random()`, which can block early in boot.
fn base(kind: MessageType, xid: u32) -> Result<Message, String> {
    let mut raw = vec![u8::from(kind)];
    raw.extend_from_slice(xid.to_be_bytes().get(1..).unwrap_or(&[0, 0, 0]));
    Message::decode(&mut Decoder::new(&raw)).map_err(|e| format!("building a DHCPv6 message: {e}"))
}

fn ia_na(iaid: u32, addr: Option<Ipv6Addr>) -> DhcpOption {
    let mut opts = DhcpOptions::new();
    if let Some(addr) = addr {
        opts.insert(DhcpOption::IAAddr(IAAddr {
            addr,
            preferred_life: 0,
            valid_life: 0,
            opts: DhcpOptions::new(),
        }));
    }
    // T1 and T2 0: the server chooses (RFC 8415 section 21.4).
    DhcpOption::IANA(IANA {
        id: iaid,
        t1: 0,
        t2: 0,
        opts,
    })
}

/// `elapsed_cs`: hundredths of a second since the exchange began (RFC 8415 21.9).
pub fn build(req: &Request, xid: u32, elapsed_cs: u16, duid: &[u8]) -> Result<Vec<u8>, String> {
    let kind = match req {
        Request::InformationRequest => MessageType::InformationRequest,
        Request::Solicit { .. } => MessageType::Solicit,
        Request::Request { .. } => MessageType::Request,
        Request::Renew { .. } => MessageType::Renew,
        Request::Rebind { .. } => MessageType::Rebind,
        Request::Release { .. } => MessageType::Release,
    };
    let mut msg = base(kind, xid)?;
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::ClientId(duid.to_vec()));
    opts.insert(DhcpOption::ElapsedTime(elapsed_cs));
    let mut oro = vec![OptionCode::DomainNameServers, OptionCode::DomainSearchList];
    match req {
        Request::InformationRequest => oro.push(OptionCode::InformationRefreshTime),
        Request::Solicit { iaid } => opts.insert(ia_na(*iaid, None)),
        Request::Request { iaid, server } => {
            opts.insert(DhcpOption::ServerId(server.clone()));
            opts.insert(ia_na(*iaid, None));
        }
        Request::Renew { iaid, server, addr } | Request::Release { iaid, server, addr } => {
            opts.insert(DhcpOption::ServerId(server.clone()));
            opts.insert(ia_na(*iaid, Some(*addr)));
        }
        Request::Rebind { iaid, addr } => opts.insert(ia_na(*iaid, Some(*addr))),
    }
    // A Release asks for nothing (RFC 8415 section 18.2.7: no ORO).
    if !matches!(req, Request::Release { .. }) {
        opts.insert(DhcpOption::ORO(ORO { opts: oro }));
    }
    let mut out = Vec::with_capacity(128);
    msg.encode(&mut dhcproto::Encoder::new(&mut out))
        .map_err(|e| format!("encoding a DHCPv6 message: {e}"))?;
    Ok(out)
}

/// An address an IA_NA grants, with its lifetimes in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IaAddress {
    pub addr: Ipv6Addr,
    pub preferred: u32,
    pub valid: u32,
}

/// What an IA_NA in a reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IaGrant {
    pub t1: u32,
    pub t2: u32,
    pub addresses: Vec<IaAddress>,
    /// A status other than Success in the IA (NoAddrsAvail, NoBinding, ...).
    pub status: Option<Status>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyKind {
    Advertise,
    Reply,
}

/// A reply that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub kind: ReplyKind,
    pub server: Vec<u8>,
    pub preference: u8,
    /// A top-level status other than Success.
    pub status: Option<Status>,
    /// Our IA_NA (the one with our IAID), if the reply has it.
    pub ia: Option<IaGrant>,
    pub dns: Vec<Ipv6Addr>,
    pub domains: Vec<String>,
    pub refresh: Option<u32>,
    /// What was left out, one line each, for the log.
    pub refused: Vec<String>,
}

/// Walks options (type, length, body) and checks each length: the body fits, and
/// fixed-size options have their size. Recurses into IA_NA and IA Address.
fn check_options(mut rest: &[u8], depth: u8) -> Result<(), String> {
    while !rest.is_empty() {
        let (Some(code), Some(len)) = (rest.get(0..2), rest.get(2..4)) else {
            return Err("an option header runs past the message".into());
        };
        let code = u16::from_be_bytes([*code.first().unwrap_or(&0), *code.get(1).unwrap_or(&0)]);
        let len = usize::from(u16::from_be_bytes([
            *len.first().unwrap_or(&0),
            *len.get(1).unwrap_or(&0),
        ]));
        let Some(body) = rest.get(4..4usize.saturating_add(len)) else {
            return Err(format!(
                "option {code} of {len} bytes runs past the message"
            ));
        };
        let ok = match code {
            OPT_PREFERENCE | OPT_RECONF_MSG => len == 1,
            OPT_ELAPSED => len == 2,
            OPT_SERVER_UNICAST => len == 16,
            OPT_RAPID_COMMIT => len == 0,
            OPT_INFO_REFRESH => len == 4,
            OPT_STATUS => len >= 2,
            OPT_VENDOR_CLASS | OPT_VENDOR_OPTS => len >= 4,
            OPT_DNS => len.is_multiple_of(16),
            OPT_CLIENT_ID | OPT_SERVER_ID => (1..=130).contains(&len),
            OPT_IA_NA => len >= 12,
            OPT_IA_ADDR => len >= 24,
            _ => true,
        };
        if !ok {
            return Err(format!("option {code} with a bad length of {len} bytes"));
        }
        let inner = match code {
            OPT_IA_NA => body.get(12..),
            OPT_IA_ADDR => body.get(24..),
            _ => None,
        };
        if let Some(inner) = inner {
            if depth >= 2 {
                return Err(format!("option {code} nested too deep"));
            }
            check_options(inner, depth.saturating_add(1))?;
        }
        rest = rest.get(4usize.saturating_add(len)..).unwrap_or(&[]);
    }
    Ok(())
}

fn status_of(opts: &DhcpOptions) -> Option<Status> {
    match opts.get(OptionCode::StatusCode) {
        Some(DhcpOption::StatusCode(s)) if s.status != Status::Success => Some(s.status),
        _ => None,
    }
}

/// A DNS server that may go into resolv.conf: routable unicast only.
fn usable_server(a: &Ipv6Addr) -> bool {
    !(a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_unicast_link_local())
}

/// Checks a reply to exchange `xid` of the client `duid`, and reads what it grants.
/// `iaid`: the IA_NA to read (None for Information-Request).
pub fn parse(bytes: &[u8], xid: u32, duid: &[u8], iaid: Option<u32>) -> Result<Reply, String> {
    let (Some(&kind), Some(id)) = (bytes.first(), bytes.get(1..4)) else {
        return Err(format!("{} bytes: shorter than a header", bytes.len()));
    };
    let kind = match kind {
        2 => ReplyKind::Advertise,
        7 => ReplyKind::Reply,
        k => return Err(format!("message type {k}: not an Advertise or Reply")),
    };
    let got = id.iter().fold(0u32, |a, b| (a << 8) | u32::from(*b));
    if got != xid & 0x00ff_ffff {
        return Err(format!("transaction id {got:06x}, not ours"));
    }
    check_options(bytes.get(4..).unwrap_or(&[]), 0)?;
    let msg = Message::decode(&mut Decoder::new(bytes)).map_err(|e| format!("undecodable: {e}"))?;
    let opts = msg.opts();
    match opts.get(OptionCode::ClientId) {
        Some(DhcpOption::ClientId(c)) if c == duid => {}
        Some(_) => return Err("a client id that is not ours".into()),
        None => return Err("no client id".into()),
    }
    let server = match opts.get(OptionCode::ServerId) {
        Some(DhcpOption::ServerId(s)) => s.clone(),
        _ => return Err("no server id".into()),
    };
    let preference = match opts.get(OptionCode::Preference) {
        Some(DhcpOption::Preference(p)) => *p,
        _ => 0,
    };
    let mut refused = Vec::new();
    let mut dns = Vec::new();
    for o in opts.get_all(OptionCode::DomainNameServers).unwrap_or(&[]) {
        if let DhcpOption::DomainNameServers(list) = o {
            for a in list {
                if !usable_server(a) {
                    refused.push(format!("DNS server {a}: not a routable unicast address"));
                } else if !dns.contains(a) {
                    dns.push(*a);
                }
            }
        }
    }
    let mut domains = Vec::new();
    for o in opts.get_all(OptionCode::DomainSearchList).unwrap_or(&[]) {
        if let DhcpOption::DomainSearchList(list) = o {
            for n in list {
                // Checked from the raw labels, so a label with a '.' or a newline inside
                // is refused rather than joined into something else.
                let labels: Vec<&[u8]> = n.iter().collect();
                if labels.iter().any(|l| l.contains(&b'.')) {
                    refused.push("search domain with a '.' inside a label".into());
                    continue;
                }
                let text = labels.join(&b'.');
                match crate::names::domain(&text) {
                    Ok(d) if !domains.contains(&d) => domains.push(d),
                    Ok(_) => {}
                    Err(e) => refused.push(format!("search domain: {e}")),
                }
            }
        }
    }
    let refresh = match opts.get(OptionCode::InformationRefreshTime) {
        Some(DhcpOption::InformationRefreshTime(t)) => Some(*t),
        // dhcproto 0.15 leaves option 32 undecoded.
        Some(DhcpOption::Unknown(u)) => <[u8; 4]>::try_from(u.data()).ok().map(u32::from_be_bytes),
        _ => None,
    };
    let ia = iaid.and_then(|iaid| {
        opts.get_all(OptionCode::IANA)
            .unwrap_or(&[])
            .iter()
            .find_map(|o| match o {
                DhcpOption::IANA(ia) if ia.id == iaid => Some(ia),
                _ => None,
            })
            .map(|ia| grant(ia, &mut refused))
    });
    Ok(Reply {
        kind,
        server,
        preference,
        status: status_of(opts),
        ia,
        dns,
        domains,
        refresh,
        refused,
    })
}

fn grant(ia: &IANA, refused: &mut Vec<String>) -> IaGrant {
    let mut addresses = Vec::new();
    for o in ia.opts.get_all(OptionCode::IAAddr).unwrap_or(&[]) {
        let DhcpOption::IAAddr(a) = o else { continue };
        // RFC 8415 21.6: preferred beyond valid is discarded; so is valid 0 (the server
        // taking the address back) and an address no host may hold.
        if a.preferred_life > a.valid_life {
            refused.push(format!("{}: preferred lifetime beyond valid", a.addr));
        } else if !usable_server(&a.addr) {
            refused.push(format!("{}: not a global unicast address", a.addr));
        } else if a.valid_life > 0 {
            addresses.push(IaAddress {
                addr: a.addr,
                preferred: a.preferred_life,
                valid: a.valid_life,
            });
        }
    }
    // RFC 8415 21.4: an IA_NA with T1 > T2 (both set) is discarded.
    if ia.t1 > ia.t2 && ia.t2 > 0 {
        refused.push(format!("IA_NA with T1 {} beyond T2 {}", ia.t1, ia.t2));
        addresses.clear();
    }
    IaGrant {
        t1: ia.t1,
        t2: ia.t2,
        addresses,
        status: status_of(&ia.opts),
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];

    /// A server's message: type, xid, then the options given as (code, body).
    pub fn server_msg(kind: u8, xid: u32, opts: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![kind];
        b.extend_from_slice(&xid.to_be_bytes()[1..]);
        for (code, body) in opts {
            b.extend_from_slice(&code.to_be_bytes());
            b.extend_from_slice(&(body.len() as u16).to_be_bytes());
            b.extend_from_slice(body);
        }
        b
    }

    pub fn ia_body(iaid: u32, t1: u32, t2: u32, addr: &str, pref: u32, valid: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend(iaid.to_be_bytes());
        b.extend(t1.to_be_bytes());
        b.extend(t2.to_be_bytes());
        b.extend(OPT_IA_ADDR.to_be_bytes());
        b.extend(24u16.to_be_bytes());
        b.extend(addr.parse::<Ipv6Addr>().unwrap().octets());
        b.extend(pref.to_be_bytes());
        b.extend(valid.to_be_bytes());
        b
    }

    fn dns_body(list: &[&str]) -> Vec<u8> {
        list.iter()
            .flat_map(|a| a.parse::<Ipv6Addr>().unwrap().octets())
            .collect()
    }

    #[test]
    fn duid_ll_is_type_3_ethernet_and_the_mac() {
        assert_eq!(
            duid_ll(&MAC),
            vec![0, 3, 0, 1, 0x52, 0x54, 0, 0x12, 0x34, 0x56]
        );
    }

    #[test]
    fn builds_an_information_request_that_decodes_back() {
        let duid = duid_ll(&MAC);
        let b = build(&Request::InformationRequest, 0xabcdef, 5, &duid).unwrap();
        assert_eq!(&b[..4], &[11, 0xab, 0xcd, 0xef]);
        let m = Message::decode(&mut Decoder::new(&b)).unwrap();
        assert_eq!(m.msg_type(), MessageType::InformationRequest);
        assert_eq!(
            m.opts().get(OptionCode::ClientId),
            Some(&DhcpOption::ClientId(duid))
        );
        assert_eq!(
            m.opts().get(OptionCode::ElapsedTime),
            Some(&DhcpOption::ElapsedTime(5))
        );
        assert!(m.opts().get(OptionCode::IANA).is_none());
        let Some(DhcpOption::ORO(oro)) = m.opts().get(OptionCode::ORO) else {
            panic!("no ORO")
        };
        assert!(oro.opts.contains(&OptionCode::DomainNameServers));
    }

    #[test]
    fn a_renew_names_the_server_and_the_address() {
        let duid = duid_ll(&MAC);
        let addr: Ipv6Addr = "fd00::105".parse().unwrap();
        let req = Request::Renew {
            iaid: 7,
            server: vec![0, 1, 2],
            addr,
        };
        let b = build(&req, 1, 0, &duid).unwrap();
        let m = Message::decode(&mut Decoder::new(&b)).unwrap();
        assert_eq!(m.msg_type(), MessageType::Renew);
        assert_eq!(
            m.opts().get(OptionCode::ServerId),
            Some(&DhcpOption::ServerId(vec![0, 1, 2]))
        );
        let Some(DhcpOption::IANA(ia)) = m.opts().get(OptionCode::IANA) else {
            panic!("no IA_NA")
        };
        assert_eq!(ia.id, 7);
        assert!(
            matches!(ia.opts.get(OptionCode::IAAddr), Some(DhcpOption::IAAddr(a)) if a.addr == addr)
        );
    }

    #[test]
    fn reads_a_reply_with_address_dns_and_domains() {
        let duid = duid_ll(&MAC);
        let mut search = vec![7];
        search.extend(b"example");
        search.extend([3]);
        search.extend(b"com");
        search.push(0);
        let b = server_msg(
            7,
            9,
            &[
                (OPT_CLIENT_ID, duid.clone()),
                (OPT_SERVER_ID, vec![0, 1, 0, 1, 9, 9]),
                (OPT_IA_NA, ia_body(1, 100, 160, "fd00::105", 200, 300)),
                (OPT_DNS, dns_body(&["fd00::1", "fe80::1", "fd00::1"])),
                (24, search),
            ],
        );
        let r = parse(&b, 9, &duid, Some(1)).unwrap();
        assert_eq!(r.kind, ReplyKind::Reply);
        assert_eq!(r.dns, vec!["fd00::1".parse::<Ipv6Addr>().unwrap()]);
        assert_eq!(r.domains, vec!["example.com".to_string()]);
        assert_eq!(r.refused.len(), 1, "{:?}", r.refused);
        let ia = r.ia.unwrap();
        assert_eq!((ia.t1, ia.t2), (100, 160));
        assert_eq!(
            ia.addresses[0].addr,
            "fd00::105".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            (ia.addresses[0].preferred, ia.addresses[0].valid),
            (200, 300)
        );
    }

    #[test]
    fn refuses_wrong_xid_wrong_duid_no_server_and_bad_lengths() {
        let duid = duid_ll(&MAC);
        let good = [
            (OPT_CLIENT_ID, duid.clone()),
            (OPT_SERVER_ID, vec![0, 1, 0, 1, 9, 9]),
        ];
        assert!(parse(&server_msg(7, 9, &good), 9, &duid, None).is_ok());
        assert!(parse(&server_msg(7, 10, &good), 9, &duid, None).is_err());
        assert!(parse(&server_msg(7, 9, &good), 9, &duid_ll(&[1; 6]), None).is_err());
        assert!(parse(&server_msg(7, 9, &good[..1]), 9, &duid, None).is_err());
        assert!(parse(&server_msg(1, 9, &good), 9, &duid, None).is_err());
        for (code, body) in [
            (OPT_STATUS, vec![0]),
            (OPT_STATUS, vec![]),
            (OPT_VENDOR_CLASS, vec![0, 0]),
            (OPT_VENDOR_OPTS, vec![1]),
            (OPT_PREFERENCE, vec![1, 2]),
            (OPT_ELAPSED, vec![1]),
            (OPT_DNS, vec![0; 15]),
            (OPT_IA_NA, vec![0; 11]),
            (OPT_INFO_REFRESH, vec![0; 3]),
        ] {
            let mut opts = good.to_vec();
            opts.push((code, body.clone()));
            let e = parse(&server_msg(7, 9, &opts), 9, &duid, None);
            assert!(e.is_err(), "option {code} {body:?} was let through");
        }
        // A Status Code of one byte inside an IA_NA.
        let mut ia = ia_body(1, 0, 0, "fd00::5", 1, 2);
        ia.extend([0, 13, 0, 1, 0]);
        let mut opts = good.to_vec();
        opts.push((OPT_IA_NA, ia));
        assert!(parse(&server_msg(7, 9, &opts), 9, &duid, Some(1)).is_err());
        // An option that runs past the end.
        let mut b = server_msg(7, 9, &good);
        b.extend([0, 23, 0, 32, 1, 2]);
        assert!(parse(&b, 9, &duid, None).is_err());
        assert!(parse(&[7, 0], 9, &duid, None).is_err());
    }

    #[test]
    fn refuses_bad_addresses_and_names() {
        let duid = duid_ll(&MAC);
        let mut search = vec![5];
        search.extend(b"a\nb.c");
        search.push(0);
        search.push(4);
        search.extend(b"-bad");
        search.push(0);
        let b = server_msg(
            7,
            9,
            &[
                (OPT_CLIENT_ID, duid.clone()),
                (OPT_SERVER_ID, vec![1]),
                (OPT_IA_NA, ia_body(1, 0, 0, "ff02::1", 1, 2)),
                (OPT_DNS, dns_body(&["ff02::1", "::1", "::"])),
                (24, search),
            ],
        );
        let r = parse(&b, 9, &duid, Some(1)).unwrap();
        assert!(r.dns.is_empty());
        assert!(r.domains.is_empty());
        assert!(r.ia.unwrap().addresses.is_empty());
        assert_eq!(r.refused.len(), 6, "{:?}", r.refused);
    }

    #[test]
    fn t1_beyond_t2_and_preferred_beyond_valid_are_discarded() {
        let duid = duid_ll(&MAC);
        let opts = |ia| {
            vec![
                (OPT_CLIENT_ID, duid.clone()),
                (OPT_SERVER_ID, vec![1]),
                (OPT_IA_NA, ia),
            ]
        };
        let r = parse(
            &server_msg(7, 9, &opts(ia_body(1, 200, 100, "fd00::5", 1, 2))),
            9,
            &duid,
            Some(1),
        );
        assert!(r.unwrap().ia.unwrap().addresses.is_empty());
        let r = parse(
            &server_msg(7, 9, &opts(ia_body(1, 0, 0, "fd00::5", 3, 2))),
            9,
            &duid,
            Some(1),
        );
        assert!(r.unwrap().ia.unwrap().addresses.is_empty());
        // Another IAID is not ours.
        let r = parse(
            &server_msg(7, 9, &opts(ia_body(2, 0, 0, "fd00::5", 1, 2))),
            9,
            &duid,
            Some(1),
        );
        assert!(r.unwrap().ia.is_none());
    }

    #[test]
    fn mutated_replies_never_panic() {
        let duid = duid_ll(&MAC);
        let mut search = vec![7];
        search.extend(b"example");
        search.push(0);
        let mut ia = ia_body(1, 100, 160, "fd00::105", 200, 300);
        ia.extend([0, 13, 0, 2, 0, 0]);
        let good = server_msg(
            7,
            9,
            &[
                (OPT_CLIENT_ID, duid.clone()),
                (OPT_SERVER_ID, vec![0, 1, 0, 1, 9, 9]),
                (OPT_IA_NA, ia),
                (OPT_DNS, dns_body(&["fd00::1"])),
                (24, search),
                (OPT_STATUS, vec![0, 0, b'o', b'k']),
                (OPT_VENDOR_OPTS, vec![0, 0, 0, 9, 0, 1, 0, 0]),
                (OPT_INFO_REFRESH, vec![0, 0, 2, 88]),
            ],
        );
        assert!(parse(&good, 9, &duid, Some(1)).is_ok());
        let mut s = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..50_000 {
            let mut b = good.clone();
            for _ in 0..(next() % 4 + 1) {
                let at = (next() as usize) % b.len();
                b[at] = next() as u8;
            }
            // Keep the header ours, so the options are what gets tried.
            b[..4].copy_from_slice(&good[..4]);
            let cut = 4 + (next() as usize) % (b.len() - 3);
            let _ = parse(&b[..cut.min(b.len())], 9, &duid, Some(1));
        }
    }
}
