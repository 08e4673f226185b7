//! The console's real tty and the interactive shell on it. /dev/console cannot be a
//! controlling terminal, so job control needs the device behind it (ttyS0 under
//! -nographic), found the way systemd does: the last entry of
//! /sys/class/tty/console/active, with tty0 resolved to the active virtual terminal.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

/// Picks the console device name from the contents of /sys/class/tty/console/active and,
/// when that names tty0, of /sys/class/tty/tty0/active.
pub fn pick_console(active: &str, tty0_active: Option<&str>) -> Option<String> {
    let last = active.split_whitespace().last()?;
    if last == "tty0" {
        let vt = tty0_active
            .and_then(|s| s.split_whitespace().last())
            .unwrap_or("tty1");
        return valid_tty(vt);
    }
    valid_tty(last)
}

fn valid_tty(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name.len() < 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
    ok.then(|| name.to_string())
}

/// The console tty path, e.g. /dev/ttyS0; /dev/console when nothing better is known.
pub fn console_tty(forced: Option<&str>) -> String {
    if let Some(name) = forced.and_then(valid_tty) {
        return format!("/dev/{name}");
    }
    let active = std::fs::read_to_string("/sys/class/tty/console/active").unwrap_or_default();
    let tty0 = std::fs::read_to_string("/sys/class/tty/tty0/active").ok();
    match pick_console(&active, tty0.as_deref()) {
        Some(name) => format!("/dev/{name}"),
        None => "/dev/console".to_string(),
    }
}

/// Starts `argv` on `tty` in a new session with the tty as its controlling terminal, so
/// job control and Ctrl-C work. A login program gets "-name" as argv\[0\] (a login shell
/// reads /etc/profile). `env` comes on top of the few variables every program gets.
/// Returns its pid.
pub fn spawn_on_tty(
    argv: &[String],
    login: bool,
    tty: &str,
    env: &[(String, String)],
) -> Result<u32, String> {
    let Some(path) = argv.first() else {
        return Err("nothing to start: empty command".into());
    };
    let open = || {
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(tty)
            .map_err(|e| format!("open {tty}: {e}"))
    };
    let (stdin, stdout, stderr) = (open()?, open()?, open()?);
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut cmd = Command::new(path);
    if login {
        cmd.arg0(format!("-{base}"));
    }
    cmd.args(argv.get(1..).unwrap_or(&[]))
        .env_clear()
        .env("PATH", "/sbin:/usr/sbin:/bin:/usr/bin")
        .env("HOME", "/root")
        .env("TERM", "linux")
        .env("SHELL", "/bin/sh")
        .env("USER", "root")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(if std::path::Path::new("/root").is_dir() {
            "/root"
        } else {
            "/"
        })
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::from(stdout))
        .stderr(Stdio::from(stderr));
    // SAFETY: runs in the child between fork and exec and calls only async-signal-safe
    // functions (setsid, ioctl).
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 1) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| format!("start {path} on {tty}: {e}"))?;
    // The reaper collects it with waitpid(-1); the Child handle is not needed.
    Ok(child.id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_console_is_used() {
        assert_eq!(pick_console("ttyS0\n", None).as_deref(), Some("ttyS0"));
    }

    #[test]
    fn last_entry_wins() {
        assert_eq!(
            pick_console("tty0 ttyS0\n", Some("tty1")).as_deref(),
            Some("ttyS0")
        );
        assert_eq!(
            pick_console("ttyS0 tty0\n", Some("tty3\n")).as_deref(),
            Some("tty3")
        );
    }

    #[test]
    fn tty0_without_active_vt_means_tty1() {
        assert_eq!(pick_console("tty0", None).as_deref(), Some("tty1"));
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(pick_console("", None), None);
        assert_eq!(pick_console("../etc/passwd", None), None);
    }
}
