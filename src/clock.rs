//! The one clock every timer of qinit runs on: time since the machine booted, suspend
//! included (CLOCK_BOOTTIME). Logic never reads it; it takes an `Uptime` as an argument,
//! and only the event loops and the log call `uptime()`.

use std::time::Duration;

/// A moment, as the time since boot. Deadlines and "when it happened" are `Uptime`s;
/// spans between them are plain `Duration`s.
pub type Uptime = Duration;

/// Now, as time since boot.
pub fn uptime() -> Uptime {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    Duration::new(
        u64::try_from(ts.tv_sec).unwrap_or(0),
        u32::try_from(ts.tv_nsec).unwrap_or(0),
    )
}
