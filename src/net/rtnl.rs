//! The route-netlink messages qinit sends and reads: links, addresses and routes, each
//! parsed and emitted by netlink-packet-route's own types. Its `RouteNetlinkMessage`
//! covers every family (traffic control, rules, neighbours, statistics...): parsing or
//! emitting through it links all of their code into PID 1, whose pages the kernel then
//! maps into its memory (README, "Benchmarks"). This type dispatches on the header's
//! message type to the three qinit uses, and takes any other as `Other`.

use netlink_packet_core::{
    DecodeError, Emitable, NetlinkDeserializable, NetlinkHeader, NetlinkPayload,
    NetlinkSerializable, Parseable,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::link::LinkMessage;
use netlink_packet_route::route::RouteMessage;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const RTM_GETADDR: u16 = 22;
const RTM_NEWROUTE: u16 = 24;
const RTM_DELROUTE: u16 = 25;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rtnl {
    NewLink(LinkMessage),
    DelLink(LinkMessage),
    GetLink(LinkMessage),
    SetLink(LinkMessage),
    NewAddress(AddressMessage),
    DelAddress(AddressMessage),
    GetAddress(AddressMessage),
    NewRoute(RouteMessage),
    DelRoute(RouteMessage),
    /// A message of another type, unparsed.
    Other(u16),
}

impl Rtnl {
    fn emitable(&self) -> Option<&dyn Emitable> {
        match self {
            Rtnl::NewLink(m) | Rtnl::DelLink(m) | Rtnl::GetLink(m) | Rtnl::SetLink(m) => Some(m),
            Rtnl::NewAddress(m) | Rtnl::DelAddress(m) | Rtnl::GetAddress(m) => Some(m),
            Rtnl::NewRoute(m) | Rtnl::DelRoute(m) => Some(m),
            Rtnl::Other(_) => None,
        }
    }
}

impl NetlinkSerializable for Rtnl {
    fn message_type(&self) -> u16 {
        match self {
            Rtnl::NewLink(_) => RTM_NEWLINK,
            Rtnl::DelLink(_) => RTM_DELLINK,
            Rtnl::GetLink(_) => RTM_GETLINK,
            Rtnl::SetLink(_) => RTM_SETLINK,
            Rtnl::NewAddress(_) => RTM_NEWADDR,
            Rtnl::DelAddress(_) => RTM_DELADDR,
            Rtnl::GetAddress(_) => RTM_GETADDR,
            Rtnl::NewRoute(_) => RTM_NEWROUTE,
            Rtnl::DelRoute(_) => RTM_DELROUTE,
            Rtnl::Other(t) => *t,
        }
    }

    fn buffer_len(&self) -> usize {
        self.emitable().map_or(0, Emitable::buffer_len)
    }

    fn serialize(&self, buffer: &mut [u8]) {
        if let Some(m) = self.emitable() {
            m.emit(buffer);
        }
    }
}

impl NetlinkDeserializable for Rtnl {
    type Error = DecodeError;

    fn deserialize(header: &NetlinkHeader, payload: &[u8]) -> Result<Self, DecodeError> {
        let t = header.message_type;
        Ok(match t {
            RTM_NEWLINK | RTM_DELLINK | RTM_GETLINK | RTM_SETLINK => {
                let m = LinkMessage::parse(payload)?;
                match t {
                    RTM_NEWLINK => Rtnl::NewLink(m),
                    RTM_DELLINK => Rtnl::DelLink(m),
                    RTM_GETLINK => Rtnl::GetLink(m),
                    _ => Rtnl::SetLink(m),
                }
            }
            RTM_NEWADDR | RTM_DELADDR | RTM_GETADDR => {
                let m = AddressMessage::parse(payload)?;
                match t {
                    RTM_NEWADDR => Rtnl::NewAddress(m),
                    RTM_DELADDR => Rtnl::DelAddress(m),
                    _ => Rtnl::GetAddress(m),
                }
            }
            RTM_NEWROUTE | RTM_DELROUTE => {
                let m = RouteMessage::parse(payload)?;
                if t == RTM_NEWROUTE {
                    Rtnl::NewRoute(m)
                } else {
                    Rtnl::DelRoute(m)
                }
            }
            other => Rtnl::Other(other),
        })
    }
}

impl From<Rtnl> for NetlinkPayload<Rtnl> {
    fn from(message: Rtnl) -> Self {
        NetlinkPayload::InnerMessage(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NetlinkMessage;
    use netlink_packet_route::RouteNetlinkMessage;
    use netlink_packet_route::link::LinkAttribute;

    fn bytes<T: NetlinkSerializable>(inner: T) -> Vec<u8>
    where
        NetlinkPayload<T>: From<T>,
    {
        let mut m = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(inner));
        m.finalize();
        let mut buf = vec![0u8; m.buffer_len()];
        m.serialize(&mut buf);
        buf
    }

    fn link() -> LinkMessage {
        let mut l = LinkMessage::default();
        l.header.index = 2;
        l.attributes.push(LinkAttribute::IfName("eth0".into()));
        l.attributes.push(LinkAttribute::Mtu(1500));
        l
    }

    #[test]
    fn the_same_bytes_as_the_crates_own_message_both_ways() {
        let mut addr = AddressMessage::default();
        addr.header.index = 2;
        addr.header.prefix_len = 24;
        let route = RouteMessage::default();
        let pairs = [
            (Rtnl::NewLink(link()), RouteNetlinkMessage::NewLink(link())),
            (Rtnl::SetLink(link()), RouteNetlinkMessage::SetLink(link())),
            (Rtnl::DelLink(link()), RouteNetlinkMessage::DelLink(link())),
            (
                Rtnl::NewAddress(addr.clone()),
                RouteNetlinkMessage::NewAddress(addr.clone()),
            ),
            (
                Rtnl::DelAddress(addr.clone()),
                RouteNetlinkMessage::DelAddress(addr),
            ),
            (
                Rtnl::NewRoute(route.clone()),
                RouteNetlinkMessage::NewRoute(route.clone()),
            ),
            (
                Rtnl::DelRoute(route.clone()),
                RouteNetlinkMessage::DelRoute(route),
            ),
        ];
        for (ours, theirs) in pairs {
            let b = bytes(ours.clone());
            assert_eq!(b, bytes(theirs), "{ours:?}");
            let back = NetlinkMessage::<Rtnl>::deserialize(&b).unwrap();
            assert_eq!(back.payload, NetlinkPayload::InnerMessage(ours));
        }
    }

    #[test]
    fn other_types_are_skipped_and_bad_payloads_are_errors() {
        // A neighbour message (RTM_NEWNEIGH, 28): taken as Other, not parsed.
        let mut b = bytes(Rtnl::NewLink(link()));
        b[4] = 28;
        let m = NetlinkMessage::<Rtnl>::deserialize(&b).unwrap();
        assert_eq!(m.payload, NetlinkPayload::InnerMessage(Rtnl::Other(28)));
        // A link message cut short inside its header.
        let mut short = bytes(Rtnl::NewLink(link()));
        short.truncate(16 + 8);
        short[0] = 24;
        assert!(NetlinkMessage::<Rtnl>::deserialize(&short).is_err());
    }
}
