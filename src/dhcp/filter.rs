//! The classic BPF programs on the client's two sockets: the kernel passes only a
//! BOOTREPLY to the live exchange (our xid, our MAC), as networkd's filter does, so a
//! flood of replies to other clients never wakes the client. With no exchange live,
//! nothing passes.

use socket2::SockFilter;

/// One instruction: code, jump if true, jump if false, constant.
pub type Insn = (u16, u8, u8, u32);

const LD_W_ABS: u16 = 0x20;
const LD_H_ABS: u16 = 0x28;
const LD_B_ABS: u16 = 0x30;
const LD_W_IND: u16 = 0x40;
const LD_H_IND: u16 = 0x48;
const LD_B_IND: u16 = 0x50;
const LDX_B_MSH: u16 = 0xb1;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;
const ACCEPT: u32 = 0x0004_0000;

/// Where the DHCP message starts in what the filter sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// A packet socket (SOCK_DGRAM): the IP header, then UDP. The filter also checks
    /// UDP, not a fragment, destination port 68.
    Ip,
    /// A UDP socket: the kernel runs the filter on the UDP header.
    Udp,
}

/// What the socket lets through: replies to exchange `xid` for `mac`, or nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    pub xid: u32,
    pub mac: [u8; 6],
}

/// The program for `layer`; `expect` None: a program that takes nothing.
pub fn program(layer: Layer, expect: Option<Expect>) -> Vec<Insn> {
    let Some(Expect { xid, mac }) = expect else {
        return vec![(RET_K, 0, 0, 0)];
    };
    let [m0, m1, m2, m3, m4, m5] = mac;
    let mac_hi = u32::from_be_bytes([m0, m1, m2, m3]);
    let mac_lo = u32::from(u16::from_be_bytes([m4, m5]));
    // DHCP fields, from the start of the UDP header: op at 8, xid at 12, chaddr at 36.
    let (b, h, w) = match layer {
        Layer::Ip => (LD_B_IND, LD_H_IND, LD_W_IND),
        Layer::Udp => (LD_B_ABS, LD_H_ABS, LD_W_ABS),
    };
    // D: jump to the drop at the end (filled in below).
    const D: u8 = u8::MAX;
    let mut p: Vec<Insn> = Vec::with_capacity(17);
    if layer == Layer::Ip {
        p.extend([
            (LD_B_ABS, 0, 0, 9),    // protocol
            (JEQ_K, 0, D, 17),      // UDP ? next : drop
            (LD_H_ABS, 0, 0, 6),    // flags, fragment offset
            (JSET_K, D, 0, 0x3fff), // more fragments, or an offset ? drop : next
            (LDX_B_MSH, 0, 0, 0),   // x = IP header length
            (h, 0, 0, 2),           // destination port
            (JEQ_K, 0, D, 68),      // 68 ? next : drop
        ]);
    }
    p.extend([
        (b, 0, 0, 8),          // op
        (JEQ_K, 0, D, 2),      // BOOTREPLY ? next : drop
        (w, 0, 0, 12),         // xid
        (JEQ_K, 0, D, xid),    // ours ? next : drop
        (w, 0, 0, 36),         // chaddr[0..4]
        (JEQ_K, 0, D, mac_hi), // ours ? next : drop
        (h, 0, 0, 40),         // chaddr[4..6]
        (JEQ_K, 0, D, mac_lo), // ours ? next : drop
        (RET_K, 0, 0, ACCEPT),
        (RET_K, 0, 0, 0),
    ]);
    // A jump counts from the next instruction.
    let drop_at = p.len().saturating_sub(1);
    for (i, insn) in p.iter_mut().enumerate() {
        let to_drop = u8::try_from(drop_at.saturating_sub(i + 1)).unwrap_or(0);
        if insn.1 == D {
            insn.1 = to_drop;
        }
        if insn.2 == D {
            insn.2 = to_drop;
        }
    }
    p
}

/// The program in the kernel's form, for SO_ATTACH_FILTER.
pub fn compile(p: &[Insn]) -> Vec<SockFilter> {
    p.iter()
        .map(|&(code, jt, jf, k)| SockFilter::new(code, jt, jf, k))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::wire::tests::{MAC, XID, reply};
    use etherparse::PacketBuilder;

    /// The kernel's classic BPF, for the instructions above: the bytes a program
    /// accepts (0: dropped). A load past the end drops the packet, as in the kernel.
    fn run(p: &[Insn], pkt: &[u8]) -> u32 {
        let (mut a, mut x, mut pc) = (0u32, 0u32, 0usize);
        let load = |at: usize, n: usize| -> Option<u32> {
            let b = pkt.get(at..at + n)?;
            Some(b.iter().fold(0u32, |v, &byte| (v << 8) | u32::from(byte)))
        };
        for _ in 0..64 {
            let (code, jt, jf, k) = *p.get(pc).expect("a jump out of the program");
            pc += 1;
            let k_at = k as usize;
            let x_at = x as usize + k_at;
            let loaded = match code {
                LD_W_ABS => Some(load(k_at, 4)),
                LD_H_ABS => Some(load(k_at, 2)),
                LD_B_ABS => Some(load(k_at, 1)),
                LD_W_IND => Some(load(x_at, 4)),
                LD_H_IND => Some(load(x_at, 2)),
                LD_B_IND => Some(load(x_at, 1)),
                _ => None,
            };
            match (code, loaded) {
                (_, Some(Some(v))) => a = v,
                (_, Some(None)) => return 0,
                (LDX_B_MSH, _) => match load(k_at, 1) {
                    Some(v) => x = (v & 0xf) * 4,
                    None => return 0,
                },
                (JEQ_K, _) => pc += usize::from(if a == k { jt } else { jf }),
                (JSET_K, _) => pc += usize::from(if a & k != 0 { jt } else { jf }),
                (RET_K, _) => {
                    // Every refusal is the one drop at the end, never a lucky compare.
                    assert!(k != 0 || pc == p.len(), "dropped at {pc} of {}", p.len());
                    return k;
                }
                _ => panic!("instruction {code:#x} not interpreted"),
            }
        }
        panic!("the program does not end");
    }

    fn ip_packet(dport: u16, payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ipv4([10, 0, 2, 2], [255, 255, 255, 255], 64).udp(67, dport);
        let mut out = Vec::new();
        b.write(&mut out, payload).unwrap();
        out
    }

    fn udp_datagram(payload: &[u8]) -> Vec<u8> {
        let mut out = ip_packet(68, payload);
        out.drain(..20);
        out
    }

    const EXPECT: Option<Expect> = Some(Expect { xid: XID, mac: MAC });

    #[test]
    fn only_a_bootreply_to_our_exchange_passes() {
        let good = reply(2, [10, 0, 2, 15], &[]);
        type Mutation = fn(&mut Vec<u8>);
        let bad: [(&str, Mutation); 6] = [
            ("op", |b| b[0] = 1),
            ("xid", |b| b[7] ^= 1),
            ("xid high byte", |b| b[4] ^= 0x80),
            ("chaddr first byte", |b| b[28] ^= 1),
            ("chaddr last byte", |b| b[33] ^= 1),
            ("cut before chaddr ends", |b| b.truncate(33)),
        ];
        for layer in [Layer::Ip, Layer::Udp] {
            let wrap = |payload: &[u8]| match layer {
                Layer::Ip => ip_packet(68, payload),
                Layer::Udp => udp_datagram(payload),
            };
            let p = program(layer, EXPECT);
            assert_eq!(run(&p, &wrap(&good)), ACCEPT, "{layer:?}");
            for (what, mutate) in bad {
                let mut b = good.clone();
                mutate(&mut b);
                assert_eq!(run(&p, &wrap(&b)), 0, "{layer:?}: {what}");
            }
            // Another exchange, and no exchange at all.
            let other = Some(Expect {
                xid: XID + 1,
                mac: MAC,
            });
            assert_eq!(run(&program(layer, other), &wrap(&good)), 0, "{layer:?}");
            assert_eq!(run(&program(layer, None), &wrap(&good)), 0, "{layer:?}");
        }
    }

    #[test]
    fn the_packet_socket_also_wants_udp_to_port_68_unfragmented() {
        let good = reply(2, [10, 0, 2, 15], &[]);
        let p = program(Layer::Ip, EXPECT);
        assert_eq!(run(&p, &ip_packet(67, &good)), 0, "port 67");
        let mut frag = ip_packet(68, &good);
        frag[6] = 0x20; // more fragments
        assert_eq!(run(&p, &frag), 0, "a first fragment");
        frag[6] = 0;
        frag[7] = 1; // an offset
        assert_eq!(run(&p, &frag), 0, "a later fragment");
        let mut tcp = ip_packet(68, &good);
        tcp[9] = 6;
        assert_eq!(run(&p, &tcp), 0, "TCP");
        // IP options move the UDP header: the filter follows the header length.
        let mut opts = ip_packet(68, &good);
        opts[0] = 0x46;
        opts.splice(20..20, [1, 1, 1, 1]);
        assert_eq!(run(&p, &opts), ACCEPT, "IP options");
    }
}
