//! /etc/qinit.conf: the settings of the kernel command line, in TOML, for an image that
//! carries its own. The file only becomes command-line words (`hostname = "box"` is
//! `qinit.hostname=box`, `ip = ["dhcp"]` is `ip=dhcp`), so that cmdline::parse checks
//! every value in one place, and the real command line, read after the file, wins.
//!
//! ```toml
//! hostname = "box"
//! dhcp_timeout = 2.5
//! modules = ["virtio_net"]
//! exec = "/usr/bin/app --flag"
//! ip = ["dhcp"]
//! bond = ["bond0:eth0,eth1:mode=active-backup,miimon=100"]
//! nameserver = ["10.0.2.3", "2001:db8::53"]
//!
//! [wifi]
//! ssid = "home"
//! passphrase = "correct horse battery"
//! ```

use toml::de::{DeTable, DeValue};

use crate::config::wifi;

/// How a key's TOML value becomes words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A string, passed as it is.
    Text,
    /// A number of seconds.
    Seconds,
    /// true gives the bare word, false nothing: the command line has no "off" for these.
    Flag,
    /// true/false or "on"/"off".
    OnOff,
    /// A string or an array of strings, joined with ',' into one word.
    List,
    /// A string or an array of strings, one word each (`ip=` may be given per device).
    Words,
}

/// File key, command-line key, kind. The file drops the `qinit.` prefix.
const KEYS: [(&str, &str, Kind); 24] = [
    ("hostname", "qinit.hostname", Kind::Text),
    ("dhcp_timeout", "qinit.dhcp_timeout", Kind::Seconds),
    ("phy_wait", "qinit.phy_wait", Kind::Seconds),
    ("dhcp_rapid_commit", "qinit.dhcp_rapid_commit", Kind::Flag),
    ("shutdown_timeout", "qinit.shutdown_timeout", Kind::Seconds),
    ("shell", "qinit.shell", Kind::Text),
    ("console", "qinit.console", Kind::Text),
    ("modules", "qinit.modules", Kind::List),
    ("net", "qinit.net", Kind::OnOff),
    ("ipv6", "qinit.ipv6", Kind::OnOff),
    ("wait", "qinit.wait", Kind::Text),
    ("debug", "qinit.debug", Kind::Flag),
    ("exec", "qinit.exec", Kind::Text),
    ("on_exit", "qinit.on_exit", Kind::Text),
    ("ip", "ip", Kind::Words),
    ("dns", "qinit.dns", Kind::List),
    ("search", "qinit.search", Kind::List),
    // dracut's network keys, under their own names, one word per array item.
    ("nameserver", "nameserver", Kind::Words),
    ("peerdns", "rd.peerdns", Kind::OnOff),
    ("route", "rd.route", Kind::Words),
    ("ifname", "ifname", Kind::Words),
    ("vlan", "vlan", Kind::Words),
    ("bond", "bond", Kind::Words),
    ("bridge", "bridge", Kind::Words),
];

/// The file as one command-line string, to go before /proc/cmdline's:
/// `format!("{file} {proc_cmdline}")`. Returns one error line per bad key or value, each
/// starting with `line N:` (the caller adds the path).
pub fn to_cmdline(text: &str) -> (String, Vec<String>) {
    let (words, errors) = to_cmdline_words(text);
    let line: Vec<String> = words.iter().map(|w| quote_word(w)).collect();
    (line.join(" "), errors)
}

/// The file as command-line words, in file order. Values are not checked here (that is
/// cmdline::parse's job) except for what the command line cannot carry: a double quote.
pub fn to_cmdline_words(text: &str) -> (Vec<String>, Vec<String>) {
    let mut words = Vec::new();
    let mut errors = Vec::new();
    let table = match DeTable::parse(text) {
        Ok(t) => t.into_inner(),
        Err(e) => {
            let at = line_of(text, e.span().map_or(0, |s| s.start));
            let message = e.message().lines().next().unwrap_or("bad TOML");
            errors.push(format!("line {at}: {message}"));
            return (words, errors);
        }
    };
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in entries {
        let name: &str = key.get_ref();
        let at = line_of(text, key.span().start);
        if name == "wifi" {
            match value.get_ref() {
                DeValue::Table(t) => wifi_table(text, t, &mut words, &mut errors),
                _ => errors.push(format!("line {at}: wifi: expected a table, [wifi]")),
            }
            continue;
        }
        let Some(&(_, cmdline_key, kind)) = KEYS.iter().find(|(k, _, _)| *k == name) else {
            errors.push(format!(
                "line {at}: unknown key '{}'",
                crate::log::escape(name.as_bytes())
            ));
            continue;
        };
        let one = Entry {
            text,
            at,
            name,
            secret: false,
        };
        one.push_words(cmdline_key, kind, value, &mut words, &mut errors);
    }
    (words, errors)
}

/// The `[wifi]` table: `ssid = "home"` is `qinit.wifi.ssid=home`. A secret's value is
/// never shown in an error.
fn wifi_table(text: &str, table: &DeTable<'_>, words: &mut Vec<String>, errors: &mut Vec<String>) {
    let mut entries: Vec<_> = table.iter().collect();
    entries.sort_by_key(|(key, _)| key.span().start);
    for (key, value) in entries {
        let name: &str = key.get_ref();
        let at = line_of(text, key.span().start);
        if !wifi::KEYS.contains(&name) {
            errors.push(format!(
                "line {at}: unknown key 'wifi.{}'",
                crate::log::escape(name.as_bytes())
            ));
            continue;
        }
        let kind = match name {
            "hidden" => Kind::OnOff,
            "key_mgmt" => Kind::List,
            _ => Kind::Text,
        };
        let full = format!("wifi.{name}");
        let one = Entry {
            text,
            at,
            name: &full,
            secret: wifi::is_secret(name),
        };
        let cmdline_key = format!("{}{name}", wifi::PREFIX);
        one.push_words(&cmdline_key, kind, value, words, errors);
    }
}

/// One key of the file, for its words and its error lines.
struct Entry<'a> {
    text: &'a str,
    at: usize,
    name: &'a str,
    secret: bool,
}

impl Entry<'_> {
    fn push_words(
        &self,
        cmdline_key: &str,
        kind: Kind,
        value: &toml::Spanned<DeValue<'_>>,
        words: &mut Vec<String>,
        errors: &mut Vec<String>,
    ) {
        let (at, name) = (self.at, self.name);
        let shown = || {
            if self.secret {
                return format!("line {at}: {name}");
            }
            let raw = self.text.get(value.span()).unwrap_or("");
            format!("line {at}: {name} = {}", crate::log::escape(raw.as_bytes()))
        };
        match words_of(cmdline_key, kind, value.get_ref()) {
            Ok(new) if new.iter().any(|w| w.contains('"')) => errors.push(format!(
                "{}: double quotes cannot be passed on (the kernel's quoting has no escape); use single quotes",
                shown()
            )),
            Ok(new) => words.extend(new),
            Err(why) => errors.push(format!("{}: {why}", shown())),
        }
    }
}

fn words_of(key: &str, kind: Kind, value: &DeValue<'_>) -> Result<Vec<String>, &'static str> {
    let one = |v: &str| Ok(vec![format!("{key}={v}")]);
    match (kind, value) {
        (Kind::Text, DeValue::String(s)) => one(s),
        (Kind::Text, _) => Err("expected a string"),
        // Decimal for cmdline::parse, whatever radix the file wrote.
        (Kind::Seconds, DeValue::Integer(n)) => match i64::from_str_radix(n.as_str(), n.radix()) {
            Ok(n) => one(&n.to_string()),
            Err(_) => Err("number out of range"),
        },
        (Kind::Seconds, DeValue::Float(f)) => one(f.as_str()),
        (Kind::Seconds, _) => Err("expected a number of seconds"),
        (Kind::Flag, DeValue::Boolean(true)) => Ok(vec![key.to_string()]),
        (Kind::Flag, DeValue::Boolean(false)) => Ok(Vec::new()),
        (Kind::Flag, _) => Err("expected true or false"),
        (Kind::OnOff, DeValue::Boolean(on)) => one(if *on { "on" } else { "off" }),
        (Kind::OnOff, DeValue::String(s)) => one(s),
        (Kind::OnOff, _) => Err("expected true, false, \"on\" or \"off\""),
        (Kind::List | Kind::Words, _) => {
            let items = strings(value).ok_or("expected a string or an array of strings")?;
            if kind == Kind::Words {
                Ok(items.iter().map(|v| format!("{key}={v}")).collect())
            } else if items.is_empty() {
                Ok(Vec::new())
            } else {
                one(&items.join(","))
            }
        }
    }
}

/// A string, or an array holding only strings.
fn strings<'a>(value: &'a DeValue<'_>) -> Option<Vec<&'a str>> {
    match value {
        DeValue::String(s) => Some(vec![s.as_ref()]),
        DeValue::Array(items) => items
            .iter()
            .map(|item| match item.get_ref() {
                DeValue::String(s) => Some(s.as_ref()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// Quotes a word the way people write it on the kernel command line, `key="a b"`, when it
/// holds whitespace, so that words::split_words gives it back whole. Words with '"'
/// never get here (the kernel's quoting cannot hold them).
fn quote_word(word: &str) -> String {
    if !word.contains(char::is_whitespace) {
        return word.to_string();
    }
    match word.split_once('=') {
        Some((key, value)) => format!("{key}=\"{value}\""),
        None => format!("\"{word}\""),
    }
}

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let before = text.get(..offset).unwrap_or(text);
    before.matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::cmdline::parse;
    use crate::config::words::split_words;
    use std::time::Duration;

    fn words(text: &str) -> Vec<String> {
        let (words, errors) = to_cmdline_words(text);
        assert!(errors.is_empty(), "{errors:?}");
        words
    }

    fn errors(text: &str) -> Vec<String> {
        to_cmdline_words(text).1
    }

    const FULL: &str = r#"
# /etc/qinit.conf
hostname = "box"
dhcp_timeout = 2.5
dhcp_rapid_commit = true
shutdown_timeout = 10
shell = "/bin/sh"
console = "ttyS0"
modules = ["virtio_net", "e1000e"]
net = "on"
debug = false
exec = "/usr/bin/app --flag"     # appliance mode
on_exit = "poweroff"             # respawn|poweroff|reboot|halt|debug-exit[:PORT]
ip = ["eth0:dhcp", "10.0.2.50::10.0.2.2:255.255.255.0::eth1:off"]
dns = ["10.0.2.3", "10.0.2.4"]
search = ["example.test"]
"#;

    #[test]
    fn full_file_becomes_words_in_file_order() {
        assert_eq!(
            words(FULL),
            vec![
                "qinit.hostname=box",
                "qinit.dhcp_timeout=2.5",
                "qinit.dhcp_rapid_commit",
                "qinit.shutdown_timeout=10",
                "qinit.shell=/bin/sh",
                "qinit.console=ttyS0",
                "qinit.modules=virtio_net,e1000e",
                "qinit.net=on",
                "qinit.exec=/usr/bin/app --flag",
                "qinit.on_exit=poweroff",
                "ip=eth0:dhcp",
                "ip=10.0.2.50::10.0.2.2:255.255.255.0::eth1:off",
                "qinit.dns=10.0.2.3,10.0.2.4",
                "qinit.search=example.test",
            ]
        );
    }

    #[test]
    fn full_file_reads_through_cmdline_parse() {
        let (line, errors) = to_cmdline(FULL);
        assert!(errors.is_empty(), "{errors:?}");
        let (cfg, errors) = parse(&line);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg.hostname.as_deref(), Some("box"));
        assert_eq!(cfg.dhcp_timeout, Duration::from_millis(2500));
        assert_eq!(cfg.shutdown_timeout, Duration::from_secs(10));
        assert!(cfg.rapid_commit && cfg.net && !cfg.debug);
        assert_eq!(cfg.console.as_deref(), Some("ttyS0"));
        assert_eq!(cfg.modules, vec!["virtio_net", "e1000e"]);
        assert_eq!(
            cfg.exec,
            Some(vec!["/usr/bin/app".to_string(), "--flag".into()])
        );
        let (ips, errors) = crate::config::ip::from_cmdline(&line);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(ips.len(), 2);
    }

    #[test]
    fn the_command_line_after_the_file_wins() {
        let (file, _) = to_cmdline("hostname = \"box\"\nnet = false\nip = \"dhcp\"");
        let line = format!("{file} console=ttyS0 qinit.hostname=vm2 ip=off");
        let (cfg, errors) = parse(&line);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg.hostname.as_deref(), Some("vm2"));
        assert!(!cfg.net);
        let (ips, _) = crate::config::ip::from_cmdline(&line);
        assert_eq!(ips.len(), 1);
        assert_eq!(ips[0].method, crate::config::ip::Method::Off);
    }

    #[test]
    fn dracuts_network_keys_read_from_the_file() {
        let text = r#"
nameserver = ["10.0.2.3", "2001:db8::53"]
peerdns = false
route = "10.9.0.0/16:10.0.2.2"
ifname = ["lan0:52:54:00:12:34:56"]
vlan = ["eth0.99:eth0"]
bond = ["bond0:eth0,eth1:mode=active-backup,miimon=100"]
bridge = "br0:bond0"
"#;
        assert_eq!(
            words(text),
            [
                "nameserver=10.0.2.3",
                "nameserver=2001:db8::53",
                "rd.peerdns=off",
                "rd.route=10.9.0.0/16:10.0.2.2",
                "ifname=lan0:52:54:00:12:34:56",
                "vlan=eth0.99:eth0",
                "bond=bond0:eth0,eth1:mode=active-backup,miimon=100",
                "bridge=br0:bond0",
            ]
        );
        let (line, _) = to_cmdline(text);
        let (cfg, errors) = parse(&line);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg.dns.len() + cfg.dns6.len(), 2);
        assert!(!cfg.peer_dns);
        assert_eq!(cfg.routes.len(), 1);
        assert_eq!(cfg.ifnames.len(), 1);
        assert_eq!(cfg.vlans.len(), 1);
        assert_eq!(cfg.bonds[0].slaves, ["eth0", "eth1"]);
        assert_eq!(cfg.bridges[0].ports, ["bond0"]);
        // The command line's bond of the same name replaces the file's.
        let (cfg, _) = parse(&format!("{line} bond=bond0:eth2"));
        assert_eq!(cfg.bonds.len(), 1);
        assert_eq!(cfg.bonds[0].slaves, ["eth2"]);
    }

    #[test]
    fn empty_and_comment_only_files_give_nothing() {
        assert_eq!(to_cmdline_words(""), (vec![], vec![]));
        assert_eq!(
            to_cmdline_words("# nothing here\n\n   # indented comment\n"),
            (vec![], vec![])
        );
    }

    #[test]
    fn flags_and_on_off_take_booleans() {
        assert_eq!(words("debug = true"), vec!["qinit.debug"]);
        assert_eq!(words("debug = false"), Vec::<String>::new());
        assert_eq!(words("net = false"), vec!["qinit.net=off"]);
        assert_eq!(words("net = true"), vec!["qinit.net=on"]);
        assert_eq!(words("modules = []\nip = []"), Vec::<String>::new());
        assert_eq!(words("ip = \"dhcp\""), vec!["ip=dhcp"]);
        assert_eq!(words("dhcp_timeout = 3"), vec!["qinit.dhcp_timeout=3"]);
        assert_eq!(words("dhcp_timeout = 0x10"), vec!["qinit.dhcp_timeout=16"]);
        assert_eq!(
            words("dhcp_timeout = 1_0.5"),
            vec!["qinit.dhcp_timeout=10.5"]
        );
    }

    #[test]
    fn unknown_keys_are_named_with_their_line() {
        assert_eq!(
            errors("hostname = \"box\"\nhostnmae = \"x\"\n[network]\nip = \"dhcp\""),
            vec![
                "line 2: unknown key 'hostnmae'",
                "line 3: unknown key 'network'"
            ]
        );
        // The prefix belongs to the command line, not the file.
        assert_eq!(
            errors("\"qinit.debug\" = true"),
            vec!["line 1: unknown key 'qinit.debug'"]
        );
    }

    #[test]
    fn wrong_types_name_key_and_value() {
        let e = errors(
            "dhcp_timeout = \"soon\"\ndebug = \"yes\"\nhostname = 5\nmodules = [1, 2]\nnet = 1\nip = { a = 1 }",
        );
        assert_eq!(
            e,
            vec![
                "line 1: dhcp_timeout = \"soon\": expected a number of seconds",
                "line 2: debug = \"yes\": expected true or false",
                "line 3: hostname = 5: expected a string",
                "line 4: modules = [1, 2]: expected a string or an array of strings",
                "line 5: net = 1: expected true, false, \"on\" or \"off\"",
                "line 6: ip = { a = 1 }: expected a string or an array of strings",
            ]
        );
    }

    #[test]
    fn bad_values_are_left_to_cmdline_parse() {
        let (line, errors) = to_cmdline("hostname = \"a;b\"\ndhcp_timeout = nan\nshell = \"\"");
        assert!(errors.is_empty(), "{errors:?}");
        let (_, errors) = parse(&line);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("qinit.hostname=a;b:"),
            "{}",
            errors[0]
        );
        assert!(
            errors[1].starts_with("qinit.dhcp_timeout=nan:"),
            "{}",
            errors[1]
        );
    }

    #[test]
    fn broken_syntax_gives_one_line_with_its_number() {
        for (text, line) in [
            ("hostname = \"box\"\ndebug = \n", 2),
            ("hostname = \"box\"\n\nshell = \"/bin/sh", 3),
            ("hostname = \"a\"\nhostname = \"b\"", 2),
            ("key without value", 1),
            ("hostname = 'box'\n[[ip]]\n", 2),
        ] {
            let e = errors(text);
            assert_eq!(e.len(), 1, "{text:?}: {e:?}");
            assert!(
                e[0].starts_with(&format!("line {line}: ")),
                "{text:?}: {}",
                e[0]
            );
            assert!(!e[0].contains('\n'), "{}", e[0]);
        }
    }

    #[test]
    fn values_with_spaces_survive_the_round_trip() {
        let text = "exec = \"/bin/sh -c 'echo hi; exit 3'\"\nhostname = \"a b\"\nip = [\"eth0:dhcp\", \"x\\ty\"]";
        let (words, errors) = to_cmdline_words(text);
        assert!(errors.is_empty(), "{errors:?}");
        let (line, _) = to_cmdline(text);
        assert_eq!(split_words(&line), words);
        assert!(
            line.contains("qinit.exec=\"/bin/sh -c 'echo hi; exit 3'\""),
            "{line}"
        );
        let (cfg, _) = parse(&line);
        assert_eq!(
            cfg.exec,
            Some(vec![
                "/bin/sh".to_string(),
                "-c".into(),
                "echo hi; exit 3".into()
            ])
        );
    }

    #[test]
    fn double_quotes_in_values_are_refused() {
        let e = errors(r#"exec = '/bin/sh -c "echo hi"'"#);
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("line 1: exec = '/bin/sh -c \"echo hi\"': double quotes"),
            "{}",
            e[0]
        );
        assert!(errors(r#"ip = ["dhcp", 'a"b']"#)[0].contains("double quotes"));
    }

    #[test]
    fn the_wifi_table_becomes_qinit_wifi_words() {
        let text = "hostname = \"box\"\n[wifi]\nssid = \"my home\"\npassphrase = \"it's a secret\"\nkey_mgmt = [\"WPA-PSK\", \"SAE\"]\nhidden = true\ncountry = \"DE\"\n";
        assert_eq!(
            words(text),
            vec![
                "qinit.hostname=box",
                "qinit.wifi.ssid=my home",
                "qinit.wifi.passphrase=it's a secret",
                "qinit.wifi.key_mgmt=WPA-PSK,SAE",
                "qinit.wifi.hidden=on",
                "qinit.wifi.country=DE",
            ]
        );
        let (line, _) = to_cmdline(text);
        let (cfg, errors) = parse(&line);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(cfg.wifi.ssid.as_deref(), Some(&b"my home"[..]));
        assert_eq!(cfg.wifi.key_mgmt, crate::config::wifi::KeyMgmt::Both);
        assert!(cfg.wifi.hidden);
        assert_eq!(
            cfg.wifi.secret,
            Some(crate::config::wifi::Secret::Passphrase(
                "it's a secret".into()
            ))
        );
    }

    #[test]
    fn wifi_errors_never_show_the_passphrase() {
        let e =
            errors("[wifi]\nssid = 5\npassphrase = 'say \"hi\" now'\npsk = 12345\nchannel = 6\n");
        assert_eq!(
            e,
            vec![
                "line 2: wifi.ssid = 5: expected a string",
                "line 3: wifi.passphrase: double quotes cannot be passed on (the kernel's quoting has no escape); use single quotes",
                "line 4: wifi.psk: expected a string",
                "line 5: unknown key 'wifi.channel'",
            ]
        );
        let (line, _) = to_cmdline("[wifi]\nssid = \"home\"\npassphrase = \"hunter2\"");
        let (_, parse_errors) = parse(&line);
        assert_eq!(
            parse_errors,
            vec!["qinit.wifi.passphrase: the passphrase has 7 characters: expected 8 to 63"]
        );
        assert_eq!(
            errors("wifi = 1"),
            vec!["line 1: wifi: expected a table, [wifi]"]
        );
    }

    #[test]
    fn hostile_text_is_escaped_in_errors() {
        let e = errors("\"evil\\u001b[2J\" = 1");
        assert_eq!(e, vec!["line 1: unknown key 'evil\\x1b[2J'"]);
        let long = format!("hostname = {}", "9".repeat(10_000));
        assert!(errors(&long)[0].len() < 300);
    }
}
