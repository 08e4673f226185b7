//! The power button, for PID 1's event loop: what `system_powerdown` in qemu's monitor
//! (and so `virsh shutdown`, and most hypervisors' "shut down") presses. ACPI's netlink
//! events first (system::acpi_events: one socket, no evdev needed); where the kernel has
//! no such family, every evdev device with a power key (system::input_keys), rescanned
//! when an input device appears later. What a press does is the loop's business.

use crate::system::acpi_events::{self, AcpiEvents, FamilyError};
use crate::system::input_keys::PowerKeys;
use std::os::fd::BorrowedFd;
use std::path::Path;

const INPUT_DIR: &str = "/dev/input";

pub enum PowerButton {
    Acpi(AcpiEvents),
    Input(PowerKeys),
}

impl PowerButton {
    /// The ACPI listener, or else the evdev one (loading `evdev` for it). Returns it
    /// with the lines to log.
    pub fn open() -> (PowerButton, Vec<String>) {
        let why = match AcpiEvents::open() {
            Ok(acpi) => {
                let line = format!(
                    "power button: listening to ACPI events ({}, group {})",
                    acpi_events::FAMILY,
                    acpi_events::GROUP
                );
                return (PowerButton::Acpi(acpi), vec![line]);
            }
            Err(FamilyError::Missing) => format!("no {} netlink family", acpi_events::FAMILY),
            Err(FamilyError::NoGroup) => format!(
                "{} has no group {}",
                acpi_events::FAMILY,
                acpi_events::GROUP
            ),
            Err(FamilyError::Other(e)) => e,
        };
        let mut lines = Vec::new();
        if let Err(e) = load_evdev() {
            lines.push(format!("power button: {e}"));
        }
        let mut keys = PowerKeys::default();
        let found = keys.scan(Path::new(INPUT_DIR));
        lines.push(if found.is_empty() {
            format!("power button: {why}; watching {INPUT_DIR} (no power key yet)")
        } else {
            format!(
                "power button: {why}; watching the power key of {}",
                found.join(", ")
            )
        });
        (PowerButton::Input(keys), lines)
    }

    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        match self {
            PowerButton::Acpi(acpi) => vec![acpi.fd()],
            PowerButton::Input(keys) => keys.fds(),
        }
    }

    /// Reads what came; what pressed the button, if it was pressed. Other ACPI events
    /// are logged with qinit.debug.
    pub fn pressed(&mut self) -> Option<String> {
        match self {
            PowerButton::Acpi(acpi) => {
                let mut pressed = None;
                for event in acpi.events() {
                    if event.is_power_button() {
                        pressed = Some(format!("ACPI {}", event.describe()));
                    } else {
                        crate::debug!("ACPI event {}", event.describe());
                    }
                }
                pressed
            }
            PowerButton::Input(keys) => keys.pressed().map(|path| format!("KEY_POWER on {path}")),
        }
    }

    /// An input device appeared (a hotplug uevent): watch it too if it has a power key.
    /// Returns the lines to log.
    pub fn input_added(&mut self) -> Vec<String> {
        match self {
            PowerButton::Acpi(_) => Vec::new(),
            PowerButton::Input(keys) => keys
                .scan(Path::new(INPUT_DIR))
                .into_iter()
                .map(|d| format!("power button: watching the power key of {d}"))
                .collect(),
        }
    }
}

fn load_evdev() -> Result<(), String> {
    crate::system::modules::Tables::read()?
        .load("evdev")
        .map(|_| ())
}
