//! The ACPI core's generic-netlink family `acpi_event` (drivers/acpi/event.c): the
//! kernel multicasts every ACPI notification that a driver passes on (a power-button
//! press from `button`, a lid, AC power) to the group `acpi_mc_group`, as acpid reads
//! them. The family belongs to the ACPI core, so it exists whether or not `button` is
//! loaded yet; events flow once it is. Resolving the family and parsing its messages is
//! pure (netlink-packet-generic's controller messages); the socket is a small adapter.

use netlink_packet_core::{
    DecodeError, DefaultNla, Emitable, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage,
    NetlinkPayload, Nla, NlaBuffer, NlasIterator, Parseable, ParseableParametrized,
};
use netlink_packet_generic::ctrl::nlas::{GenlCtrlAttrs, McastGrpAttrs};
use netlink_packet_generic::ctrl::{GenlCtrl, GenlCtrlCmd};
use netlink_packet_generic::traits::GenlFamily;
use netlink_packet_generic::{GenlHeader, GenlMessage};
use netlink_sys::{Socket, protocols::NETLINK_GENERIC};
use std::os::fd::{AsFd, BorrowedFd};

/// ACPI_GENL_FAMILY_NAME, ACPI_GENL_MCAST_GROUP_NAME, ACPI_GENL_VERSION.
pub const FAMILY: &str = "acpi_event";
pub const GROUP: &str = "acpi_mc_group";
const VERSION: u8 = 1;
/// ACPI_GENL_CMD_EVENT and ACPI_GENL_ATTR_EVENT.
const CMD_EVENT: u8 = 1;
const ATTR_EVENT: u16 = 1;
/// sizeof(struct acpi_genl_event): device_class\[20\], bus_id\[15\], one byte of padding,
/// then the u32 type and data.
const EVENT_LEN: usize = 44;
/// What `button` names a power button's class (ACPI_BUTTON_CLASS "/" ..._SUBCLASS_POWER).
const POWER_BUTTON_CLASS: &str = "button/power";

/// struct acpi_genl_event: one notification, e.g. `button/power LNXPWRBN:00 80 1`.
/// The two names are escaped for printing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiEvent {
    pub device_class: String,
    pub bus_id: String,
    pub kind: u32,
    pub data: u32,
}

impl AcpiEvent {
    /// A press of a power button (the fixed-hardware LNXPWRBN or a PNP0C0C device, such
    /// as the one behind microvm's GED).
    pub fn is_power_button(&self) -> bool {
        self.device_class == POWER_BUTTON_CLASS
    }

    /// acpid's way to print an event: `button/power LNXPWRBN:00 00000080 00000001`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} {:08x} {:08x}",
            self.device_class, self.bus_id, self.kind, self.data
        )
    }

    fn parse(value: &[u8]) -> Option<AcpiEvent> {
        let text = |range: std::ops::Range<usize>| {
            let field = value.get(range)?;
            let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
            Some(crate::log::escape(field.get(..end)?))
        };
        let word = |at: usize| {
            let bytes: [u8; 4] = value.get(at..at + 4)?.try_into().ok()?;
            Some(u32::from_ne_bytes(bytes))
        };
        Some(AcpiEvent {
            device_class: text(0..20)?,
            bus_id: text(20..35)?,
            kind: word(36)?,
            data: word(40)?,
        })
    }

    /// The kernel's bytes for this event (names cut to their fields), for tests.
    fn emit_into(&self, out: &mut [u8]) {
        let mut raw = [0u8; EVENT_LEN];
        for (range, name) in [(0..19, &self.device_class), (20..34, &self.bus_id)] {
            let at = range.start;
            for (i, b) in name.bytes().take(range.len()).enumerate() {
                if let Some(slot) = raw.get_mut(at + i) {
                    *slot = b;
                }
            }
        }
        for (at, v) in [(36, self.kind), (40, self.data)] {
            if let Some(slot) = raw.get_mut(at..at + 4) {
                slot.copy_from_slice(&v.to_ne_bytes());
            }
        }
        for (o, r) in out.iter_mut().zip(raw) {
            *o = r;
        }
    }
}

/// An attribute of an `acpi_event` message: the event, or one we do not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcpiAttr {
    Event(AcpiEvent),
    Other(DefaultNla),
}

impl Nla for AcpiAttr {
    fn value_len(&self) -> usize {
        match self {
            AcpiAttr::Event(_) => EVENT_LEN,
            AcpiAttr::Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        match self {
            AcpiAttr::Event(_) => ATTR_EVENT,
            AcpiAttr::Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            AcpiAttr::Event(e) => e.emit_into(buffer),
            AcpiAttr::Other(nla) => nla.emit_value(buffer),
        }
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Parseable<NlaBuffer<&'a T>> for AcpiAttr {
    fn parse(buf: &NlaBuffer<&'a T>) -> Result<Self, DecodeError> {
        if buf.kind() == ATTR_EVENT {
            AcpiEvent::parse(buf.value())
                .map(AcpiAttr::Event)
                .ok_or_else(|| DecodeError::from("ACPI_GENL_ATTR_EVENT shorter than its struct"))
        } else {
            DefaultNla::parse(buf).map(AcpiAttr::Other)
        }
    }
}

/// One message of the `acpi_event` family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiGenl {
    pub cmd: u8,
    pub attrs: Vec<AcpiAttr>,
}

impl GenlFamily for AcpiGenl {
    fn family_name() -> &'static str {
        FAMILY
    }

    fn command(&self) -> u8 {
        self.cmd
    }

    fn version(&self) -> u8 {
        VERSION
    }
}

impl Emitable for AcpiGenl {
    fn buffer_len(&self) -> usize {
        self.attrs.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.attrs.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for AcpiGenl {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let attrs = NlasIterator::new(buf)
            .map(|nla| nla.and_then(|nla| AcpiAttr::parse(&nla)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AcpiGenl {
            cmd: header.cmd,
            attrs,
        })
    }
}

/// Each netlink message in one datagram, in order; the walk stops at the first that
/// does not parse.
fn messages<I: netlink_packet_core::NetlinkDeserializable>(data: &[u8]) -> Vec<NetlinkMessage<I>> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let Ok(msg) = NetlinkMessage::<I>::deserialize(rest) else {
            break;
        };
        // Messages are 4-byte aligned within a datagram.
        let len = usize::try_from(msg.header.length).unwrap_or(0);
        let next = len.next_multiple_of(4);
        out.push(msg);
        if len == 0 {
            break;
        }
        rest = rest.get(next..).unwrap_or(&[]);
    }
    out
}

/// The ACPI events in one datagram from the multicast group.
pub fn parse_events(data: &[u8]) -> Vec<AcpiEvent> {
    messages::<GenlMessage<AcpiGenl>>(data)
        .into_iter()
        .filter_map(|m| match m.payload {
            NetlinkPayload::InnerMessage(g) if g.payload.cmd == CMD_EVENT => Some(g.payload.attrs),
            _ => None,
        })
        .flatten()
        .filter_map(|a| match a {
            AcpiAttr::Event(e) => Some(e),
            AcpiAttr::Other(_) => None,
        })
        .collect()
}

/// CTRL_CMD_GETFAMILY for `family`, as the bytes to send.
pub fn family_request(family: &str, sequence: u32) -> Vec<u8> {
    let mut genl = GenlMessage::from_payload(GenlCtrl {
        cmd: GenlCtrlCmd::GetFamily,
        nlas: vec![GenlCtrlAttrs::FamilyName(family.to_string())],
    });
    genl.finalize();
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST;
    header.sequence_number = sequence;
    let mut msg = NetlinkMessage::new(header, NetlinkPayload::from(genl));
    msg.finalize();
    let mut buf = vec![0u8; msg.buffer_len()];
    msg.serialize(&mut buf);
    buf
}

/// Why the family could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FamilyError {
    /// The kernel has no such family (ENOENT): no ACPI, or ACPI off.
    Missing,
    /// The family has no multicast group of that name.
    NoGroup,
    /// Anything else, said in a few words.
    Other(String),
}

/// The multicast group id named `group` from the controller's answer to `family_request`.
pub fn parse_family_reply(data: &[u8], group: &str) -> Result<u32, FamilyError> {
    let replies = messages::<GenlMessage<GenlCtrl>>(data);
    if replies.is_empty() {
        return Err(FamilyError::Other("unreadable controller reply".into()));
    }
    for reply in replies {
        match reply.payload {
            NetlinkPayload::Error(e) if e.raw_code() == -nix::libc::ENOENT => {
                return Err(FamilyError::Missing);
            }
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(FamilyError::Other(format!("controller: {}", e.to_io())));
            }
            NetlinkPayload::InnerMessage(g) => {
                let groups = g.payload.nlas.into_iter().find_map(|a| match a {
                    GenlCtrlAttrs::McastGroups(g) => Some(g),
                    _ => None,
                });
                let id = groups.into_iter().flatten().find_map(|attrs| {
                    let named = attrs
                        .iter()
                        .any(|a| matches!(a, McastGrpAttrs::Name(n) if n == group));
                    attrs.iter().find_map(|a| match a {
                        McastGrpAttrs::Id(id) if named => Some(*id),
                        _ => None,
                    })
                });
                return id.ok_or(FamilyError::NoGroup);
            }
            _ => {}
        }
    }
    Err(FamilyError::Other(
        "no answer in the controller reply".into(),
    ))
}

/// A generic-netlink socket in the `acpi_event` family's multicast group.
pub struct AcpiEvents {
    sock: Socket,
}

impl AcpiEvents {
    /// Resolves the family's group and joins it. The controller answers within the send
    /// (genetlink runs the request in our context), so the reply is read at once.
    pub fn open() -> Result<AcpiEvents, FamilyError> {
        let other = |what: &str, e: std::io::Error| FamilyError::Other(format!("{what}: {e}"));
        let mut sock = Socket::new(NETLINK_GENERIC).map_err(|e| other("genetlink socket", e))?;
        sock.bind_auto().map_err(|e| other("genetlink bind", e))?;
        sock.set_non_blocking(true)
            .map_err(|e| other("genetlink socket", e))?;
        sock.send_to(
            &family_request(FAMILY, 1),
            &netlink_sys::SocketAddr::new(0, 0),
            0,
        )
        .map_err(|e| other("asking for the family", e))?;
        let (reply, _) = sock
            .recv_from_full()
            .map_err(|e| other("reading the family", e))?;
        let group = parse_family_reply(&reply, GROUP)?;
        sock.add_membership(group)
            .map_err(|e| other("joining acpi_mc_group", e))?;
        Ok(AcpiEvents { sock })
    }

    /// The events received since the last call.
    pub fn events(&self) -> Vec<AcpiEvent> {
        let mut out = Vec::new();
        while let Ok((data, _)) = self.sock.recv_from_full() {
            out.extend(parse_events(&data));
        }
        out
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The datagram drivers/acpi/event.c multicasts for a press of qemu's power button
    /// on pc: nlmsghdr (family id 0x17, as the kernel happened to allocate it), genlmsghdr
    /// (ACPI_GENL_CMD_EVENT, version 1), then the 48-byte ACPI_GENL_ATTR_EVENT.
    const PRESS: [u8; 68] = [
        0x44, 0, 0, 0, 0x17, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // nlmsghdr
        1, 1, 0, 0, // genlmsghdr
        0x30, 0, 1, 0, // nlattr: len 48, type 1
        b'b', b'u', b't', b't', b'o', b'n', b'/', b'p', b'o', b'w', b'e', b'r', 0, 0, 0, 0, 0, 0,
        0, 0, // device_class[20]
        b'L', b'N', b'X', b'P', b'W', b'R', b'B', b'N', b':', b'0', b'0', 0, 0, 0,
        0, // bus_id
        0, // padding
        0x80, 0, 0, 0, // type
        1, 0, 0, 0, // data
    ];

    #[test]
    fn a_power_button_press_is_read_from_the_kernels_bytes() {
        let events = parse_events(&PRESS);
        assert_eq!(
            events,
            [AcpiEvent {
                device_class: "button/power".into(),
                bus_id: "LNXPWRBN:00".into(),
                kind: 0x80,
                data: 1,
            }]
        );
        assert!(events.iter().all(AcpiEvent::is_power_button));
        assert_eq!(
            events.first().map(AcpiEvent::describe).as_deref(),
            Some("button/power LNXPWRBN:00 00000080 00000001")
        );
    }

    #[test]
    fn emitted_events_are_byte_for_byte_the_kernels() {
        let mut genl = GenlMessage::from_payload(AcpiGenl {
            cmd: CMD_EVENT,
            attrs: vec![AcpiAttr::Event(AcpiEvent {
                device_class: "button/power".into(),
                bus_id: "LNXPWRBN:00".into(),
                kind: 0x80,
                data: 1,
            })],
        });
        genl.set_resolved_family_id(0x17);
        let mut msg = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(genl));
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        assert_eq!(buf, PRESS);
    }

    #[test]
    fn other_events_and_garbage_are_not_presses() {
        let mut lid = PRESS;
        lid[24..36].copy_from_slice(b"button/lid\0\0");
        let events = parse_events(&lid);
        assert_eq!(events.len(), 1);
        assert!(!events.iter().any(AcpiEvent::is_power_button));
        // A class that only starts like ours is not ours.
        let mut longer = PRESS;
        longer[36] = b'x';
        assert!(!parse_events(&longer).iter().any(AcpiEvent::is_power_button));
        assert!(parse_events(&PRESS[..40]).is_empty(), "cut short");
        assert!(parse_events(b"").is_empty());
        assert!(parse_events(&[0xff; 16]).is_empty());
        // Another command of the family carries no event.
        let mut cmd = PRESS;
        cmd[16] = 2;
        assert!(parse_events(&cmd).is_empty());
    }

    #[test]
    fn control_characters_in_names_are_escaped() {
        let mut odd = PRESS;
        odd[44] = 0x1b;
        let events = parse_events(&odd);
        assert_eq!(
            events.first().map(|e| e.bus_id.as_str()),
            Some("\\x1bNXPWRBN:00")
        );
    }

    #[test]
    fn two_messages_in_one_datagram_are_both_read() {
        let mut two = PRESS.to_vec();
        two.extend_from_slice(&PRESS);
        assert_eq!(parse_events(&two).len(), 2);
    }

    #[test]
    fn the_family_request_names_the_family() {
        let req = family_request(FAMILY, 7);
        let parsed = NetlinkMessage::<GenlMessage<GenlCtrl>>::deserialize(&req).unwrap();
        assert_eq!(parsed.header.flags, NLM_F_REQUEST);
        assert_eq!(parsed.header.sequence_number, 7);
        assert_eq!(parsed.header.message_type, 0x10, "GENL_ID_CTRL");
        let NetlinkPayload::InnerMessage(g) = parsed.payload else {
            panic!("not a controller message");
        };
        assert_eq!(g.payload.cmd, GenlCtrlCmd::GetFamily);
        assert_eq!(
            g.payload.nlas,
            [GenlCtrlAttrs::FamilyName("acpi_event".into())]
        );
    }

    fn reply(groups: Vec<Vec<McastGrpAttrs>>) -> Vec<u8> {
        let mut genl = GenlMessage::from_payload(GenlCtrl {
            cmd: GenlCtrlCmd::NewFamily,
            nlas: vec![
                GenlCtrlAttrs::FamilyName("acpi_event".into()),
                GenlCtrlAttrs::FamilyId(0x17),
                GenlCtrlAttrs::Version(1),
                GenlCtrlAttrs::McastGroups(groups),
            ],
        });
        genl.finalize();
        let mut msg = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(genl));
        msg.finalize();
        let mut buf = vec![0u8; msg.buffer_len()];
        msg.serialize(&mut buf);
        buf
    }

    #[test]
    fn the_group_id_comes_from_the_controllers_reply() {
        let groups = vec![
            vec![McastGrpAttrs::Name("other".into()), McastGrpAttrs::Id(4)],
            vec![McastGrpAttrs::Id(5), McastGrpAttrs::Name(GROUP.into())],
        ];
        assert_eq!(parse_family_reply(&reply(groups), GROUP), Ok(5));
        let none = vec![vec![
            McastGrpAttrs::Name("other".into()),
            McastGrpAttrs::Id(4),
        ]];
        assert_eq!(
            parse_family_reply(&reply(none), GROUP),
            Err(FamilyError::NoGroup)
        );
    }

    #[test]
    fn a_missing_family_is_told_apart_from_other_errors() {
        // NLMSG_ERROR: nlmsghdr, then the error code and the request's header.
        let error = |code: i32| {
            let mut e = vec![36, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            e.extend_from_slice(&code.to_ne_bytes());
            e.extend_from_slice(&[16, 0, 0, 0, 0x10, 0, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
            e
        };
        assert_eq!(
            parse_family_reply(&error(-nix::libc::ENOENT), GROUP),
            Err(FamilyError::Missing)
        );
        assert!(matches!(
            parse_family_reply(&error(-nix::libc::EPERM), GROUP),
            Err(FamilyError::Other(_))
        ));
        assert!(matches!(
            parse_family_reply(b"", GROUP),
            Err(FamilyError::Other(_))
        ));
    }
}
