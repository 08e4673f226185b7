//! Modalias matching: system::modalias::AliasTable::parse on a modules.alias text, then
//! matches() on arbitrary modaliases; and fnmatch, which must agree with glibc's
//! fnmatch(3) (flags 0, C locale) on every pattern and text, quirks included, except
//! patterns with `[.` or `[=`: collating symbols and equivalence classes are not
//! supported (a malformed `[=` in a set glibc refuses, qinit takes as members).
//!
//! Input: the table's text, a NUL, then modaliases one per line.
//! Checked: matches() gives each module once, only modules the table names, the same as
//! matches_in() (one pass over the text, as modprobe looks a name up), and, for
//! patterns where the table's literal prefix and kmod's normalization change nothing
//! (no '-', '[', ']' or '\'), exactly the modules whose pattern glibc matches.

#![no_main]

use libfuzzer_sys::fuzz_target;
use qinit::system::modalias::{AliasTable, fnmatch};
use std::collections::HashSet;
use std::ffi::CString;

/// Collating symbols and equivalence classes (`[.x.]`, `[=x=]`) are left out of
/// modalias::fnmatch (no alias uses them), so patterns that hold them are not compared.
fn comparable(pat: &str) -> bool {
    !pat.contains("[=") && !pat.contains("[.")
}

fn glibc_fnmatch(pat: &str, text: &str) -> bool {
    let (Ok(p), Ok(t)) = (CString::new(pat), CString::new(text)) else {
        return false;
    };
    // SAFETY: two NUL-terminated strings that outlive the call.
    unsafe { libc::fnmatch(p.as_ptr(), t.as_ptr(), 0) == 0 }
}

fuzz_target!(|data: &[u8]| {
    let (table_bytes, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let table_text = String::from_utf8_lossy(table_bytes);
    let rest_text = String::from_utf8_lossy(rest);
    let table = AliasTable::parse(&table_text);
    let aliases: Vec<(&str, &str)> = table_text
        .lines()
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            match (w.next(), w.next(), w.next()) {
                (Some("alias"), Some(glob), Some(module)) => Some((glob, module)),
                _ => None,
            }
        })
        .collect();
    let modules: HashSet<&str> = aliases.iter().map(|&(_, m)| m).collect();
    let plain = |s: &str| !s.bytes().any(|b| matches!(b, b'-' | b'[' | b']' | b'\\'));
    let all_plain = aliases.iter().all(|&(g, _)| plain(g));

    for modalias in rest_text.split(['\n', '\0']) {
        let found = table.matches(modalias);
        // modprobe's one pass over the text, building no table, agrees with it.
        assert_eq!(
            qinit::system::modalias::matches_in(&table_text, modalias),
            found,
            "matches_in({modalias:?}) differs from the table's"
        );
        let mut seen = HashSet::new();
        for m in &found {
            assert!(
                modules.contains(m.as_str()),
                "{m:?} is no module of the table"
            );
            assert!(seen.insert(m), "{m:?} twice in {found:?}");
        }
        for &(glob, _) in aliases.iter().filter(|(g, _)| comparable(g)) {
            assert_eq!(
                fnmatch(glob.as_bytes(), modalias.as_bytes()),
                glibc_fnmatch(glob, modalias),
                "fnmatch({glob:?}, {modalias:?}) differs from glibc"
            );
        }
        if plain(modalias) {
            for &(glob, module) in aliases.iter().filter(|(g, _)| plain(g)) {
                if glibc_fnmatch(glob, modalias) {
                    assert!(
                        found.iter().any(|m| m == module),
                        "{glob:?} matches {modalias:?}, but {module} is not in {found:?}"
                    );
                }
            }
            if all_plain {
                for m in &found {
                    assert!(
                        aliases
                            .iter()
                            .any(|&(g, module)| module == m && glibc_fnmatch(g, modalias)),
                        "{m} matched {modalias:?} with no pattern of its matching"
                    );
                }
            }
        }
    }
    // Patterns and texts beyond what a table line can hold (whitespace, any byte but
    // NUL, which a C string cannot hold).
    if let Some((pat, text)) = rest_text.split_once('\t')
        && !pat.contains('\0')
        && !text.contains('\0')
        && comparable(pat)
    {
        assert_eq!(
            fnmatch(pat.as_bytes(), text.as_bytes()),
            glibc_fnmatch(pat, text),
            "fnmatch({pat:?}, {text:?}) differs from glibc"
        );
    }
});
