//! The life of one wpa_supplicant and what its events mean, as a pure state machine: it
//! is started, its control socket opened once it is there, restarted with a back-off
//! when it exits; its events become console lines and the state `qinit status` shows.
//! Inputs carry `now`; outputs are `Action`s the adapter (supplicant.rs) carries out.

use std::collections::VecDeque;
use std::time::Duration;

use crate::clock::Uptime;
use crate::log::escape;
use crate::net::wifi::control::{self, Association, Event};

/// How often the control socket is tried while wpa_supplicant starts, and after
/// `CONTROL_PATIENCE` without it (one line then says so).
const CONTROL_RETRY: Duration = Duration::from_millis(100);
const CONTROL_RETRY_SLOW: Duration = Duration::from_secs(2);
const CONTROL_PATIENCE: Duration = Duration::from_secs(10);
/// The first restart's delay, doubled for each short run in a row, up to the most.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MOST: Duration = Duration::from_secs(30);
/// A run this long resets the back-off.
const STABLE_RUN: Duration = Duration::from_secs(60);

/// The requests we send on the control socket; replies come in the same order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    Attach,
    Status,
    SignalPoll,
}

impl Query {
    pub fn command(self) -> &'static str {
        match self {
            Query::Attach => "ATTACH",
            Query::Status => "STATUS",
            Query::SignalPoll => "SIGNAL_POLL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Start wpa_supplicant; answer with `spawned`.
    Spawn,
    /// Open and connect the control socket; answer with `control_opened`.
    OpenControl,
    /// Close the control socket (its daemon is gone).
    CloseControl,
    Send(Query),
    Log(String),
    /// The new text of the state file `qinit status` reads.
    State(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Daemon {
    /// Not running; started at `at`.
    Waiting {
        at: Uptime,
    },
    /// Started; its control socket is tried from `next_try` on.
    Starting {
        pid: u32,
        since: Uptime,
        next_try: Uptime,
        /// Whether the console was told the socket is late.
        said_late: bool,
    },
    Running {
        pid: u32,
        since: Uptime,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Assoc {
    /// Not associated; `said_not_found` keeps "not found" to one line per search.
    Searching {
        said_not_found: bool,
    },
    /// Associated; STATUS and SIGNAL_POLL are being asked before the line is written.
    Joining(Association),
    Joined(Association),
}

#[derive(Debug)]
pub struct Supervisor {
    iface: String,
    ssid: Vec<u8>,
    daemon: Daemon,
    /// Short runs in a row, for the back-off.
    failures: u32,
    link: Assoc,
    pending: VecDeque<Query>,
}

impl Supervisor {
    /// A supervisor that starts wpa_supplicant at its first `tick`.
    pub fn new(iface: &str, ssid: &[u8], now: Uptime) -> Self {
        Supervisor {
            iface: iface.to_string(),
            ssid: ssid.to_vec(),
            daemon: Daemon::Waiting { at: now },
            failures: 0,
            link: Assoc::Searching {
                said_not_found: false,
            },
            pending: VecDeque::new(),
        }
    }

    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// When `tick` next has something to do.
    pub fn poll_at(&self) -> Option<Uptime> {
        match self.daemon {
            Daemon::Waiting { at } => Some(at),
            Daemon::Starting { next_try, .. } => Some(next_try),
            Daemon::Running { .. } => None,
        }
    }

    pub fn tick(&mut self, now: Uptime) -> Vec<Action> {
        match self.daemon {
            Daemon::Waiting { at } if at <= now => vec![Action::Spawn],
            Daemon::Starting { next_try, .. } if next_try <= now => vec![Action::OpenControl],
            _ => Vec::new(),
        }
    }

    fn backoff(&self) -> Duration {
        let doubled = BACKOFF_FIRST.saturating_mul(1u32 << self.failures.min(5));
        doubled.min(BACKOFF_MOST)
    }

    pub fn spawned(&mut self, now: Uptime, result: Result<u32, String>) -> Vec<Action> {
        match result {
            Ok(pid) => {
                self.daemon = Daemon::Starting {
                    pid,
                    since: now,
                    next_try: now + CONTROL_RETRY,
                    said_late: false,
                };
                Vec::new()
            }
            Err(e) => {
                let wait = self.backoff();
                self.failures = self.failures.saturating_add(1);
                self.daemon = Daemon::Waiting { at: now + wait };
                vec![Action::Log(format!(
                    "{}: {e}; trying again in {} s",
                    self.iface,
                    wait.as_secs()
                ))]
            }
        }
    }

    pub fn control_opened(&mut self, now: Uptime, result: Result<(), String>) -> Vec<Action> {
        let Daemon::Starting {
            pid,
            since,
            said_late,
            ..
        } = self.daemon
        else {
            return Vec::new();
        };
        match result {
            Ok(()) => {
                self.daemon = Daemon::Running { pid, since };
                self.pending.clear();
                self.send(Query::Attach)
            }
            Err(e) => {
                crate::debug!("{}: wpa_supplicant control socket: {e}", self.iface);
                let patient = now.saturating_sub(since) < CONTROL_PATIENCE;
                let retry = if patient {
                    CONTROL_RETRY
                } else {
                    CONTROL_RETRY_SLOW
                };
                self.daemon = Daemon::Starting {
                    pid,
                    since,
                    next_try: now + retry,
                    said_late: said_late || !patient,
                };
                if !patient && !said_late {
                    return vec![Action::Log(format!(
                        "{}: no wpa_supplicant control socket after {} s ({e}); trying every {} s",
                        self.iface,
                        CONTROL_PATIENCE.as_secs(),
                        CONTROL_RETRY_SLOW.as_secs()
                    ))];
                }
                Vec::new()
            }
        }
    }

    fn send(&mut self, q: Query) -> Vec<Action> {
        self.pending.push_back(q);
        vec![Action::Send(q)]
    }

    /// A request could not be sent: no reply will come for it.
    pub fn send_failed(&mut self, q: Query) {
        if self.pending.back() == Some(&q) {
            self.pending.pop_back();
        }
    }

    /// A child ended; returns None when it is not ours.
    pub fn exited(&mut self, pid: u32, status: &str, now: Uptime) -> Option<Vec<Action>> {
        let since = match self.daemon {
            Daemon::Starting { pid: p, since, .. } | Daemon::Running { pid: p, since }
                if p == pid =>
            {
                since
            }
            _ => return None,
        };
        if now.saturating_sub(since) >= STABLE_RUN {
            self.failures = 0;
        }
        let wait = self.backoff();
        self.failures = self.failures.saturating_add(1);
        self.daemon = Daemon::Waiting { at: now + wait };
        self.pending.clear();
        let was_joined = matches!(self.link, Assoc::Joined(_));
        self.link = Assoc::Searching {
            said_not_found: false,
        };
        let mut out = vec![
            Action::CloseControl,
            Action::Log(format!(
                "{}: wpa_supplicant exited ({status}), restarting in {} s",
                self.iface,
                wait.as_secs()
            )),
        ];
        if was_joined {
            out.push(Action::State(self.state_text()));
        }
        Some(out)
    }

    /// One datagram from the control socket.
    pub fn message(&mut self, bytes: &[u8]) -> Vec<Action> {
        if control::is_event(bytes) {
            return self.event(control::event(bytes));
        }
        match (self.pending.pop_front(), &mut self.link) {
            (Some(Query::Attach), _) => {
                if bytes.starts_with(b"OK") {
                    vec![Action::State(self.state_text())]
                } else {
                    vec![Action::Log(format!(
                        "{}: wpa_supplicant refused ATTACH: {}",
                        self.iface,
                        escape(bytes.trim_ascii())
                    ))]
                }
            }
            (Some(Query::Status), Assoc::Joining(a)) => {
                control::read_status(bytes, a);
                Vec::new()
            }
            (Some(Query::SignalPoll), Assoc::Joining(a)) => {
                control::read_signal(bytes, a);
                let a = a.clone();
                let line = self.joined_line(&a);
                self.link = Assoc::Joined(a);
                vec![Action::Log(line), Action::State(self.state_text())]
            }
            _ => Vec::new(),
        }
    }

    fn ssid_shown(&self) -> String {
        format!("\"{}\"", escape(&self.ssid))
    }

    fn joined_line(&self, a: &Association) -> String {
        let mut parts = Vec::new();
        parts.extend(a.security.map(str::to_string));
        parts.extend(a.freq_mhz.map(|f| format!("{f} MHz")));
        parts.extend(a.signal_dbm.map(|s| format!("{s} dBm")));
        let detail = if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        };
        format!("{}: joined {}{detail}", self.iface, self.ssid_shown())
    }

    fn event(&mut self, event: Event) -> Vec<Action> {
        match event {
            Event::Connected => {
                self.link = Assoc::Joining(Association::default());
                let mut out = self.send(Query::Status);
                out.extend(self.send(Query::SignalPoll));
                out
            }
            Event::WrongKey => vec![Action::Log(format!(
                "{}: authentication failed: wrong passphrase?",
                self.iface
            ))],
            Event::TempDisabled(reason) => vec![Action::Log(format!(
                "{}: cannot join {} ({reason}), retrying",
                self.iface,
                self.ssid_shown()
            ))],
            Event::NetworkNotFound => match self.link {
                Assoc::Searching {
                    said_not_found: false,
                } => {
                    self.link = Assoc::Searching {
                        said_not_found: true,
                    };
                    vec![Action::Log(format!(
                        "{}: network {} not found, retrying",
                        self.iface,
                        self.ssid_shown()
                    ))]
                }
                _ => Vec::new(),
            },
            Event::Disconnected(reason) => {
                let was = std::mem::replace(
                    &mut self.link,
                    Assoc::Searching {
                        said_not_found: false,
                    },
                );
                if !matches!(was, Assoc::Joined(_) | Assoc::Joining(_)) {
                    return Vec::new();
                }
                let why = reason.map_or(String::new(), |r| format!(" (reason {r})"));
                vec![
                    Action::Log(format!(
                        "{}: left {}{why}, searching again",
                        self.iface,
                        self.ssid_shown()
                    )),
                    Action::State(self.state_text()),
                ]
            }
            Event::Other => Vec::new(),
        }
    }

    /// The state file: key=value lines for `qinit status`.
    pub fn state_text(&self) -> String {
        let mut out = format!("wifi={}\nssid={}\n", self.iface, self.ssid_shown());
        match &self.link {
            Assoc::Joined(a) => {
                out.push_str("state=joined\n");
                if let Some(b) = a.bssid {
                    out.push_str(&format!("bssid={}\n", crate::dhcp::acd::mac_text(&b)));
                }
                if let Some(s) = a.security {
                    out.push_str(&format!("security={s}\n"));
                }
                if let Some(f) = a.freq_mhz {
                    out.push_str(&format!("frequency={f} MHz\n"));
                }
                if let Some(s) = a.signal_dbm {
                    out.push_str(&format!("signal={s} dBm\n"));
                }
            }
            _ => out.push_str("state=searching\n"),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: f64) -> Uptime {
        Duration::from_secs_f64(secs)
    }

    fn logs(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Log(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }

    /// A supervisor whose wpa_supplicant (pid 7) runs and is attached, at 1 s.
    fn running() -> Supervisor {
        let mut sup = Supervisor::new("wlan0", b"home", s(0.0));
        assert_eq!(sup.tick(s(0.0)), vec![Action::Spawn]);
        assert!(sup.spawned(s(0.0), Ok(7)).is_empty());
        assert_eq!(sup.poll_at(), Some(s(0.1)));
        assert_eq!(sup.tick(s(0.1)), vec![Action::OpenControl]);
        assert!(sup.control_opened(s(0.1), Err("ENOENT".into())).is_empty());
        assert_eq!(sup.tick(s(0.2)), vec![Action::OpenControl]);
        assert_eq!(
            sup.control_opened(s(0.2), Ok(())),
            vec![Action::Send(Query::Attach)]
        );
        assert_eq!(sup.poll_at(), None);
        let a = sup.message(b"OK\n");
        assert!(matches!(&a[..], [Action::State(t)] if t.contains("state=searching")));
        sup
    }

    fn join(sup: &mut Supervisor) -> Vec<Action> {
        let a = sup.message(
            b"<3>CTRL-EVENT-CONNECTED - Connection to 02:00:00:00:01:00 completed [id=0 id_str=]",
        );
        assert_eq!(
            a,
            vec![Action::Send(Query::Status), Action::Send(Query::SignalPoll)]
        );
        assert!(
            sup.message(
                b"bssid=02:00:00:00:01:00\nfreq=2437\nkey_mgmt=WPA2-PSK\nwpa_state=COMPLETED\n"
            )
            .is_empty()
        );
        sup.message(b"RSSI=-40\nLINKSPEED=54\nNOISE=9999\nFREQUENCY=2437\n")
    }

    #[test]
    fn joins_and_says_so_with_frequency_and_signal() {
        let mut sup = running();
        let a = join(&mut sup);
        assert_eq!(
            logs(&a),
            vec!["wlan0: joined \"home\" (WPA2, 2437 MHz, -40 dBm)"]
        );
        let state = sup.state_text();
        for want in [
            "ssid=\"home\"\n",
            "state=joined\n",
            "bssid=02:00:00:00:01:00\n",
            "frequency=2437 MHz\n",
            "signal=-40 dBm\n",
        ] {
            assert!(state.contains(want), "{want} in {state}");
        }
        // Events interleave with replies: an event never takes a reply's place.
        let a = sup.message(b"<3>CTRL-EVENT-DISCONNECTED bssid=02:00:00:00:01:00 reason=3");
        assert_eq!(
            logs(&a),
            vec!["wlan0: left \"home\" (reason 3), searching again"]
        );
        assert!(sup.state_text().contains("state=searching"));
        assert_eq!(
            logs(&join(&mut sup)),
            vec!["wlan0: joined \"home\" (WPA2, 2437 MHz, -40 dBm)"]
        );
    }

    #[test]
    fn wrong_key_and_not_found_are_said_once_per_search() {
        let mut sup = running();
        let nf = b"<3>CTRL-EVENT-NETWORK-NOT-FOUND";
        assert_eq!(
            logs(&sup.message(nf)),
            vec!["wlan0: network \"home\" not found, retrying"]
        );
        assert!(sup.message(nf).is_empty(), "once, not at every scan");
        let wrong = b"<3>CTRL-EVENT-SSID-TEMP-DISABLED id=0 ssid=\"home\" auth_failures=1 duration=10 reason=WRONG_KEY";
        assert_eq!(
            logs(&sup.message(wrong)),
            vec!["wlan0: authentication failed: wrong passphrase?"]
        );
        join(&mut sup);
        sup.message(b"<3>CTRL-EVENT-DISCONNECTED reason=4");
        assert_eq!(
            logs(&sup.message(nf)).len(),
            1,
            "a new search says it again"
        );
    }

    #[test]
    fn an_exit_restarts_it_with_a_growing_backoff() {
        let mut sup = running();
        join(&mut sup);
        assert_eq!(sup.exited(8, "exit status 1", s(2.0)), None, "not ours");
        let a = sup.exited(7, "killed by SIGKILL", s(2.0)).unwrap();
        assert_eq!(a.first(), Some(&Action::CloseControl));
        assert_eq!(
            logs(&a),
            vec!["wlan0: wpa_supplicant exited (killed by SIGKILL), restarting in 1 s"]
        );
        assert!(matches!(a.last(), Some(Action::State(t)) if t.contains("state=searching")));
        assert_eq!(sup.poll_at(), Some(s(3.0)));
        assert!(sup.tick(s(2.5)).is_empty());
        assert_eq!(sup.tick(s(3.0)), vec![Action::Spawn]);
        sup.spawned(s(3.0), Ok(9));
        let a = sup.exited(9, "exit status 255", s(3.5)).unwrap();
        assert!(logs(&a)[0].ends_with("restarting in 2 s"), "{a:?}");
        assert_eq!(sup.tick(s(5.5)), vec![Action::Spawn]);
        let a = sup.spawned(s(5.5), Err("start /sbin/wpa_supplicant: ENOENT".into()));
        assert_eq!(
            logs(&a),
            vec!["wlan0: start /sbin/wpa_supplicant: ENOENT; trying again in 4 s"]
        );
        for _ in 0..10 {
            let at = sup.poll_at().unwrap();
            sup.spawned(at, Err("no".into()));
        }
        assert_eq!(sup.backoff(), BACKOFF_MOST);
        // A long run starts the back-off over.
        let at = sup.poll_at().unwrap();
        sup.spawned(at, Ok(10));
        let a = sup.exited(10, "exit status 0", at + STABLE_RUN).unwrap();
        assert!(logs(&a)[0].ends_with("restarting in 1 s"), "{a:?}");
    }

    #[test]
    fn a_control_socket_that_never_comes_is_said_once_and_tried_slower() {
        let mut sup = Supervisor::new("wlan0", b"home", s(0.0));
        sup.spawned(s(0.0), Ok(7));
        let mut lines = Vec::new();
        let mut tries = 0;
        while let Some(at) = sup.poll_at().filter(|t| *t < s(60.0)) {
            assert_eq!(sup.tick(at), vec![Action::OpenControl]);
            lines.extend(logs(&sup.control_opened(at, Err("ENOENT".into()))));
            tries += 1;
        }
        assert_eq!(
            lines,
            vec!["wlan0: no wpa_supplicant control socket after 10 s (ENOENT); trying every 2 s"]
        );
        assert!((100..130).contains(&tries), "{tries} tries in a minute");
    }

    #[test]
    fn hostile_ssid_bytes_are_escaped() {
        let mut sup = Supervisor::new("wlan0", b"a\x1b[2Jb", s(0.0));
        sup.spawned(s(0.0), Ok(1));
        sup.control_opened(s(0.1), Ok(()));
        sup.message(b"OK");
        let l = logs(&sup.message(b"<3>CTRL-EVENT-NETWORK-NOT-FOUND"));
        assert!(!l[0].contains('\x1b'), "{l:?}");
    }
}
