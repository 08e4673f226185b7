//! The wpa_supplicant.conf qinit generates from `[wifi]`: one network, the SSID in hex
//! (any bytes, no quoting to get wrong), the passphrase quoted (printable ASCII, checked
//! by config::wifi, so it cannot end the string early) or the PSK in hex. Pure text;
//! the adapter writes it to /run with mode 0600.

use crate::config::wifi::{KeyMgmt, Secret, Wifi};

/// Where wpa_supplicant puts its control sockets, one per interface.
pub const CTRL_DIR: &str = "/run/wpa_supplicant";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The configuration text, or None when there is no SSID or secret.
pub fn render(wifi: &Wifi) -> Option<String> {
    let ssid = wifi.ssid.as_ref()?;
    let secret = match wifi.secret.as_ref()? {
        Secret::Passphrase(p) => format!("\"{p}\""),
        Secret::Psk(k) => hex(k),
    };
    let mut out = format!("ctrl_interface={CTRL_DIR}\nupdate_config=0\n");
    if let Some([a, b]) = wifi.country {
        out.push_str(&format!("country={}{}\n", char::from(a), char::from(b)));
    }
    // SAE (WPA3) requires management frame protection; a mixed network offers it.
    let pmf = match wifi.key_mgmt {
        KeyMgmt::WpaPsk => None,
        KeyMgmt::Sae => Some(2),
        KeyMgmt::Both => Some(1),
    };
    out.push_str("network={\n");
    out.push_str(&format!("\tssid={}\n", hex(ssid)));
    out.push_str(&format!(
        "\tkey_mgmt={}\n",
        wifi.key_mgmt.supplicant_value()
    ));
    out.push_str(&format!("\tpsk={secret}\n"));
    if let Some(p) = pmf {
        out.push_str(&format!("\tieee80211w={p}\n"));
    }
    if let Some(b) = wifi.bssid {
        out.push_str(&format!("\tbssid={}\n", crate::dhcp::acd::mac_text(&b)));
    }
    if wifi.hidden {
        out.push_str("\tscan_ssid=1\n");
    }
    out.push_str("}\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wpa2_network() {
        let mut w = Wifi::default();
        w.set("ssid", "home").unwrap();
        w.set("passphrase", "it's \"quoted\" ok").unwrap();
        assert_eq!(
            render(&w).unwrap(),
            "ctrl_interface=/run/wpa_supplicant\nupdate_config=0\nnetwork={\n\tssid=686f6d65\n\tkey_mgmt=WPA-PSK\n\tpsk=\"it's \"quoted\" ok\"\n}\n"
        );
    }

    #[test]
    fn sae_with_every_option() {
        let mut w = Wifi::default();
        for (k, v) in [
            ("ssid", "a\"b\nc"),
            ("passphrase", "correct horse"),
            ("key_mgmt", "SAE"),
            ("bssid", "02:00:00:00:01:00"),
            ("country", "de"),
            ("hidden", "1"),
        ] {
            w.set(k, v).unwrap();
        }
        let text = render(&w).unwrap();
        for want in [
            "country=DE\n",
            "\tssid=6122620a63\n",
            "\tkey_mgmt=SAE\n",
            "\tieee80211w=2\n",
            "\tbssid=02:00:00:00:01:00\n",
            "\tscan_ssid=1\n",
        ] {
            assert!(text.contains(want), "{want:?} in {text}");
        }
        w.set("key_mgmt", "both").unwrap();
        assert!(
            render(&w)
                .unwrap()
                .contains("\tkey_mgmt=WPA-PSK SAE\n\tpsk=\"correct horse\"\n\tieee80211w=1\n")
        );
    }

    #[test]
    fn a_raw_psk_goes_in_hex_and_nothing_without_a_network() {
        let mut w = Wifi::default();
        assert_eq!(render(&w), None);
        w.set("ssid", "home").unwrap();
        assert_eq!(render(&w), None);
        w.set("psk", &"Ab".repeat(32)).unwrap();
        assert!(
            render(&w)
                .unwrap()
                .contains(&format!("\tpsk={}\n", "ab".repeat(32)))
        );
    }
}
