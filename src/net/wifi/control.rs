//! What wpa_supplicant says on its control socket, read into our types: the unsolicited
//! events (`<3>CTRL-EVENT-CONNECTED ...`, wpa_ctrl.h) and the replies to `STATUS` and
//! `SIGNAL_POLL` (key=value lines). Pure parsing; every value is checked before it can
//! reach the console.

use crate::config::net_keys;

/// The events the supervisor acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Connected,
    /// `reason=WRONG_KEY` (a 4-way handshake that failed on the key).
    WrongKey,
    /// Another reason the network is disabled for a while (`AUTH_FAILED`, `CONN_FAILED`).
    TempDisabled(String),
    NetworkNotFound,
    /// The IEEE 802.11 reason code.
    Disconnected(Option<u16>),
    Other,
}

/// An unsolicited message starts with its level in angle brackets.
pub fn is_event(message: &[u8]) -> bool {
    message.first() == Some(&b'<')
}

/// Reads one event message.
pub fn event(message: &[u8]) -> Event {
    let text = String::from_utf8_lossy(message);
    let body = match text.split_once('>') {
        Some((_, rest)) => rest.trim_end(),
        None => return Event::Other,
    };
    let mut words = body.split(' ');
    match words.next() {
        Some("CTRL-EVENT-CONNECTED") => Event::Connected,
        Some("CTRL-EVENT-NETWORK-NOT-FOUND") => Event::NetworkNotFound,
        Some("CTRL-EVENT-DISCONNECTED") => {
            Event::Disconnected(field(body, "reason").and_then(|r| r.parse().ok()))
        }
        Some("CTRL-EVENT-SSID-TEMP-DISABLED") => match field(body, "reason") {
            Some("WRONG_KEY") => Event::WrongKey,
            Some(r)
                if !r.is_empty()
                    && r.len() <= 32
                    && r.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') =>
            {
                Event::TempDisabled(r.to_string())
            }
            _ => Event::TempDisabled("unknown".into()),
        },
        _ => Event::Other,
    }
}

/// `key=value` among space-separated words (the SSID, quoted, may hold spaces: only
/// words after it are asked for).
fn field<'a>(body: &'a str, key: &str) -> Option<&'a str> {
    body.rsplit(' ')
        .find_map(|w| w.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// What `STATUS` and `SIGNAL_POLL` tell of the association.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Association {
    pub bssid: Option<[u8; 6]>,
    pub freq_mhz: Option<u32>,
    /// "WPA2" or "WPA3" (from STATUS's key_mgmt).
    pub security: Option<&'static str>,
    pub signal_dbm: Option<i32>,
}

/// A `key=value` line's value.
fn value<'a>(reply: &'a str, key: &str) -> Option<&'a str> {
    reply
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
}

/// Adds what a `STATUS` reply says.
pub fn read_status(reply: &[u8], into: &mut Association) {
    let text = String::from_utf8_lossy(reply);
    into.bssid = value(&text, "bssid").and_then(|b| net_keys::mac(b).ok());
    into.freq_mhz = value(&text, "freq").and_then(|f| f.parse().ok());
    into.security = match value(&text, "key_mgmt") {
        Some("WPA2-PSK" | "WPA2-PSK-SHA256" | "WPA-PSK") => Some("WPA2"),
        Some("SAE" | "FT-SAE" | "SAE-EXT-KEY") => Some("WPA3"),
        _ => None,
    };
}

/// Adds what a `SIGNAL_POLL` reply says (`RSSI=-40`).
pub fn read_signal(reply: &[u8], into: &mut Association) {
    let text = String::from_utf8_lossy(reply);
    into.signal_dbm = value(&text, "RSSI")
        .and_then(|r| r.parse::<i32>().ok())
        .filter(|r| (-150..=30).contains(r));
    if into.freq_mhz.is_none() {
        into.freq_mhz = value(&text, "FREQUENCY").and_then(|f| f.parse().ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_as_wpa_supplicant_2_10_sends_them() {
        for (raw, want) in [
            (
                "<3>CTRL-EVENT-CONNECTED - Connection to 02:00:00:00:01:00 completed [id=0 id_str=]",
                Event::Connected,
            ),
            (
                "<3>CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid=\"my home\" auth_failures=1 duration=10 reason=WRONG_KEY",
                Event::WrongKey,
            ),
            (
                "<3>CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid=\"x reason=WRONG_KEY\" auth_failures=2 duration=20 reason=CONN_FAILED",
                Event::TempDisabled("CONN_FAILED".into()),
            ),
            (
                "<3>CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid=\"x\" reason=\x1b[2J",
                Event::TempDisabled("unknown".into()),
            ),
            ("<3>CTRL-EVENT-NETWORK-NOT-FOUND", Event::NetworkNotFound),
            (
                "<3>CTRL-EVENT-DISCONNECTED bssid=02:00:00:00:01:00 reason=3 locally_generated=1",
                Event::Disconnected(Some(3)),
            ),
            ("<3>CTRL-EVENT-SCAN-RESULTS ", Event::Other),
            ("OK\n", Event::Other),
        ] {
            assert_eq!(event(raw.as_bytes()), want, "{raw}");
        }
        assert!(is_event(b"<3>CTRL-EVENT-CONNECTED"));
        assert!(!is_event(b"bssid=02:00:00:00:01:00\n"));
    }

    #[test]
    fn status_and_signal_poll_replies() {
        let mut a = Association::default();
        read_status(
            b"bssid=02:00:00:00:01:00\nfreq=2437\nssid=home\nid=0\nmode=station\npairwise_cipher=CCMP\ngroup_cipher=CCMP\nkey_mgmt=WPA2-PSK\nwpa_state=COMPLETED\naddress=02:00:00:00:00:00\n",
            &mut a,
        );
        read_signal(
            b"RSSI=-30\nLINKSPEED=54\nNOISE=9999\nFREQUENCY=2437\n",
            &mut a,
        );
        assert_eq!(
            a,
            Association {
                bssid: Some([2, 0, 0, 0, 1, 0]),
                freq_mhz: Some(2437),
                security: Some("WPA2"),
                signal_dbm: Some(-30),
            }
        );
        let mut a = Association::default();
        read_status(b"key_mgmt=SAE\nbssid=nonsense\n", &mut a);
        read_signal(b"FAIL\n", &mut a);
        assert_eq!(a.security, Some("WPA3"));
        assert_eq!((a.bssid, a.signal_dbm, a.freq_mhz), (None, None, None));
    }
}
