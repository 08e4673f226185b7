//! Kernel modules: modules.dep resolved to a load order, loaded with finit_module, or,
//! for a `NAME.ko.zst`, decompressed here and loaded with init_module (kmod's way with a
//! kernel that cannot decompress modules itself, as Debian's cannot). The resolution
//! and the decompression are pure; only `load` touches the system.

use std::collections::{HashMap, HashSet};
use std::ffi::CStr;
use std::io::Read;
use std::path::Path;

/// The most a compressed module may decompress to (the largest of Debian 12's, amdgpu, is
/// 19.5 MB): a hostile file cannot take the guest's memory.
pub const MAX_MODULE_SIZE: u64 = 64 << 20;

/// Whether `path` is a zstd-compressed module, which the kernel cannot read itself.
pub fn is_zstd(path: &str) -> bool {
    path.ends_with(".ko.zst")
}

/// The module image in the zstd stream `src` (one frame), at most `cap` bytes.
/// The error says what is wrong, not where (the caller names the file).
pub fn decompress_zstd(src: impl Read, cap: u64) -> Result<Vec<u8>, String> {
    // The window bounds what the decoder keeps besides the output (zstd -19 asks for
    // 8 MiB at most, less for a smaller module).
    let window = cap.max(8 << 20);
    let mut decoder = ruzstd::decoding::StreamingDecoder::new_with_max_window_size(src, window)
        .map_err(|e| e.to_string())?;
    let declared = decoder.decoder.content_size();
    if declared > cap {
        return Err(format!("{declared} bytes, more than the {cap} allowed"));
    }
    let mut buf = Vec::with_capacity(usize::try_from(declared).unwrap_or(0));
    (&mut decoder)
        .take(cap.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| e.to_string())?;
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > cap {
        return Err(format!("more than the {cap} bytes allowed"));
    }
    if buf.is_empty() {
        return Err("empty".into());
    }
    Ok(buf)
}

/// The module at `path` (a `.ko.zst`) decompressed, at most `cap` bytes; an error
/// names the file.
pub fn read_compressed(path: &Path, cap: u64) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
    decompress_zstd(std::io::BufReader::new(file), cap)
        .map_err(|e| format!("decompressing {}: {e}", path.display()))
}

/// Inserts the module file at `path` with `params`: Ok(true) if inserted, Ok(false) if
/// the kernel had it already.
fn insert(path: &Path, params: &CStr) -> Result<bool, String> {
    let (call, result) = if is_zstd(&path.to_string_lossy()) {
        let image = read_compressed(path, MAX_MODULE_SIZE)?;
        ("init_module", nix::kmod::init_module(&image, params))
    } else {
        let file =
            std::fs::File::open(path).map_err(|e| format!("open {}: {e}", path.display()))?;
        let flags = nix::kmod::ModuleInitFlags::empty();
        (
            "finit_module",
            nix::kmod::finit_module(&file, params, flags),
        )
    };
    match result {
        Ok(()) => Ok(true),
        Err(nix::errno::Errno::EEXIST) => Ok(false),
        Err(e) => Err(format!("{call} {}: {e}", path.display())),
    }
}

/// A module's name as the kernel knows it: file name without extension, '-' as '_'.
pub fn name_of(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.replace('-', "_")
}

/// modules.dep: "path: dep dep ...". Keyed by module name.
#[derive(Debug, Default)]
pub struct DepMap {
    entries: HashMap<String, (String, Vec<String>)>,
}

impl DepMap {
    /// The whole map (the tests' reference for `parse_for`).
    #[cfg(test)]
    pub fn parse(text: &str) -> Self {
        Self::parse_lines(text.lines())
    }

    /// Only the entries that loading `name` needs: its line, then its dependencies'
    /// lines, scanning again while a dependency names one not yet found (depmod lists
    /// every dependency on the module's own line, so that is one more scan). For the
    /// boot's few modules, where building the whole map cost more than the loads.
    pub fn parse_for(text: &str, name: &str) -> Self {
        let mut wanted: HashSet<String> = [name.replace('-', "_")].into();
        let mut map = DepMap::default();
        // Each scan adds a level; a longer chain than 64 is reported by load_order.
        for _ in 0..64 {
            map = Self::parse_lines(text.lines().filter(|line| {
                line.split_once(':')
                    .is_some_and(|(path, _)| wanted.contains(&name_of(path.trim())))
            }));
            let before = wanted.len();
            let deps: Vec<String> = map
                .entries
                .values()
                .flat_map(|(_, deps)| deps.iter().map(|d| name_of(d)))
                .collect();
            wanted.extend(deps);
            if wanted.len() == before {
                break;
            }
        }
        map
    }

    fn parse_lines<'a>(lines: impl Iterator<Item = &'a str>) -> Self {
        let mut entries = HashMap::new();
        for line in lines {
            let Some((path, deps)) = line.split_once(':') else {
                continue;
            };
            let path = path.trim();
            if path.is_empty() {
                continue;
            }
            let deps = deps.split_whitespace().map(str::to_string).collect();
            entries.insert(name_of(path), (path.to_string(), deps));
        }
        DepMap { entries }
    }

    /// Whether modules.dep lists `name` ('-' or '_' alike).
    #[cfg(test)]
    pub fn contains(&self, name: &str) -> bool {
        self.entries.contains_key(&name.replace('-', "_"))
    }

    /// Paths to load for `name`, dependencies first, each once.
    pub fn load_order(&self, name: &str) -> Result<Vec<String>, String> {
        let name = name.replace('-', "_");
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        self.visit(&name, &mut order, &mut seen, 0)?;
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        order: &mut Vec<String>,
        seen: &mut HashSet<String>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > 64 {
            return Err(format!(
                "module {name}: dependency chain too deep (a cycle?)"
            ));
        }
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let (path, deps) = self
            .entries
            .get(name)
            .ok_or_else(|| format!("module {name}: not in modules.dep"))?;
        for dep in deps {
            self.visit(&name_of(dep), order, seen, depth + 1)?;
        }
        order.push(path.clone());
        Ok(())
    }
}

/// Whether modules.builtin's `text` names `name` (already '_' for '-'), by one scan.
fn builtin_in(text: &str, name: &str) -> bool {
    text.lines()
        .any(|l| !l.trim().is_empty() && name_of(l) == name)
}

/// Whether the kernel has module `name` ('_' for '-') loaded, or loading.
fn is_loaded(name: &str) -> bool {
    Path::new("/sys/module")
        .join(name)
        .join("initstate")
        .exists()
}

/// Of `order` (load_order's paths, dependencies first), those to insert: `name` itself,
/// always (the caller has found it not loaded), and each dependency `loaded` does not
/// name. The kernel would read and check a loaded module's whole file again before it
/// says it has it (6.5 ms for virtio_ring and virtio under TCG).
fn to_insert(order: &[String], loaded: impl Fn(&str) -> bool) -> Vec<&String> {
    let last = order.len().saturating_sub(1);
    order
        .iter()
        .enumerate()
        .filter(|&(i, rel)| i == last || !loaded(&name_of(rel)))
        .map(|(_, rel)| rel)
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    Builtin,
    Already,
    /// How many module files were inserted (the module and its dependencies).
    Inserted(usize),
}

/// Where the kernel looks for its module loader (its default `modprobe_path`).
pub const MODPROBE: &str = "/sbin/modprobe";

/// Makes `link` (/sbin/modprobe) a symlink to `init`, qinit's own binary, whose
/// modprobe face then serves the kernel's module requests and the shell's user. The
/// image ships without it, so the kernel's requests from before /init (six, for crypto
/// templates built into it: "crypto-hmac(sha256)"...) fail at once instead of running a
/// process each for a module no image holds. A file already there (an image of the
/// user's own making) is left as it is.
pub fn link_modprobe(init: &Path, link: &Path) -> Result<(), String> {
    if let Some(dir) = link.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    match std::os::unix::fs::symlink(init, link) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => Err(format!(
            "linking {} to {}: {e}",
            link.display(),
            init.display()
        )),
        _ => Ok(()),
    }
}

/// The running kernel's module directory.
pub fn module_dir() -> Result<String, String> {
    let uname = nix::sys::utsname::uname().map_err(|e| format!("uname: {e}"))?;
    Ok(format!(
        "/lib/modules/{}",
        uname.release().to_string_lossy()
    ))
}

/// Inserts `norm` (neither built in nor loaded) and the dependencies not yet loaded;
/// `params` for `norm` itself.
fn insert_with_deps(dir: &str, deps: &DepMap, norm: &str, params: &CStr) -> Result<Loaded, String> {
    let mut inserted = 0;
    let order = deps.load_order(norm)?;
    let files = to_insert(&order, is_loaded);
    let last = files.len().saturating_sub(1);
    for (i, rel) in files.into_iter().enumerate() {
        let params = if i == last { params } else { c"" };
        if insert(&Path::new(dir).join(rel), params)? {
            inserted += 1;
        }
    }
    Ok(Loaded::Inserted(inserted))
}

/// The running kernel's module directory and its tables, read once for the boot's steps.
pub struct Tables {
    pub dir: String,
    /// modules.dep and modules.builtin as read: each load scans them for what it needs
    /// (DepMap::parse_for), as the boot loads a handful of modules. Parsing both whole
    /// took 12 ms under TCG, the scans for virtio_net and its four dependencies ~3 ms.
    dep: String,
    builtin: String,
}

impl Tables {
    pub fn read() -> Result<Tables, String> {
        let dir = module_dir()?;
        let read =
            |name: &str| std::fs::read_to_string(format!("{dir}/{name}")).unwrap_or_default();
        let (dep, builtin) = (read("modules.dep"), read("modules.builtin"));
        Ok(Tables { dir, dep, builtin })
    }

    /// `load` with these tables.
    pub fn load(&self, name: &str) -> Result<Loaded, String> {
        self.load_with(name, c"")
    }

    /// `load_with` with these tables.
    pub fn load_with(&self, name: &str, params: &CStr) -> Result<Loaded, String> {
        let norm = name.replace('-', "_");
        if builtin_in(&self.builtin, &norm) {
            return Ok(Loaded::Builtin);
        }
        // Before modules.dep is scanned for its dependencies: a module in needs none.
        if is_loaded(&norm) {
            return Ok(Loaded::Already);
        }
        insert_with_deps(
            &self.dir,
            &DepMap::parse_for(&self.dep, &norm),
            &norm,
            params,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// modules.builtin as a set: what `builtin_in` scans for.
    fn builtin_names(text: &str) -> HashSet<String> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(name_of)
            .collect()
    }

    const DEP: &str = "\
kernel/drivers/net/ethernet/intel/e1000/e1000.ko:
kernel/drivers/net/virtio_net.ko: kernel/net/core/failover.ko kernel/drivers/net/net_failover.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko: kernel/drivers/ptp/ptp.ko kernel/drivers/pps/pps_core.ko
kernel/drivers/ptp/ptp.ko: kernel/drivers/pps/pps_core.ko
kernel/drivers/pps/pps_core.ko:
kernel/fs/a-b.ko.xz: kernel/fs/cyc.ko
kernel/fs/cyc.ko: kernel/fs/a-b.ko.xz
";

    #[test]
    fn scanning_for_one_module_gives_what_the_whole_map_gives() {
        let whole = DepMap::parse(DEP);
        for name in [
            "e1000",
            "virtio_net",
            "virtio-net",
            "net_failover",
            "e1000e",
            "ptp",
            "virtio",
        ] {
            assert_eq!(
                DepMap::parse_for(DEP, name).load_order(name),
                whole.load_order(name),
                "{name}"
            );
        }
        // Only the lines it needs.
        assert_eq!(DepMap::parse_for(DEP, "virtio_net").entries.len(), 5);
        // A dependency listed only on its dependency's line (not depmod's way) is found
        // by another scan.
        let chain = "a.ko: b.ko\nb.ko: c.ko\nc.ko:\nd.ko:\n";
        assert_eq!(
            DepMap::parse_for(chain, "a").load_order("a").unwrap(),
            ["c.ko", "b.ko", "a.ko"]
        );
        // A cycle and a missing module are errors, as with the whole map.
        assert!(DepMap::parse_for(DEP, "a-b").load_order("a_b").is_ok());
        assert!(
            DepMap::parse_for(DEP, "nosuch")
                .load_order("nosuch")
                .is_err()
        );
        assert!(DepMap::parse_for("", "e1000").load_order("e1000").is_err());
    }

    #[test]
    fn builtin_scan_agrees_with_the_set() {
        let text = "kernel/fs/ext4/ext4.ko\n\nkernel/drivers/virtio/virtio-mmio.ko\n";
        let set = builtin_names(text);
        for name in ["ext4", "virtio_mmio", "virtio", "", "ext"] {
            assert_eq!(builtin_in(text, name), set.contains(name), "{name:?}");
        }
    }

    #[test]
    fn loaded_dependencies_are_not_inserted_again() {
        let order: Vec<String> = [
            "kernel/virtio_ring.ko",
            "kernel/virtio.ko",
            "kernel/virtio_net.ko",
        ]
        .map(String::from)
        .into();
        let loaded = |n: &str| n == "virtio_ring" || n == "virtio";
        assert_eq!(to_insert(&order, loaded), [&order[2]]);
        assert_eq!(to_insert(&order, |_| false).len(), 3);
        // The module itself is always inserted: the caller found it not loaded (the
        // kernel's answer for a race is EEXIST, taken as "had it already").
        assert_eq!(to_insert(&order, |_| true), [&order[2]]);
        assert!(to_insert(&[], |_| false).is_empty());
    }

    #[test]
    fn modprobe_is_linked_once_and_a_file_there_is_kept() {
        let root = std::env::temp_dir().join(format!("qinit-modprobe-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let link = root.join("sbin/modprobe");
        link_modprobe(Path::new("/init"), &link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/init"));
        // Again (a restarted boot step): nothing changes, no error.
        link_modprobe(Path::new("/other"), &link).unwrap();
        assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/init"));
        // The user's own modprobe stays.
        let own = root.join("own/modprobe");
        std::fs::create_dir_all(root.join("own")).unwrap();
        std::fs::write(&own, "kmod").unwrap();
        link_modprobe(Path::new("/init"), &own).unwrap();
        assert_eq!(std::fs::read_to_string(&own).unwrap(), "kmod");
        // A directory that cannot be made is an error that names the link.
        let err = link_modprobe(Path::new("/init"), &own.join("x/modprobe")).unwrap_err();
        assert!(err.contains("own/modprobe/x"), "{err}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn names_follow_the_kernel() {
        assert_eq!(name_of("kernel/drivers/net/e1000/e1000.ko"), "e1000");
        assert_eq!(name_of("kernel/fs/a-b.ko.xz"), "a_b");
        assert_eq!(name_of("kernel/net/bonding/bonding.ko.zst"), "bonding");
        assert_eq!(name_of("kernel/drivers/net/nls-cp437.ko.zst"), "nls_cp437");
        assert!(is_zstd("kernel/fs/ext4/ext4.ko.zst"));
        assert!(!is_zstd("kernel/fs/ext4/ext4.ko"));
        assert!(!is_zstd("kernel/fs/ext4/ext4.ko.xz"));
    }

    #[test]
    fn compressed_modules_resolve_like_plain_ones() {
        let m = DepMap::parse(
            "kernel/drivers/net/bonding/bonding.ko.zst: kernel/net/tls/tls.ko.zst\n\
             kernel/net/tls/tls.ko.zst:\n",
        );
        assert!(m.contains("bonding") && m.contains("tls") && !m.contains("ext4"));
        assert_eq!(
            m.load_order("bonding").unwrap(),
            [
                "kernel/net/tls/tls.ko.zst",
                "kernel/drivers/net/bonding/bonding.ko.zst"
            ]
        );
    }

    /// Something shaped like a module: an ELF header, then text that compresses.
    fn module_bytes() -> Vec<u8> {
        let mut v = b"\x7fELF\x02\x01\x01".to_vec();
        for i in 0..20_000u32 {
            v.extend_from_slice(format!("symbol_{} ", i % 977).as_bytes());
        }
        v
    }

    fn zstd(data: &[u8]) -> Vec<u8> {
        ruzstd::encoding::compress_to_vec(data, ruzstd::encoding::CompressionLevel::Fastest)
    }

    #[test]
    fn a_compressed_module_is_decompressed() {
        let plain = module_bytes();
        let packed = zstd(&plain);
        assert!(packed.len() < plain.len() / 4, "{} bytes", packed.len());
        assert_eq!(
            decompress_zstd(&packed[..], MAX_MODULE_SIZE).unwrap(),
            plain
        );
        // From a file, as the loader reads it.
        let dir = std::env::temp_dir().join(format!("qinit-modules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bonding.ko.zst");
        std::fs::write(&path, &packed).unwrap();
        assert_eq!(read_compressed(&path, MAX_MODULE_SIZE).unwrap(), plain);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_corrupt_or_missing_file_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("qinit-corrupt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plain = module_bytes();
        let packed = zstd(&plain);
        let cases: [(&str, Vec<u8>); 4] = [
            ("empty.ko.zst", Vec::new()),
            ("notzstd.ko.zst", plain.clone()),
            ("truncated.ko.zst", packed[..packed.len() / 2].to_vec()),
            ("nothing.ko.zst", zstd(b"")),
        ];
        for (name, bytes) in cases {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let e = read_compressed(&path, MAX_MODULE_SIZE).unwrap_err();
            assert!(
                e.starts_with(&format!("decompressing {}: ", path.display())),
                "{name}: {e}"
            );
        }
        // Bytes flipped inside the compressed blocks: an error or other bytes, never a
        // panic; the kernel checks what it is given.
        for at in (20..packed.len()).step_by(7) {
            let mut bad = packed.clone();
            bad[at] ^= 0x5a;
            let _ = decompress_zstd(&bad[..], MAX_MODULE_SIZE);
        }
        let e = read_compressed(&dir.join("absent.ko.zst"), MAX_MODULE_SIZE).unwrap_err();
        assert!(e.contains("absent.ko.zst"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_size_cap_is_enforced() {
        let plain = module_bytes();
        let packed = zstd(&plain);
        let len = plain.len() as u64;
        assert_eq!(
            decompress_zstd(&packed[..], len).unwrap().len(),
            plain.len()
        );
        let e = decompress_zstd(&packed[..], len - 1).unwrap_err();
        assert!(e.contains("allowed"), "{e}");
        // A frame that does not declare its size is cut off at the cap too.
        let mut frame = Vec::new();
        let mut c =
            ruzstd::encoding::FrameCompressor::new(ruzstd::encoding::CompressionLevel::Fastest);
        c.set_source(&plain[..]);
        c.set_drain(&mut frame);
        c.compress();
        let e = decompress_zstd(&frame[..], 1000).unwrap_err();
        assert!(e.contains("allowed"), "{e}");
    }

    #[test]
    fn module_without_deps_loads_alone() {
        let m = DepMap::parse(DEP);
        assert_eq!(
            m.load_order("e1000").unwrap(),
            vec!["kernel/drivers/net/ethernet/intel/e1000/e1000.ko"]
        );
    }

    #[test]
    fn dependencies_come_first_and_once() {
        let m = DepMap::parse(DEP);
        let order = m.load_order("virtio_net").unwrap();
        let pos = |n: &str| order.iter().position(|p| p.ends_with(n)).unwrap();
        assert_eq!(order.len(), 5);
        assert!(pos("virtio_ring.ko") < pos("virtio.ko"));
        assert!(pos("failover.ko") < pos("net_failover.ko"));
        assert_eq!(order.last().unwrap(), "kernel/drivers/net/virtio_net.ko");
        let order = m.load_order("e1000e").unwrap();
        assert_eq!(
            order.iter().map(|p| name_of(p)).collect::<Vec<_>>(),
            ["pps_core", "ptp", "e1000e"]
        );
    }

    #[test]
    fn unknown_module_and_cycles_are_errors_not_hangs() {
        let m = DepMap::parse(DEP);
        assert!(m.load_order("nope").unwrap_err().contains("nope"));
        // A cycle terminates (each module visited once).
        assert_eq!(m.load_order("a-b").unwrap().len(), 2);
    }

    #[test]
    fn builtin_list_gives_names() {
        let b = builtin_names("kernel/drivers/net/e1000/e1000.ko\nkernel/fs/ext4/ext4.ko\n");
        assert!(b.contains("e1000") && b.contains("ext4"));
    }
}
