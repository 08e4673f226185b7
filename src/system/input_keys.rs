//! The power key from evdev, for kernels without ACPI's netlink events: every
//! /dev/input/event* device whose key bits (EVIOCGBIT) include KEY_POWER is watched, as
//! systemd-logind does, and a press (struct input_event, EV_KEY KEY_POWER value 1) is a
//! request to power off. Parsing the bits and the events is pure; opening and reading
//! the devices is a small adapter.

use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// From linux/input-event-codes.h.
pub const KEY_POWER: u16 = 116;
const EV_KEY: u16 = 0x01;
const KEY_MAX: usize = 0x2ff;
/// sizeof(struct input_event) on x86_64: a struct timeval, then u16 type, u16 code and
/// s32 value.
const INPUT_EVENT_LEN: usize = 24;

// EVIOCGBIT(EV_KEY, len): _IOC(_IOC_READ, 'E', 0x20 + EV_KEY, len).
nix::ioctl_read_buf!(eviocgbit_key, b'E', 0x21, u8);

/// Whether bit `code` is set in an EVIOCGBIT bitmap (bytes, lowest bit first).
pub fn has_key(bits: &[u8], code: u16) -> bool {
    let code = usize::from(code);
    bits.get(code / 8)
        .is_some_and(|b| b & (1 << (code % 8)) != 0)
}

/// Whether `data` (whole struct input_event records) holds a press of KEY_POWER.
pub fn power_pressed(data: &[u8]) -> bool {
    data.chunks_exact(INPUT_EVENT_LEN).any(|ev| {
        let u16_at = |at: usize| {
            ev.get(at..at + 2)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(u16::from_ne_bytes)
        };
        let value = ev
            .get(20..24)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(i32::from_ne_bytes);
        u16_at(16) == Some(EV_KEY) && u16_at(18) == Some(KEY_POWER) && value == Some(1)
    })
}

/// Whether a /dev/input entry is an evdev node (`event` and a number).
pub fn is_event_node(name: &str) -> bool {
    name.strip_prefix("event")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

struct Device {
    path: PathBuf,
    file: File,
}

/// The evdev devices that have a power key.
#[derive(Default)]
pub struct PowerKeys {
    devices: Vec<Device>,
}

impl PowerKeys {
    /// Opens each node of `dir` not watched yet and keeps those with KEY_POWER; returns
    /// one line per device it now watches ("/dev/input/event0 (AT Translated Set 2
    /// keyboard)").
    pub fn scan(&mut self, dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| is_event_node(n))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mut added = Vec::new();
        for name in names {
            let path = dir.join(&name);
            if self.devices.iter().any(|d| d.path == path) {
                continue;
            }
            let Ok(file) = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_CLOEXEC)
                .open(&path)
            else {
                continue;
            };
            let mut bits = [0u8; KEY_MAX / 8 + 1];
            // SAFETY: EVIOCGBIT writes at most bits.len() bytes, the length it is given.
            let ok = unsafe { eviocgbit_key(file.as_raw_fd(), &mut bits) }.is_ok();
            if ok && has_key(&bits, KEY_POWER) {
                added.push(format!("{} ({})", path.display(), device_name(&name)));
                self.devices.push(Device { path, file });
            }
        }
        added
    }

    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// Reads what every device has; the path of one where the power key went down, if
    /// any. A device that went away (ENODEV) is dropped.
    pub fn pressed(&mut self) -> Option<String> {
        let mut pressed = None;
        let mut buf = [0u8; INPUT_EVENT_LEN * 64];
        self.devices.retain_mut(|d| {
            loop {
                match d.file.read(&mut buf) {
                    Ok(0) => return false,
                    Ok(n) => {
                        if power_pressed(buf.get(..n).unwrap_or_default()) {
                            pressed = Some(d.path.display().to_string());
                        }
                    }
                    Err(e) if e.raw_os_error() == Some(nix::libc::ENODEV) => return false,
                    Err(_) => return true,
                }
            }
        });
        pressed
    }

    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        self.devices.iter().map(|d| d.file.as_fd()).collect()
    }
}

/// The input device's name from sysfs, escaped.
fn device_name(node: &str) -> String {
    std::fs::read(format!("/sys/class/input/{node}/device/name"))
        .map(|n| crate::log::escape(n.trim_ascii_end()))
        .unwrap_or_else(|_| "unnamed".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: u16, code: u16, value: i32) -> Vec<u8> {
        let mut e = vec![0u8; 16];
        e.extend_from_slice(&kind.to_ne_bytes());
        e.extend_from_slice(&code.to_ne_bytes());
        e.extend_from_slice(&value.to_ne_bytes());
        e
    }

    #[test]
    fn key_bits_are_read_lowest_first() {
        let mut bits = [0u8; KEY_MAX / 8 + 1];
        assert!(!has_key(&bits, KEY_POWER));
        bits[14] = 0x10; // 116 = 14 * 8 + 4
        assert!(has_key(&bits, KEY_POWER));
        assert!(!has_key(&bits, KEY_POWER + 1));
        assert!(!has_key(&[], KEY_POWER), "a short bitmap has no such key");
    }

    #[test]
    fn only_a_power_key_press_counts() {
        let press = [
            event(EV_KEY, KEY_POWER, 1),
            event(0, 0, 0), // SYN_REPORT
        ]
        .concat();
        assert!(power_pressed(&press));
        assert!(!power_pressed(&event(EV_KEY, KEY_POWER, 0)), "release");
        assert!(!power_pressed(&event(EV_KEY, KEY_POWER, 2)), "autorepeat");
        assert!(!power_pressed(&event(EV_KEY, 30, 1)), "the A key");
        assert!(!power_pressed(&event(4, KEY_POWER, 1)), "EV_MSC");
        let later = [event(EV_KEY, 30, 1), event(EV_KEY, KEY_POWER, 1)].concat();
        assert!(power_pressed(&later));
        assert!(!power_pressed(&press[..20]), "cut short");
        assert!(!power_pressed(b""));
    }

    #[test]
    fn only_event_nodes_are_opened() {
        assert!(is_event_node("event0"));
        assert!(is_event_node("event12"));
        assert!(!is_event_node("event"));
        assert!(!is_event_node("mice"));
        assert!(!is_event_node("mouse0"));
        assert!(!is_event_node("event1x"));
        assert!(!is_event_node("by-path"));
    }
}
