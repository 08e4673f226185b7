//! Harness for the qemu suites: boot qinit from out/ under TCG, drive its serial console
//! the way a user at the keyboard would, and serve HTTP on the host's loopback.
//!
//! Every test that boots qemu is `#[ignore]`d, so a plain `cargo test` reports it as
//! ignored; `./build.sh test` runs it with `--include-ignored`, and then a missing image,
//! qemu or root privilege fails it: a test that cannot run never passes.

#![allow(
    dead_code,
    reason = "each test binary uses its own part of the harness"
)]
#![allow(
    clippy::panic,
    reason = "test harness: a step that fails fails the test"
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rexpect::process::{Signal, WaitStatus};
use rexpect::session::{PtySession, spawn_command};

/// Bound for one console answer (a command's output, a console line).
pub const EXPECT_TIMEOUT: Duration = Duration::from_secs(60);
/// Bound for a fresh boot to reach a shell: SeaBIOS, the kernel and a DHCP lease under
/// TCG, with another guest booting on the other core.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(90);
/// How often `wait_shell` types its probe again; input sent before the shell opens the
/// console may be dropped.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
/// How long a shell waits for the drivers loading behind it (`try_wait_shell`).
const BACKGROUND_DRIVERS: Duration = Duration::from_secs(20);

/// A missing prerequisite fails the test: these tests are `#[ignore]`d, so they run only
/// when asked for (`./build.sh test`), and then they must not pass without running.
fn missing(what: &str) -> ! {
    panic!("{what}: cannot run the qemu suite (./build.sh test installs what it needs)");
}

/// The kernel and initramfs built by ./build.sh.
pub struct Images {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
}

/// The images and qemu; the test fails without them.
pub fn images() -> Images {
    let out = std::env::var_os("QINIT_OUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("out"));
    let images = Images {
        kernel: out.join("vmlinuz"),
        // A link to the image, whatever its compression (build.sh's COMPRESS=).
        initrd: out.join("initrd"),
    };
    for file in [&images.kernel, &images.initrd] {
        if !file.is_file() {
            missing(&format!("{} is missing (run ./build.sh)", file.display()));
        }
    }
    if !qemu_installed() {
        missing("qemu-system-x86_64 is not installed");
    }
    images
}

fn qemu_installed() -> bool {
    Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success())
}

/// Fails the test unless it runs as root.
pub fn require_root(why: &str) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    // "Uid:\treal\teffective\tsaved\tfs"
    let euid = status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .map(str::to_owned);
    if euid.as_deref() != Some("0") {
        missing(&format!("not root, which {why} needs"));
    }
}

/// The guest's network card and what is behind it.
pub enum Net {
    /// qemu's user networking (slirp) with `restrict=off`; `options` is appended to the
    /// `-netdev user` list, e.g. `hostname=vm1,domainname=example.test`.
    User { options: String },
    /// A tap device that already exists in network namespace `netns`; qemu is started
    /// inside that namespace to open it.
    Tap { netns: String, ifname: String },
    /// No network from the harness: the test passes its own -netdev/-device arguments.
    None,
}

/// One qemu guest on a pty, killed (by its pid) when dropped.
pub struct Guest {
    name: String,
    session: PtySession,
    /// Everything the console printed so far, for failure messages.
    transcript: String,
    /// Console output not yet consumed by an expectation.
    pending: String,
    started: Instant,
    exited: Option<WaitStatus>,
    /// Makes each probe and marker unique, so a late answer to an earlier command can
    /// never satisfy a later expectation.
    serial: u32,
}

impl Guest {
    /// Boots the images with `console=ttyS0 <kernel_args>` on the command line.
    pub fn boot(name: &str, images: &Images, kernel_args: &str, net: &Net) -> Guest {
        Guest::boot_with(name, images, kernel_args, net, &[])
    }

    /// Like `boot`, with more qemu arguments at the end (e.g. `-drive ...`).
    pub fn boot_with(
        name: &str,
        images: &Images,
        kernel_args: &str,
        net: &Net,
        qemu_args: &[&str],
    ) -> Guest {
        let append = format!("console=ttyS0 {kernel_args}").trim_end().to_owned();
        let netdev = match net {
            Net::User { options } if options.is_empty() => "user,id=n0,restrict=off".to_owned(),
            Net::User { options } => format!("user,id=n0,restrict=off,{options}"),
            Net::Tap { ifname, .. } => {
                format!("tap,id=n0,ifname={ifname},script=no,downscript=no")
            }
            Net::None => String::new(),
        };
        let mut command = match net {
            Net::Tap { netns, .. } => {
                // `ip netns exec` execs qemu in place: the pid we hold is qemu's.
                let mut c = Command::new("ip");
                c.args(["netns", "exec", netns, "qemu-system-x86_64"]);
                c
            }
            Net::User { .. } | Net::None => Command::new("qemu-system-x86_64"),
        };
        // TCG, the default accelerator: /dev/kvm exists on these machines but a KVM boot
        // hangs (shared/docs/qemu-testing.md). QEMU_KVM=1 asks for KVM where it works,
        // with qemu falling back to TCG by itself, as qemu/run.sh does by default.
        if std::env::var("QEMU_KVM").as_deref() == Ok("1") {
            eprintln!("[{name}] qemu: KVM asked for (QEMU_KVM=1), TCG if it cannot start");
            command.args(["-accel", "kvm", "-accel", "tcg", "-cpu", "max"]);
        } else {
            eprintln!("[{name}] qemu: TCG (QEMU_KVM=1 for KVM)");
        }
        command.args(["-m", "256M", "-no-reboot"]);
        command.args(["-nographic", "-serial", "mon:stdio"]);
        command.arg("-kernel").arg(&images.kernel);
        command.arg("-initrd").arg(&images.initrd);
        command.args(["-append", &append]);
        if !matches!(net, Net::None) {
            command.args(["-device", "virtio-rng-pci"]);
        }
        if !netdev.is_empty() {
            command.args(["-netdev", &netdev, "-device", "e1000,netdev=n0"]);
        }
        command.args(qemu_args);
        let shown = format!("{command:?}");
        let timeout_ms = u64::try_from(EXPECT_TIMEOUT.as_millis()).unwrap_or(u64::MAX);
        let session = spawn_command(command, Some(timeout_ms))
            .unwrap_or_else(|e| panic!("[{name}] cannot start {shown}: {e}"));
        let guest = Guest {
            name: name.to_owned(),
            session,
            transcript: String::new(),
            pending: String::new(),
            started: Instant::now(),
            exited: None,
            serial: 0,
        };
        guest.note(&format!("started {shown}"));
        guest
    }

    /// Prints a progress line with the host time since boot, for timing and debugging.
    pub fn note(&self, what: &str) {
        eprintln!(
            "[{} {:6.1}s] {what}",
            self.name,
            self.started.elapsed().as_secs_f64()
        );
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The whole console output so far.
    pub fn log(&mut self) -> String {
        self.read_available();
        printable(&self.transcript)
    }

    /// Moves whatever the console printed into `pending` and the transcript.
    fn read_available(&mut self) {
        while let Some(c) = self.session.try_read() {
            self.pending.push(c);
            self.transcript.push(c);
        }
    }

    fn check_alive(&mut self) {
        // With panic=0 (the default) a panicked kernel hangs instead of rebooting, so
        // qemu would not exit: fail now rather than at the next timeout.
        if self.transcript.contains("end Kernel panic") {
            panic!(
                "[{}] the guest kernel panicked at {:.1}s (see the transcript)",
                self.name,
                self.started.elapsed().as_secs_f64()
            );
        }
        if self.exited.is_none() {
            match self.session.process().status() {
                Some(WaitStatus::StillAlive) | None => return,
                Some(status) => self.exited = Some(status),
            }
        }
        self.read_available();
        panic!(
            "[{}] qemu exited ({:?}) at {:.1}s; console tail:\n{}",
            self.name,
            self.exited,
            self.started.elapsed().as_secs_f64(),
            tail(&self.pending, 2000)
        );
    }

    /// Waits up to `timeout` for `needle`; returns what came before it and consumes both.
    pub fn try_expect(&mut self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut last_alive_check = Instant::now();
        loop {
            self.read_available();
            if let Some(at) = self.pending.find(needle) {
                let before: String = self.pending.drain(..at).collect();
                self.pending.drain(..needle.len());
                return Some(before);
            }
            if Instant::now() >= deadline {
                return None;
            }
            if last_alive_check.elapsed() > Duration::from_millis(500) {
                self.check_alive();
                last_alive_check = Instant::now();
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Waits for `needle` on the console (within `EXPECT_TIMEOUT`); returns what came
    /// before it.
    pub fn expect(&mut self, needle: &str) -> String {
        self.expect_within(needle, EXPECT_TIMEOUT)
    }

    pub fn expect_within(&mut self, needle: &str, timeout: Duration) -> String {
        match self.try_expect(needle, timeout) {
            Some(before) => before,
            None => panic!(
                "[{}] no {needle:?} on the console within {timeout:?}; since the last match:\n{}",
                self.name,
                tail(&self.pending, 2000)
            ),
        }
    }

    /// Waits up to `timeout` for `needle` anywhere in the console output since boot,
    /// matched or not; consumes nothing.
    pub fn wait_log(&mut self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            self.read_available();
            if self.transcript.contains(needle) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            self.check_alive();
            thread::sleep(POLL_INTERVAL * 10);
        }
    }

    /// Forgets console output not yet matched, so the next expectation only sees what
    /// comes after this point.
    pub fn discard_pending(&mut self) {
        self.read_available();
        self.pending.clear();
    }

    pub fn send(&mut self, text: &str) {
        let name = &self.name;
        self.session
            .send(text)
            .and_then(|_| self.session.flush())
            .unwrap_or_else(|e| panic!("[{name}] cannot write to the console: {e}"));
    }

    pub fn send_line(&mut self, line: &str) {
        self.send(&format!("{line}\n"));
    }

    /// Types Ctrl-<c>, e.g. `send_control('c')`; `-serial mon:stdio` passes it to the guest.
    pub fn send_control(&mut self, c: char) {
        let name = &self.name;
        self.session
            .send_control(c)
            .unwrap_or_else(|e| panic!("[{name}] cannot send Ctrl-{c}: {e}"));
    }

    fn next_serial(&mut self) -> u32 {
        self.serial += 1;
        self.serial
    }

    /// Waits until a shell answers, whatever its prompt: types `echo R<n>TAG$((6*7))`
    /// every second until `R<n>TAG42` comes back. The echoed input holds the unexpanded
    /// `$((6*7))`, so only the shell's own output can match.
    pub fn wait_shell(&mut self) {
        self.wait_shell_within(BOOT_TIMEOUT);
    }

    pub fn wait_shell_within(&mut self, timeout: Duration) {
        if !self.try_wait_shell(timeout) {
            panic!(
                "[{}] no shell answered within {timeout:?}; since the last match:\n{}",
                self.name,
                tail(&self.pending, 3000)
            );
        }
    }

    /// Like `wait_shell_within`, but returns false instead of failing.
    pub fn try_wait_shell(&mut self, timeout: Duration) -> bool {
        let n = self.next_serial();
        let answer = format!("R{n}TAG42");
        let deadline = Instant::now() + timeout;
        loop {
            self.send_line(&format!("echo R{n}TAG$((6*7))"));
            if self.try_expect(&answer, PROBE_INTERVAL).is_some() {
                self.note("shell answers");
                // The drivers nothing waits for load behind the shell, and their log
                // lines would land in the output of the test's first commands: wait
                // for the last of them (bounded; a boot without them goes on).
                if !self.wait_log("qinit: modules: done in", BACKGROUND_DRIVERS) {
                    self.note("no `modules: done` line: going on");
                }
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
        }
    }

    /// Runs `command` in the guest's shell and returns its output (stdout and stderr,
    /// `\r` removed, without the echoed command line). The output is framed by two
    /// markers the shell computes (`QB<n>`, `QE<n>`), which the echoed input cannot hold.
    pub fn run(&mut self, command: &str) -> String {
        let n = self.next_serial() + 1000;
        let begin = format!("QB{n}");
        let end = format!("QE{n}");
        // stderr needs no redirection: the shell's stdout and stderr are both the console.
        // `a &; b` is a syntax error: a command sent to the background is already ended.
        let separator = if command.trim_end().ends_with('&') {
            " "
        } else {
            "; "
        };
        self.send_line(&format!(
            "echo QB$(({n}+0)); {command}{separator}echo QE$(({n}+0))"
        ));
        self.expect(&begin);
        let output = self.expect(&end).replace('\r', "");
        // The kernel's messages (qinit's log lines among them) reach the same console at
        // any time: a whole line of one is not the command's output (the log keeps it).
        let output = output
            .split('\n')
            .filter(|line| !is_kernel_message(line))
            .collect::<Vec<_>>()
            .join("\n");
        let output = output.strip_prefix('\n').unwrap_or(&output);
        let output = output.trim_end_matches('\n').to_owned();
        self.note(&format!("$ {command}\n{output}"));
        output
    }
}

/// Whether `line` is a kernel message as the console prints it: "[    11.305598] text".
pub fn is_kernel_message(line: &str) -> bool {
    let Some(rest) = line.trim_start().strip_prefix('[') else {
        return false;
    };
    let Some((stamp, _)) = rest.split_once(']') else {
        return false;
    };
    let stamp = stamp.trim_start();
    stamp.split_once('.').is_some_and(|(s, us)| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && us.len() == 6
            && us.bytes().all(|b| b.is_ascii_digit())
    })
}

/// How long console output may keep arriving after qemu exited (the pty drains).
const DRAIN_QUIET: Duration = Duration::from_millis(300);

impl Guest {
    /// Waits up to `timeout` for qemu to exit (a power-off or, with `-no-reboot`, a
    /// reboot); returns its status, with everything it printed read into the log.
    /// Unlike the expectations, an exit is what this waits for, not a failure.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<WaitStatus> {
        let deadline = Instant::now() + timeout;
        while self.exited.is_none() {
            self.read_available();
            match self.session.process().status() {
                Some(WaitStatus::StillAlive) | None => {}
                Some(status) => self.exited = Some(status),
            }
            if self.exited.is_none() {
                if Instant::now() >= deadline {
                    return None;
                }
                thread::sleep(POLL_INTERVAL);
            }
        }
        let mut quiet_since = Instant::now();
        while quiet_since.elapsed() < DRAIN_QUIET {
            let before = self.transcript.len();
            self.read_available();
            if self.transcript.len() != before {
                quiet_since = Instant::now();
            }
            thread::sleep(POLL_INTERVAL);
        }
        self.note(&format!("qemu exited: {:?}", self.exited));
        self.exited
    }

    /// True while qemu runs (it may have halted the guest).
    pub fn running(&mut self) -> bool {
        if self.exited.is_none()
            && let Some(status) = self.session.process().status()
            && status != WaitStatus::StillAlive
        {
            self.exited = Some(status);
        }
        self.exited.is_none()
    }

    /// Types `command` into the qemu monitor: Ctrl-A c switches `-serial mon:stdio` to
    /// the monitor. The console stays on the monitor until `leave_monitor`.
    pub fn monitor(&mut self, command: &str) {
        self.send_control('a');
        self.send("c");
        self.expect("(qemu)");
        self.send_line(command);
        self.note(&format!("(qemu) {command}"));
    }

    /// Switches the console back from the monitor to the guest's serial port.
    pub fn leave_monitor(&mut self) {
        self.send_control('a');
        self.send("c");
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        if thread::panicking() {
            let log = self.log();
            eprintln!(
                "===== [{}] console transcript ({:.1}s) =====\n{log}\n===== [{}] end of transcript =====",
                self.name,
                self.started.elapsed().as_secs_f64(),
                self.name
            );
        }
        if self.exited.is_none() {
            // Our own child, by its pid: SIGTERM, then SIGKILL after 5 s.
            let process = self.session.process_mut();
            process.set_kill_timeout(Some(5000));
            if let Err(e) = process.kill(Signal::SIGTERM) {
                eprintln!("[{}] cannot stop qemu: {e}", self.name);
            }
        }
    }
}

/// Console text as people read it: `\r\n` and stray `\r` become plain line ends.
fn printable(text: &str) -> String {
    text.replace("\r\r\n", "\n")
        .replace("\r\n", "\n")
        .replace('\r', "")
}

fn tail(text: &str, max_chars: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    let start = chars.len().saturating_sub(max_chars);
    printable(
        &chars
            .get(start..)
            .unwrap_or_default()
            .iter()
            .collect::<String>(),
    )
}

/// An HTTP server on the host's 127.0.0.1 at a free port that answers every GET with
/// `body`, which names the port and a nonce so the guest cannot have got it elsewhere.
pub struct HttpServer {
    pub port: u16,
    pub body: String,
    hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl HttpServer {
    pub fn start() -> HttpServer {
        let listener =
            TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind 127.0.0.1:0: {e}"));
        let port = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("local address of the test server: {e}"))
            .port();
        let body = format!("qinit-test-body port={port} nonce={:016x}\n", nonce());
        let hits = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (served_body, served_hits, served_stop) = (body.clone(), hits.clone(), stop.clone());
        thread::spawn(move || {
            for stream in listener.incoming() {
                if served_stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream
                    && answer(stream, &served_body).is_ok()
                {
                    served_hits.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        HttpServer {
            port,
            body,
            hits,
            stop,
        }
    }

    /// Requests answered so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn answer(mut stream: TcpStream, body: &str) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
    let response = if request.starts_with(b"GET ") {
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            .to_owned()
    };
    stream.write_all(response.as_bytes())?;
    stream.flush()
}

fn nonce() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    // Truncation is fine: this only has to differ between runs.
    (nanos as u64) ^ (u64::from(std::process::id()) << 32)
}

/// A network namespace this test created, deleted when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates namespace `qinit-t-<pid>-<tag>`.
    pub fn create(tag: &str) -> Netns {
        let name = format!("qinit-t-{}-{tag}", std::process::id());
        host(&["ip", "netns", "add", &name]);
        Netns { name }
    }

    /// Runs `args` inside the namespace; panics if it fails.
    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["ip", "netns", "exec", self.name.as_str()];
        full.extend_from_slice(args);
        host(&full);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        match Command::new("ip")
            .args(["netns", "del", &self.name])
            .status()
        {
            Ok(status) if status.success() => {}
            other => eprintln!("ip netns del {}: {other:?}", self.name),
        }
    }
}

/// Runs a host command; panics with its output if it fails.
pub fn host(args: &[&str]) {
    let (program, rest) = args.split_first().unwrap_or((&"true", &[]));
    let out = Command::new(program)
        .args(rest)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Checks made on one boot, reported together: a boot under TCG is too slow to spend on
/// each check separately, and one failure should not hide the others.
pub struct Checks {
    name: String,
    failures: Vec<String>,
}

impl Checks {
    pub fn new(name: &str) -> Checks {
        Checks {
            name: name.to_owned(),
            failures: Vec::new(),
        }
    }

    /// Records `message` as a failure unless `ok`.
    pub fn check(&mut self, ok: bool, message: impl FnOnce() -> String) {
        if !ok {
            let message = message();
            eprintln!("[{}] FAILED: {message}", self.name);
            self.failures.push(message);
        }
    }

    /// Fails the test, listing every failed check, if any failed.
    pub fn finish(mut self) {
        let failures = std::mem::take(&mut self.failures);
        assert!(
            failures.is_empty(),
            "[{}] {} check(s) failed:\n- {}",
            self.name,
            failures.len(),
            failures.join("\n- ")
        );
    }
}

impl Drop for Checks {
    /// A step that failed outright must not hide the checks that failed before it.
    fn drop(&mut self) {
        if thread::panicking() && !self.failures.is_empty() {
            eprintln!(
                "[{}] before that, {} check(s) failed:\n- {}",
                self.name,
                self.failures.len(),
                self.failures.join("\n- ")
            );
        }
    }
}

/// Fails the test unless every program in `tools` is on the PATH.
pub fn require_tools(tools: &[&str], why: &str) {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for tool in tools {
        let found = std::env::split_paths(&path)
            .chain([PathBuf::from("/sbin"), PathBuf::from("/usr/sbin")])
            .any(|dir| dir.join(tool).is_file());
        if !found {
            missing(&format!("{tool} is not installed, which {why} needs"));
        }
    }
}

/// A directory of this test's own under the system's temporary directory, removed with
/// everything in it when dropped.
pub struct TempDir {
    pub path: PathBuf,
}

impl TempDir {
    /// Creates `qinit-t-<pid>-<tag>`, emptied first if a failed run left it behind.
    pub fn create(tag: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("qinit-t-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!("rm -r {}: {e}", self.path.display());
        }
    }
}

/// The images with `files` (path in the guest without the leading '/', contents) added
/// to the initramfs, in `dir`: a second gzip'd newc archive appended to a copy of the
/// first. The kernel unpacks concatenated archives in order; a later file replaces an
/// earlier one.
pub fn images_with_files(images: &Images, dir: &TempDir, files: &[(&str, &str)]) -> Images {
    let files: Vec<(&str, &[u8], u32)> = files
        .iter()
        .map(|(path, contents)| (*path, contents.as_bytes(), 0o644))
        .collect();
    images_with_entries(images, dir, &files)
}

/// Like `images_with_files`, with any bytes and a mode for each file (0o755 for a
/// program).
pub fn images_with_entries(images: &Images, dir: &TempDir, files: &[(&str, &[u8], u32)]) -> Images {
    use std::os::unix::fs::PermissionsExt;
    let tree = dir.path.join("extra-root");
    let mut names = String::new();
    for (path, contents, mode) in files {
        let file = tree.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
        }
        std::fs::write(&file, contents)
            .unwrap_or_else(|e| panic!("writing {}: {e}", file.display()));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(*mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", file.display()));
        names.push_str(path);
        names.push('\n');
    }
    let mut initrd = std::fs::read(&images.initrd)
        .unwrap_or_else(|e| panic!("reading {}: {e}", images.initrd.display()));
    let mut cpio = Command::new("sh")
        .arg("-c")
        .arg("cpio -o -H newc -R 0:0 --quiet | gzip -9")
        .current_dir(&tree)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run cpio: {e}"));
    if let Some(mut stdin) = cpio.stdin.take() {
        stdin
            .write_all(names.as_bytes())
            .unwrap_or_else(|e| panic!("writing to cpio: {e}"));
    }
    let out = cpio
        .wait_with_output()
        .unwrap_or_else(|e| panic!("cpio: {e}"));
    assert!(
        out.status.success() && !out.stdout.is_empty(),
        "cpio | gzip failed ({})",
        out.status
    );
    initrd.extend_from_slice(&out.stdout);
    let path = dir.path.join("initrd");
    std::fs::write(&path, initrd).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    Images {
        kernel: images.kernel.clone(),
        initrd: path,
    }
}

/// Lines of `ps -o pid,ppid,stat,args` output whose state is Z (zombie).
pub fn zombies(ps: &str) -> Vec<&str> {
    ps.lines()
        .filter(|line| {
            let stat = line.split_whitespace().nth(2).unwrap_or_default();
            stat.starts_with('Z') || line.contains("<defunct>")
        })
        .collect()
}

/// Runs a host command; returns its exit code and output.
pub fn host_output(program: &str, args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

/// A disk image of `mib` MiB with an empty ext4 filesystem labelled `label`.
pub fn ext4_image(dir: &TempDir, file: &str, mib: u64, label: &str) -> String {
    let path = dir.path.join(file);
    std::fs::File::create(&path)
        .and_then(|f| f.set_len(mib << 20))
        .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    let path = path.to_string_lossy().into_owned();
    host(&["mkfs.ext4", "-q", "-F", "-L", label, &path]);
    path
}
