//! What PID 1 tells the host through the `vmm.notify_socket` credential, and when:
//! `STATUS=` at the boot's milestones, `READY=1` when the shell or appliance starts with
//! the network configured, `STOPPING=1` when shutdown begins, with `EXIT_STATUS=` when the
//! appliance's exit is why. Messages are composed purely; system::notify sends them.
//!
//! A host that does not listen costs the boot nothing: messages wait in a queue, one
//! connection at a time is in progress, and the event loop finishes it when its fd is
//! ready, so nothing blocks the boot. A failure is one console line (the same one again
//! only with qinit.debug); a host that has not answered within `CONNECT_BOUND` is not
//! asked again. Only shutdown waits, at most `FLUSH_BOUND`, for what is still queued.

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use crate::clock::{Uptime, uptime};
use crate::log::ms;
use crate::system::notify::{self, Address, Pending, Started};
use crate::system::shutdown::Kind;
use crate::{debug, info};

/// How long a connection may take before the host is taken as gone. A host that
/// listens answers in microseconds on KVM, in milliseconds under a busy TCG; one that
/// does not listen refuses at once.
pub const CONNECT_BOUND: Duration = Duration::from_secs(1);
/// The most shutdown waits for the messages still queued (STOPPING=1 among them).
pub const FLUSH_BOUND: Duration = Duration::from_millis(500);

/// One message: `KEY=VALUE` lines. Values are made single-line and printable.
pub fn message(assignments: &[(&str, &str)]) -> String {
    assignments
        .iter()
        .map(|(k, v)| format!("{k}={}", crate::log::escape(v.as_bytes())))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The status line for a timeline milestone, once per name; None for the ones the host
/// has no use for.
pub fn milestone(mark: &str) -> Option<&'static str> {
    match mark {
        "carrier" => Some("Network: carrier up"),
        "lease" => Some("Network: configured by DHCP"),
        _ => None,
    }
}

/// `STOPPING=1`, with `EXIT_STATUS=` when the appliance's exit is why.
pub fn stopping(kind: Kind, exit_status: Option<i32>) -> String {
    let status = format!("Stopping: {}", kind.name());
    let code = exit_status.map(|c| c.to_string());
    let mut lines = vec![("STOPPING", "1"), ("STATUS", status.as_str())];
    if let Some(code) = &code {
        lines.push(("EXIT_STATUS", code.as_str()));
    }
    message(&lines)
}

pub fn ready(program: &str) -> String {
    message(&[("READY", "1"), ("STATUS", &format!("Running {program}"))])
}

struct InFlight {
    pending: Pending,
    message: String,
    since: Uptime,
}

pub struct Notify {
    addr: Option<Address>,
    queue: VecDeque<String>,
    in_flight: Option<InFlight>,
    /// The host did not answer within the bound once: it is not asked again.
    gave_up: bool,
    /// Milestones already told.
    told: Vec<&'static str>,
    /// The last failure logged, not to log it again.
    last_failure: Option<String>,
    /// Time spent in notify's own calls: what it cost the boot.
    spent: Duration,
}

impl Notify {
    pub fn new(addr: Option<Address>) -> Notify {
        Notify {
            addr,
            queue: VecDeque::new(),
            in_flight: None,
            gave_up: false,
            told: Vec::new(),
            last_failure: None,
            spent: Duration::ZERO,
        }
    }

    pub fn enabled(&self) -> bool {
        self.addr.is_some()
    }

    /// The time notify's calls took so far, waits at shutdown aside.
    pub fn spent(&self) -> Duration {
        self.spent
    }

    pub fn status(&mut self, text: &str) {
        self.send(message(&[("STATUS", text)]));
    }

    /// A milestone of the timeline, told once.
    pub fn milestone(&mut self, mark: &str) {
        if let Some(text) = milestone(mark)
            && !self.told.contains(&text)
        {
            self.told.push(text);
            self.status(text);
        }
    }

    /// Queues `msg`; it goes as soon as the messages before it have.
    pub fn send(&mut self, msg: String) {
        if self.addr.is_none() || self.gave_up {
            return;
        }
        self.queue.push_back(msg);
        self.timed(|n| n.pump());
    }

    /// The connection in progress, for the loop to poll (POLLOUT).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.in_flight.as_ref().map(|f| f.pending.fd())
    }

    /// When the connection in progress times out.
    pub fn next_wakeup(&self) -> Option<Uptime> {
        self.in_flight.as_ref().map(|f| f.since + CONNECT_BOUND)
    }

    /// The loop saw the fd ready: the message goes on that connection.
    pub fn ready(&mut self) {
        self.timed(|n| {
            if let Some(f) = n.in_flight.take() {
                let took = uptime().saturating_sub(f.since);
                let result = f.pending.finish(&f.message);
                n.outcome(&f.message, result, took);
            }
            n.pump();
        });
    }

    /// Drops a connection that has not answered in time.
    pub fn tick(&mut self, now: Uptime) {
        if self
            .in_flight
            .as_ref()
            .is_some_and(|f| now >= f.since + CONNECT_BOUND)
        {
            self.timed(|n| n.give_up());
        }
    }

    /// At shutdown: waits up to `FLUSH_BOUND` for every queued message to go.
    pub fn flush(&mut self) {
        let end = uptime() + FLUSH_BOUND;
        while let Some(f) = self.in_flight.take() {
            let result = f
                .pending
                .wait_and_finish(&f.message, end.saturating_sub(uptime()));
            let failed = result.is_err();
            self.outcome(&f.message, result, uptime().saturating_sub(f.since));
            if failed && uptime() >= end {
                self.gave_up = true;
                self.queue.clear();
                return;
            }
            self.pump();
        }
    }

    /// Starts the next queued messages until one needs to wait for its connection.
    fn pump(&mut self) {
        let Some(addr) = self.addr else {
            return;
        };
        while self.in_flight.is_none() && !self.gave_up {
            let Some(msg) = self.queue.pop_front() else {
                return;
            };
            let since = uptime();
            match notify::start(&addr, &msg) {
                Ok(Started::Sent) => self.outcome(&msg, Ok(()), uptime().saturating_sub(since)),
                Ok(Started::Connecting(pending)) => {
                    self.in_flight = Some(InFlight {
                        pending,
                        message: msg,
                        since,
                    })
                }
                Err(e) => self.outcome(&msg, Err(e), uptime().saturating_sub(since)),
            }
        }
    }

    fn give_up(&mut self) {
        let what = self
            .in_flight
            .take()
            .map(|f| first_line(&f.message).to_owned())
            .unwrap_or_default();
        self.gave_up = true;
        self.queue.clear();
        if let Some(addr) = self.addr {
            info!(
                "notify {addr}: {what} not sent: connect: no answer within {}; nothing more will be sent",
                ms(CONNECT_BOUND)
            );
        }
    }

    /// One line for a failure; a debug line for a delivery. `took`: from the start of
    /// the connection to its outcome.
    /// The same failure again is a debug line: a host that is not there does not fill
    /// the console.
    fn outcome(&mut self, msg: &str, result: Result<(), String>, took: Duration) {
        let Some(addr) = self.addr else {
            return;
        };
        let what = first_line(msg);
        match result {
            Ok(()) => {
                self.last_failure = None;
                debug!("notify {addr}: sent {what} ({})", ms(took));
            }
            Err(e) if self.last_failure.as_ref() == Some(&e) => {
                debug!("notify {addr}: {what} not sent: {e} (after {})", ms(took));
            }
            Err(e) => {
                info!(
                    "notify {addr}: {what} not sent: {e} (after {}); the same failure again is logged only with qinit.debug",
                    ms(took)
                );
                self.last_failure = Some(e);
            }
        }
    }

    fn timed(&mut self, f: impl FnOnce(&mut Notify)) {
        let start = uptime();
        f(self);
        self.spent += uptime().saturating_sub(start);
    }
}

fn first_line(msg: &str) -> &str {
    msg.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_newline_separated_assignments() {
        assert_eq!(ready("/bin/sh"), "READY=1\nSTATUS=Running /bin/sh");
        assert_eq!(
            stopping(Kind::PowerOff, Some(3)),
            "STOPPING=1\nSTATUS=Stopping: power off\nEXIT_STATUS=3"
        );
        assert_eq!(
            stopping(Kind::Reboot, None),
            "STOPPING=1\nSTATUS=Stopping: reboot"
        );
    }

    #[test]
    fn a_value_cannot_add_a_line() {
        let m = ready("/app\nREADY=0");
        assert_eq!(m.lines().count(), 2, "{m}");
        assert!(m.ends_with("Running /app\\x0aREADY=0"), "{m}");
    }

    #[test]
    fn milestones_are_told_once_and_only_known_ones() {
        assert_eq!(milestone("pid1"), None);
        assert_eq!(milestone("phy link"), None);
        assert!(milestone("lease").is_some());
        let mut n = Notify::new(None);
        n.milestone("lease");
        n.milestone("lease");
        n.milestone("pid1");
        assert_eq!(n.told, vec!["Network: configured by DHCP"]);
        assert!(!n.enabled());
        assert_eq!(n.spent(), Duration::ZERO, "nothing sent without an address");
    }
}
