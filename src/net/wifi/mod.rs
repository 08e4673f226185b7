//! Wireless links: wpa_supplicant run as PID 1's child for the network of `[wifi]`,
//! restarted when it exits, and its control socket read for what people need to know
//! (joined, wrong passphrase, not found). Joining brings the carrier; the link's DHCP is
//! the same as on any Ethernet link. `control` parses what wpa_supplicant says, `conf`
//! writes its configuration, `supervisor` decides (pure), `supplicant` does the I/O.

pub mod conf;
pub mod control;
pub mod supervisor;
pub mod supplicant;
