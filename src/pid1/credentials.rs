//! The boot's import of the host's credentials, before the configuration is read: loads
//! the fw_cfg driver when qemu's device is there, reads fw_cfg entries then SMBIOS
//! type 11 strings (system::credentials), keeps what config::credentials accepts, and
//! writes it to /run/credentials/@system for the foreground program.

use std::path::Path;

use crate::config::credentials::{CREDENTIALS_TOTAL_SIZE_MAX, Credentials, Origin};
use crate::info;
use crate::system::credentials::{self as io, FW_CFG_DIR, SYSTEM_DIR};
use crate::system::modules;

/// What the host passed; the directory it was written to, when there was anything.
pub struct Imported {
    pub credentials: Credentials,
    pub dir: Option<&'static str>,
}

/// Imports every credential; returns one line per refusal or failure. `tables`: the
/// boot's module tables, for the fw_cfg driver.
pub fn import(tables: Option<&modules::Tables>) -> (Imported, Vec<String>) {
    let mut errors = Vec::new();
    load_fw_cfg_driver(tables, &mut errors);
    let mut creds = Credentials::default();
    let fw_cfg = Path::new(FW_CFG_DIR);
    match io::fw_cfg_entries(fw_cfg) {
        Ok(entries) => {
            for entry in entries {
                // The size first: a credential too big is refused before it is read.
                let read = entry
                    .size
                    .and_then(|size| {
                        creds.check(Origin::FwCfg, &entry.name, size)?;
                        io::read_fw_cfg(fw_cfg, &entry.name, size)
                    })
                    .and_then(|data| creds.add(Origin::FwCfg, &entry.name, data));
                if let Err(e) = read {
                    errors.push(e);
                }
            }
        }
        Err(e) => errors.push(e),
    }
    // A binary credential's base64 is a third longer than its data.
    let smbios_max = CREDENTIALS_TOTAL_SIZE_MAX.saturating_mul(2);
    for (path, raw) in io::smbios_oem_tables(Path::new(io::DMI_ENTRIES), smbios_max) {
        match raw {
            Ok(bytes) => errors.extend(creds.add_smbios(&path.display().to_string(), &bytes)),
            Err(e) => errors.push(e),
        }
    }
    let dir = if creds.items.is_empty() {
        None
    } else {
        errors.extend(io::write_all(
            Path::new(SYSTEM_DIR),
            creds
                .items
                .iter()
                .map(|c| (c.name.as_str(), c.data.as_slice())),
        ));
        let list: Vec<String> = creds
            .items
            .iter()
            .map(|c| format!("{} ({}, {} bytes)", c.name, c.origin.name(), c.data.len()))
            .collect();
        info!("credentials in {SYSTEM_DIR}: {}", list.join(", "));
        Some(SYSTEM_DIR)
    };
    if !creds.cmdline_extra.is_empty() {
        info!(
            "kernel command line extra from SMBIOS: {}",
            crate::log::escape(crate::config::wifi::redact(&creds.cmdline_extra).as_bytes())
        );
    }
    (
        Imported {
            credentials: creds,
            dir,
        },
        errors,
    )
}

/// Coldplug would load qemu_fw_cfg by its modalias (acpi*:QEMU0002:*), but only after
/// the configuration is read, which the credentials may change: load it now.
fn load_fw_cfg_driver(tables: Option<&modules::Tables>, errors: &mut Vec<String>) {
    if Path::new(io::FW_CFG_ROOT).exists() || !Path::new(io::FW_CFG_ACPI_DEVICE).exists() {
        return;
    }
    let Some(tables) = tables else {
        return errors.push("no module tables: fw_cfg credentials are not read".into());
    };
    let start = crate::clock::uptime();
    match tables.load("qemu_fw_cfg") {
        Ok(_) => info!(
            "module qemu_fw_cfg: loaded for the host's credentials ({})",
            crate::log::ms(crate::clock::uptime().saturating_sub(start))
        ),
        Err(e) => errors.push(format!("{e} (fw_cfg credentials are not read)")),
    }
}
