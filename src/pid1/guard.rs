//! What keeps PID 1 alive through its own bugs: a boot step or a turn of the event loop
//! that panics is caught and logged, and PID 1 goes on with the state it has (its
//! configuration, its leases and timers, its one foreground program). A panic that
//! repeats is slowed down by a back-off instead of spinning.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

/// The longest pause after panics in a row.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct Guard {
    in_a_row: u32,
}

impl Guard {
    /// Runs `f`; None when it panicked (the panic hook has logged it).
    pub fn run<T>(&mut self, what: &str, f: impl FnOnce() -> T) -> Option<T> {
        // The state `f` touches may be half-updated after a panic; going on with it is
        // still better for a PID 1 than stopping.
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(v) => {
                self.in_a_row = 0;
                Some(v)
            }
            Err(_) => {
                self.in_a_row = self.in_a_row.saturating_add(1);
                crate::info!("BUG: {what} failed ({} in a row); going on", self.in_a_row);
                None
            }
        }
    }

    /// The pause before trying again: none until a second panic in a row, then 10 ms
    /// doubling to `MAX_BACKOFF`.
    pub fn backoff(&self) -> Duration {
        match self.in_a_row {
            0 | 1 => Duration::ZERO,
            n => Duration::from_millis(10u64 << (n - 2).min(10)).min(MAX_BACKOFF),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_caught_and_the_state_it_left_stays() {
        let mut g = Guard::default();
        let mut leases = vec!["eth0"];
        assert_eq!(g.run("turn", || leases.len()), Some(1));
        let r = g.run("turn", || {
            leases.push("eth1");
            panic!("a bug")
        });
        assert_eq!(r, None::<()>);
        assert_eq!(
            leases,
            ["eth0", "eth1"],
            "what was done before the panic stays"
        );
        assert_eq!(
            g.backoff(),
            Duration::ZERO,
            "the first panic is retried at once"
        );
    }

    #[test]
    fn panics_in_a_row_back_off_up_to_a_second_and_a_success_resets() {
        let mut g = Guard::default();
        let mut last = Duration::ZERO;
        for i in 0..20 {
            let _ = g.run("turn", || panic!("again"));
            let b = g.backoff();
            assert!(b >= last, "try {i}: {b:?} < {last:?}");
            last = b;
        }
        assert_eq!(last, MAX_BACKOFF);
        assert_eq!(g.run("turn", || 7), Some(7));
        assert_eq!(g.backoff(), Duration::ZERO);
    }
}
