//! What the machine is asked to do: the kernel command line, `ip=`, qinit.conf and the
//! host's credentials, read into one `Config`. Pure parsing; nothing here touches the
//! system.

pub mod cmdline;
pub mod credentials;
pub mod file;
pub mod ip;
pub mod net_keys;
pub mod netdev;
pub mod wifi;
pub mod words;

use credentials::Credentials;

/// Where settings come from, weakest first: the image's /etc/qinit.conf (or, when the host
/// passes a `qinit.conf` credential, that text instead of the file), the `system.hostname`
/// credential, the words of SMBIOS `io.systemd.stub.kernel-cmdline-extra`, and the kernel
/// command line.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sources<'a> {
    /// The image's /etc/qinit.conf, if it has one.
    pub file: Option<&'a str>,
    pub credentials: Option<&'a Credentials>,
    /// /proc/cmdline.
    pub cmdline: &'a str,
}

/// The settings from /etc/qinit.conf (its text, if there is one) and the kernel command
/// line, which wins: its values are read last, and its `ip=` words, when it has any,
/// replace the file's.
pub fn load(file: Option<&str>, cmdline: &str) -> (cmdline::Config, Vec<String>) {
    load_from(&Sources {
        file,
        credentials: None,
        cmdline,
    })
}

/// The settings from every source: a stronger source's value replaces a weaker one's,
/// and the `ip=` words come whole from the strongest source that has any.
pub fn load_from(sources: &Sources<'_>) -> (cmdline::Config, Vec<String>) {
    let mut errors = Vec::new();
    let creds = sources.credentials;
    let credential_conf = creds.and_then(|c| c.get(credentials::QINIT_CONF));
    let (conf, conf_name) = match credential_conf {
        Some(bytes) => (
            Some(String::from_utf8_lossy(bytes).into_owned()),
            "credential qinit.conf",
        ),
        None => (sources.file.map(str::to_owned), "/etc/qinit.conf"),
    };
    let conf_line = match conf {
        Some(text) => {
            let (line, errs) = file::to_cmdline(&text);
            errors.extend(errs.into_iter().map(|e| format!("{conf_name}: {e}")));
            line
        }
        None => String::new(),
    };
    let hostname_word = match creds.and_then(|c| c.get(credentials::HOSTNAME)) {
        Some(raw) => match crate::names::hostname(raw.trim_ascii()) {
            Ok((name, _)) => format!("qinit.hostname={name}"),
            Err(e) => {
                errors.push(format!("credential {}: {e}", credentials::HOSTNAME));
                String::new()
            }
        },
        None => String::new(),
    };
    let extra = creds.map_or("", |c| c.cmdline_extra.as_str());
    let (mut cfg, errs) = cmdline::parse(&format!(
        "{conf_line} {hostname_word} {extra} {}",
        sources.cmdline
    ));
    errors.extend(errs);
    let mut ip = Vec::new();
    for (line, origin) in [
        (sources.cmdline, String::new()),
        (extra, "io.systemd.stub.kernel-cmdline-extra: ".to_owned()),
        (conf_line.as_str(), format!("{conf_name}: ")),
    ] {
        let (words, errs) = ip::from_cmdline(line);
        errors.extend(errs.into_iter().map(|e| format!("{origin}{e}")));
        if ip.is_empty() {
            ip = words;
        }
    }
    // A host name in ip= is the kernel's way to name the machine.
    if cfg.hostname.is_none() {
        cfg.hostname = ip.iter().find_map(|c| c.hostname.clone());
    }
    cfg.ip = ip;
    if let Some(raw) = creds.and_then(|c| c.get(credentials::NOTIFY_SOCKET)) {
        match crate::system::notify::Address::parse(&String::from_utf8_lossy(raw)) {
            Ok(a) => cfg.notify_socket = Some(a),
            Err(e) => errors.push(format!("credential {}: {e}", credentials::NOTIFY_SOCKET)),
        }
    }
    wifi_secret(&mut cfg, sources, extra, &mut errors);
    (cfg, errors)
}

/// The `wifi.psk` credential stands in for qinit.conf's passphrase; the command line's
/// (and the extra words') still win. Then the wireless settings are checked as a whole:
/// when they do not add up, wireless stays off and one line says why.
fn wifi_secret(
    cfg: &mut cmdline::Config,
    sources: &Sources<'_>,
    extra: &str,
    errors: &mut Vec<String>,
) {
    let on_cmdline = [sources.cmdline, extra].iter().any(|line| {
        words::split_words(line).iter().any(|w| {
            ["psk", "passphrase"]
                .iter()
                .any(|k| w.starts_with(&format!("{}{k}=", wifi::PREFIX)))
        })
    });
    let credential = sources
        .credentials
        .and_then(|c| c.get(credentials::WIFI_PSK));
    if let (Some(raw), false) = (credential, on_cmdline) {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_end_matches(['\n', '\r']);
        let read = if text.len() == 64 {
            wifi::psk(text)
        } else {
            wifi::passphrase(text)
        };
        match read {
            Ok(secret) => cfg.wifi.secret = Some(secret),
            Err(e) => errors.push(format!("credential {}: {e}", credentials::WIFI_PSK)),
        }
    }
    if let Err(e) = cfg.wifi.check() {
        errors.push(format!("wifi: {e}; wireless stays off"));
        cfg.wifi = wifi::Wifi::default();
    }
}

#[cfg(test)]
mod tests {
    use super::credentials::{Credentials, Origin};
    use super::*;

    fn creds(items: &[(&str, &str)], extra: &[u8]) -> Credentials {
        let mut c = Credentials::default();
        for (name, data) in items {
            c.add(Origin::FwCfg, name.as_bytes(), data.as_bytes().to_vec())
                .unwrap();
        }
        if !extra.is_empty() {
            let mut raw = b"\x0b\x05\x00\x0e\x01io.systemd.stub.kernel-cmdline-extra=".to_vec();
            raw.extend_from_slice(extra);
            raw.extend_from_slice(b"\0\0");
            assert!(c.add_smbios("11-0", &raw).is_empty());
        }
        c
    }

    const IMAGE: &str = "hostname = \"fromimage\"\ndns = [\"10.9.9.9\"]\ndhcp_timeout = 9\n";

    #[test]
    fn a_qinit_conf_credential_replaces_the_whole_file() {
        let c = creds(
            &[("qinit.conf", "dhcp_timeout = 2\nsearch = [\"cred.test\"]\n")],
            b"",
        );
        let (cfg, e) = load_from(&Sources {
            file: Some(IMAGE),
            credentials: Some(&c),
            cmdline: "console=ttyS0",
        });
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(cfg.dhcp_timeout, std::time::Duration::from_secs(2));
        assert_eq!(cfg.search, vec!["cred.test".to_string()]);
        assert_eq!(cfg.hostname, None, "nothing of the image's file is left");
        assert!(cfg.dns.is_empty());
    }

    #[test]
    fn precedence_is_cmdline_then_extra_then_credentials_then_file() {
        let c = creds(
            &[
                (
                    "qinit.conf",
                    "dhcp_timeout = 2\nphy_wait = 1\nshell = \"/bin/conf\"\nip = [\"dhcp\"]\n",
                ),
                ("system.hostname", "fromcred\n"),
            ],
            b"qinit.dhcp_timeout=3 qinit.shell=/bin/extra ip=off",
        );
        let (cfg, e) = load_from(&Sources {
            file: Some(IMAGE),
            credentials: Some(&c),
            cmdline: "qinit.dhcp_timeout=4",
        });
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            cfg.dhcp_timeout,
            std::time::Duration::from_secs(4),
            "cmdline"
        );
        assert_eq!(cfg.shell, "/bin/extra", "extra words over qinit.conf");
        assert_eq!(
            cfg.phy_wait,
            std::time::Duration::from_secs(1),
            "qinit.conf"
        );
        assert_eq!(cfg.hostname.as_deref(), Some("fromcred"));
        assert_eq!(cfg.ip.len(), 1);
        assert_eq!(
            cfg.ip[0].method,
            ip::Method::Off,
            "extra's ip= over qinit.conf's"
        );
        // The command line's ip= words replace every other source's.
        let (cfg, _) = load_from(&Sources {
            file: None,
            credentials: Some(&c),
            cmdline: "ip=eth0:dhcp qinit.hostname=fromcmdline",
        });
        assert_eq!(cfg.ip.len(), 1);
        assert_eq!(cfg.ip[0].device.as_deref(), Some("eth0"));
        assert_eq!(cfg.hostname.as_deref(), Some("fromcmdline"));
        // Without extra ip= words, qinit.conf's apply.
        let c = creds(&[("qinit.conf", "ip = [\"dhcp\"]\n")], b"quiet");
        let (cfg, _) = load_from(&Sources {
            file: Some("ip = [\"off\"]\n"),
            credentials: Some(&c),
            cmdline: "",
        });
        assert_eq!(cfg.ip[0].method, ip::Method::Dhcp);
    }

    #[test]
    fn bad_credentials_name_themselves_and_the_rest_applies() {
        let c = creds(
            &[
                ("qinit.conf", "hostnmae = \"x\"\nshell = \"/bin/ash\"\n"),
                ("system.hostname", "bad;name"),
                ("vmm.notify_socket", "unix:/run/x"),
            ],
            b"ip=1.2.3.4::::x;y:eth0:off",
        );
        let (cfg, e) = load_from(&Sources {
            file: None,
            credentials: Some(&c),
            cmdline: "",
        });
        assert_eq!(cfg.shell, "/bin/ash");
        assert_eq!(cfg.hostname, None);
        assert_eq!(cfg.notify_socket, None);
        assert_eq!(e.len(), 4, "{e:?}");
        assert!(
            e[0].starts_with("credential qinit.conf: line 1:"),
            "{}",
            e[0]
        );
        assert!(e[1].starts_with("credential system.hostname:"), "{}", e[1]);
        assert!(
            e[2].starts_with("io.systemd.stub.kernel-cmdline-extra: "),
            "{}",
            e[2]
        );
        assert!(
            e[3].starts_with("credential vmm.notify_socket: unix:/run/x:"),
            "{}",
            e[3]
        );
    }

    #[test]
    fn the_wifi_psk_credential_gives_the_passphrase_and_the_cmdline_wins() {
        let c = creds(&[("wifi.psk", "from the credential\n")], b"");
        let file = "[wifi]\nssid = \"home\"\npassphrase = \"from the file\"\n";
        let (cfg, e) = load_from(&Sources {
            file: Some(file),
            credentials: Some(&c),
            cmdline: "",
        });
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(cfg.wifi.ssid.as_deref(), Some(&b"home"[..]));
        assert_eq!(
            cfg.wifi.secret,
            Some(wifi::Secret::Passphrase("from the credential".into()))
        );
        let (cfg, _) = load_from(&Sources {
            file: Some(file),
            credentials: Some(&c),
            cmdline: "qinit.wifi.passphrase=fromthecmdline",
        });
        assert_eq!(
            cfg.wifi.secret,
            Some(wifi::Secret::Passphrase("fromthecmdline".into()))
        );
        let c = creds(&[("wifi.psk", "short")], b"");
        let (cfg, e) = load_from(&Sources {
            file: None,
            credentials: Some(&c),
            cmdline: "qinit.wifi.ssid=home",
        });
        assert_eq!(
            cfg.wifi,
            wifi::Wifi::default(),
            "off when it does not add up"
        );
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("credential wifi.psk: the passphrase has 5"),
            "{}",
            e[0]
        );
        assert!(e[1].contains("no passphrase"), "{}", e[1]);
        assert!(!e.concat().contains("short"));
    }

    #[test]
    fn the_notify_socket_credential_is_read() {
        let c = creds(&[("vmm.notify_socket", "vsock-stream:2:8888\n")], b"");
        let (cfg, e) = load_from(&Sources {
            file: None,
            credentials: Some(&c),
            cmdline: "",
        });
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(
            cfg.notify_socket.map(|a| a.to_string()).as_deref(),
            Some("vsock-stream:2:8888")
        );
    }
}
