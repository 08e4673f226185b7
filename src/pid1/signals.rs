//! The signals PID 1 takes: SIGCHLD and the shutdown signals wake the loop through a
//! self-pipe, and a shutdown signal also leaves its number behind. The handlers do
//! nothing else (signal-hook).

use crate::info;
use crate::system::shutdown::{self, Kind};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct Signals {
    /// None when the handlers could not be installed: the loop then reaps on a timer.
    pipe: Option<UnixStream>,
    requested: Arc<AtomicUsize>,
}

fn signal_pipe(requested: &Arc<AtomicUsize>) -> Result<UnixStream, String> {
    let (rx, tx) = UnixStream::pair().map_err(|e| format!("signal pipe: {e}"))?;
    rx.set_nonblocking(true)
        .map_err(|e| format!("signal pipe: {e}"))?;
    tx.set_nonblocking(true)
        .map_err(|e| format!("signal pipe: {e}"))?;
    for sig in std::iter::once(signal_hook::consts::SIGCHLD).chain(shutdown::SIGNALS) {
        let tx = tx.try_clone().map_err(|e| format!("signal pipe: {e}"))?;
        signal_hook::low_level::pipe::register(sig, tx)
            .map_err(|e| format!("handler for signal {sig}: {e}"))?;
    }
    for sig in shutdown::SIGNALS {
        let value = usize::try_from(sig).unwrap_or(0);
        signal_hook::flag::register_usize(sig, Arc::clone(requested), value)
            .map_err(|e| format!("handler for signal {sig}: {e}"))?;
    }
    Ok(rx)
}

impl Signals {
    /// Installs the handlers; a failure is logged and the loop falls back to a timer.
    pub fn install() -> Signals {
        let requested = Arc::new(AtomicUsize::new(0));
        let pipe = match signal_pipe(&requested) {
            Ok(s) => Some(s),
            Err(e) => {
                info!("{e}; reaping on a 1 s timer instead");
                None
            }
        };
        Signals { pipe, requested }
    }

    /// The fd to poll, if the handlers are installed.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.pipe.as_ref().map(|p| p.as_fd())
    }

    /// Empties the pipe once its fd was readable.
    pub fn drain(&mut self) {
        let mut buf = [0u8; 64];
        if let Some(s) = self.pipe.as_mut() {
            while s.read(&mut buf).is_ok_and(|n| n > 0) {}
        }
    }

    /// The shutdown a signal asked for since the last call, if any, with the signal's
    /// name.
    pub fn take_shutdown(&self) -> Option<(Kind, &'static str)> {
        let sig = i32::try_from(self.requested.swap(0, Ordering::SeqCst)).unwrap_or(0);
        let kind = Kind::from_signal(sig)?;
        let name = nix::sys::signal::Signal::try_from(sig).map_or("a signal", |s| s.as_str());
        Some((kind, name))
    }
}
