//! The I/O half of the host's credentials: listing and reading qemu's fw_cfg entries and
//! the SMBIOS type 11 structures in sysfs, and writing the accepted credentials to
//! /run/credentials/@system (directory 0700, files 0400, as systemd does).
//! config::credentials decides what is accepted; the boot joins the two.

use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where qemu_fw_cfg shows `-fw_cfg name=opt/io.systemd.credentials/NAME`.
pub const FW_CFG_DIR: &str = "/sys/firmware/qemu_fw_cfg/by_name/opt/io.systemd.credentials";
/// The qemu_fw_cfg driver's root: present once the module is loaded.
pub const FW_CFG_ROOT: &str = "/sys/firmware/qemu_fw_cfg";
/// qemu's fw_cfg device on ACPI machines (pc, q35): its driver is loaded by this alias.
pub const FW_CFG_ACPI_DEVICE: &str = "/sys/bus/acpi/devices/QEMU0002:00";
/// dmi-sysfs: one directory per SMBIOS structure, `TYPE-INSTANCE`.
pub const DMI_ENTRIES: &str = "/sys/firmware/dmi/entries";
/// systemd's SYSTEM_CREDENTIALS_DIRECTORY, which $CREDENTIALS_DIRECTORY names.
pub const SYSTEM_DIR: &str = "/run/credentials/@system";

/// One fw_cfg credential entry: its name as the directory is called, and the size its
/// `size` file gives (its `raw` file reports 0 in stat).
#[derive(Debug)]
pub struct FwCfgEntry {
    pub name: Vec<u8>,
    pub size: Result<u64, String>,
}

/// The fw_cfg credential entries in name order; none when the host passed none.
pub fn fw_cfg_entries(dir: &Path) -> Result<Vec<FwCfgEntry>, String> {
    let list = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", dir.display())),
    };
    let mut entries: Vec<FwCfgEntry> = list
        .flatten()
        .map(|e| {
            let size_file = e.path().join("size");
            let size = std::fs::read_to_string(&size_file)
                .map_err(|err| format!("{}: {err}", size_file.display()))
                .and_then(|s| {
                    s.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{}: not a size", size_file.display()))
                });
            FwCfgEntry {
                name: e.file_name().as_bytes().to_vec(),
                size,
            }
        })
        .collect();
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

/// The `size` bytes of entry `name`'s `raw` file.
pub fn read_fw_cfg(dir: &Path, name: &[u8], size: u64) -> Result<Vec<u8>, String> {
    let path = dir.join(std::ffi::OsStr::from_bytes(name)).join("raw");
    let mut data = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(size).read_to_end(&mut data))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if u64::try_from(data.len()).ok() != Some(size) {
        return Err(format!(
            "{}: {} bytes where its size says {size}",
            path.display(),
            data.len()
        ));
    }
    Ok(data)
}

/// The raw bytes of every SMBIOS type 11 structure (`11-0`, `11-1`, ... in order), each
/// read up to `max` bytes; a longer one is an error.
pub fn smbios_oem_tables(dir: &Path, max: u64) -> Vec<(PathBuf, Result<Vec<u8>, String>)> {
    let Ok(list) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut instances: Vec<u32> = list
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix("11-")?
                .parse::<u32>()
                .ok()
        })
        .collect();
    instances.sort_unstable();
    instances
        .into_iter()
        .map(|i| {
            let path = dir.join(format!("11-{i}")).join("raw");
            let mut data = Vec::new();
            let read = std::fs::File::open(&path)
                .and_then(|f| f.take(max.saturating_add(1)).read_to_end(&mut data))
                .map_err(|e| format!("{}: {e}", path.display()));
            let result = match read {
                Ok(n) if u64::try_from(n).unwrap_or(u64::MAX) > max => {
                    Err(format!("{}: longer than {max} bytes", path.display()))
                }
                Ok(_) => Ok(data),
                Err(e) => Err(e),
            };
            (path, result)
        })
        .collect()
}

/// Writes each (name, data) to `dir`, created 0700, as a file of mode 0400. Names must
/// have been checked (config::credentials::name_valid). Returns one line per failure.
pub fn write_all<'a>(
    dir: &Path,
    items: impl IntoIterator<Item = (&'a str, &'a [u8])>,
) -> Vec<String> {
    let mut errors = Vec::new();
    if let Some(parent) = dir.parent()
        && let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
    {
        return vec![format!("{}: {e}", parent.display())];
    }
    let made = std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir)
        .or_else(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Ok(())
            } else {
                Err(e)
            }
        })
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)));
    if let Err(e) = made {
        return vec![format!("{}: {e}", dir.display())];
    }
    for (name, data) in items {
        let path = dir.join(name);
        let written = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o400)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|mut f| f.write_all(data));
        if let Err(e) = written {
            errors.push(format!("{}: {e}", path.display()));
        }
    }
    errors
}
