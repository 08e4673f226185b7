//! /etc/fstab: lines parsed into entries and options into mount(2) flags (pure), then
//! each entry mounted in file order at boot. There is no udev: `LABEL=` and `UUID=` are
//! found by reading the superblock of each block device in /sys/class/block, for the
//! ext2/3/4 and FAT families only (what blkid reads for them); anything else needs a
//! device path. A filesystem type the kernel does not know yet is loaded as a module.

use crate::debug;
use crate::log::escape;
use crate::system::modules;
use nix::mount::MsFlags;
use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

/// One line of fstab(5), octal escapes (`\040`) decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Line number in the file, for messages.
    pub line: usize,
    pub spec: String,
    /// The mount point.
    pub file: String,
    pub vfstype: String,
    pub options: Vec<String>,
    pub freq: u32,
    pub passno: u32,
}

/// Parses fstab text: the entries, and one message per bad line naming its number and
/// content.
pub fn parse(text: &str) -> (Vec<Entry>, Vec<String>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (line, raw) in (1..).zip(text.lines()) {
        let trimmed = raw.trim_matches([' ', '\t']);
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed
            .split([' ', '\t'])
            .filter(|f| !f.is_empty())
            .collect();
        match entry(line, &fields) {
            Ok(e) => entries.push(e),
            Err(why) => errors.push(format!("line {line}: {why}: {}", escape(raw.as_bytes()))),
        }
    }
    (entries, errors)
}

fn entry(line: usize, fields: &[&str]) -> Result<Entry, String> {
    let [spec, file, vfstype, options, rest @ ..] = fields else {
        return Err(format!("expected 4 to 6 fields, found {}", fields.len()));
    };
    if rest.len() > 2 {
        return Err(format!("expected 4 to 6 fields, found {}", fields.len()));
    }
    let number = |i: usize, what: &str| -> Result<u32, String> {
        rest.get(i)
            .map_or(Ok(0), |f| f.parse())
            .map_err(|_| format!("{what} is not a number"))
    };
    Ok(Entry {
        line,
        spec: crate::system::mounts::unescape(spec),
        file: crate::system::mounts::unescape(file),
        vfstype: crate::system::mounts::unescape(vfstype),
        options: crate::system::mounts::unescape(options)
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect(),
        freq: number(0, "the dump field")?,
        passno: number(1, "the pass field")?,
    })
}

/// The options mount(8) acts on itself and never passes to the kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    pub noauto: bool,
    pub nofail: bool,
    /// `_netdev`: the filesystem needs the network.
    pub netdev: bool,
}

/// Options that are mount(2) flags: (name, set or clear, flag).
const KERNEL_FLAGS: [(&str, bool, MsFlags); 22] = [
    ("ro", true, MsFlags::MS_RDONLY),
    ("rw", false, MsFlags::MS_RDONLY),
    ("nosuid", true, MsFlags::MS_NOSUID),
    ("suid", false, MsFlags::MS_NOSUID),
    ("nodev", true, MsFlags::MS_NODEV),
    ("dev", false, MsFlags::MS_NODEV),
    ("noexec", true, MsFlags::MS_NOEXEC),
    ("exec", false, MsFlags::MS_NOEXEC),
    ("sync", true, MsFlags::MS_SYNCHRONOUS),
    ("async", false, MsFlags::MS_SYNCHRONOUS),
    ("dirsync", true, MsFlags::MS_DIRSYNC),
    ("noatime", true, MsFlags::MS_NOATIME),
    ("atime", false, MsFlags::MS_NOATIME),
    ("nodiratime", true, MsFlags::MS_NODIRATIME),
    ("diratime", false, MsFlags::MS_NODIRATIME),
    ("relatime", true, MsFlags::MS_RELATIME),
    ("norelatime", false, MsFlags::MS_RELATIME),
    ("strictatime", true, MsFlags::MS_STRICTATIME),
    ("lazytime", true, MsFlags::MS_LAZYTIME),
    ("nolazytime", false, MsFlags::MS_LAZYTIME),
    ("bind", true, MsFlags::MS_BIND),
    ("rbind", true, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
];

/// Options for mount(8) or other programs (util-linux's list), dropped here. `remount`
/// changes a mount that exists; at boot nothing does yet.
fn userspace_only(option: &str) -> bool {
    matches!(
        option,
        "defaults"
            | "auto"
            | "noauto"
            | "nofail"
            | "_netdev"
            | "user"
            | "users"
            | "nouser"
            | "owner"
            | "group"
            | "remount"
    ) || option.starts_with("x-")
        || option.starts_with("comment=")
}

/// Splits fstab options into mount(2) flags, the data string for the filesystem
/// (everything else, joined by ','), and the options qinit acts on itself.
pub fn mount_options(options: &[String]) -> (MsFlags, String, Flags) {
    let mut flags = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    let mut own = Flags::default();
    for option in options {
        let option = option.as_str();
        own.noauto |= option == "noauto";
        own.nofail |= option == "nofail";
        own.netdev |= option == "_netdev";
        if userspace_only(option) {
            continue;
        }
        match KERNEL_FLAGS.iter().find(|(name, _, _)| *name == option) {
            Some((_, true, flag)) => flags.insert(*flag),
            Some((_, false, flag)) => flags.remove(*flag),
            None => data.push(option),
        }
    }
    (flags, data.join(","), own)
}

/// Where a filesystem comes from, by the form of fstab's first field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// A device or, for bind mounts, any path.
    Path(String),
    Label(String),
    Uuid(String),
    /// Not a file: `none`, `tmpfs`, `proc`, a 9p or virtiofs tag, a server:path.
    Name(String),
}

impl Source {
    fn parse(spec: &str) -> Result<Source, String> {
        if let Some(label) = spec.strip_prefix("LABEL=") {
            return Ok(Source::Label(label.to_string()));
        }
        if let Some(uuid) = spec.strip_prefix("UUID=") {
            return Ok(Source::Uuid(uuid.to_string()));
        }
        for tag in ["PARTUUID=", "PARTLABEL=", "ID="] {
            if spec.starts_with(tag) {
                return Err(format!(
                    "{tag} needs udev's links, which this system has not; give the device path"
                ));
            }
        }
        if spec.starts_with('/') {
            return Ok(Source::Path(spec.to_string()));
        }
        Ok(Source::Name(spec.to_string()))
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Label(l) => write!(f, "LABEL={}", escape(l.as_bytes())),
            Source::Uuid(u) => write!(f, "UUID={}", escape(u.as_bytes())),
            Source::Path(p) | Source::Name(p) => write!(f, "{}", escape(p.as_bytes())),
        }
    }
}

/// Whether a filesystem of this type (with these mount options) reaches its data over
/// the network, as mount(8) and systemd's fstab-generator decide: by type, and for 9p by
/// its transport.
pub fn is_network_fs(fstype: &str, data: &str) -> bool {
    matches!(
        fstype,
        "nfs"
            | "nfs4"
            | "cifs"
            | "smb3"
            | "smbfs"
            | "ncpfs"
            | "ceph"
            | "glusterfs"
            | "afs"
            | "fuse.sshfs"
            | "davfs"
            | "iscsi"
    ) || (fstype == "9p"
        && data
            .split(',')
            .any(|o| o == "trans=tcp" || o == "trans=rdma" || o == "trans=unix"))
}

/// Which entries a pass of `mount_all` mounts: the boot's, before the network, or the
/// network's (`_netdev` and network filesystems), once it is configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Local,
    Network,
}

/// One entry ready for mount(2).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    source: Source,
    target: String,
    fstype: String,
    flags: MsFlags,
    data: String,
    nofail: bool,
    /// Needs the network: mounted in `Phase::Network`.
    network: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum MountPlan {
    Skip(&'static str),
    Mount(Mount),
}

/// What to do with an entry, before looking at the system.
fn plan(e: &Entry) -> Result<MountPlan, String> {
    let (flags, data, own) = mount_options(&e.options);
    if own.noauto {
        return Ok(MountPlan::Skip("noauto"));
    }
    if e.vfstype == "swap" {
        return Ok(MountPlan::Skip("swap is not handled"));
    }
    if e.file == "/" {
        return Ok(MountPlan::Skip("the root is the initramfs"));
    }
    if !e.file.starts_with('/') {
        return Err("the mount point is not an absolute path".into());
    }
    if e.vfstype == "auto" || e.vfstype.contains(',') {
        return Err(format!("type {}: name one filesystem type", e.vfstype));
    }
    let network = own.netdev || is_network_fs(&e.vfstype, &data);
    Ok(MountPlan::Mount(Mount {
        source: Source::parse(&e.spec)?,
        target: e.file.clone(),
        fstype: e.vfstype.clone(),
        flags,
        data,
        nofail: own.nofail,
        network,
    }))
}

/// Modules to load, in order, when the kernel does not know `fstype`. modules.dep does
/// not list them all: ext4 takes crc32c from the crypto API (a softdep), FAT its code
/// pages by name (load_nls), 9p its transport by name, and virtio filesystems need the
/// PCI transport to see the device at all.
fn modules_for(fstype: &str, data: &str) -> Vec<String> {
    let option = |key: &str| {
        data.split(',')
            .find_map(|o| o.strip_prefix(key))
            .map(str::to_string)
    };
    let mut names: Vec<String> = match fstype {
        "ext2" | "ext3" | "ext4" => vec!["crc32c_generic".into(), "ext4".into()],
        "vfat" | "msdos" => vec![
            "fat".into(),
            fstype.into(),
            format!(
                "nls_cp{}",
                option("codepage=").unwrap_or_else(|| "437".into())
            ),
            format!(
                "nls_{}",
                option("iocharset=").unwrap_or_else(|| "ascii".into())
            ),
        ],
        "9p" => {
            let trans = option("trans=").unwrap_or_else(|| "virtio".into());
            vec!["virtio_pci".into(), format!("9pnet_{trans}"), "9p".into()]
        }
        "virtiofs" => vec!["virtio_pci".into(), "virtiofs".into()],
        other => vec![other.into()],
    };
    names.retain(|n| !n.is_empty() && !n.contains('/'));
    names
}

/// Names in /proc/filesystems (the last field of each line).
fn known_filesystems(text: &str) -> HashSet<String> {
    text.lines()
        .filter_map(|l| l.split_whitespace().last())
        .map(str::to_string)
        .collect()
}

fn matches(source: &Source, v: &crate::system::blkid::Volume) -> bool {
    match source {
        Source::Label(l) => !v.label.is_empty() && v.label == *l,
        Source::Uuid(u) => v.uuid.eq_ignore_ascii_case(u),
        Source::Path(_) | Source::Name(_) => false,
    }
}

/// The module tables, read on first use: most boots have nothing to load.
#[derive(Default)]
struct Loader {
    tables: Option<Result<modules::Tables, String>>,
}

impl Loader {
    /// Loads `name`; returns a line to log when something was inserted.
    fn load(&mut self, name: &str) -> Result<Option<String>, String> {
        let tables = self.tables.get_or_insert_with(modules::Tables::read);
        let t = tables.as_ref().map_err(Clone::clone)?;
        match t.load(name)? {
            modules::Loaded::Inserted(n) => {
                Ok(Some(format!("module {name}: loaded ({n} file(s))")))
            }
            modules::Loaded::Builtin | modules::Loaded::Already => Ok(None),
        }
    }

    /// Loads each module in turn; returns lines to log and the failures.
    fn load_all(&mut self, names: &[String]) -> (Vec<String>, Vec<String>) {
        let (mut done, mut failed) = (Vec::new(), Vec::new());
        for name in names {
            match self.load(name) {
                Ok(line) => done.extend(line),
                Err(e) => failed.push(e),
            }
        }
        (done, failed)
    }
}

/// virtio disks appear when virtio_pci and virtio_blk are loaded; probing is synchronous,
/// so the nodes exist once `finit_module` returns.
const BLOCK_DRIVERS: [&str; 2] = ["virtio_pci", "virtio_blk"];

fn block_drivers(loader: &mut Loader, log: &mut Vec<String>) -> String {
    let names = BLOCK_DRIVERS.map(String::from);
    let (done, failed) = loader.load_all(&names);
    log.extend(done);
    if failed.is_empty() {
        String::new()
    } else {
        format!(" ({})", failed.join("; "))
    }
}

fn probe_devices(source: &Source) -> Result<Option<String>, String> {
    let dir = std::fs::read_dir("/sys/class/block")
        .map_err(|e| format!("reading /sys/class/block: {e}"))?;
    for name in dir.flatten().map(|d| d.file_name()) {
        let dev = Path::new("/dev").join(&name);
        let mut head = Vec::with_capacity(crate::system::blkid::PROBE_BYTES);
        let read = std::fs::File::open(&dev).and_then(|f| {
            f.take(crate::system::blkid::PROBE_BYTES as u64)
                .read_to_end(&mut head)
        });
        if read.is_err() {
            continue;
        }
        if let Some(v) = crate::system::blkid::identify(&head).filter(|v| matches(source, v)) {
            let dev = dev.to_string_lossy().into_owned();
            debug!("fstab: {source} is {dev} ({} superblock)", v.kind);
            return Ok(Some(dev));
        }
    }
    Ok(None)
}

/// The `source` argument for mount(2); loads the virtio disk driver once if the device
/// is not there.
fn resolve(source: &Source, loader: &mut Loader, log: &mut Vec<String>) -> Result<String, String> {
    match source {
        Source::Name(n) => Ok(n.clone()),
        Source::Path(p) if !p.starts_with("/dev/") || Path::new(p).exists() => Ok(p.clone()),
        Source::Path(p) => {
            let drivers = block_drivers(loader, log);
            if Path::new(p).exists() {
                return Ok(p.clone());
            }
            Err(format!("{} does not exist{drivers}", escape(p.as_bytes())))
        }
        Source::Label(_) | Source::Uuid(_) => {
            if let Some(dev) = probe_devices(source)? {
                return Ok(dev);
            }
            let drivers = block_drivers(loader, log);
            probe_devices(source)?.ok_or_else(|| {
                format!(
                    "no ext2/3/4 or FAT filesystem has this {source} on any block device{drivers}"
                )
            })
        }
    }
}

/// Flags a bind mount only takes on a second, remounting call (mount(8) does the same).
const BIND_REMOUNT_FLAGS: MsFlags = MsFlags::MS_RDONLY
    .union(MsFlags::MS_NOSUID)
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC)
    .union(MsFlags::MS_NOATIME)
    .union(MsFlags::MS_NODIRATIME)
    .union(MsFlags::MS_RELATIME)
    .union(MsFlags::MS_STRICTATIME);

/// mkdir -p, then mount(2); the modules the type needs are loaded first.
fn mount_one(m: &Mount, loader: &mut Loader, log: &mut Vec<String>) -> Result<String, String> {
    let bind = m.flags.contains(MsFlags::MS_BIND);
    let mut module_errors = Vec::new();
    if !bind {
        let known = std::fs::read_to_string("/proc/filesystems")
            .map(|t| known_filesystems(&t))
            .unwrap_or_default();
        if !known.contains(&m.fstype) {
            let (done, failed) = loader.load_all(&modules_for(&m.fstype, &m.data));
            log.extend(done);
            module_errors = failed;
        }
    }
    let source = resolve(&m.source, loader, log)?;
    std::fs::create_dir_all(&m.target).map_err(|e| format!("mkdir: {e}"))?;
    let data = (!m.data.is_empty()).then_some(m.data.as_str());
    let mounted = nix::mount::mount(
        Some(source.as_str()),
        m.target.as_str(),
        Some(m.fstype.as_str()),
        m.flags,
        data,
    );
    if let Err(e) = mounted {
        let hint = if module_errors.is_empty() {
            String::new()
        } else {
            format!(" ({})", module_errors.join("; "))
        };
        return Err(format!("mount: {e}{hint}"));
    }
    if bind && m.flags.intersects(BIND_REMOUNT_FLAGS) {
        let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | (m.flags & BIND_REMOUNT_FLAGS);
        nix::mount::mount(
            None::<&str>,
            m.target.as_str(),
            None::<&str>,
            flags,
            None::<&str>,
        )
        .map_err(|e| format!("remounting the bind mount with its flags: {e}"))?;
    }
    Ok(source)
}

/// Mounts the entries of the fstab at `path` that `phase` takes, in file order (a
/// missing file is no error). Returns lines to log: what was mounted, what waits for the
/// network, and each failure; a `nofail` entry's failure says so and is otherwise the
/// same.
pub fn mount_all(path: &Path, phase: Phase) -> Vec<String> {
    let text = match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => return vec![format!("reading {}: {e}", path.display())],
    };
    let (entries, mut log) = parse(&text);
    let mut loader = Loader::default();
    for e in &entries {
        let at = format!(
            "line {}: {} on {}",
            e.line,
            escape(e.spec.as_bytes()),
            escape(e.file.as_bytes())
        );
        debug!(
            "fstab {at}: type {}, options {}, dump {}, pass {}",
            escape(e.vfstype.as_bytes()),
            escape(e.options.join(",").as_bytes()),
            e.freq,
            e.passno
        );
        let m = match plan(e) {
            Ok(MountPlan::Mount(m)) => m,
            Ok(MountPlan::Skip(why)) => {
                debug!("fstab {at}: skipped: {why}");
                continue;
            }
            Err(why) => {
                if phase == Phase::Local {
                    log.push(format!("{at}: {why}"));
                }
                continue;
            }
        };
        match (phase, m.network) {
            (Phase::Local, true) => {
                log.push(format!("{at}: waits for the network"));
                continue;
            }
            (Phase::Network, false) => continue,
            _ => {}
        }
        let present = std::fs::read_to_string("/proc/self/mounts")
            .map(|t| crate::system::mounts::mounted_targets(&t))
            .unwrap_or_default();
        if present.contains(&m.target) {
            debug!("fstab {at}: already mounted");
            continue;
        }
        let t = crate::clock::uptime();
        match mount_one(&m, &mut loader, &mut log) {
            Ok(source) => log.push(format!(
                "{at}: mounted {} ({}) in {}",
                escape(source.as_bytes()),
                if m.flags.contains(MsFlags::MS_BIND) {
                    "bind"
                } else {
                    &m.fstype
                },
                crate::log::ms(crate::clock::uptime().saturating_sub(t))
            )),
            Err(why) if m.nofail => log.push(format!("{at}: {why} (nofail: going on)")),
            Err(why) => log.push(format!("{at}: {why}")),
        }
    }
    log
}

/// The fstab's network pass, run once the network is configured, on a thread of its
/// own: a server that does not answer must not hold up PID 1's loop.
#[derive(Debug)]
pub struct NetworkMounts {
    path: std::path::PathBuf,
    pending: bool,
}

impl NetworkMounts {
    /// For the fstab at `path`; nothing is pending when it has no network entry.
    pub fn new(path: &Path) -> Self {
        NetworkMounts {
            path: path.to_path_buf(),
            pending: has_network_entries(path),
        }
    }

    pub fn pending(&self) -> bool {
        self.pending
    }

    /// The network is configured: mount its entries in the background (once), each
    /// line logged as it comes.
    pub fn network_ready(&mut self) {
        if !std::mem::take(&mut self.pending) {
            return;
        }
        let path = self.path.clone();
        let spawned = std::thread::Builder::new()
            .name("fstab-net".into())
            .spawn(move || {
                for line in mount_all(&path, Phase::Network) {
                    crate::info!("fstab: {line}");
                }
            });
        if let Err(e) = spawned {
            crate::info!("fstab: no thread for the network mounts: {e}");
        }
    }
}

/// Whether the fstab at `path` has entries for `Phase::Network`.
pub fn has_network_entries(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    let (entries, _) = parse(&String::from_utf8_lossy(&bytes));
    entries
        .iter()
        .any(|e| matches!(plan(e), Ok(MountPlan::Mount(m)) if m.network))
}

/// Whether the fstab `text` has a local entry the boot must mount before the shell or
/// appliance starts: one that is mounted at boot (not `noauto`), needs no network, and
/// is not `nofail`. Such an entry may need a disk's or a filesystem's driver, so the
/// boot waits for every driver first; without one, the drivers load in the background.
pub fn needs_local_mounts(text: &str) -> bool {
    let (entries, _) = parse(text);
    entries
        .iter()
        .any(|e| matches!(plan(e), Ok(MountPlan::Mount(m)) if !m.network && !m.nofail))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_entries_without_nofail_or_noauto_must_be_mounted_first() {
        for (text, needed) in [
            ("", false),
            ("# nothing\n", false),
            ("/dev/vda /data ext4 defaults 0 2\n", true),
            ("LABEL=x /data ext4 noatime 0 0\n", true),
            ("tmpfs /mnt/t tmpfs size=1m 0 0\n", true),
            ("/dev/vda /data ext4 defaults,nofail 0 2\n", false),
            ("/dev/vda /data ext4 noauto 0 0\n", false),
            ("srv:/export /mnt/nfs nfs defaults 0 0\n", false),
            ("/dev/vda /data ext4 _netdev 0 0\n", false),
            (
                "/dev/vda /data ext4 defaults,nofail 0 2\n/dev/vdb /b ext4 defaults 0 2\n",
                true,
            ),
            ("garbage\n", false),
        ] {
            assert_eq!(needs_local_mounts(text), needed, "{text:?}");
        }
    }

    #[test]
    fn network_entries_wait_for_the_network_by_option_or_by_type() {
        for (line, network) in [
            ("srv:/export /mnt/nfs nfs defaults 0 0", true),
            ("//srv/share /mnt/smb cifs username=a 0 0", true),
            ("10.0.2.2 /mnt/9 9p trans=tcp,port=564 0 0", true),
            ("host0 /mnt/9v 9p trans=virtio 0 0", false),
            ("/dev/vdb /data ext4 _netdev 0 0", true),
            ("/dev/vdb /data ext4 defaults 0 0", false),
            ("tmpfs /t tmpfs size=1m 0 0", false),
        ] {
            match plan(&entry_of(line)) {
                Ok(MountPlan::Mount(m)) => assert_eq!(m.network, network, "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
    }

    #[test]
    fn the_local_pass_names_what_waits_and_the_network_pass_mounts_only_that() {
        let dir = std::env::temp_dir().join(format!("qinit-fstab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fstab = dir.join("fstab");
        std::fs::write(
            &fstab,
            "srv:/x /mnt/nfs nfs _netdev 0 0\nproc /proc proc defaults 0 0\n",
        )
        .unwrap();
        assert!(has_network_entries(&fstab));
        let local = mount_all(&fstab, Phase::Local);
        assert!(
            local
                .iter()
                .any(|l| l.contains("/mnt/nfs: waits for the network")),
            "{local:?}"
        );
        std::fs::write(&fstab, "proc /proc proc defaults 0 0\n").unwrap();
        assert!(!has_network_entries(&fstab));
        assert!(
            mount_all(&fstab, Phase::Network).is_empty(),
            "nothing local in the network pass"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn opts(list: &str) -> Vec<String> {
        list.split(',').map(str::to_string).collect()
    }

    const FSTAB: &str = "\
# <file system> <mount point> <type> <options> <dump> <pass>
/dev/vda\t/data\text4\tdefaults\t0\t2

   # an indented comment
LABEL=scratch  /mnt/my\\040disk  ext4  noatime,nofail
tmpfs /run/t tmpfs size=1m,mode=0700 0
";

    #[test]
    fn reads_fields_comments_blanks_and_tabs() {
        let (entries, errors) = parse(FSTAB);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[0],
            Entry {
                line: 2,
                spec: "/dev/vda".into(),
                file: "/data".into(),
                vfstype: "ext4".into(),
                options: vec!["defaults".into()],
                freq: 0,
                passno: 2,
            }
        );
        assert_eq!(entries[1].line, 5);
        assert_eq!(entries[1].file, "/mnt/my disk");
        assert_eq!(entries[1].options, ["noatime", "nofail"]);
        assert_eq!((entries[1].freq, entries[1].passno), (0, 0));
        assert_eq!((entries[2].freq, entries[2].passno), (0, 0));
    }

    #[test]
    fn octal_escapes_decode_and_stray_backslashes_stay() {
        assert_eq!(
            crate::system::mounts::unescape("a\\040b\\011c\\134d"),
            "a b\tc\\d"
        );
        assert_eq!(crate::system::mounts::unescape("x\\09y\\04"), "x\\09y\\04");
    }

    #[test]
    fn bad_lines_name_number_and_content() {
        let (entries, errors) = parse(
            "/dev/vda /data\n\n/dev/vdb /b ext4 rw 0 0 7\n/dev/vdc /c ext4 rw zero\nok /ok tmpfs rw\n",
        );
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].line, 5);
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert_eq!(
            errors[0],
            "line 1: expected 4 to 6 fields, found 2: /dev/vda /data"
        );
        assert!(errors[1].starts_with("line 3: expected 4 to 6 fields, found 7"));
        assert!(errors[2].starts_with("line 4: the dump field is not a number"));
    }

    #[test]
    fn bad_line_content_is_escaped() {
        let (_, errors) = parse("\x1b[2J junk\n");
        assert_eq!(
            errors,
            ["line 1: expected 4 to 6 fields, found 2: \\x1b[2J junk"]
        );
    }

    #[test]
    fn kernel_flags_and_data_are_split() {
        let (flags, data, own) = mount_options(&opts(
            "ro,nosuid,nodev,noexec,noatime,size=1m,mode=0700,sync",
        ));
        assert_eq!(
            flags,
            MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV
                | MsFlags::MS_NOEXEC
                | MsFlags::MS_NOATIME
                | MsFlags::MS_SYNCHRONOUS
        );
        assert_eq!(data, "size=1m,mode=0700");
        assert_eq!(own, Flags::default());
    }

    #[test]
    fn later_options_win_and_defaults_is_nothing() {
        let (flags, data, _) = mount_options(&opts("defaults,ro,rw,nosuid,suid,exec,atime"));
        assert_eq!(flags, MsFlags::empty());
        assert_eq!(data, "");
        let (flags, _, _) = mount_options(&opts("relatime,nodiratime,strictatime,dirsync"));
        assert_eq!(
            flags,
            MsFlags::MS_RELATIME
                | MsFlags::MS_NODIRATIME
                | MsFlags::MS_STRICTATIME
                | MsFlags::MS_DIRSYNC
        );
    }

    #[test]
    fn userspace_options_never_reach_the_kernel() {
        let (flags, data, own) = mount_options(&opts(
            "noauto,nofail,x-systemd.automount,_netdev,user,users,nouser,owner,auto,comment=x,remount,trans=virtio",
        ));
        assert_eq!(flags, MsFlags::empty());
        assert_eq!(data, "trans=virtio");
        assert_eq!(
            own,
            Flags {
                noauto: true,
                nofail: true,
                netdev: true
            }
        );
    }

    #[test]
    fn bind_and_rbind() {
        assert_eq!(mount_options(&opts("bind")).0, MsFlags::MS_BIND);
        assert_eq!(
            mount_options(&opts("rbind,ro")).0,
            MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_RDONLY
        );
    }

    fn entry_of(line: &str) -> Entry {
        let (mut entries, errors) = parse(line);
        assert!(errors.is_empty(), "{errors:?}");
        entries.remove(0)
    }

    #[test]
    fn plans_skip_noauto_swap_and_root() {
        for (line, why) in [
            ("/dev/vdb /mnt ext4 noauto 0 0", "noauto"),
            ("/dev/vdb none swap sw 0 0", "swap is not handled"),
            ("/dev/vda / ext4 defaults 0 1", "the root is the initramfs"),
        ] {
            assert_eq!(plan(&entry_of(line)), Ok(MountPlan::Skip(why)), "{line}");
        }
    }

    #[test]
    fn plans_sources_by_their_form() {
        let source = |line: &str| match plan(&entry_of(line)) {
            Ok(MountPlan::Mount(m)) => m.source,
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(
            source("/dev/vda /data ext4 defaults 0 2"),
            Source::Path("/dev/vda".into())
        );
        assert_eq!(
            source("LABEL=my\\040data /d ext4 rw"),
            Source::Label("my data".into())
        );
        assert_eq!(
            source("UUID=1234-ABCD /boot vfat rw"),
            Source::Uuid("1234-ABCD".into())
        );
        assert_eq!(
            source("hostshare /mnt/host 9p trans=virtio,version=9p2000.L"),
            Source::Name("hostshare".into())
        );
        assert_eq!(source("none /mnt/t tmpfs rw"), Source::Name("none".into()));
    }

    #[test]
    fn plans_refuse_what_cannot_be_mounted() {
        for (line, says) in [
            ("PARTUUID=abc /d ext4 rw", "PARTUUID= needs udev"),
            ("/dev/vda data ext4 rw", "not an absolute path"),
            ("/dev/vda /d auto rw", "name one filesystem type"),
            ("/dev/vda /d ext4,vfat rw", "name one filesystem type"),
        ] {
            let err = plan(&entry_of(line)).unwrap_err();
            assert!(err.contains(says), "{line}: {err}");
        }
    }

    #[test]
    fn plan_carries_flags_data_and_nofail() {
        let Ok(MountPlan::Mount(m)) =
            plan(&entry_of("tmpfs /run/t tmpfs nosuid,size=1m,nofail 0 0"))
        else {
            panic!("not a mount");
        };
        assert_eq!(m.flags, MsFlags::MS_NOSUID);
        assert_eq!(m.data, "size=1m");
        assert!(m.nofail);
        assert_eq!((m.target.as_str(), m.fstype.as_str()), ("/run/t", "tmpfs"));
    }

    #[test]
    fn modules_cover_what_modules_dep_does_not_say() {
        assert_eq!(modules_for("ext4", ""), ["crc32c_generic", "ext4"]);
        assert_eq!(modules_for("ext3", ""), ["crc32c_generic", "ext4"]);
        assert_eq!(
            modules_for("vfat", "codepage=850,iocharset=utf8"),
            ["fat", "vfat", "nls_cp850", "nls_utf8"]
        );
        assert_eq!(
            modules_for("vfat", ""),
            ["fat", "vfat", "nls_cp437", "nls_ascii"]
        );
        assert_eq!(
            modules_for("9p", "version=9p2000.L"),
            ["virtio_pci", "9pnet_virtio", "9p"]
        );
        assert_eq!(modules_for("virtiofs", ""), ["virtio_pci", "virtiofs"]);
        assert_eq!(modules_for("xfs", ""), ["xfs"]);
        // A path in an option never becomes a module name.
        assert_eq!(modules_for("9p", "trans=../../x"), ["virtio_pci", "9p"]);
    }

    #[test]
    fn proc_filesystems_names() {
        let known = known_filesystems("nodev\tsysfs\nnodev\ttmpfs\n\text4\n\tvfat\n");
        assert!(known.contains("ext4") && known.contains("tmpfs") && known.contains("vfat"));
        assert!(!known.contains("nodev"));
    }

    /// The first 2048 bytes of an ext4 image made by
    /// `mkfs.ext4 -L qdata -U 0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`, where they matter.
    fn ext4_head() -> Vec<u8> {
        let mut head = vec![0u8; crate::system::blkid::PROBE_BYTES];
        head[0x438..0x43a].copy_from_slice(&[0x53, 0xef]);
        head[0x468..0x478].copy_from_slice(&[
            0x0f, 0x1e, 0x2d, 0x3c, 0x4b, 0x5a, 0x69, 0x78, 0x87, 0x96, 0xa5, 0xb4, 0xc3, 0xd2,
            0xe1, 0xf0,
        ]);
        head[0x478..0x47d].copy_from_slice(b"qdata");
        head
    }

    #[test]
    fn ext_superblock_gives_label_and_uuid() {
        let v = crate::system::blkid::identify(&ext4_head()).unwrap();
        assert_eq!(v.kind, "ext");
        assert_eq!(v.label, "qdata");
        assert_eq!(v.uuid, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
        assert!(matches(&Source::Label("qdata".into()), &v));
        assert!(!matches(&Source::Label("qdat".into()), &v));
        assert!(matches(
            &Source::Uuid("0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0".into()),
            &v
        ));
    }

    #[test]
    fn fat_boot_sectors_give_label_and_volume_id() {
        let mut fat32 = vec![0u8; crate::system::blkid::PROBE_BYTES];
        fat32[510..512].copy_from_slice(&[0x55, 0xaa]);
        fat32[0x52..0x5a].copy_from_slice(b"FAT32   ");
        fat32[0x43..0x47].copy_from_slice(&0x1234_abcd_u32.to_le_bytes());
        fat32[0x47..0x52].copy_from_slice(b"EFI        ");
        let v = crate::system::blkid::identify(&fat32).unwrap();
        assert_eq!(
            (v.kind, v.label.as_str(), v.uuid.as_str()),
            ("fat", "EFI", "1234-ABCD")
        );

        let mut fat16 = vec![0u8; 512];
        fat16[510..512].copy_from_slice(&[0x55, 0xaa]);
        fat16[0x36..0x3e].copy_from_slice(b"FAT16   ");
        fat16[0x27..0x2b].copy_from_slice(&0x0000_0001_u32.to_le_bytes());
        fat16[0x2b..0x36].copy_from_slice(b"NO NAME    ");
        let v = crate::system::blkid::identify(&fat16).unwrap();
        assert_eq!((v.label.as_str(), v.uuid.as_str()), ("", "0000-0001"));
        // No label is never a match, even for an empty LABEL=.
        assert!(!matches(&Source::Label(String::new()), &v));
    }
}
