//! The console's real tty and the interactive shell on it. /dev/console cannot be a
//! controlling terminal, so job control needs the device behind it (ttyS0 under
//! -nographic), found the way systemd does: the last entry of
//! /sys/class/tty/console/active, with tty0 resolved to the active virtual terminal.

use std::os::unix::fs::OpenOptionsExt;

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

/// The variables every program PID 1 starts on the console gets, before its own.
const BASE_ENV: [(&str, &str); 5] = [
    ("PATH", "/sbin:/usr/sbin:/bin:/usr/bin"),
    ("HOME", "/root"),
    ("TERM", "linux"),
    ("SHELL", "/bin/sh"),
    ("USER", "root"),
];

/// Starts `argv` on `tty` in a new session with the tty as its controlling terminal, so
/// job control and Ctrl-C work. A login program gets "-name" as argv\[0\] (a login shell
/// reads /etc/profile). `env` comes on top of the few variables every program gets
/// (`BASE_ENV`). Returns its pid.
///
/// posix_spawn(3) starts it, as std does where it can: musl's shares PID 1's memory until
/// the exec (vfork's way) instead of copying it, ~6 ms sooner under TCG than a fork. The
/// child becomes a session leader (POSIX_SPAWN_SETSID) and then opens the tty, which so
/// becomes its controlling terminal; its signals are all at their defaults and none
/// blocked, whatever PID 1's are. (/dev/console, `console_tty`'s answer when sysfs names
/// no console, never becomes one on open: the program then runs without job control.)
pub fn spawn_on_tty(
    argv: &[String],
    login: bool,
    tty: &str,
    env: &[(String, String)],
) -> Result<u32, String> {
    let Some(path) = argv.first() else {
        return Err("nothing to start: empty command".into());
    };
    // Said here in our words if it cannot open; the child opens it again for itself.
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NOCTTY)
        .open(tty)
        .map_err(|e| format!("open {tty}: {e}"))?;
    let vars = environment(env);
    let search = vars
        .iter()
        .find(|(k, _)| k == "PATH")
        .map_or("", |(_, v)| v.as_str());
    let program = find_program(path, search)
        .ok_or_else(|| format!("start {path} on {tty}: not found in PATH {search}"))?;
    let base = path.rsplit('/').next().unwrap_or(path);
    let arg0 = if login {
        format!("-{base}")
    } else {
        path.clone()
    };
    let cwd = if std::path::Path::new("/root").is_dir() {
        "/root"
    } else {
        "/"
    };
    spawn_session(
        &program,
        std::iter::once(arg0.as_str()).chain(argv.iter().skip(1).map(String::as_str)),
        vars.iter().map(|(k, v)| format!("{k}={v}")),
        tty,
        cwd,
    )
    .map_err(|e| format!("start {path} on {tty}: {e}"))
}

/// `BASE_ENV` with `env` on top: a name given again replaces the base's value.
fn environment(env: &[(String, String)]) -> Vec<(String, String)> {
    let mut vars: Vec<(String, String)> = BASE_ENV
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in env {
        match vars.iter_mut().find(|(name, _)| name == k) {
            Some(slot) => slot.1 = v.clone(),
            None => vars.push((k.clone(), v.clone())),
        }
    }
    vars
}

/// The file to execute for `name`: itself when it holds a '/', else the first executable
/// file of that name in the directories of `search` (the program's own PATH, as execvp
/// would search it in the child).
fn find_program(name: &str, search: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if name.contains('/') {
        return Some(name.into());
    }
    if name.is_empty() {
        return None;
    }
    search
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(|dir| std::path::Path::new(dir).join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// posix_spawn with a new session, `tty` opened as fds 0-2 after it (so it becomes the
/// controlling terminal), `cwd`, signals at their defaults and none blocked.
fn spawn_session<'a>(
    program: &std::path::Path,
    args: impl Iterator<Item = &'a str>,
    vars: impl Iterator<Item = String>,
    tty: &str,
    cwd: &str,
) -> Result<u32, String> {
    use nix::spawn::{PosixSpawnAttr, PosixSpawnFileActions, PosixSpawnFlags, posix_spawn};
    use nix::sys::signal::SigSet;
    use std::ffi::CString;
    let text = |s: &str| {
        CString::new(s).map_err(|_| format!("{:?} holds a NUL byte", s.replace('\0', "\\0")))
    };
    let args = args.map(text).collect::<Result<Vec<_>, _>>()?;
    let vars = vars.map(|v| text(&v)).collect::<Result<Vec<_>, _>>()?;
    let cwd = text(cwd)?;
    let fail = |what: &str, e: nix::Error| format!("{what}: {e}");
    let mut actions = PosixSpawnFileActions::init().map_err(|e| fail("spawn file actions", e))?;
    actions
        .add_open(
            0,
            tty,
            nix::fcntl::OFlag::O_RDWR,
            nix::sys::stat::Mode::empty(),
        )
        .and_then(|()| actions.add_dup2(0, 1))
        .and_then(|()| actions.add_dup2(0, 2))
        .map_err(|e| fail("spawn file actions", e))?;
    // SAFETY: PosixSpawnFileActions is repr(transparent) over posix_spawn_file_actions_t,
    // initialised above and alive for the call; `cwd` outlives it (posix_spawn copies
    // nothing later). nix has no wrapper for this action.
    let r = unsafe {
        nix::libc::posix_spawn_file_actions_addchdir_np(
            std::ptr::from_mut(&mut actions).cast::<nix::libc::posix_spawn_file_actions_t>(),
            cwd.as_ptr(),
        )
    };
    if r != 0 {
        return Err(fail("spawn file actions", nix::Error::from_raw(r)));
    }
    let mut attr = PosixSpawnAttr::init().map_err(|e| fail("spawn attributes", e))?;
    let flags = PosixSpawnFlags::from_bits_retain(i32::from(nix::libc::POSIX_SPAWN_SETSID))
        | PosixSpawnFlags::POSIX_SPAWN_SETSIGMASK
        | PosixSpawnFlags::POSIX_SPAWN_SETSIGDEF;
    attr.set_flags(flags)
        .and_then(|()| attr.set_sigmask(&SigSet::empty()))
        .and_then(|()| attr.set_sigdefault(&SigSet::all()))
        .map_err(|e| fail("spawn attributes", e))?;
    let pid = posix_spawn(program, &actions, &attr, &args, &vars).map_err(|e| e.to_string())?;
    u32::try_from(pid.as_raw()).map_err(|_| format!("posix_spawn gave pid {pid}"))
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
    fn the_program_gets_the_base_environment_under_its_own() {
        let vars = environment(&[
            ("PATH".into(), "/opt/bin".into()),
            ("CREDENTIALS_DIRECTORY".into(), "/run/credentials".into()),
        ]);
        let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            get("PATH"),
            Some("/opt/bin"),
            "a given name replaces the base's"
        );
        assert_eq!(get("HOME"), Some("/root"));
        assert_eq!(get("CREDENTIALS_DIRECTORY"), Some("/run/credentials"));
        assert_eq!(vars.iter().filter(|(n, _)| n == "PATH").count(), 1);
    }

    #[test]
    fn a_bare_name_is_found_in_the_programs_path_as_execvp_would() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("qinit-find-{}", std::process::id()));
        let (plain, exec) = (dir.join("plain"), dir.join("exec"));
        std::fs::create_dir_all(&plain).unwrap();
        std::fs::create_dir_all(&exec).unwrap();
        std::fs::write(plain.join("app"), "not executable").unwrap();
        std::fs::write(exec.join("app"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(exec.join("app"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let search = format!("{}::{}", plain.display(), exec.display());
        assert_eq!(find_program("app", &search), Some(exec.join("app")));
        assert_eq!(find_program("none", &search), None);
        assert_eq!(find_program("", &search), None);
        assert_eq!(
            find_program("./app", ""),
            Some("./app".into()),
            "a path is taken as it is"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_program_leads_a_session_with_the_tty_as_its_controlling_terminal() {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal, pthread_sigmask};
        use std::io::Read;
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave = std::fs::read_link(format!("/proc/self/fd/{}", pty.slave.as_raw_fd()))
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let rdev = std::fs::metadata(&slave).unwrap().rdev();
        // A blocked signal here (as PID 1 blocks those it reads from a signalfd) is not
        // blocked in the program. (The shell reads its own mask with builtins: it blocks
        // every signal around a fork, so a child reading it could see that.)
        let mut usr2 = SigSet::empty();
        usr2.add(Signal::SIGUSR2);
        pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&usr2), None).unwrap();
        let script = "read -r s < /proc/$$/stat; echo \"STAT $s\"; \
                      echo \"DIR $PWD X=$X\"; \
                      while read -r l; do case $l in SigBlk*) echo \"$l\";; esac; done \
                      < /proc/$$/status; \
                      test -t 0 && test -t 2 && echo TTY";
        let pid = spawn_session(
            std::path::Path::new("/bin/sh"),
            ["sh", "-c", script].into_iter(),
            ["X=1".to_string(), "PATH=/usr/bin:/bin".to_string()].into_iter(),
            &slave,
            "/",
        )
        .unwrap();
        pthread_sigmask(SigmaskHow::SIG_UNBLOCK, Some(&usr2), None).unwrap();
        drop(pty.slave);
        let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
        nix::sys::wait::waitpid(pid, None).unwrap();
        let mut out = Vec::new();
        // The data the program wrote, then EIO once no one holds the slave side.
        let _ = std::fs::File::from(pty.master).read_to_end(&mut out);
        let out = String::from_utf8_lossy(&out);
        let stat = out
            .lines()
            .find_map(|l| l.strip_prefix("STAT "))
            .unwrap_or_else(|| panic!("{out}"));
        let fields: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .collect();
        // After "(comm)": state ppid pgrp session tty_nr.
        assert_eq!(fields[3], pid.to_string(), "session leader: {stat}");
        assert_eq!(fields[2], pid.to_string(), "group leader: {stat}");
        assert_eq!(
            fields[4],
            rdev.to_string(),
            "controlling tty {slave}: {stat}"
        );
        assert!(out.contains("DIR / X=1"), "{out}");
        assert!(out.contains("SigBlk:\t0000000000000000"), "{out}");
        assert!(out.contains("TTY"), "{out}");
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(pick_console("", None), None);
        assert_eq!(pick_console("../etc/passwd", None), None);
    }
}
