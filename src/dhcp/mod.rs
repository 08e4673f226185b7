//! DHCPv4 client: `wire` (messages), `options` (reading them safely), `lease` (what an ACK
//! grants), `client` (the state machine), `socket` (the I/O adapter).

pub mod client;
pub mod lease;
pub mod options;
pub mod raw;
pub mod socket;
pub mod wire;
