//! Credentials from the host, in systemd's protocol (systemd's src/core/import-creds.c,
//! and systemd.io/CREDENTIALS), so that mkosi, systemd-vmspawn and libvirt command lines
//! work unchanged:
//! - qemu fw_cfg entries `opt/io.systemd.credentials/NAME`, one credential each;
//! - SMBIOS type 11 (OEM strings) `io.systemd.credential:NAME=VALUE` and
//!   `io.systemd.credential.binary:NAME=BASE64`;
//! - and systemd-stub's SMBIOS string `io.systemd.stub.kernel-cmdline-extra=WORDS`, words
//!   read as if they were on the kernel command line.
//!
//! systemd's rules: a name is 1-255 printable ASCII characters, without '/' or ':', and
//! not "." or ".."; one credential holds at most 1 MiB, and all of them together at most
//! 1 MiB; the first of two with the same name wins (fw_cfg is read before SMBIOS). A
//! credential that breaks a rule is refused with one line naming it; the others apply.
//!
//! Pure: the SMBIOS structure, names, sizes and base64 are checked here. Reading sysfs
//! and writing /run/credentials is system::credentials' job; the boot joins them.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::log::escape;

/// systemd's CREDENTIAL_SIZE_MAX: the most one credential may hold.
pub const CREDENTIAL_SIZE_MAX: u64 = 1024 * 1024;
/// systemd's CREDENTIALS_TOTAL_SIZE_MAX: the most all of them may hold together.
pub const CREDENTIALS_TOTAL_SIZE_MAX: u64 = 1024 * 1024;
/// A name must also be a file name: NAME_MAX.
pub const NAME_MAX: usize = 255;

/// The credentials qinit itself reads.
pub const QINIT_CONF: &str = "qinit.conf";
pub const HOSTNAME: &str = "system.hostname";
pub const NOTIFY_SOCKET: &str = "vmm.notify_socket";
/// The wireless passphrase (or 64-hex-digit PSK), kept out of /proc/cmdline.
pub const WIFI_PSK: &str = "wifi.psk";

const CREDENTIAL: &[u8] = b"io.systemd.credential:";
const CREDENTIAL_BINARY: &[u8] = b"io.systemd.credential.binary:";
const CMDLINE_EXTRA: &[u8] = b"io.systemd.stub.kernel-cmdline-extra=";

/// Where a credential came from, for the console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    FwCfg,
    Smbios,
}

impl Origin {
    pub fn name(self) -> &'static str {
        match self {
            Origin::FwCfg => "fw_cfg",
            Origin::Smbios => "SMBIOS",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub name: String,
    pub data: Vec<u8>,
    pub origin: Origin,
}

/// What the host passed: the accepted credentials, in order, and the extra command-line
/// words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    pub items: Vec<Credential>,
    /// `io.systemd.stub.kernel-cmdline-extra` words, every such string joined by spaces.
    pub cmdline_extra: String,
    total: u64,
}

/// Checks a credential name as systemd's credential_name_valid() does (a valid file
/// name and a valid $LISTEN_FDNAMES entry); returns it as text.
pub fn name_valid(name: &[u8]) -> Result<&str, &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name == b"." || name == b".." {
        return Err("the name is . or ..");
    }
    if name.len() > NAME_MAX {
        return Err("the name is longer than 255 characters");
    }
    if name.contains(&b'/') || name.contains(&b':') {
        return Err("the name holds '/' or ':'");
    }
    if !name.iter().all(|b| (0x20..0x7f).contains(b)) {
        return Err("the name holds a control or non-ASCII character");
    }
    std::str::from_utf8(name).map_err(|_| "the name is not ASCII")
}

fn refused(origin: Origin, name: &[u8], why: &str) -> String {
    format!(
        "credential '{}' from {} refused: {why}",
        escape(name),
        origin.name()
    )
}

impl Credentials {
    /// The credential called `name`, if the host passed it.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.items
            .iter()
            .find(|c| c.name == name)
            .map(|c| c.data.as_slice())
    }

    /// Whether a credential `name` of `size` bytes may be taken, before its data is read;
    /// `Err` is the console line that refuses it.
    pub fn check(&self, origin: Origin, name: &[u8], size: u64) -> Result<String, String> {
        let valid = name_valid(name).map_err(|why| refused(origin, name, why))?;
        if self.get(valid).is_some() {
            return Err(format!(
                "credential '{valid}' from {} ignored: given before",
                origin.name()
            ));
        }
        if size > CREDENTIAL_SIZE_MAX {
            return Err(refused(
                origin,
                name,
                &format!(
                    "{size} bytes, more than the {CREDENTIAL_SIZE_MAX} one credential may hold"
                ),
            ));
        }
        if size > CREDENTIALS_TOTAL_SIZE_MAX.saturating_sub(self.total) {
            return Err(refused(
                origin,
                name,
                &format!(
                    "{size} bytes more than the {} bytes taken would pass the {CREDENTIALS_TOTAL_SIZE_MAX} all credentials may hold",
                    self.total
                ),
            ));
        }
        Ok(valid.to_string())
    }

    /// Takes a credential after `check`ing it again with its real size.
    pub fn add(&mut self, origin: Origin, name: &[u8], data: Vec<u8>) -> Result<(), String> {
        let size = u64::try_from(data.len()).unwrap_or(u64::MAX);
        let name = self.check(origin, name, size)?;
        self.total = self.total.saturating_add(size);
        self.items.push(Credential { name, data, origin });
        Ok(())
    }

    /// Reads one SMBIOS type 11 structure (`what` names it for the console): its
    /// credentials and extra command-line words. Returns one line per string refused.
    pub fn add_smbios(&mut self, what: &str, raw: &[u8]) -> Vec<String> {
        let strings = match smbios_strings(raw) {
            Ok(s) => s,
            Err(why) => return vec![format!("{what}: {why}")],
        };
        let mut errors = Vec::new();
        for s in strings {
            match oem_string(s) {
                Oem::Credential { name, value } => {
                    if let Err(e) = self.add(Origin::Smbios, name, value.to_vec()) {
                        errors.push(e);
                    }
                }
                Oem::Binary { name, base64 } => match decode_base64(base64) {
                    Ok(data) => {
                        if let Err(e) = self.add(Origin::Smbios, name, data) {
                            errors.push(e);
                        }
                    }
                    Err(why) => errors.push(refused(Origin::Smbios, name, &why)),
                },
                Oem::CmdlineExtra(words) => match std::str::from_utf8(words) {
                    Ok(w) if !w.chars().any(char::is_control) => {
                        if !self.cmdline_extra.is_empty() {
                            self.cmdline_extra.push(' ');
                        }
                        self.cmdline_extra.push_str(w);
                    }
                    _ => errors.push(format!(
                        "{what}: io.systemd.stub.kernel-cmdline-extra refused: not printable text: {}",
                        escape(words)
                    )),
                },
                Oem::Malformed => errors.push(format!(
                    "{what}: credential string without '=' refused: {}",
                    escape(s)
                )),
                Oem::Other => {}
            }
        }
        errors
    }
}

/// The strings of an SMBIOS type 11 structure as /sys/firmware/dmi/entries/11-N/raw
/// holds it (SMBIOS 3.x, 6.1): a header (type 11, length of the formatted area, handle),
/// the count of strings, then the string set: NUL-terminated strings, ended by one more
/// NUL. Strings are never empty; the first empty one ends the set.
pub fn smbios_strings(raw: &[u8]) -> Result<Vec<&[u8]>, &'static str> {
    let [kind, length, _, _, ..] = raw else {
        return Err("shorter than an SMBIOS structure header");
    };
    if *kind != 11 {
        return Err("not an SMBIOS OEM strings structure (type 11)");
    }
    // The formatted area: header (4 bytes) and the count (1 byte).
    if *length < 5 {
        return Err("SMBIOS type 11 structure with a formatted area shorter than 5 bytes");
    }
    let mut rest = raw
        .get(usize::from(*length)..)
        .ok_or("SMBIOS structure shorter than its formatted area")?;
    let mut strings = Vec::new();
    loop {
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or("SMBIOS string set without its terminating NUL")?;
        let (s, tail) = rest.split_at_checked(end).ok_or("SMBIOS string set")?;
        if s.is_empty() {
            return Ok(strings);
        }
        strings.push(s);
        rest = tail.get(1..).unwrap_or_default();
    }
}

/// What one OEM string asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Oem<'a> {
    Credential {
        name: &'a [u8],
        value: &'a [u8],
    },
    Binary {
        name: &'a [u8],
        base64: &'a [u8],
    },
    CmdlineExtra(&'a [u8]),
    /// A credential string without '=' (systemd ignores it with a warning).
    Malformed,
    /// Not ours: another program's OEM string.
    Other,
}

pub fn oem_string(s: &[u8]) -> Oem<'_> {
    // NAME=VALUE: the name ends at the first '='.
    fn assignment(rest: &[u8]) -> Option<(&[u8], &[u8])> {
        let at = rest.iter().position(|&b| b == b'=')?;
        let (name, value) = rest.split_at_checked(at)?;
        Some((name, value.get(1..).unwrap_or_default()))
    }
    if let Some(rest) = s.strip_prefix(CREDENTIAL_BINARY) {
        return assignment(rest).map_or(Oem::Malformed, |(name, base64)| Oem::Binary {
            name,
            base64,
        });
    }
    if let Some(rest) = s.strip_prefix(CREDENTIAL) {
        return assignment(rest).map_or(Oem::Malformed, |(name, value)| Oem::Credential {
            name,
            value,
        });
    }
    match s.strip_prefix(CMDLINE_EXTRA) {
        Some(words) => Oem::CmdlineExtra(words),
        None => Oem::Other,
    }
}

/// Base64 as systemd's unbase64mem() reads it: the standard alphabet, whitespace
/// ignored, padding optional.
pub fn decode_base64(text: &[u8]) -> Result<Vec<u8>, String> {
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    ENGINE
        .decode(&compact)
        .map_err(|e| format!("bad base64: {}", e.to_string().trim_end_matches('.')))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An SMBIOS type 11 structure as dmi-sysfs gives it: header (type 11, length 5,
    /// handle 0x0e00), the count, the strings, and the set's final NUL.
    fn type11(strings: &[&[u8]]) -> Vec<u8> {
        let mut raw = vec![11, 5, 0x00, 0x0e, u8::try_from(strings.len()).unwrap()];
        for s in strings {
            raw.extend_from_slice(s);
            raw.push(0);
        }
        if strings.is_empty() {
            raw.push(0);
        }
        raw.push(0);
        raw
    }

    #[test]
    fn smbios_strings_come_out_in_order() {
        let raw = type11(&[b"io.systemd.credential:a=1", b"other vendor string", b"x"]);
        assert_eq!(
            smbios_strings(&raw).unwrap(),
            vec![
                &b"io.systemd.credential:a=1"[..],
                b"other vendor string",
                b"x"
            ]
        );
        assert_eq!(smbios_strings(&type11(&[])).unwrap(), Vec::<&[u8]>::new());
        // What qemu 7.2 gives for two -smbios type=11 values: one structure, two strings.
        let qemu = b"\x0b\x05\x00\x0e\x02ab=1\x00cd\x00\x00";
        assert_eq!(smbios_strings(qemu).unwrap(), vec![&b"ab=1"[..], b"cd"]);
    }

    #[test]
    fn smbios_formatted_area_may_be_longer_than_five() {
        // A longer formatted area (a later SMBIOS version's fields) is skipped.
        let raw = b"\x0b\x07\x01\x00\x01\xaa\xbbhello\x00\x00";
        assert_eq!(smbios_strings(raw).unwrap(), vec![&b"hello"[..]]);
    }

    #[test]
    fn broken_smbios_structures_are_errors_not_panics() {
        for bad in [
            &b""[..],
            b"\x0b\x05\x00",
            b"\x01\x05\x00\x0e\x01a\x00\x00",
            b"\x0b\x04\x00\x0e\x01a\x00\x00",
            b"\x0b\x20\x00\x0e\x01a\x00\x00",
            b"\x0b\x05\x00\x0e\x01abc",
            b"\x0b\x05\x00\x0e\x01abc\x00",
        ] {
            assert!(smbios_strings(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn oem_strings_are_sorted_by_prefix() {
        assert_eq!(
            oem_string(b"io.systemd.credential:system.hostname=vm=1"),
            Oem::Credential {
                name: b"system.hostname",
                value: b"vm=1"
            }
        );
        assert_eq!(
            oem_string(b"io.systemd.credential.binary:k=AAE="),
            Oem::Binary {
                name: b"k",
                base64: b"AAE="
            }
        );
        assert_eq!(
            oem_string(b"io.systemd.stub.kernel-cmdline-extra=ip=off quiet"),
            Oem::CmdlineExtra(b"ip=off quiet")
        );
        assert_eq!(oem_string(b"io.systemd.credential:novalue"), Oem::Malformed);
        assert_eq!(oem_string(b"io.systemd.credentialx:a=b"), Oem::Other);
        assert_eq!(oem_string(b"Hello"), Oem::Other);
        assert_eq!(
            oem_string(b"io.systemd.credential:empty="),
            Oem::Credential {
                name: b"empty",
                value: b""
            }
        );
    }

    #[test]
    fn names_follow_systemd() {
        for good in [
            &b"qinit.conf"[..],
            b"a",
            b"with space",
            b"tab-less_~!",
            &[b'n'; 255],
        ] {
            assert!(name_valid(good).is_ok(), "refused {good:?}");
        }
        for bad in [
            &b""[..],
            b".",
            b"..",
            b"a/b",
            b"a:b",
            b"new\nline",
            b"del\x7f",
            b"caf\xc3\xa9",
            &[b'n'; 256],
        ] {
            assert!(name_valid(bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn base64_as_systemd_reads_it() {
        assert_eq!(decode_base64(b"AAH/").unwrap(), vec![0, 1, 255]);
        assert_eq!(decode_base64(b"aGk=").unwrap(), b"hi");
        assert_eq!(decode_base64(b"aGk").unwrap(), b"hi", "padding optional");
        assert_eq!(
            decode_base64(b" aG\nk= ").unwrap(),
            b"hi",
            "whitespace ignored"
        );
        assert_eq!(decode_base64(b"").unwrap(), b"");
        assert!(decode_base64(b"a$==").is_err());
        assert!(decode_base64(b"aGk=aGk=").is_err());
    }

    #[test]
    fn sizes_are_limited_per_credential_and_in_all() {
        let mut c = Credentials::default();
        let max = usize::try_from(CREDENTIAL_SIZE_MAX).unwrap();
        let e = c.add(Origin::FwCfg, b"huge", vec![0; max + 1]).unwrap_err();
        assert_eq!(
            e,
            "credential 'huge' from fw_cfg refused: 1048577 bytes, more than the 1048576 one credential may hold"
        );
        c.add(Origin::FwCfg, b"most", vec![1; max - 10]).unwrap();
        c.add(Origin::FwCfg, b"ten", vec![2; 10]).unwrap();
        let e = c.add(Origin::Smbios, b"one", vec![3]).unwrap_err();
        assert!(
            e.starts_with(
                "credential 'one' from SMBIOS refused: 1 bytes more than the 1048576 bytes taken"
            ),
            "{e}"
        );
        assert!(
            c.check(Origin::FwCfg, b"empty", 0).is_ok(),
            "an empty one still fits"
        );
        assert_eq!(c.items.len(), 2);
    }

    #[test]
    fn the_first_of_two_names_wins() {
        let mut c = Credentials::default();
        c.add(Origin::FwCfg, b"a", b"fw".to_vec()).unwrap();
        let e = c.add(Origin::Smbios, b"a", b"smbios".to_vec()).unwrap_err();
        assert!(e.contains("ignored: given before"), "{e}");
        assert_eq!(c.get("a"), Some(&b"fw"[..]));
        assert_eq!(c.get("b"), None);
    }

    #[test]
    fn a_structure_gives_credentials_words_and_one_line_per_refusal() {
        let mut c = Credentials::default();
        let raw = type11(&[
            b"io.systemd.credential:system.hostname=fromsmbios",
            b"io.systemd.credential.binary:blob=AAEC/w==",
            b"io.systemd.credential.binary:bad=%%%",
            b"io.systemd.credential:bad:name=x",
            b"io.systemd.credential:noequals",
            b"io.systemd.stub.kernel-cmdline-extra=ip=off",
            b"io.systemd.stub.kernel-cmdline-extra=qinit.debug",
            b"io.systemd.stub.kernel-cmdline-extra=a\x1bb",
            b"vendor string",
        ]);
        let errors = c.add_smbios("11-0", &raw);
        assert_eq!(c.get("system.hostname"), Some(&b"fromsmbios"[..]));
        assert_eq!(c.get("blob"), Some(&[0, 1, 2, 255][..]));
        assert_eq!(c.cmdline_extra, "ip=off qinit.debug");
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("credential 'bad' from SMBIOS refused: bad base64"));
        assert!(errors[1].contains("'bad:name'") && errors[1].contains("':'"));
        assert!(errors[2].contains("without '='") && errors[2].contains("noequals"));
        assert!(errors[3].contains("a\\x1bb"), "{}", errors[3]);
        assert_eq!(
            c.add_smbios("11-1", b"\x0b"),
            vec!["11-1: shorter than an SMBIOS structure header"]
        );
    }
}
