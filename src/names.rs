//! Validation of host and domain names received from the network or the command line
//! (RFC 1123 labels). Anything that fails never reaches a file or the kernel.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    pub value: String,
    pub reason: &'static str,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bad name '{}': {}", self.value, self.reason)
    }
}

fn err(raw: &[u8], reason: &'static str) -> NameError {
    NameError {
        value: crate::log::escape(raw),
        reason,
    }
}

/// A domain name: labels of ASCII letters, digits and hyphens, 1-63 characters each, no
/// hyphen at either end of a label, 253 characters in all. One trailing NUL (sent by some
/// servers) and one trailing dot are tolerated. Returns the name in lower case.
pub fn domain(raw: &[u8]) -> Result<String, NameError> {
    let mut s = raw;
    if let Some(rest) = s.strip_suffix(b"\0") {
        s = rest;
    }
    if let Some(rest) = s.strip_suffix(b".") {
        s = rest;
    }
    if s.is_empty() {
        return Err(err(raw, "empty"));
    }
    if s.len() > 253 {
        return Err(err(raw, "longer than 253 characters"));
    }
    for label in s.split(|&b| b == b'.') {
        if label.is_empty() {
            return Err(err(raw, "empty label"));
        }
        if label.len() > 63 {
            return Err(err(raw, "label longer than 63 characters"));
        }
        if !label
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        {
            return Err(err(raw, "only letters, digits, '-' and '.' are allowed"));
        }
        if label.starts_with(b"-") || label.ends_with(b"-") {
            return Err(err(raw, "label starts or ends with '-'"));
        }
    }
    Ok(String::from_utf8_lossy(s).to_ascii_lowercase())
}

/// A host name as option 12 or the command line gives it: a valid domain name. When it
/// has dots, the first label is the host name and the rest its domain.
pub fn hostname(raw: &[u8]) -> Result<(String, Option<String>), NameError> {
    let full = domain(raw)?;
    match full.split_once('.') {
        Some((host, dom)) => Ok((host.to_string(), Some(dom.to_string()))),
        None => Ok((full, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_names() {
        assert_eq!(domain(b"example.test").unwrap(), "example.test");
        assert_eq!(domain(b"VM-1").unwrap(), "vm-1");
        assert_eq!(domain(b"a.b.c.").unwrap(), "a.b.c");
        assert_eq!(domain(b"trailing-nul\0").unwrap(), "trailing-nul");
    }

    #[test]
    fn rejects_hostile_names() {
        for bad in [
            &b""[..],
            b"a\nb",
            b"a b",
            b"a;reboot",
            b"#comment",
            b"nul\0inside",
            b"two-nuls\0\0",
            b"-lead",
            b"trail-",
            b"a..b",
            b"caf\xc3\xa9",
            b"under_score",
        ] {
            assert!(domain(bad).is_err(), "accepted {:?}", bad);
        }
    }

    #[test]
    fn enforces_lengths() {
        let label63 = "a".repeat(63);
        assert!(domain(label63.as_bytes()).is_ok());
        assert!(domain("a".repeat(64).as_bytes()).is_err());
        let long = [label63.as_str(); 4].join(".");
        assert_eq!(long.len(), 255);
        assert!(domain(long.as_bytes()).is_err());
        assert!(domain(&vec![b'a'; 300]).is_err());
    }

    #[test]
    fn error_names_the_value_escaped() {
        let e = domain(b"x\ny").unwrap_err();
        assert!(e.to_string().contains("x\\x0ay"), "{e}");
    }

    #[test]
    fn hostname_splits_fqdn() {
        assert_eq!(
            hostname(b"vm1.example.test").unwrap(),
            ("vm1".to_string(), Some("example.test".to_string()))
        );
        assert_eq!(hostname(b"vm1").unwrap(), ("vm1".to_string(), None));
    }
}
