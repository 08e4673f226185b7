//! Child processes for the bench: stdout and stderr read line by line in threads, each
//! line with the time it was read, so a test waits for a line with a deadline instead of
//! sleeping; the process is killed by its pid when dropped.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pipe {
    Stdout,
    Stderr,
}

/// One output stream: its lines with the time each was read, and whether it ended.
#[derive(Default)]
pub struct Stream {
    pub lines: Vec<(Instant, String)>,
    pub eof: bool,
}

impl Stream {
    /// The `n`-th (1-based) line containing `needle`.
    pub fn nth(&self, needle: &str, n: usize) -> Option<(Instant, String)> {
        self.lines
            .iter()
            .filter(|(_, l)| l.contains(needle))
            .nth(n.saturating_sub(1))
            .cloned()
    }

    pub fn count(&self, needle: &str) -> usize {
        self.lines
            .iter()
            .filter(|(_, l)| l.contains(needle))
            .count()
    }

    pub fn text(&self) -> Vec<String> {
        self.lines.iter().map(|(_, l)| l.clone()).collect()
    }
}

struct Captured {
    streams: Mutex<[Stream; 2]>,
    changed: Condvar,
}

/// A child process with its stdout and stderr read line by line in threads; killed (by
/// its pid) when dropped if it is still running.
pub struct Proc {
    name: String,
    child: Child,
    captured: Arc<Captured>,
}

fn read_lines(from: impl Read, captured: &Captured, idx: usize) {
    let mut r = BufReader::new(from);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                if buf.last() == Some(&b'\n') {
                    buf.pop();
                }
                let line = String::from_utf8_lossy(&buf).into_owned();
                captured.streams.lock().unwrap()[idx]
                    .lines
                    .push((Instant::now(), line));
                captured.changed.notify_all();
            }
        }
    }
    captured.streams.lock().unwrap()[idx].eof = true;
    captured.changed.notify_all();
}

impl Proc {
    pub fn spawn(name: &str, mut command: Command) -> Proc {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("starting {name} ({command:?}): {e}"));
        let captured = Arc::new(Captured {
            streams: Mutex::new([Stream::default(), Stream::default()]),
            changed: Condvar::new(),
        });
        let out = child.stdout.take().unwrap();
        let err = child.stderr.take().unwrap();
        let c = Arc::clone(&captured);
        thread::spawn(move || read_lines(out, &c, 0));
        let c = Arc::clone(&captured);
        thread::spawn(move || read_lines(err, &c, 1));
        Proc {
            name: name.to_owned(),
            child,
            captured,
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    pub fn lines(&self, pipe: Pipe) -> Vec<String> {
        self.captured.streams.lock().unwrap()[pipe as usize].text()
    }

    pub fn stdout(&self) -> Vec<String> {
        self.lines(Pipe::Stdout)
    }

    pub fn stderr(&self) -> Vec<String> {
        self.lines(Pipe::Stderr)
    }

    /// Both streams, for failure messages.
    pub fn transcript(&self) -> String {
        let s = self.captured.streams.lock().unwrap();
        format!(
            "--- {} stdout ---\n{}\n--- {} stderr ---\n{}",
            self.name,
            s[0].text().join("\n"),
            self.name,
            s[1].text().join("\n")
        )
    }

    /// Waits until `f` finds something in the output; panics with the transcript after
    /// `timeout`, or as soon as both streams have ended without it.
    pub fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut(&[Stream; 2]) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        let mut s = self.captured.streams.lock().unwrap();
        loop {
            if let Some(t) = f(&s) {
                return t;
            }
            let ended = s[0].eof && s[1].eof;
            let now = Instant::now();
            if ended || now >= deadline {
                drop(s);
                panic!(
                    "{} {} {what}\n{}",
                    self.name,
                    if ended {
                        "ended before"
                    } else {
                        "timed out waiting for"
                    },
                    self.transcript()
                );
            }
            s = self
                .captured
                .changed
                .wait_timeout(s, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// The `n`-th (1-based) line of `pipe` containing `needle`, with the time it was read.
    pub fn wait_nth(
        &self,
        pipe: Pipe,
        needle: &str,
        n: usize,
        timeout: Duration,
    ) -> (Instant, String) {
        self.wait_until(
            &format!("{pipe:?} line #{n} with '{needle}'"),
            timeout,
            |s| s[pipe as usize].nth(needle, n),
        )
    }

    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> (Instant, String) {
        self.wait_nth(Pipe::Stderr, needle, 1, timeout)
    }

    pub fn wait_stdout(&self, needle: &str, timeout: Duration) -> (Instant, String) {
        self.wait_nth(Pipe::Stdout, needle, 1, timeout)
    }

    pub fn count(&self, pipe: Pipe, needle: &str) -> usize {
        self.captured.streams.lock().unwrap()[pipe as usize].count(needle)
    }

    /// The exit status if the process has ended.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), sig)
            .unwrap_or_else(|e| panic!("kill {} ({}): {e}", self.pid(), self.name));
    }

    /// Waits for the exit with bounded polling; panics with the transcript on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.exited() {
                // The readers may still hold the last lines: wait for both ends.
                self.wait_until("end of output", Duration::from_secs(2), |s| {
                    (s[0].eof && s[1].eof).then_some(())
                });
                return st;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} did not exit within {timeout:?}\n{}",
                    self.name,
                    self.transcript()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Path of the executable now running as this pid.
    pub fn exe(&self) -> PathBuf {
        std::fs::read_link(format!("/proc/{}/exe", self.pid())).unwrap()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
