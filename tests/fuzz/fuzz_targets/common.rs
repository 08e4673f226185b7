//! Checks every target makes of what qinit would print: a line for the console (or the
//! debug log) holds no control character, so no input can forge lines or send escape
//! sequences to the terminal (log::escape is how values get in).

#![allow(dead_code, reason = "each target uses its own part")]

pub fn assert_clean_line(what: &str, line: &str) {
    assert!(
        !line.chars().any(char::is_control),
        "{what}: a control character would reach the console: {line:?}"
    );
}

pub fn assert_clean_lines<S: AsRef<str>>(what: &str, lines: &[S]) {
    for line in lines {
        assert_clean_line(what, line.as_ref());
    }
}

/// What may be bound as an address or a host's own: not 0.0.0.0/8, loopback, multicast,
/// the class E range's broadcast or 255.255.255.255.
pub fn is_unicast(a: std::net::Ipv4Addr) -> bool {
    !(a.is_unspecified()
        || a.is_broadcast()
        || a.is_multicast()
        || a.is_loopback()
        || a.octets()[0] == 0)
}
