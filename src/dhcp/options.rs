//! Reading a reply's options so that one bad option costs only itself.
//!
//! dhcproto stops at the first option it cannot decode and drops the rest, applies no
//! overload (52) and merges repeated options only when adjacent. So we walk the TLVs
//! ourselves (options field, then `file` and `sname` when 52 says so), concatenate
//! repeats (RFC 3396), check the sizes of fixed-size options, and hand each option alone
//! to dhcproto to decode its value.

use dhcproto::v4::{DhcpOption, MessageType};
use dhcproto::{Decodable, Decoder};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub const PAD: u8 = 0;
pub const END: u8 = 255;

/// Raw options by code, repeats concatenated in order of appearance.
pub type RawOptions = BTreeMap<u8, Vec<u8>>;

/// Walks one TLV area. Stops at END or at a truncated option (whose bytes are dropped).
pub fn walk(area: &[u8], into: &mut RawOptions) {
    let mut rest = area;
    while let Some((&code, tail)) = rest.split_first() {
        match code {
            PAD => rest = tail,
            END => return,
            _ => {
                let Some((&len, tail)) = tail.split_first() else {
                    return;
                };
                let Some(value) = tail.get(..usize::from(len)) else {
                    return;
                };
                into.entry(code).or_default().extend_from_slice(value);
                rest = tail.get(usize::from(len)..).unwrap_or(&[]);
            }
        }
    }
}

/// The exact size an option must have, for the fixed-size ones we read.
fn fixed_size(code: u8) -> Option<usize> {
    match code {
        1 | 28 | 50 | 51 | 54 | 58 | 59 => Some(4),
        26 | 57 => Some(2),
        52 | 53 => Some(1),
        80 => Some(0),
        _ => None,
    }
}

/// Checks an option's size and decodes it with dhcproto. Errors name the option.
pub fn decode_one(code: u8, value: &[u8]) -> Result<DhcpOption, String> {
    if let Some(size) = fixed_size(code)
        && value.len() != size
    {
        return Err(format!(
            "option {code}: length {} where {size} is required",
            value.len()
        ));
    }
    if matches!(code, 3 | 6) && (value.is_empty() || !value.len().is_multiple_of(4)) {
        return Err(format!(
            "option {code}: length {} is not a non-zero multiple of 4",
            value.len()
        ));
    }
    // RFC 3442: at least one route of at least 5 bytes. A shorter one is malformed and
    // must not hide option 3.
    if code == 121 && value.len() < 5 {
        return Err(format!(
            "option 121: length {} is below the 5 of one route",
            value.len()
        ));
    }
    // Re-encode as one or more adjacent TLVs (dhcproto concatenates those) and decode.
    let mut buf = Vec::with_capacity(value.len() + 8);
    if value.is_empty() {
        buf.extend_from_slice(&[code, 0]);
    }
    for chunk in value.chunks(255) {
        buf.push(code);
        buf.push(u8::try_from(chunk.len()).unwrap_or(255));
        buf.extend_from_slice(chunk);
    }
    buf.push(END);
    DhcpOption::decode(&mut Decoder::new(&buf))
        .map_err(|e| format!("option {code}: cannot decode: {e}"))
}

/// What a reply says, each field present only when its option was present and valid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplyOptions {
    pub msg_type: Option<MessageType>,
    pub server_id: Option<Ipv4Addr>,
    pub subnet_mask: Option<Ipv4Addr>,
    pub routers: Vec<Ipv4Addr>,
    pub dns: Vec<Ipv4Addr>,
    /// Raw bytes: validated by `names` where they are used.
    pub hostname: Option<Vec<u8>>,
    pub domain: Option<Vec<u8>>,
    pub search: Vec<String>,
    pub mtu: Option<u16>,
    pub broadcast: Option<Ipv4Addr>,
    pub lease_secs: Option<u32>,
    pub t1_secs: Option<u32>,
    pub t2_secs: Option<u32>,
    pub classless_routes: Option<Vec<(Ipv4Addr, u8, Ipv4Addr)>>,
    pub rapid_commit: bool,
    /// Option 61 as the server echoed it (RFC 6842), raw.
    pub client_id: Option<Vec<u8>>,
    /// One line per option that was dropped, for the debug log.
    pub dropped: Vec<String>,
}

impl ReplyOptions {
    pub fn from_raw(raw: &RawOptions) -> Self {
        let mut out = ReplyOptions::default();
        for (&code, value) in raw {
            match code {
                // Hostname and domain are kept raw: dhcproto would refuse non-UTF-8, and
                // the names module gives the better error.
                12 => out.hostname = Some(value.clone()),
                15 => out.domain = Some(value.clone()),
                61 => out.client_id = Some(value.clone()),
                // Only what a client uses goes to dhcproto: its decoders for other options
                // have debug assertions that a hostile length trips.
                1 | 3 | 6 | 26 | 28 | 51 | 53 | 54 | 58 | 59 | 80 | 119 | 121 => {
                    match decode_one(code, value) {
                        Ok(opt) => out.take(opt),
                        Err(e) => out.dropped.push(e),
                    }
                }
                _ => {}
            }
        }
        out
    }

    fn take(&mut self, opt: DhcpOption) {
        match opt {
            DhcpOption::MessageType(t) => self.msg_type = Some(t),
            DhcpOption::ServerIdentifier(a) => self.server_id = Some(a),
            DhcpOption::SubnetMask(m) => self.subnet_mask = Some(m),
            DhcpOption::Router(r) => self.routers = r,
            DhcpOption::DomainNameServer(d) => self.dns = d,
            DhcpOption::InterfaceMtu(m) => self.mtu = Some(m),
            DhcpOption::BroadcastAddr(b) => self.broadcast = Some(b),
            DhcpOption::AddressLeaseTime(t) => self.lease_secs = Some(t),
            DhcpOption::Renewal(t) => self.t1_secs = Some(t),
            DhcpOption::Rebinding(t) => self.t2_secs = Some(t),
            DhcpOption::RapidCommit => self.rapid_commit = true,
            DhcpOption::DomainSearch(names) => {
                // One line per reply however many names are bad: a hostile list must not
                // flood the log at every ACK.
                let mut bad = 0usize;
                let mut first = None;
                self.search = names
                    .iter()
                    .map(|n| n.to_utf8())
                    .filter_map(|n| match crate::names::domain(n.as_bytes()) {
                        Ok(d) => Some(d),
                        Err(e) => {
                            bad += 1;
                            first.get_or_insert(e);
                            None
                        }
                    })
                    .collect();
                if let Some(e) = first {
                    self.dropped.push(match bad {
                        1 => format!("option 119: {e}"),
                        n => format!("option 119: {n} bad names, the first: {e}"),
                    });
                }
            }
            DhcpOption::ClasslessStaticRoute(routes) => {
                self.classless_routes = Some(
                    routes
                        .iter()
                        .map(|(net, gw)| (net.network(), net.prefix_len(), *gw))
                        .collect(),
                );
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(area: &[u8]) -> ReplyOptions {
        let mut raw = RawOptions::new();
        walk(area, &mut raw);
        ReplyOptions::from_raw(&raw)
    }

    #[test]
    fn reads_the_usual_options() {
        let o = parse(&[
            53, 1, 2, 54, 4, 10, 0, 2, 2, 1, 4, 255, 255, 255, 0, 3, 4, 10, 0, 2, 2, 6, 4, 10, 0,
            2, 3, 51, 4, 0, 1, 81, 128, 26, 2, 5, 220, 12, 3, b'v', b'm', b'1', 255,
        ]);
        assert_eq!(o.msg_type, Some(MessageType::Offer));
        assert_eq!(o.server_id, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(o.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(o.routers, vec![Ipv4Addr::new(10, 0, 2, 2)]);
        assert_eq!(o.dns, vec![Ipv4Addr::new(10, 0, 2, 3)]);
        assert_eq!(o.lease_secs, Some(86400));
        assert_eq!(o.mtu, Some(1500));
        assert_eq!(o.hostname.as_deref(), Some(&b"vm1"[..]));
        assert!(o.dropped.is_empty());
    }

    #[test]
    fn a_bad_option_costs_only_itself() {
        // Lease time with 2 bytes, then a valid router after it.
        let o = parse(&[53, 1, 5, 51, 2, 0, 1, 3, 4, 10, 0, 2, 2, 255]);
        assert_eq!(o.lease_secs, None);
        assert_eq!(o.routers, vec![Ipv4Addr::new(10, 0, 2, 2)]);
        assert_eq!(o.msg_type, Some(MessageType::Ack));
        assert_eq!(o.dropped.len(), 1, "{:?}", o.dropped);
        assert!(o.dropped[0].contains("option 51"));
    }

    #[test]
    fn repeated_options_concatenate() {
        // RFC 3396: two DNS options, not adjacent, form one list.
        let o = parse(&[6, 4, 1, 1, 1, 1, 53, 1, 2, 6, 4, 8, 8, 8, 8, 255]);
        assert_eq!(
            o.dns,
            vec![Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(8, 8, 8, 8)]
        );
    }

    #[test]
    fn a_truncated_option_is_lost_alone() {
        // Nothing, padding only, a code without its length: no option at all.
        for area in [&[][..], &[0, 0, 0], &[53]] {
            assert_eq!(parse(area), ReplyOptions::default(), "{area:?}");
        }
        // An option that claims more bytes than the area holds is dropped, and the ones
        // before it stand.
        let o = parse(&[53, 1, 2, 3, 255, 10, 0, 2, 2]);
        assert_eq!(o.msg_type, Some(MessageType::Offer));
        assert!(o.routers.is_empty());
        let o = parse(&[54, 4, 10, 0, 2, 2, 53, 4, 1]);
        assert_eq!(o.server_id, Some(Ipv4Addr::new(10, 0, 2, 2)));
        assert_eq!(o.msg_type, None);
        // Every prefix of a good area keeps exactly the options that fit in it whole.
        let area = [53, 1, 2, 54, 4, 10, 0, 2, 2, 51, 4, 0, 0, 0, 60, 255];
        for n in 0..area.len() {
            let o = parse(&area[..n]);
            assert_eq!(o.msg_type.is_some(), n >= 3, "{n}");
            assert_eq!(o.server_id.is_some(), n >= 9, "{n}");
            assert_eq!(o.lease_secs.is_some(), n >= 15, "{n}");
            assert!(o.dropped.is_empty(), "{n}: {:?}", o.dropped);
        }
    }

    #[test]
    fn a_short_classless_route_option_is_dropped() {
        for area in [&[121, 0][..], &[121, 4, 8, 10, 0, 0], &[121, 1, 0]] {
            let o = parse(area);
            assert_eq!(o.classless_routes, None, "{area:?}");
            assert_eq!(o.dropped.len(), 1, "{area:?}: {:?}", o.dropped);
        }
    }

    #[test]
    fn many_bad_search_names_make_one_line() {
        // 40 names with a space in a label, then a good one.
        let mut v = Vec::new();
        for _ in 0..40 {
            v.extend_from_slice(&[5, b'a', b' ', b'b', b'c', b'd', 0]);
        }
        v.extend_from_slice(&[2, b'o', b'k', 4, b't', b'e', b's', b't', 0]);
        let mut raw = RawOptions::new();
        raw.insert(119, v);
        let o = ReplyOptions::from_raw(&raw);
        assert_eq!(o.search, vec!["ok.test".to_string()]);
        assert_eq!(o.dropped.len(), 1, "{:?}", o.dropped);
        assert!(o.dropped[0].contains("40 bad names"), "{:?}", o.dropped);
    }

    #[test]
    fn non_utf8_hostname_is_kept_raw_for_validation() {
        let o = parse(&[12, 2, 0xc3, 0x28, 6, 4, 10, 0, 2, 3, 255]);
        assert_eq!(o.hostname.as_deref(), Some(&[0xc3, 0x28][..]));
        assert_eq!(o.dns, vec![Ipv4Addr::new(10, 0, 2, 3)]);
    }

    #[test]
    fn search_list_and_classless_routes() {
        // 119: "corp.test" ; 121: 10.1.0.0/16 via 10.0.2.2, default via 10.0.2.1
        let o = parse(&[
            119, 11, 4, b'c', b'o', b'r', b'p', 4, b't', b'e', b's', b't', 0, 121, 12, 16, 10, 1,
            10, 0, 2, 2, 0, 10, 0, 2, 1, 255,
        ]);
        assert_eq!(o.search, vec!["corp.test".to_string()]);
        assert_eq!(
            o.classless_routes,
            Some(vec![
                (Ipv4Addr::new(10, 1, 0, 0), 16, Ipv4Addr::new(10, 0, 2, 2)),
                (Ipv4Addr::new(0, 0, 0, 0), 0, Ipv4Addr::new(10, 0, 2, 1)),
            ])
        );
    }
}
