//! The program on the console: the interactive shell, or in appliance mode the
//! appliance's command (`qinit.exec=`). Started once the network is up (or the wait is
//! over), then restarted when it exits, with a back-off for one that fails at once, or
//! followed by power-off or reboot, or by its exit status handed to qemu's isa-debug-exit
//! device (`qinit.on_exit=`).

use crate::clock::Uptime;
use crate::config::cmdline::OnExit;
use crate::info;
use crate::system::console;
use crate::system::reaper::Exit;
use crate::system::shutdown::Ending;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    pub argv: Vec<String>,
    /// A login shell is started as "-sh" so that it reads /etc/profile.
    pub login: bool,
}

impl Program {
    pub fn shell(path: &str) -> Program {
        Program {
            argv: vec![path.to_string()],
            login: true,
        }
    }

    pub fn name(&self) -> String {
        self.argv.join(" ")
    }
}

/// Waiting time before the next start after `quick` exits in a row that each came less
/// than a second after the start: none for the first, then 0.25 s doubling to 8 s.
pub fn backoff(quick: u32) -> Duration {
    match quick {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(250u64 << (n - 2).min(5)),
    }
}

/// Starts that fail in a row (no such program, not executable) before `on_exit` applies
/// as if the program had run and exited.
pub const FAILED_STARTS_BEFORE_ON_EXIT: u32 = 5;

/// The wait before trying again after a failed start.
pub const RETRY_FAILED_START: Duration = Duration::from_secs(5);

pub struct Foreground {
    pub program: Program,
    pub on_exit: OnExit,
    /// Variables the program gets besides the usual few ($CREDENTIALS_DIRECTORY).
    pub env: Vec<(String, String)>,
    pid: Option<u32>,
    started: Option<Uptime>,
    runs: u32,
    quick_exits: u32,
    failed_starts: u32,
    next_start: Option<Uptime>,
}

/// What the caller must do after the program exited.
#[derive(Debug, PartialEq, Eq)]
pub enum AfterExit {
    Restart,
    Shutdown(Ending),
}

impl Foreground {
    pub fn new(program: Program, on_exit: OnExit) -> Self {
        Foreground {
            program,
            on_exit,
            env: Vec::new(),
            pid: None,
            started: None,
            runs: 0,
            quick_exits: 0,
            failed_starts: 0,
            next_start: None,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    pub fn started_once(&self) -> bool {
        self.runs > 0
    }

    /// When to start next: `first` for the very first start, else after the back-off.
    pub fn due(&self, now: Uptime, first: Uptime) -> Option<Uptime> {
        if self.pid.is_some() {
            return None;
        }
        if self.runs == 0 {
            return Some(first);
        }
        Some(self.next_start.unwrap_or(now))
    }

    /// Starts the program on `tty`; what follows a start that failed too often.
    pub fn start(&mut self, now: Uptime, tty: &str) -> Option<AfterExit> {
        info!("starting {} on {tty}", self.program.name());
        let spawned = console::spawn_on_tty(&self.program.argv, self.program.login, tty, &self.env);
        self.spawned(now, spawned)
    }

    /// Records the result of a start. A program that cannot be started is tried again
    /// every 5 s; after `FAILED_STARTS_BEFORE_ON_EXIT` failures in a row, an appliance's
    /// `on_exit` applies as if it had run and failed (a shell is only tried again).
    pub fn spawned(&mut self, now: Uptime, spawned: Result<u32, String>) -> Option<AfterExit> {
        self.runs += 1;
        self.started = Some(now);
        self.next_start = None;
        match spawned {
            Ok(pid) => {
                self.pid = Some(pid);
                self.failed_starts = 0;
                None
            }
            Err(e) => {
                self.failed_starts += 1;
                // A program that cannot start ends as a shell's "command not found".
                let ending = match self.on_exit {
                    OnExit::Respawn => None,
                    OnExit::Shutdown(kind) => Some((Ending::Kind(kind), kind.name().to_string())),
                    OnExit::DebugExit(port) => {
                        let value = crate::system::debug_exit::value_for(127);
                        Some((
                            Ending::DebugExit { port, value },
                            format!("debug-exit: {value} to port 0x{port:x}"),
                        ))
                    }
                };
                match ending {
                    Some((ending, what)) if self.failed_starts >= FAILED_STARTS_BEFORE_ON_EXIT => {
                        info!(
                            "{e}; {} failed starts in a row: qinit.on_exit says {what}",
                            self.failed_starts,
                        );
                        Some(AfterExit::Shutdown(ending))
                    }
                    _ => {
                        info!(
                            "{e} (failed start {} in a row); trying again in {} s",
                            self.failed_starts,
                            RETRY_FAILED_START.as_secs()
                        );
                        self.next_start = Some(now + RETRY_FAILED_START);
                        None
                    }
                }
            }
        }
    }

    /// Called for every reaped child; None when it was not ours.
    pub fn exited(&mut self, exit: &Exit, now: Uptime) -> Option<AfterExit> {
        if self.pid != Some(exit.pid) {
            return None;
        }
        let status = &exit.status;
        self.pid = None;
        let ran = self
            .started
            .map(|s| now.saturating_sub(s))
            .unwrap_or_default();
        self.quick_exits = if ran < Duration::from_secs(1) {
            self.quick_exits + 1
        } else {
            0
        };
        match self.on_exit {
            OnExit::Respawn => {
                let wait = backoff(self.quick_exits);
                if wait.is_zero() {
                    info!("{} exited ({status}); restarting it", self.program.name());
                } else {
                    info!(
                        "{} exited ({status}) {} times in a row at once; restarting it in {:.2} s",
                        self.program.name(),
                        self.quick_exits,
                        wait.as_secs_f64()
                    );
                }
                self.next_start = Some(now + wait);
                Some(AfterExit::Restart)
            }
            OnExit::Shutdown(kind) => {
                info!(
                    "{} exited ({status}); qinit.on_exit says {}",
                    self.program.name(),
                    kind.name()
                );
                Some(AfterExit::Shutdown(Ending::Kind(kind)))
            }
            OnExit::DebugExit(port) => {
                let value = crate::system::debug_exit::value_for(exit.code);
                info!(
                    "{} exited ({status}); qinit.on_exit says debug-exit: {value} to port 0x{port:x}",
                    self.program.name()
                );
                Some(AfterExit::Shutdown(Ending::DebugExit { port, value }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::system::shutdown::Kind;

    fn exit(pid: u32, code: i32) -> Exit {
        Exit {
            pid,
            status: format!("exit status {code}"),
            code,
        }
    }

    #[test]
    fn an_appliance_that_cannot_start_gets_its_on_exit_after_five_tries() {
        let mut f = Foreground::new(
            Program {
                argv: vec!["/nonexistent".into()],
                login: false,
            },
            OnExit::Shutdown(Kind::PowerOff),
        );
        let mut now = Duration::from_secs(10);
        for i in 1..FAILED_STARTS_BEFORE_ON_EXIT {
            assert_eq!(f.due(now, now), Some(now), "try {i} is due");
            assert_eq!(
                f.spawned(now, Err("start /nonexistent: ENOENT".into())),
                None
            );
            assert_eq!(f.due(now, now), Some(now + RETRY_FAILED_START));
            now += RETRY_FAILED_START;
        }
        assert_eq!(
            f.spawned(now, Err("start /nonexistent: ENOENT".into())),
            Some(AfterExit::Shutdown(Ending::Kind(Kind::PowerOff)))
        );
    }

    #[test]
    fn a_shell_that_cannot_start_is_tried_again_forever_and_a_success_resets_the_count() {
        let mut f = Foreground::new(Program::shell("/bin/sh"), OnExit::Respawn);
        let now = Duration::from_secs(1);
        for _ in 0..3 * FAILED_STARTS_BEFORE_ON_EXIT {
            assert_eq!(f.spawned(now, Err("no".into())), None);
        }
        let mut g = Foreground::new(Program::shell("/bin/sh"), OnExit::Shutdown(Kind::Halt));
        for _ in 1..FAILED_STARTS_BEFORE_ON_EXIT {
            assert_eq!(g.spawned(now, Err("no".into())), None);
        }
        assert_eq!(g.spawned(now, Ok(42)), None);
        assert_eq!(g.pid(), Some(42));
        assert_eq!(
            g.exited(&exit(42, 0), now + Duration::from_secs(5)),
            Some(AfterExit::Shutdown(Ending::Kind(Kind::Halt)))
        );
        assert_eq!(
            g.spawned(now, Err("no".into())),
            None,
            "the count starts again"
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::ZERO);
        assert_eq!(backoff(2), Duration::from_millis(250));
        assert_eq!(backoff(3), Duration::from_millis(500));
        assert_eq!(backoff(7), Duration::from_secs(8));
        assert_eq!(backoff(1000), Duration::from_secs(8));
    }

    #[test]
    fn on_exit_values() {
        assert_eq!(OnExit::parse("respawn"), Some(OnExit::Respawn));
        assert_eq!(
            OnExit::parse("poweroff"),
            Some(OnExit::Shutdown(Kind::PowerOff))
        );
        assert_eq!(
            OnExit::parse("reboot"),
            Some(OnExit::Shutdown(Kind::Reboot))
        );
        assert_eq!(OnExit::parse("explode"), None);
    }

    #[test]
    fn quick_exits_back_off_and_a_long_run_resets() {
        let mut f = Foreground::new(Program::shell("/bin/sh"), OnExit::Respawn);
        let first = Duration::from_secs(5);
        assert_eq!(f.due(Duration::ZERO, first), Some(first));
        // Pretend starts without spawning: set the fields a start sets.
        let mut now = Duration::from_secs(10);
        for i in 1..=4u32 {
            f.pid = Some(100 + i);
            f.runs += 1;
            f.started = Some(now);
            now += Duration::from_millis(10);
            assert_eq!(f.exited(&exit(100 + i, 1), now), Some(AfterExit::Restart));
            assert_eq!(f.due(now, first), Some(now + backoff(i)));
        }
        assert_eq!(f.exited(&exit(999, 0), now), None, "not ours");
        f.pid = Some(7);
        f.started = Some(now);
        now += Duration::from_secs(30);
        f.exited(&exit(7, 0), now);
        assert_eq!(
            f.due(now, first),
            Some(now),
            "a long run resets the back-off"
        );
    }

    #[test]
    fn shutdown_on_exit_is_reported() {
        let mut f = Foreground::new(
            Program {
                argv: vec!["/app".into()],
                login: false,
            },
            OnExit::Shutdown(Kind::PowerOff),
        );
        f.pid = Some(5);
        f.started = Some(Duration::ZERO);
        assert_eq!(
            f.exited(&exit(5, 3), Duration::from_secs(1)),
            Some(AfterExit::Shutdown(Ending::Kind(Kind::PowerOff)))
        );
    }

    #[test]
    fn debug_exit_carries_the_status() {
        let mut f = Foreground::new(
            Program {
                argv: vec!["/app".into()],
                login: false,
            },
            OnExit::DebugExit(0xf4),
        );
        f.pid = Some(5);
        f.started = Some(Duration::ZERO);
        assert_eq!(
            f.exited(&exit(5, 3), Duration::from_secs(1)),
            Some(AfterExit::Shutdown(Ending::DebugExit {
                port: 0xf4,
                value: 3
            }))
        );
    }
}
