//! The I/O around the supervisor: rfkill, the generated configuration (mode 0600 in
//! /run/qinit), the wpa_supplicant child, and its control socket (a unix datagram
//! socket bound in /run/qinit, connected to /run/wpa_supplicant/IFACE). Every action
//! the supervisor asks for is carried out here and its result handed back.

use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::clock::Uptime;
use crate::config::wifi::Wifi;
use crate::info;
use crate::net::status::STATE_DIR;
use crate::net::wifi::conf::{self, CTRL_DIR};
use crate::net::wifi::supervisor::{Action, Supervisor};

pub const WPA_SUPPLICANT: &str = "/sbin/wpa_supplicant";

/// Whether `iface` is an 802.11 interface (cfg80211 links it to its phy).
pub fn is_wireless(iface: &str) -> bool {
    Path::new("/sys/class/net")
        .join(iface)
        .join("phy80211")
        .exists()
}

/// Lifts the soft block of every wireless radio: struct rfkill_event (linux/rfkill.h),
/// op RFKILL_OP_CHANGE_ALL, type RFKILL_TYPE_WLAN, soft 0.
fn rfkill_unblock() -> Result<(), String> {
    const TYPE_WLAN: u8 = 1;
    const OP_CHANGE_ALL: u8 = 3;
    let event = [0, 0, 0, 0, TYPE_WLAN, OP_CHANGE_ALL, 0, 0];
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/rfkill")
        .and_then(|mut f| f.write_all(&event))
        .map_err(|e| format!("rfkill unblock via /dev/rfkill: {e}"))
}

/// Writes `text` to `path`, readable by root alone, whatever was there before.
fn write_private(path: &Path, text: &str) -> Result<(), String> {
    let _ = std::fs::remove_file(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| {
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
            f.write_all(text.as_bytes())
        })
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

pub struct Supplicant {
    sup: Supervisor,
    conf_path: PathBuf,
    ctrl: Option<UnixDatagram>,
    /// Our end of the control socket.
    local: PathBuf,
    state_file: PathBuf,
    debug: bool,
}

impl Supplicant {
    /// Prepares `iface` (rfkill, configuration); wpa_supplicant starts at the next tick.
    pub fn new(iface: &str, wifi: &Wifi, debug: bool, now: Uptime) -> Result<Self, String> {
        let (Some(ssid), Some(text)) = (wifi.ssid.as_ref(), conf::render(wifi)) else {
            return Err(format!("{iface}: no SSID or passphrase for wireless"));
        };
        if let Err(e) = rfkill_unblock() {
            info!("{iface}: {e}");
        }
        let _ = std::fs::create_dir_all(STATE_DIR);
        let conf_path = PathBuf::from(format!("{STATE_DIR}/wpa_supplicant-{iface}.conf"));
        write_private(&conf_path, &text)?;
        info!(
            "{iface}: joining \"{}\" with wpa_supplicant ({})",
            crate::log::escape(ssid),
            wifi.key_mgmt.supplicant_value()
        );
        Ok(Supplicant {
            sup: Supervisor::new(iface, ssid, now),
            conf_path,
            ctrl: None,
            local: PathBuf::from(format!("{STATE_DIR}/wpa_ctrl-{iface}")),
            state_file: PathBuf::from(format!("{STATE_DIR}/{iface}.wifi")),
            debug,
        })
    }

    pub fn iface(&self) -> &str {
        self.sup.iface()
    }

    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.ctrl.as_ref().map(|c| c.as_fd())
    }

    pub fn next_wakeup(&self) -> Option<Uptime> {
        self.sup.poll_at()
    }

    pub fn tick(&mut self, now: Uptime) {
        let actions = self.sup.tick(now);
        self.carry_out(actions, now);
    }

    /// Returns whether `pid` was our wpa_supplicant.
    pub fn exited(&mut self, pid: u32, status: &str, now: Uptime) -> bool {
        match self.sup.exited(pid, status, now) {
            Some(actions) => {
                self.carry_out(actions, now);
                true
            }
            None => false,
        }
    }

    /// Reads every datagram waiting on the control socket.
    pub fn readable(&mut self, now: Uptime) {
        let mut buf = [0u8; 4096];
        let mut actions = Vec::new();
        // A bound: a flood of events cannot hold the loop.
        for _ in 0..64 {
            let Some(ctrl) = &self.ctrl else { break };
            match ctrl.recv(&mut buf) {
                Ok(n) => actions.extend(self.sup.message(buf.get(..n).unwrap_or(&[]))),
                Err(_) => break,
            }
        }
        self.carry_out(actions, now);
    }

    fn carry_out(&mut self, mut actions: Vec<Action>, now: Uptime) {
        while !actions.is_empty() {
            let mut next = Vec::new();
            for action in actions {
                match action {
                    Action::Spawn => {
                        let spawned = self.spawn();
                        next.extend(self.sup.spawned(now, spawned));
                    }
                    Action::OpenControl => {
                        let opened = self.open_control();
                        next.extend(self.sup.control_opened(now, opened));
                    }
                    Action::CloseControl => {
                        self.ctrl = None;
                        let _ = std::fs::remove_file(&self.local);
                    }
                    Action::Send(q) => {
                        let sent = self.ctrl.as_ref().map(|c| c.send(q.command().as_bytes()));
                        if !matches!(sent, Some(Ok(_))) {
                            crate::debug!("{}: cannot send {}", self.iface(), q.command());
                            self.sup.send_failed(q);
                        }
                    }
                    Action::Log(line) => info!("{line}"),
                    Action::State(text) => {
                        if let Err(e) = crate::net::etc_files::write_atomic(&self.state_file, &text)
                        {
                            crate::debug!("{}: {e}", self.state_file.display());
                        }
                    }
                }
            }
            actions = next;
        }
    }

    /// wpa_supplicant as our child: no password in its arguments (it reads the file),
    /// its stdout discarded, its errors on the console.
    fn spawn(&self) -> Result<u32, String> {
        let iface = self.iface();
        let mut cmd = Command::new(WPA_SUPPLICANT);
        cmd.args(["-i", iface, "-D", "nl80211", "-c"])
            .arg(&self.conf_path)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(if self.debug {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .stderr(Stdio::inherit());
        let child = cmd
            .spawn()
            .map_err(|e| format!("start {WPA_SUPPLICANT}: {e}"))?;
        // The reaper collects it with waitpid(-1); the Child handle is not needed.
        Ok(child.id())
    }

    fn open_control(&mut self) -> Result<(), String> {
        let remote = Path::new(CTRL_DIR).join(self.iface());
        let _ = std::fs::remove_file(&self.local);
        let sock = UnixDatagram::bind(&self.local)
            .map_err(|e| format!("bind {}: {e}", self.local.display()))?;
        sock.connect(&remote)
            .and_then(|()| sock.set_nonblocking(true))
            .map_err(|e| {
                let _ = std::fs::remove_file(&self.local);
                format!("connect {}: {e}", remote.display())
            })?;
        self.ctrl = Some(sock);
        Ok(())
    }
}
