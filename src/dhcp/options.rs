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
                self.search = names
                    .iter()
                    .map(|n| n.to_utf8())
                    .filter_map(|n| match crate::names::domain(n.as_bytes()) {
                        Ok(d) => Some(d),
                        Err(e) => {
                            self.dropped.push(format!("option 119: {e}"));
                            None
                        }
                    })
                    .collect();
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
    fn truncated_areas_do_not_panic() {
        for area in [&[53][..], &[53, 4, 1], &[0, 0, 0], &[3, 255, 1, 2], &[]] {
            let _ = parse(area);
        }
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
