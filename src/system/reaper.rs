//! Reaping: PID 1 adopts every orphan and must collect each one's exit status, or
//! zombies pile up. Called on every SIGCHLD, it loops until nothing is left.

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    pub pid: u32,
    pub status: String,
    /// The status as a shell's `$?` shows it: the exit code, or 128 + the signal.
    pub code: i32,
}

/// Collects every child that has ended.
pub fn reap_all() -> Vec<Exit> {
    let mut out = Vec::new();
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) => out.push(Exit {
                pid: pid.as_raw().unsigned_abs(),
                status: format!("exit status {code}"),
                code,
            }),
            Ok(WaitStatus::Signaled(pid, sig, _)) => out.push(Exit {
                pid: pid.as_raw().unsigned_abs(),
                status: format!("killed by {sig}"),
                code: 128 + sig as i32,
            }),
            Ok(WaitStatus::StillAlive) | Err(_) => return out,
            Ok(_) => {}
        }
    }
}
