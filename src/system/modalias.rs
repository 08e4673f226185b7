//! Drivers by modalias: every device in sysfs names itself with a modalias
//! ("pci:v00008086d0000100E..."), modules.alias maps glob patterns to modules, and
//! coldplug loads whatever matches, as udev + modprobe would. Matching is pure;
//! `coldplug` is the thin part that reads sysfs and loads.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::system::modules::Loaded;

/// One `alias` line, split where kmod's index splits it: the literal prefix up to the
/// first `*`, `?` or `[` is compared as bytes, the rest goes to fnmatch.
#[derive(Debug)]
struct Alias {
    rest: String,
    module: usize,
}

/// modules.alias, indexed by literal prefix so a lookup only globs the patterns that
/// can apply (kmod walks a trie for the same reason).
#[derive(Debug, Default)]
pub struct AliasTable {
    /// In file order: depmod writes modules in priority order, and modprobe returns
    /// matches sorted by that priority.
    aliases: Vec<Alias>,
    modules: Vec<String>,
    by_prefix: HashMap<String, Vec<usize>>,
    /// The distinct prefix lengths, so a lookup tries each once.
    prefix_lens: Vec<usize>,
}

impl AliasTable {
    /// Parses `alias <glob> <module>` lines; comments, other keywords and patterns
    /// with unbalanced brackets (which depmod leaves out of its index) are skipped.
    pub fn parse(text: &str) -> Self {
        let mut table = AliasTable::default();
        let mut module_ids: HashMap<&str, usize> = HashMap::new();
        for line in text.lines() {
            let mut words = line.split_whitespace();
            let (Some("alias"), Some(glob), Some(module)) =
                (words.next(), words.next(), words.next())
            else {
                continue;
            };
            let Some(glob) = normalize(glob) else {
                continue;
            };
            let (prefix, rest) = split_glob(&glob);
            // depmod writes a module's aliases together: most lines repeat the last.
            let module = match table.modules.last() {
                Some(last) if last == module => table.modules.len() - 1,
                _ => *module_ids.entry(module).or_insert_with(|| {
                    table.modules.push(module.to_string());
                    table.modules.len() - 1
                }),
            };
            let id = table.aliases.len();
            table.aliases.push(Alias {
                rest: rest.to_string(),
                module,
            });
            match table.by_prefix.get_mut(prefix) {
                Some(ids) => ids.push(id),
                None => {
                    table.by_prefix.insert(prefix.to_string(), vec![id]);
                }
            }
        }
        let mut lens: Vec<usize> = table.by_prefix.keys().map(String::len).collect();
        lens.sort_unstable();
        lens.dedup();
        table.prefix_lens = lens;
        table
    }

    #[cfg(test)]
    pub fn alias_count(&self) -> usize {
        self.aliases.len()
    }

    /// Modules whose alias matches `modalias`, each once, in modprobe's order.
    pub fn matches(&self, modalias: &str) -> Vec<String> {
        let Some(key) = normalize(modalias) else {
            return Vec::new();
        };
        let mut hits: Vec<usize> = Vec::new();
        for &len in &self.prefix_lens {
            let (Some(prefix), Some(rest)) = (key.get(..len), key.get(len..)) else {
                continue;
            };
            let Some(ids) = self.by_prefix.get(prefix) else {
                continue;
            };
            hits.extend(ids.iter().copied().filter(|&id| {
                self.aliases
                    .get(id)
                    .is_some_and(|a| fnmatch(a.rest.as_bytes(), rest.as_bytes()))
            }));
        }
        hits.sort_unstable();
        let mut seen = HashSet::new();
        hits.iter()
            .filter_map(|&id| self.aliases.get(id))
            .filter(|a| seen.insert(a.module))
            .filter_map(|a| self.modules.get(a.module).cloned())
            .collect()
    }

    /// The modules for a set of devices: the union of their matches, in the order
    /// first matched, each once.
    pub fn modules_for<'a>(&self, modaliases: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for modalias in modaliases {
            for module in self.matches(modalias) {
                if seen.insert(module.clone()) {
                    out.push(module);
                }
            }
        }
        out
    }
}

/// The modules whose alias in `text` (modules.alias) matches `modalias`, each once, in
/// the order `AliasTable::parse(text).matches(modalias)` gives: one pass over the lines,
/// building nothing. For a single lookup (modprobe's), where parsing the table would
/// cost more than the lookup saves.
pub fn matches_in(text: &str, modalias: &str) -> Vec<String> {
    let Some(key) = normalize(modalias) else {
        return Vec::new();
    };
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        let (Some("alias"), Some(glob), Some(module)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        if out.last().is_some_and(|m| m == module) || out.iter().any(|m| m == module) {
            continue;
        }
        let Some(glob) = normalize(glob) else {
            continue;
        };
        let (prefix, rest) = split_glob(&glob);
        if key
            .strip_prefix(prefix)
            .is_some_and(|tail| fnmatch(rest.as_bytes(), tail.as_bytes()))
        {
            out.push(module.to_string());
        }
    }
    out
}

/// Splits an alias where kmod's index does: the literal prefix up to the first `*`, `?`
/// or `[`, compared byte for byte (so a `\` there is a plain byte, as in kmod's trie),
/// and the rest, which goes to fnmatch.
fn split_glob(glob: &str) -> (&str, &str) {
    let split = glob
        .bytes()
        .position(|b| matches!(b, b'*' | b'?' | b'['))
        .unwrap_or(glob.len());
    glob.split_at(split)
}

/// kmod's alias_normalize: '-' becomes '_' outside brackets (module names use both),
/// and an unbalanced bracket makes the string unusable.
fn normalize(s: &str) -> Option<Cow<'_, str>> {
    if !s.bytes().any(|b| matches!(b, b'-' | b'[' | b']')) {
        return Some(Cow::Borrowed(s));
    }
    let mut out = s.as_bytes().to_vec();
    let mut i = 0;
    while let Some(b) = out.get_mut(i) {
        match *b {
            b'-' => *b = b'_',
            b'[' => i += out.get(i..)?.iter().position(|&c| c == b']')?,
            b']' => return None,
            _ => {}
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

/// glibc's fnmatch(pattern, text, 0) in the C locale, on bytes: `*` any run, `?` one
/// byte, `[...]` a set (ranges, `[:class:]`, `!` or `^` negates), `\` quotes the next
/// byte. Collating symbols `[.x.]` and `[=x=]` are not supported (no alias uses them).
/// Iterative: on a mismatch, retry from the last `*` one byte further on, which is
/// exact because every other token consumes exactly one byte.
pub fn fnmatch(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    loop {
        let step = match (pat.get(p), text.get(t)) {
            (Some(b'*'), _) => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            (None, None) => return true,
            (Some(&c), Some(&ch)) => match c {
                b'?' => Some(p + 1),
                b'\\' => match pat.get(p + 1) {
                    Some(&quoted) => (quoted == ch).then_some(p + 2),
                    // A trailing backslash never matches.
                    None => return false,
                },
                b'[' => match bracket(pat, p + 1, ch) {
                    Set::Match(next) => Some(next),
                    Set::Mismatch => None,
                    Set::Unterminated => (ch == b'[').then_some(p + 1),
                },
                _ => (c == ch).then_some(p + 1),
            },
            _ => None,
        };
        if let Some(next) = step {
            p = next;
            t += 1;
            continue;
        }
        match star {
            Some((sp, st)) if st < text.len() => {
                star = Some((sp, st + 1));
                p = sp;
                t = st + 1;
            }
            _ => return false,
        }
    }
}

/// How a `[...]` set came out for one byte of text.
enum Set {
    /// The byte is in the set; the pattern goes on at this index.
    Match(usize),
    /// Not in the set, or the set is malformed in a way glibc rejects.
    Mismatch,
    /// No closing ']' before the end: glibc takes the '[' as an ordinary byte.
    Unterminated,
}

/// Matches `ch` against the set whose body starts at `pat[start]` (after '['), as
/// glibc 2.36 does, quirks included (fuzzed against it): members are tried in order,
/// the first that matches ends the search, and the rest of the set is then only
/// skipped over, not checked.
fn bracket(pat: &[u8], start: usize, ch: u8) -> Set {
    // C string semantics: past the end reads as NUL.
    let at = |i: usize| pat.get(i).copied().unwrap_or(0);
    let mut p = start;
    let negate = matches!(at(p), b'!' | b'^');
    if negate {
        p += 1;
    }
    // `c` is the byte at p - 1. A ']' first in the set is a member, not the end.
    let mut c = at(p);
    p += 1;
    let found = loop {
        if c == b'\\' {
            if at(p) == 0 {
                return Set::Mismatch;
            }
            c = at(p);
            p += 1;
        } else if c == b'[' && at(p) == b':' {
            if let Some((name, next)) = class_name(pat, p + 1) {
                p = next;
                match class_matches(name, ch) {
                    None => return Set::Mismatch,
                    Some(true) => break true,
                    Some(false) => {}
                }
                c = at(p);
                p += 1;
                if c == b']' {
                    break false;
                }
                continue;
            }
            // Not a class name: the '[' is a member.
        } else if c == 0 {
            return Set::Unterminated;
        }
        let is_range = at(p) == b'-' && at(p + 1) != 0 && at(p + 1) != b']';
        if !is_range && c == ch {
            break true;
        }
        let lo = c;
        c = at(p);
        p += 1;
        if c == b'-' && at(p) != b']' {
            let mut hi = at(p);
            p += 1;
            if hi == b'\\' {
                hi = at(p);
                p += 1;
            }
            if hi == 0 {
                return Set::Mismatch;
            }
            if lo <= ch && ch <= hi {
                break true;
            }
            c = at(p);
            p += 1;
        }
        if c == b']' {
            break false;
        }
    };
    if !found {
        return if negate { Set::Match(p) } else { Set::Mismatch };
    }
    // Skip the rest of the set; class names are skipped whole.
    loop {
        let c = at(p);
        p += 1;
        match c {
            0 => return Set::Unterminated,
            b']' => break,
            b'\\' => {
                if at(p) == 0 {
                    return Set::Mismatch;
                }
                p += 1;
            }
            b'[' if at(p) == b':' => {
                if let Some((_, next)) = class_name(pat, p + 1) {
                    p = next;
                }
            }
            _ => {}
        }
    }
    if negate { Set::Mismatch } else { Set::Match(p) }
}

/// `name:]` starting at `pat[i]`: the name and the index after the "]". glibc reads
/// a name only of letters 'a'..'y'; anything else makes the '[' an ordinary member.
fn class_name(pat: &[u8], i: usize) -> Option<(&[u8], usize)> {
    let rest = pat.get(i..)?;
    let len = rest.iter().position(|b| !(b'a'..=b'y').contains(b))?;
    match (rest.get(len), rest.get(len + 1)) {
        (Some(b':'), Some(b']')) => Some((rest.get(..len)?, i + len + 2)),
        _ => None,
    }
}

fn class_matches(name: &[u8], ch: u8) -> Option<bool> {
    Some(match name {
        b"alnum" => ch.is_ascii_alphanumeric(),
        b"alpha" => ch.is_ascii_alphabetic(),
        b"blank" => ch == b' ' || ch == b'\t',
        b"cntrl" => ch.is_ascii_control(),
        b"digit" => ch.is_ascii_digit(),
        b"graph" => ch.is_ascii_graphic(),
        b"lower" => ch.is_ascii_lowercase(),
        b"print" => ch.is_ascii_graphic() || ch == b' ',
        b"punct" => ch.is_ascii_punctuation(),
        b"space" => ch.is_ascii_whitespace() || ch == 0x0b,
        b"upper" => ch.is_ascii_uppercase(),
        b"xdigit" => ch.is_ascii_hexdigit(),
        _ => return None,
    })
}

/// Every `<sys_root>/bus/*/devices/*/modalias`, each distinct value once, sorted.
/// Unreadable buses, devices and files are skipped: a device without a modalias
/// needs no driver from us.
pub fn read_modaliases(sys_root: &Path) -> Vec<String> {
    read_modaliases_of(sys_root, every_device)
}

/// Every device, whatever its bus and name.
pub fn every_device(_bus: &str, _device: &str) -> bool {
    true
}

fn any_modalias(_modalias: &str) -> bool {
    true
}

/// Which devices a coldplug pass loads drivers for: `look` picks them by bus and device
/// name (the others' modalias is not even read), `only` by modalias.
#[derive(Clone, Copy)]
pub struct Select {
    pub look: fn(&str, &str) -> bool,
    pub only: fn(&str) -> bool,
}

/// Every device's driver.
pub const EVERY: Select = Select {
    look: every_device,
    only: any_modalias,
};

/// The NICs' drivers and their buses' (`is_network_device`).
pub const NETWORK: Select = Select {
    look: may_be_network_device,
    only: is_network_device,
};

/// `read_modaliases` of the devices `look(bus, device name)` accepts; the others'
/// files are not read at all (a pass over all of sysfs took 9-17 ms under TCG on pc).
pub fn read_modaliases_of(sys_root: &Path, look: fn(&str, &str) -> bool) -> Vec<String> {
    let entries = |dir: &Path| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default()
    };
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut out: Vec<String> = entries(&sys_root.join("bus"))
        .iter()
        .filter_map(|bus| Some((name(bus)?, bus)))
        .flat_map(|(bus_name, bus)| {
            entries(&bus.join("devices"))
                .into_iter()
                .filter(move |dev| name(dev).is_some_and(|d| look(&bus_name, &d)))
        })
        .filter_map(|dev| std::fs::read_to_string(dev.join("modalias")).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// What coldplug has acted on so far, so that each pass over sysfs only matches the
/// devices that are new and only tries the modules not tried before.
#[derive(Debug, Default)]
pub struct Progress {
    seen: HashSet<String>,
    tried: HashSet<String>,
}

impl Progress {
    /// The modules to load for the devices now present, by `matches` (a modalias's
    /// modules, in modprobe's order); empty when nothing is new.
    pub fn next_modules(
        &mut self,
        matches: &dyn Fn(&str) -> Vec<String>,
        modaliases: Vec<String>,
    ) -> Vec<String> {
        let mut out = Vec::new();
        for modalias in modaliases {
            if !self.seen.insert(modalias.clone()) {
                continue;
            }
            for module in matches(&modalias) {
                if self.tried.insert(module.clone()) {
                    out.push(module);
                }
            }
        }
        out
    }
}

/// Up to this many devices in a pass, coldplug matches each with one scan of
/// modules.alias (`matches_in`) instead of building the table: the network's passes see
/// one to three devices, and the table took 9 ms to build under TCG, a scan 1.4 ms.
const SCAN_AT_MOST: usize = 4;

/// Loads the modules that the devices under `sys_root` ask for, per
/// `<dir>/modules.alias`, and repeats while that reveals new devices (virtio_pci
/// brings the virtio bus), until a pass loads nothing new or `bound` has passed.
/// Each pass reads the modaliases of the devices `select` looks at, and keeps those it
/// takes.
/// Returns the modules inserted and one error per module that failed. `between` runs
/// after each module (PID 1 answers DHCP there).
pub fn coldplug(
    sys_root: &Path,
    dir: &str,
    load: &dyn Fn(&str) -> Result<Loaded, String>,
    bound: Duration,
    select: Select,
    between: &mut dyn FnMut(),
) -> (Vec<String>, Vec<String>) {
    let start = Instant::now();
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    let text = match std::fs::read_to_string(format!("{dir}/modules.alias")) {
        Ok(text) => text,
        Err(e) => {
            errors.push(format!("read {dir}/modules.alias: {e}"));
            return (loaded, errors);
        }
    };
    // Built at the first pass with more devices than a few scans serve.
    let mut table: Option<AliasTable> = None;
    let mut progress = Progress::default();
    loop {
        let devices: Vec<String> = read_modaliases_of(sys_root, select.look)
            .into_iter()
            .filter(|m| (select.only)(m))
            .collect();
        if table.is_none() && devices.len() > SCAN_AT_MOST {
            table = Some(AliasTable::parse(&text));
        }
        let wanted = progress.next_modules(
            &|modalias| match &table {
                Some(table) => table.matches(modalias),
                None => matches_in(&text, modalias),
            },
            devices,
        );
        if wanted.is_empty() {
            break;
        }
        for name in wanted {
            match load(&name) {
                Ok(Loaded::Inserted(_)) => loaded.push(name),
                Ok(Loaded::Builtin | Loaded::Already) => {}
                Err(e) => errors.push(format!("load {name}: {e}")),
            }
            between();
        }
        if start.elapsed() > bound {
            errors.push(format!(
                "coldplug: stopped after {} ms (bound {} ms)",
                start.elapsed().as_millis(),
                bound.as_millis()
            ));
            break;
        }
    }
    (loaded, errors)
}

/// Whether the device `device` on `bus` may be one `is_network_device` accepts, told
/// from its bus and name before its modalias is read: any on pci and virtio, and on
/// acpi only virtio-mmio's (an ACPI device is named after its hardware id).
pub fn may_be_network_device(bus: &str, device: &str) -> bool {
    match bus {
        "pci" | "virtio" => true,
        "acpi" => device.starts_with("LNRO0005:"),
        _ => false,
    }
}

/// A network device, or a bus that may hold one: the drivers the boot loads first, so
/// that the link comes up while the rest load (a link takes seconds to come up).
pub fn is_network_device(modalias: &str) -> bool {
    // PCI base class 02 is "network controller"; virtio device 1 is a NIC; LNRO0005 is
    // virtio-mmio on ACPI (qemu's microvm), whose devices are only seen once it loads.
    (modalias.starts_with("pci:") && modalias.contains("bc02"))
        || modalias.starts_with("virtio:d00000001v")
        || modalias.starts_with("acpi:LNRO0005:")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::modules::DepMap;

    #[test]
    fn network_devices_are_recognised() {
        assert!(is_network_device(
            "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"
        ));
        assert!(is_network_device("virtio:d00000001v00001AF4"));
        assert!(is_network_device("acpi:LNRO0005:"));
        assert!(!is_network_device(
            "pci:v00001AF4d00001005sv00001AF4sd00000004bc00scFFi00"
        ));
        assert!(!is_network_device("virtio:d00000002v00001AF4"));
        assert!(!is_network_device(
            "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02"
        ));
    }

    #[test]
    fn star_question_and_literals_follow_fnmatch() {
        let m = |p: &str, t: &str| fnmatch(p.as_bytes(), t.as_bytes());
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("a*b", "ab"));
        assert!(m("a*b", "axxxb"));
        assert!(!m("a*b", "axxxbc"));
        assert!(m("a*b*c", "abbbcbc"));
        assert!(m("a**b", "axb"));
        assert!(m("?", "x"));
        assert!(!m("?", ""));
        assert!(!m("?", "xy"));
        assert!(m("a?c", "abc"));
        assert!(m("*?", "a"));
        assert!(!m("*?", ""));
        // No FNM_PATHNAME or FNM_PERIOD: '/' and a leading '.' are ordinary.
        assert!(m("a*c", "a/b/c"));
        assert!(m("?x", ".x"));
        assert!(m("*x", ".x"));
        assert!(!m("abc", "abd"));
        assert!(!m("abc", "ab"));
    }

    #[test]
    fn backslash_quotes_the_next_byte() {
        let m = |p: &str, t: &str| fnmatch(p.as_bytes(), t.as_bytes());
        assert!(m(r"a\*b", "a*b"));
        assert!(!m(r"a\*b", "axb"));
        assert!(m(r"\?", "?"));
        assert!(!m(r"\?", "x"));
        assert!(m(r"\\", "\\"));
        assert!(!m("a\\", "a\\"));
        assert!(m(r"[\]]", "]"));
        assert!(m(r"[a\-z]", "-"));
        assert!(!m(r"[a\-z]", "b"));
    }

    #[test]
    fn sets_take_ranges_negation_and_classes() {
        let m = |p: &str, t: &str| fnmatch(p.as_bytes(), t.as_bytes());
        assert!(m("d0[0-2]*", "d01x"));
        assert!(!m("d0[0-2]*", "d03x"));
        assert!(m("[abc]", "b"));
        assert!(!m("[abc]", "d"));
        assert!(m("[!abc]", "d"));
        assert!(!m("[!abc]", "a"));
        assert!(m("[^abc]", "d"));
        assert!(!m("[^abc]", "a"));
        assert!(m("[]]", "]"));
        assert!(m("[!]]", "a"));
        assert!(!m("[!]]", "]"));
        assert!(m("[a-]", "-"));
        assert!(m("[-a]", "-"));
        assert!(!m("[z-a]", "m"));
        assert!(m("[[:digit:]]x", "7x"));
        assert!(!m("[[:digit:]]x", "ax"));
        assert!(m("[![:upper:]]", "a"));
        assert!(m("[[:xdigit:]_]", "_"));
        // "[:" without a class name makes '[' a member.
        assert!(m("[[:1]", ":"));
        // Unterminated: '[' is literal.
        assert!(m("a[b", "a[b"));
        assert!(!m("a[b", "ab"));
        assert!(!m("[", ""));
    }

    /// Corners where glibc 2.36 was asked (fuzzed against it, no difference left).
    #[test]
    fn malformed_sets_behave_as_in_glibc() {
        let m = |p: &str, t: &str| fnmatch(p.as_bytes(), t.as_bytes());
        // An unknown class fails the set, unless a member before it matched.
        assert!(!m("*[[:nope:]]*", "n"));
        assert!(m("[a[:nope:]]", "a"));
        // A set left open after a match still makes '[' literal.
        assert!(m("[][", "[]["));
        assert!(m("[[*", "[["));
        assert!(!m("[a", "a"));
        // A range cut off by the end fails.
        assert!(!m("[a-", "[a-"));
        // A class name is letters 'a'..'y' only.
        assert!(m("[[:zz:]]", "z]"));
    }

    #[test]
    fn backtracking_stays_linear_on_hostile_patterns() {
        let pat = "*a".repeat(40) + "b";
        let text = "a".repeat(4000);
        let start = Instant::now();
        assert!(!fnmatch(pat.as_bytes(), text.as_bytes()));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    const ALIASES: &str = "\
# Aliases extracted from modules themselves.
alias pci:v00001AF4d*sv*sd*bc*sc*i* virtio_pci
alias virtio:d00000001v* virtio_net
alias pci:v000010ECd00008139sv*sd*bc*sc*i* 8139cp
alias pci:v000010ECd00008139sv*sd*bc*sc*i* 8139too
alias pci:v*d00008139sv000010ECsd00008139bc*sc*i* 8139too
alias acpi*:LNRO0005:* virtio_mmio
alias scsi:t-0x00* sd_mod
alias fs-ext4 ext4
alias pci:v*d*sv*sd*bc01sc08i02* nvme
alias pci:v00001B36d00000010sv*sd*bc*sc*i* nvme
alias usb:v]x* unbalanced
alias usb:v[ax* unterminated
alias usb:v0D96p5200d00[1-9]*dc*dsc*dp*ic*isc*ip*in* usb_storage
";

    #[test]
    fn table_matches_by_prefix_then_glob() {
        let t = AliasTable::parse(ALIASES);
        assert_eq!(t.matches("virtio:d00000001v00001AF4"), ["virtio_net"]);
        assert_eq!(t.matches("virtio:d00000002v00001AF4"), Vec::<String>::new());
        assert_eq!(t.matches("acpi:LNRO0005:"), ["virtio_mmio"]);
        assert_eq!(
            t.matches("usb:v0D96p5200d0015dc00dsc00dp00ic08isc06ip50in00"),
            ["usb_storage"]
        );
        assert!(t.matches("").is_empty());
        assert!(t.matches("pci:").is_empty());
    }

    #[test]
    fn dashes_and_underscores_are_one_as_in_kmod() {
        let t = AliasTable::parse(ALIASES);
        assert_eq!(t.matches("scsi:t-0x00"), ["sd_mod"]);
        assert_eq!(t.matches("scsi:t_0x00"), ["sd_mod"]);
        assert_eq!(t.matches("fs-ext4"), ["ext4"]);
        // depmod drops an alias with an unbalanced bracket; so do we.
        assert!(t.matches("usb:v]x").is_empty());
        assert!(t.matches("usb:v[ax").is_empty());
        assert_eq!(t.alias_count(), 11);
    }

    #[test]
    fn matches_are_unique_and_in_file_order() {
        let t = AliasTable::parse(ALIASES);
        // 8139too matches twice; it comes once, after 8139cp as in the file.
        assert_eq!(
            t.matches("pci:v000010ECd00008139sv000010ECsd00008139bc02sc00i00"),
            ["8139cp", "8139too"]
        );
        // File order, not the order of prefix lengths: the class alias of nvme has
        // the shorter prefix but both lines name nvme, so nvme once.
        assert_eq!(
            t.matches("pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02"),
            ["nvme"]
        );
        let all = t.modules_for([
            "virtio:d00000001v00001AF4",
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
            "virtio:d00000001v00001AF4",
        ]);
        assert_eq!(all, ["virtio_net", "virtio_pci"]);
    }

    #[test]
    fn one_pass_over_the_text_gives_what_the_table_gives() {
        let t = AliasTable::parse(ALIASES);
        let mut queries = vec![
            "virtio:d00000001v00001AF4",
            "virtio:d00000002v00001AF4",
            "acpi:LNRO0005:",
            "usb:v0D96p5200d0015dc00dsc00dp00ic08isc06ip50in00",
            "scsi:t-0x00",
            "scsi:t_0x00",
            "fs-ext4",
            "usb:v]x",
            "usb:v[ax",
            "pci:v000010ECd00008139sv000010ECsd00008139bc02sc00i00",
            "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02",
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
            "crypto-cbc(aes)",
            "virtio:d00000004v00001AF4",
            "",
        ];
        for (_, aliases) in QEMU_DEVICES {
            queries.extend(aliases.iter());
        }
        for q in queries {
            assert_eq!(matches_in(ALIASES, q), t.matches(q), "{q:?}");
        }
        assert_eq!(
            matches_in(
                ALIASES,
                "pci:v000010ECd00008139sv000010ECsd00008139bc02sc00i00"
            ),
            ["8139cp", "8139too"]
        );
        // A backslash before the first wildcard is a plain byte in kmod's trie, not
        // fnmatch's quote (found by the modalias fuzz target): both lookups skip it.
        let quoted = "alias virtio:d00000004v* virtio_rng\nalias virtio\\:d00000004v* virtio_blk\n";
        let key = "virtio:d00000004v00001AF4";
        assert_eq!(AliasTable::parse(quoted).matches(key), ["virtio_rng"]);
        assert_eq!(matches_in(quoted, key), ["virtio_rng"]);
    }

    #[test]
    fn each_pass_loads_only_what_new_devices_need() {
        let t = AliasTable::parse(ALIASES);
        let mut progress = Progress::default();
        let nic = "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00".to_string();
        let net = "virtio:d00000001v00001AF4".to_string();
        // virtio_pci first; once loaded it reveals the virtio device.
        assert_eq!(
            progress.next_modules(&|m| t.matches(m), vec![nic.clone()]),
            ["virtio_pci"]
        );
        assert_eq!(
            progress.next_modules(&|m| t.matches(m), vec![nic.clone(), net.clone()]),
            ["virtio_net"]
        );
        // Nothing new: the loop ends.
        assert!(
            progress
                .next_modules(&|m| t.matches(m), vec![nic, net])
                .is_empty()
        );
        // A new device whose module was tried already asks for nothing.
        let second = "virtio:d00000001v554D4551".to_string();
        assert!(
            progress
                .next_modules(&|m| t.matches(m), vec![second])
                .is_empty()
        );
    }

    fn fake_sysfs(name: &str, devices: &[(&str, &str, Option<&str>)]) -> std::path::PathBuf {
        let root =
            std::env::temp_dir().join(format!("qinit-modalias-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for (bus, dev, modalias) in devices {
            let d = root.join("bus").join(bus).join("devices").join(dev);
            std::fs::create_dir_all(&d).unwrap();
            if let Some(m) = modalias {
                std::fs::write(d.join("modalias"), format!("{m}\n")).unwrap();
            }
        }
        root
    }

    #[test]
    fn sysfs_modaliases_are_read_trimmed_and_deduplicated() {
        let root = fake_sysfs(
            "read",
            &[
                (
                    "pci",
                    "0000:00:03.0",
                    Some("pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00"),
                ),
                ("virtio", "virtio0", Some("virtio:d00000001v00001AF4")),
                ("virtio", "virtio1", Some("virtio:d00000001v00001AF4")),
                ("platform", "serial8250", None),
            ],
        );
        assert_eq!(
            read_modaliases(&root),
            [
                "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
                "virtio:d00000001v00001AF4"
            ]
        );
        assert!(read_modaliases(&root.join("absent")).is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn the_network_pass_reads_only_what_may_be_a_nic() {
        let root = fake_sysfs(
            "look",
            &[
                (
                    "pci",
                    "0000:00:03.0",
                    Some("pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00"),
                ),
                ("virtio", "virtio0", Some("virtio:d00000001v00001AF4")),
                ("acpi", "LNRO0005:00", Some("acpi:LNRO0005:")),
                ("acpi", "PNP0501:00", Some("acpi:PNP0501:")),
                ("platform", "serial8250", Some("platform:serial8250")),
                (
                    "usb",
                    "1-1",
                    Some("usb:v0D96p5200d0015dc00dsc00dp00ic08isc06ip50in00"),
                ),
            ],
        );
        let all = read_modaliases(&root);
        let some = read_modaliases_of(&root, may_be_network_device);
        assert_eq!(all.len(), 6);
        assert_eq!(
            some,
            [
                "acpi:LNRO0005:",
                "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
                "virtio:d00000001v00001AF4"
            ]
        );
        // Nothing the network pass keeps is left unread.
        let kept: Vec<&String> = all.iter().filter(|m| is_network_device(m)).collect();
        assert!(kept.iter().all(|m| some.contains(m)), "{kept:?}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn coldplug_tries_each_module_once_and_names_failures() {
        // Nothing here can be inserted (not root, and modules.dep is empty), so this
        // drives the passes without touching the kernel: a module missing from
        // modules.dep is an error naming it, a builtin one is no error.
        let root = fake_sysfs(
            "coldplug",
            &[
                ("virtio", "virtio0", Some("virtio:d00000001v00001AF4")),
                ("virtio", "virtio1", Some("virtio:d00000001v00001AF4")),
                ("acpi", "LNRO0005:00", Some("acpi:LNRO0005:")),
                ("acpi", "PNP0501:00", Some("acpi:PNP0501:")),
            ],
        );
        let dir = root.join("modules");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("modules.alias"),
            "alias virtio:d00000001v* qinit_test_virtio_net\nalias acpi*:LNRO0005:* virtio_mmio\n",
        )
        .unwrap();
        let builtin: HashSet<String> = ["virtio_mmio".to_string()].into();
        let dir_str = dir.to_str().unwrap();
        // What a load with an empty modules.dep gives: built in, or not listed.
        let load = |name: &str| {
            if builtin.contains(name) {
                Ok(Loaded::Builtin)
            } else {
                DepMap::default()
                    .load_order(name)
                    .map(|_| Loaded::Inserted(0))
            }
        };
        let (loaded, errors) = coldplug(
            &root,
            dir_str,
            &load,
            Duration::from_secs(5),
            EVERY,
            &mut || {},
        );
        assert!(loaded.is_empty());
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("load qinit_test_virtio_net: "));
        let (_, errors) = coldplug(
            &root,
            "/nonexistent",
            &load,
            Duration::from_secs(5),
            EVERY,
            &mut || {},
        );
        assert!(errors[0].contains("/nonexistent/modules.alias"));
        let _ = std::fs::remove_dir_all(&root);
    }

    /// The full modules.alias of the kernel that build.sh fetched, if it has.
    fn real_table() -> Option<&'static AliasTable> {
        static TABLE: std::sync::OnceLock<Option<AliasTable>> = std::sync::OnceLock::new();
        TABLE.get_or_init(read_real_table).as_ref()
    }

    fn read_real_table() -> Option<AliasTable> {
        let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join(".cache/kernel");
        let found = std::fs::read_dir(&cache)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("root-"))
            .flat_map(|e| {
                std::fs::read_dir(e.path().join("lib/modules"))
                    .into_iter()
                    .flatten()
            })
            .flatten()
            .map(|e| e.path().join("modules.alias"))
            .find(|p| p.is_file());
        match found {
            Some(path) => {
                let text = std::fs::read_to_string(&path).unwrap();
                let start = Instant::now();
                let table = AliasTable::parse(&text);
                eprintln!(
                    "modalias: parsed {} ({} aliases) in {:?}",
                    path.display(),
                    table.alias_count(),
                    start.elapsed()
                );
                Some(table)
            }
            None if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("no .cache/kernel/root-*/lib/modules/*/modules.alias: run ./build.sh")
            }
            None => {
                eprintln!("skipping: no kernel in .cache (run ./build.sh)");
                None
            }
        }
    }

    /// What qemu 7.2's devices say in sysfs (read in a guest; 1af4:1100 is qemu's
    /// default PCI subsystem).
    const QEMU_DEVICES: &[(&str, &[&str])] = &[
        // -device e1000
        (
            "pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00",
            &["e1000"],
        ),
        // -device e1000e: subsystem 8086:0000
        (
            "pci:v00008086d000010D3sv00008086sd00000000bc02sc00i00",
            &["e1000e"],
        ),
        // -device rtl8139: both drivers claim it, 8139cp declines at probe
        (
            "pci:v000010ECd00008139sv00001AF4sd00001100bc02sc00i00",
            &["8139cp", "8139too"],
        ),
        // -device vmxnet3: subsystem 15ad:07b0
        (
            "pci:v000015ADd000007B0sv000015ADsd000007B0bc02sc00i00",
            &["vmxnet3"],
        ),
        // virtio-*-pci, transitional (subsystem id = virtio device id): net, blk,
        // scsi, rng; then modern (disable-legacy=on)
        (
            "pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00",
            &["virtio_pci"],
        ),
        (
            "pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00",
            &["virtio_pci"],
        ),
        (
            "pci:v00001AF4d00001004sv00001AF4sd00000008bc01sc00i00",
            &["virtio_pci"],
        ),
        (
            "pci:v00001AF4d00001005sv00001AF4sd00000004bc00scFFi00",
            &["virtio_pci"],
        ),
        (
            "pci:v00001AF4d00001041sv00001AF4sd00001100bc02sc00i00",
            &["virtio_pci"],
        ),
        // -device nvme
        (
            "pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02",
            &["nvme"],
        ),
        // The virtio devices that virtio_pci then reveals.
        ("virtio:d00000001v00001AF4", &["virtio_net"]),
        ("virtio:d00000002v00001AF4", &["virtio_blk"]),
        ("virtio:d00000004v00001AF4", &["virtio_rng"]),
        ("virtio:d00000008v00001AF4", &["virtio_scsi"]),
        ("virtio:d00000009v00001AF4", &["9pnet_virtio"]),
        ("virtio:d0000001Av00001AF4", &["virtiofs"]),
        // -M microvm,acpi=on describes virtio-mmio transports as LNRO0005; their
        // devices carry vendor "QEMU".
        ("acpi:LNRO0005:", &["virtio_mmio"]),
        ("virtio:d00000001v554D4551", &["virtio_net"]),
        // A disk on virtio-scsi.
        ("scsi:t-0x00", &["sd_mod"]),
    ];

    /// The rest of a q35 guest, as read there: chipset, VGA, ACPI, platform, serio.
    const Q35_MACHINE: &[&str] = &[
        "pci:v00001234d00001111sv00001AF4sd00001100bc03sc00i00",
        "pci:v00008086d00002918sv00001AF4sd00001100bc06sc01i00",
        "pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01",
        "pci:v00008086d00002930sv00001AF4sd00001100bc0Csc05i00",
        "pci:v00008086d000029C0sv00001AF4sd00001100bc06sc00i00",
        "acpi:ACPI0010:PNP0A05:",
        "acpi:LNXCPU:",
        "acpi:LNXPWRBN:",
        "acpi:LNXSYBUS:",
        "acpi:LNXSYSTM:",
        "acpi:PNP0103:",
        "acpi:PNP0303:",
        "acpi:PNP0400:",
        "acpi:PNP0501:",
        "acpi:PNP0A06:",
        "acpi:PNP0A08:PNP0A03:",
        "acpi:PNP0B00:",
        "acpi:PNP0C01:",
        "acpi:PNP0C0F:",
        "acpi:PNP0F13:",
        "acpi:QEMU0002:",
        "platform:alarmtimer",
        "platform:i8042",
        "platform:pcspkr",
        "platform:platform-framebuffer",
        "platform:reg-dummy",
        "platform:serial8250",
        "serio:ty01pr00id00ex00",
        "serio:ty06pr00id00ex00",
        // Not in the guest's sysfs (no cpu bus there) but the longest modalias of a
        // real machine, with the most '*' to backtrack over.
        "cpu:type:x86,ven0000fam0006mod003D:feature:,0000,0001,0002,0003,0004,0005,0006,0007,0008,0009,000B,000C,000D,000E,000F,0010,0011,0013,0017,0018,0019,001A,002B,0034,003A,003B,003D,0068,006F,0070,0072,0074,0075,0076,0080,0081,0089,008C,008D,0091,0093,0094,0095,0096,0097,0099,009A,00C0,00E1,00E7,00EB,00EC,00F0,00F1,00F3,00F5,00F6,00F9,00FA,00FB,00FD,00FF",
    ];

    #[test]
    fn qemu_devices_map_to_their_drivers_in_the_real_kernel() {
        let Some(table) = real_table() else {
            return;
        };
        for (modalias, want) in QEMU_DEVICES {
            assert_eq!(table.matches(modalias), *want, "{modalias}");
        }
    }

    #[test]
    fn matching_a_whole_qemu_machine_is_fast() {
        let Some(table) = real_table() else {
            return;
        };
        let devices: Vec<&str> = Q35_MACHINE
            .iter()
            .copied()
            .chain(QEMU_DEVICES.iter().map(|(m, _)| *m))
            .collect();
        // The best of several rounds: the machine may be busy with other work.
        let mut modules = Vec::new();
        let mut best = Duration::MAX;
        for _ in 0..20 {
            let start = Instant::now();
            modules = table.modules_for(devices.iter().copied());
            best = best.min(start.elapsed());
        }
        eprintln!(
            "modalias: {} devices -> {} modules in {best:?} (native, {} build)",
            devices.len(),
            modules.len(),
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        );
        // The budget is 50 ms under TCG, 10-50x slower than a release build; this
        // only catches a blowup (a debug build is another 10-30x slower).
        let bound = Duration::from_millis(if cfg!(debug_assertions) { 50 } else { 5 });
        assert!(best < bound, "{best:?}");
    }
}
