//! The wireless network to join: the `qinit.wifi.*` keys of the command line (and so the
//! `[wifi]` table of qinit.conf, which becomes those words) and the `wifi.psk`
//! credential, checked into one `Wifi`. Pure parsing. The passphrase never reaches an
//! error line or a `Debug` print: errors name the key, not the value.

use std::fmt;

use crate::config::net_keys;
use crate::log::escape;

/// The command-line prefix of the wireless keys.
pub const PREFIX: &str = "qinit.wifi.";

/// The keys after [`PREFIX`], which are also the `[wifi]` table's keys in qinit.conf.
pub const KEYS: [&str; 8] = [
    "ssid",
    "psk",
    "passphrase",
    "key_mgmt",
    "bssid",
    "country",
    "hidden",
    "interface",
];

/// Keys whose value is a secret: their errors never show it.
pub fn is_secret(key: &str) -> bool {
    matches!(key, "psk" | "passphrase")
}

/// The command line's words with the secrets' values replaced, for a console line; a
/// line without one is given back as it is.
pub fn redact(line: &str) -> String {
    let words = crate::config::words::split_words(line);
    let secret = |w: &String| {
        w.split_once('=')
            .is_some_and(|(k, _)| k.strip_prefix(PREFIX).is_some_and(is_secret))
    };
    if !words.iter().any(secret) {
        return line.to_string();
    }
    words
        .iter()
        .map(|w| match w.split_once('=') {
            Some((k, _)) if k.strip_prefix(PREFIX).is_some_and(is_secret) => {
                format!("{k}=<hidden>")
            }
            _ => w.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How the network authenticates (wpa_supplicant's `key_mgmt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyMgmt {
    /// WPA2-Personal.
    #[default]
    WpaPsk,
    /// WPA3-Personal.
    Sae,
    /// Either: a WPA2/WPA3 transition network, or whichever the access point offers.
    Both,
}

impl KeyMgmt {
    /// The value of wpa_supplicant's `key_mgmt=`.
    pub fn supplicant_value(self) -> &'static str {
        match self {
            KeyMgmt::WpaPsk => "WPA-PSK",
            KeyMgmt::Sae => "SAE",
            KeyMgmt::Both => "WPA-PSK SAE",
        }
    }
}

/// The shared secret. Its `Debug` shows neither form.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    /// 8 to 63 printable ASCII characters (IEEE 802.11 Annex M's passphrase).
    Passphrase(String),
    /// The 256-bit pre-shared key itself, as 64 hex digits (WPA-PSK only: SAE needs the
    /// password).
    Psk([u8; 32]),
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::Passphrase(_) => f.write_str("Passphrase(<hidden>)"),
            Secret::Psk(_) => f.write_str("Psk(<hidden>)"),
        }
    }
}

/// The network to join; `ssid` set means wireless is wanted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wifi {
    /// 1 to 32 bytes, any of them (written to wpa_supplicant in hex).
    pub ssid: Option<Vec<u8>>,
    pub secret: Option<Secret>,
    pub key_mgmt: KeyMgmt,
    pub bssid: Option<[u8; 6]>,
    /// ISO 3166-1 alpha-2, upper case (or "00", the world domain).
    pub country: Option<[u8; 2]>,
    /// The network does not broadcast its SSID: probe for it (`scan_ssid=1`).
    pub hidden: bool,
    /// Default: the first wireless interface.
    pub interface: Option<String>,
}

impl Wifi {
    /// Sets one key (the part after [`PREFIX`]) from its command-line value. The error
    /// names the value unless it is a secret.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        match key {
            "ssid" => self.ssid = Some(ssid(value)?),
            "passphrase" => self.secret = Some(passphrase(value)?),
            "psk" => self.secret = Some(psk(value)?),
            "key_mgmt" => self.key_mgmt = key_mgmt(value)?,
            "bssid" => self.bssid = Some(net_keys::mac(value)?),
            "country" => self.country = Some(country(value)?),
            "hidden" => self.hidden = net_keys::peerdns(value)?,
            "interface" => self.interface = Some(net_keys::device_name(value)?),
            _ => return Err(format!("unknown key '{}'", escape(key.as_bytes()))),
        }
        Ok(())
    }

    /// What is missing or contradictory once every source is read, as one line.
    pub fn check(&self) -> Result<(), String> {
        if self.ssid.is_none() {
            if self.secret.is_some() {
                return Err("a passphrase is set but no qinit.wifi.ssid".into());
            }
            return Ok(());
        }
        match (&self.secret, self.key_mgmt) {
            (None, _) => Err("qinit.wifi.ssid is set but no passphrase: set qinit.wifi.passphrase, the [wifi] table's passphrase, or the wifi.psk credential".into()),
            (Some(Secret::Psk(_)), KeyMgmt::Sae | KeyMgmt::Both) => {
                Err("SAE (WPA3) needs the passphrase, not a 64-digit psk".into())
            }
            _ => Ok(()),
        }
    }
}

/// 1 to 32 bytes.
pub fn ssid(value: &str) -> Result<Vec<u8>, String> {
    if value.is_empty() || value.len() > 32 {
        return Err(format!(
            "bad SSID '{}': expected 1 to 32 bytes",
            escape(value.as_bytes())
        ));
    }
    Ok(value.as_bytes().to_vec())
}

/// 8 to 63 printable ASCII characters. The error never holds the value.
pub fn passphrase(value: &str) -> Result<Secret, String> {
    let value = value.strip_suffix('\n').unwrap_or(value);
    if !(8..=63).contains(&value.len()) {
        return Err(format!(
            "the passphrase has {} characters: expected 8 to 63",
            value.chars().count()
        ));
    }
    if !value.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err("the passphrase must be printable ASCII".into());
    }
    Ok(Secret::Passphrase(value.to_string()))
}

/// 64 hex digits. The error never holds the value.
pub fn psk(value: &str) -> Result<Secret, String> {
    let bytes = value.as_bytes();
    if bytes.len() != 64 || !bytes.iter().all(u8::is_ascii_hexdigit) {
        return Err("expected 64 hex digits (a passphrase goes in qinit.wifi.passphrase)".into());
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(bytes.chunks(2)) {
        let text = std::str::from_utf8(pair).map_err(|_| "not hex".to_string())?;
        *byte = u8::from_str_radix(text, 16).map_err(|_| "not hex".to_string())?;
    }
    Ok(Secret::Psk(out))
}

/// WPA-PSK, SAE, or both (`WPA-PSK SAE`, `WPA-PSK,SAE`, `both`).
pub fn key_mgmt(value: &str) -> Result<KeyMgmt, String> {
    let upper = value.to_ascii_uppercase();
    match upper.as_str() {
        "WPA-PSK" | "WPA2" | "PSK" => Ok(KeyMgmt::WpaPsk),
        "SAE" | "WPA3" => Ok(KeyMgmt::Sae),
        "BOTH" | "WPA-PSK SAE" | "WPA-PSK,SAE" | "SAE WPA-PSK" | "SAE,WPA-PSK" => Ok(KeyMgmt::Both),
        _ => Err(format!(
            "bad key_mgmt '{}': expected WPA-PSK, SAE or both",
            escape(value.as_bytes())
        )),
    }
}

/// Two ASCII letters (upper-cased), or "00".
pub fn country(value: &str) -> Result<[u8; 2], String> {
    match value.as_bytes() {
        [a, b]
            if (a.is_ascii_alphabetic() && b.is_ascii_alphabetic())
                || (*a == b'0' && *b == b'0') =>
        {
            Ok([a.to_ascii_uppercase(), b.to_ascii_uppercase()])
        }
        _ => Err(format!(
            "bad country '{}': expected a two-letter code like DE or US",
            escape(value.as_bytes())
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASS: &str = "correct horse battery";

    #[test]
    fn every_key_is_read() {
        let mut w = Wifi::default();
        for (k, v) in [
            ("ssid", "home net"),
            ("passphrase", PASS),
            ("key_mgmt", "sae"),
            ("bssid", "02:00:00:00:01:00"),
            ("country", "de"),
            ("hidden", "1"),
            ("interface", "wlan1"),
        ] {
            w.set(k, v).unwrap();
        }
        assert_eq!(
            w,
            Wifi {
                ssid: Some(b"home net".to_vec()),
                secret: Some(Secret::Passphrase(PASS.into())),
                key_mgmt: KeyMgmt::Sae,
                bssid: Some([2, 0, 0, 0, 1, 0]),
                country: Some(*b"DE"),
                hidden: true,
                interface: Some("wlan1".into()),
            }
        );
        assert_eq!(w.check(), Ok(()));
        assert_eq!(w.key_mgmt.supplicant_value(), "SAE");
        assert_eq!(key_mgmt("WPA-PSK SAE"), Ok(KeyMgmt::Both));
        assert_eq!(key_mgmt("both").unwrap().supplicant_value(), "WPA-PSK SAE");
    }

    #[test]
    fn a_psk_is_64_hex_digits() {
        let hex = "0123456789abcdef".repeat(4);
        let Ok(Secret::Psk(k)) = psk(&hex) else {
            panic!("not read")
        };
        assert_eq!(k[..2], [0x01, 0x23]);
        assert!(psk(&hex[1..]).is_err());
        assert!(psk(&"g".repeat(64)).is_err());
    }

    #[test]
    fn bad_values_name_the_value_but_never_the_secret() {
        let mut w = Wifi::default();
        for (k, v, want) in [
            ("ssid", "", "bad SSID ''"),
            ("ssid", &"x".repeat(33), "expected 1 to 32 bytes"),
            ("key_mgmt", "WEP", "bad key_mgmt 'WEP'"),
            ("country", "DEU", "bad country 'DEU'"),
            ("bssid", "01:00:5e:00:00:01", "not a unicast"),
            ("hidden", "maybe", "expected 0 or 1"),
            ("interface", "wl/an0", "bad device name"),
            ("colour", "blue", "unknown key 'colour'"),
        ] {
            let e = w.set(k, v).expect_err(k);
            assert!(e.contains(want), "{k}={v}: {e}");
        }
        for (k, v, want) in [
            ("passphrase", "short12", "has 7 characters"),
            ("passphrase", "tab\tinside here", "printable ASCII"),
            ("passphrase", &"p".repeat(64), "has 64 characters"),
            ("psk", "secretsecret", "64 hex digits"),
        ] {
            let e = w.set(k, v).expect_err(k);
            assert!(e.contains(want), "{k}: {e}");
            assert!(!e.contains(v), "{k}: the secret leaked: {e}");
            assert!(is_secret(k));
        }
        assert_eq!(w, Wifi::default(), "nothing bad was kept");
    }

    #[test]
    fn redact_hides_secret_words() {
        assert_eq!(
            redact(
                "quiet qinit.wifi.ssid=home \"qinit.wifi.passphrase=a b c d e\" qinit.wifi.psk=00"
            ),
            "quiet qinit.wifi.ssid=home qinit.wifi.passphrase=<hidden> qinit.wifi.psk=<hidden>"
        );
        let plain = "\"qinit.exec=/bin/sh -c 'x y'\" ip=off";
        assert_eq!(redact(plain), plain);
    }

    #[test]
    fn debug_hides_the_secret() {
        let mut w = Wifi::default();
        w.set("passphrase", PASS).unwrap();
        let shown = format!("{w:?}");
        assert!(!shown.contains("horse"), "{shown}");
        assert!(shown.contains("<hidden>"), "{shown}");
        w.set("psk", &"ab".repeat(32)).unwrap();
        assert!(!format!("{w:?}").contains("171"), "bytes of the key");
    }

    #[test]
    fn check_finds_what_is_missing() {
        let mut w = Wifi::default();
        assert_eq!(w.check(), Ok(()), "no wireless at all");
        w.set("ssid", "home").unwrap();
        assert!(w.check().unwrap_err().contains("no passphrase"));
        w.set("psk", &"ab".repeat(32)).unwrap();
        assert_eq!(w.check(), Ok(()));
        w.set("key_mgmt", "SAE").unwrap();
        assert!(
            w.check()
                .unwrap_err()
                .contains("SAE (WPA3) needs the passphrase")
        );
        let mut w = Wifi::default();
        w.set("passphrase", PASS).unwrap();
        assert!(w.check().unwrap_err().contains("no qinit.wifi.ssid"));
        assert_eq!(
            passphrase("12345678\n"),
            Ok(Secret::Passphrase("12345678".into()))
        );
    }
}
