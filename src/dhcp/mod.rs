//! The DHCPv4 client, sans I/O apart from its two sockets: `wire` (messages), `options`
//! (reading them safely), `lease` (what an ACK grants), `client` (the state machine, fed
//! with time and packets), and `socket` and `raw` (the UDP and packet sockets it needs);
//! `acd` checks that no other host uses the leased address (RFC 5227), over the ARP
//! socket of `arp_socket`. `ra_dns` reads DNS servers and domains from IPv6 router
//! advertisements (RFC 8106) and keeps them for their lifetimes.
//! `v6_wire` and `v6_client` are the DHCPv6 client (RFC 8415), stateless and stateful,
//! and `v6_socket` its UDP socket.
//! It knows nothing of links or files: applying a lease is `net`'s job.

pub mod acd;
pub mod arp_socket;
pub mod client;
pub mod filter;
pub mod lease;
pub mod options;
pub mod ra_dns;
pub mod raw;
pub mod socket;
pub mod v6_client;
pub mod v6_socket;
pub mod v6_wire;
pub mod wire;
