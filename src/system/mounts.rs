//! The filesystems every system needs, as a table (u-root's libinit does the same): one
//! loop mounts them and logs each failure; nothing here stops the boot.

use nix::mount::{MsFlags, mount};
use std::path::Path;

struct Spec {
    source: &'static str,
    target: &'static str,
    fstype: &'static str,
    flags: MsFlags,
    data: Option<&'static str>,
}

const NOSUID: MsFlags = MsFlags::MS_NOSUID;
const NODEV: MsFlags = MsFlags::MS_NODEV;
const NOEXEC: MsFlags = MsFlags::MS_NOEXEC;

fn table() -> [Spec; 7] {
    [
        Spec {
            source: "proc",
            target: "/proc",
            fstype: "proc",
            flags: NOSUID.union(NODEV).union(NOEXEC),
            data: None,
        },
        Spec {
            source: "sysfs",
            target: "/sys",
            fstype: "sysfs",
            flags: NOSUID.union(NODEV).union(NOEXEC),
            data: None,
        },
        Spec {
            source: "devtmpfs",
            target: "/dev",
            fstype: "devtmpfs",
            flags: NOSUID,
            data: Some("mode=0755"),
        },
        // ptmxmode=0666: /dev/pts/ptmx usable by everyone, as on any distribution.
        Spec {
            source: "devpts",
            target: "/dev/pts",
            fstype: "devpts",
            flags: NOSUID.union(NOEXEC),
            data: Some("mode=0620,ptmxmode=0666"),
        },
        Spec {
            source: "tmpfs",
            target: "/dev/shm",
            fstype: "tmpfs",
            flags: NOSUID.union(NODEV),
            data: Some("mode=1777"),
        },
        Spec {
            source: "tmpfs",
            target: "/run",
            fstype: "tmpfs",
            flags: NOSUID.union(NODEV),
            data: Some("mode=0755"),
        },
        Spec {
            source: "tmpfs",
            target: "/tmp",
            fstype: "tmpfs",
            flags: NOSUID.union(NODEV),
            data: Some("mode=1777"),
        },
    ]
}

/// Mount points listed in /proc/self/mounts (second field), escapes undone.
pub fn mounted_targets(mounts: &str) -> Vec<String> {
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(unescape)
        .collect()
}

/// Whether `target` is a mount point in `mounts` (the text of /proc/self/mounts): the
/// exact path, escapes undone; a mount below it does not count.
fn is_mounted(mounts: &str, target: &str) -> bool {
    mounted_targets(mounts).iter().any(|t| t == target)
}

/// getmntent(3)'s escapes: a backslash and three octal digits stand for one byte.
pub fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\'
            && let Some(digits) = b.get(i + 1..i + 4)
            && digits.iter().all(|d| (b'0'..=b'7').contains(d))
            && let Some(v) = std::str::from_utf8(digits)
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(c);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Mounts the table. Returns one error line per failure; a mount already present is
/// skipped, not an error.
pub fn mount_base() -> Vec<String> {
    let mut errors = Vec::new();
    // What was mounted before us (the table's targets are distinct, so the ones mounted
    // here need not be read back). Read once /proc is there: empty before.
    let read = || std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let mut mounts = read();
    for spec in table() {
        if spec.target != "/proc" && mounts.is_empty() {
            mounts = read();
        }
        if is_mounted(&mounts, spec.target) {
            crate::debug!("{} already mounted", spec.target);
            continue;
        }
        if let Err(e) = std::fs::create_dir_all(spec.target) {
            errors.push(format!("mkdir {}: {e}", spec.target));
            continue;
        }
        match mount(
            Some(spec.source),
            spec.target,
            Some(spec.fstype),
            spec.flags,
            spec.data,
        ) {
            Ok(()) => {}
            // /proc itself cannot be checked before it is mounted.
            Err(nix::errno::Errno::EBUSY) => {}
            Err(e) => errors.push(format!("mount {} on {}: {e}", spec.fstype, spec.target)),
        }
    }
    for (link, to) in [
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        if !Path::new(link).exists() {
            let _ = std::os::unix::fs::symlink(to, link);
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mount_targets() {
        let m = "proc /proc proc rw,nosuid 0 0\nsysfs /sys sysfs rw 0 0\n";
        assert_eq!(mounted_targets(m), vec!["/proc", "/sys"]);
    }

    #[test]
    fn only_the_exact_mount_point_counts_as_mounted() {
        let m = "devpts /dev/pts devpts rw 0 0\ntmpfs /run/a\\040b tmpfs rw 0 0\n";
        assert!(is_mounted(m, "/dev/pts"));
        assert!(!is_mounted(m, "/dev"), "a mount under /dev is not /dev");
        assert!(!is_mounted(m, "/dev/pt"));
        assert!(is_mounted(m, "/run/a b"), "escapes are undone");
        assert!(!is_mounted(m, "/run"));
        // Before /proc is mounted there is nothing to read: everything is to mount.
        assert!(table().iter().all(|s| !is_mounted("", s.target)));
    }

    #[test]
    fn every_mount_comes_after_the_one_it_sits_on() {
        let t = table();
        for (i, below) in t.iter().enumerate() {
            for (j, above) in t.iter().enumerate() {
                if above.target.starts_with(&format!("{}/", below.target)) {
                    assert!(i < j, "{} is mounted before {}", above.target, below.target);
                }
            }
        }
        // Nothing the table mounts runs set-uid programs.
        assert!(t.iter().all(|s| s.flags.contains(NOSUID)));
    }
}
