//! The boot timeline: every stage's start and duration and the moments that matter
//! (carrier, lease, shell), on CLOCK_BOOTTIME. Printed as one block when the boot is
//! over, saved as /run/qinit/boot.json, and shown by `qinit analyze` the way
//! `systemd-analyze blame` does.

use serde::{Deserialize, Serialize};
use std::time::Duration;

pub const BOOT_JSON: &str = "/run/qinit/boot.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: String,
    /// Guest uptime at the start, in ms.
    pub start_ms: f64,
    pub duration_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    pub name: String,
    pub at_ms: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Timeline {
    pub stages: Vec<Stage>,
    pub marks: Vec<Mark>,
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

impl Timeline {
    pub fn stage(&mut self, name: &str, start: Duration, duration: Duration) {
        self.stages.push(Stage {
            name: name.to_string(),
            start_ms: ms(start),
            duration_ms: ms(duration),
        });
    }

    /// Records `name` at `at` the first time only.
    pub fn mark(&mut self, name: &str, at: Duration) {
        if !self.marks.iter().any(|m| m.name == name) {
            self.marks.push(Mark {
                name: name.to_string(),
                at_ms: ms(at),
            });
        }
    }

    /// The compact block for the console: stages in order, then the marks.
    pub fn summary(&self) -> String {
        let stages: Vec<String> = self
            .stages
            .iter()
            .map(|s| format!("{} {:.1} ms", s.name, s.duration_ms))
            .collect();
        let marks: Vec<String> = self
            .marks
            .iter()
            .map(|m| format!("{} at {:.3} s", m.name, m.at_ms / 1000.0))
            .collect();
        format!("boot: {}; {}", stages.join(", "), marks.join(", "))
    }

    /// Writes the timeline to `BOOT_JSON`.
    pub fn save(&self) -> Result<(), String> {
        let json = self.to_json()?;
        let path = std::path::Path::new(BOOT_JSON);
        path.parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| crate::net::etc_files::write_atomic(path, &json))
            .map_err(|e| format!("{BOOT_JSON}: {e}"))
    }

    pub fn to_json(&self) -> Result<String, String> {
        serde_json::to_string_pretty(self).map_err(|e| format!("boot.json: {e}"))
    }

    pub fn from_json(text: &str) -> Result<Timeline, String> {
        serde_json::from_str(text).map_err(|e| format!("boot.json: {e}"))
    }

    /// `qinit analyze`: stages by duration, longest first, then the marks in time order.
    pub fn blame(&self) -> String {
        let mut stages = self.stages.clone();
        stages.sort_by(|a, b| b.duration_ms.total_cmp(&a.duration_ms));
        let mut out = String::new();
        for s in &stages {
            out.push_str(&format!(
                "{:>10.1} ms  {}  (from {:.3} s)\n",
                s.duration_ms,
                s.name,
                s.start_ms / 1000.0
            ));
        }
        let mut marks = self.marks.clone();
        marks.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
        for m in &marks {
            out.push_str(&format!("{:>10.3} s   {}\n", m.at_ms / 1000.0, m.name));
        }
        out
    }
}

/// `qinit analyze`.
pub fn analyze() -> i32 {
    match std::fs::read_to_string(BOOT_JSON)
        .map_err(|e| format!("{BOOT_JSON}: {e}"))
        .and_then(|t| Timeline::from_json(&t))
    {
        Ok(t) => {
            print!("{}", t.blame());
            0
        }
        Err(e) => {
            eprintln!("qinit analyze: {e} (is qinit PID 1, and the boot over?)");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Timeline {
        let mut t = Timeline::default();
        t.mark("pid1", Duration::from_millis(1826));
        t.stage(
            "mounts",
            Duration::from_millis(1830),
            Duration::from_micros(12_600),
        );
        t.stage(
            "modules",
            Duration::from_millis(1845),
            Duration::from_micros(453_200),
        );
        t.mark("lease eth0", Duration::from_millis(4401));
        t.mark("lease eth0", Duration::from_millis(9999));
        t
    }

    #[test]
    fn json_round_trip() {
        let t = sample();
        assert_eq!(Timeline::from_json(&t.to_json().unwrap()).unwrap(), t);
        assert!(Timeline::from_json("{ nope").is_err());
    }

    #[test]
    fn marks_are_kept_once_and_blame_sorts_by_duration() {
        let t = sample();
        assert_eq!(t.marks.len(), 2, "a mark is recorded the first time only");
        let b = t.blame();
        let modules = b.find("modules").unwrap();
        let mounts = b.find("mounts").unwrap();
        assert!(modules < mounts, "longest first:\n{b}");
        assert!(b.contains("4.401 s   lease eth0"), "{b}");
        assert_eq!(
            t.summary(),
            "boot: mounts 12.6 ms, modules 453.2 ms; pid1 at 1.826 s, lease eth0 at 4.401 s"
        );
    }
}
