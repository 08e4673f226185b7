//! Kernel modules: modules.dep resolved to a load order, loaded with finit_module.
//! The resolution is pure; only `load` touches the system.

use std::collections::{HashMap, HashSet};
use std::path::Path;

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
    pub fn parse(text: &str) -> Self {
        let mut entries = HashMap::new();
        for line in text.lines() {
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

/// modules.builtin: one path per line of what is compiled into the kernel.
pub fn builtin_names(text: &str) -> HashSet<String> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(name_of)
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
pub enum Loaded {
    Builtin,
    Already,
    /// How many module files were inserted (the module and its dependencies).
    Inserted(usize),
}

/// The running kernel's module directory.
pub fn module_dir() -> Result<String, String> {
    let uname = nix::sys::utsname::uname().map_err(|e| format!("uname: {e}"))?;
    Ok(format!(
        "/lib/modules/{}",
        uname.release().to_string_lossy()
    ))
}

/// Loads `name` with its dependencies, unless built in or already loaded.
pub fn load(
    dir: &str,
    deps: &DepMap,
    builtin: &HashSet<String>,
    name: &str,
) -> Result<Loaded, String> {
    load_with(dir, deps, builtin, name, c"")
}

/// `load`, with `params` (`max_bonds=0`) for `name` itself; its dependencies get none.
pub fn load_with(
    dir: &str,
    deps: &DepMap,
    builtin: &HashSet<String>,
    name: &str,
    params: &std::ffi::CStr,
) -> Result<Loaded, String> {
    let norm = name.replace('-', "_");
    if builtin.contains(&norm) {
        return Ok(Loaded::Builtin);
    }
    if Path::new("/sys/module")
        .join(&norm)
        .join("initstate")
        .exists()
    {
        return Ok(Loaded::Already);
    }
    let mut inserted = 0;
    let order = deps.load_order(&norm)?;
    let last = order.len().saturating_sub(1);
    for (i, rel) in order.iter().enumerate() {
        let path = Path::new(dir).join(rel);
        let file =
            std::fs::File::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
        let params = if i == last { params } else { c"" };
        match nix::kmod::finit_module(&file, params, nix::kmod::ModuleInitFlags::empty()) {
            Ok(()) => inserted += 1,
            Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(format!("finit_module {}: {e}", path.display())),
        }
    }
    Ok(Loaded::Inserted(inserted))
}

/// The running kernel's module directory and its tables, read once for the boot's steps.
pub struct Tables {
    pub dir: String,
    pub deps: DepMap,
    pub builtin: HashSet<String>,
}

impl Tables {
    pub fn read() -> Result<Tables, String> {
        let dir = module_dir()?;
        let (deps, builtin) = read_tables(&dir);
        Ok(Tables { dir, deps, builtin })
    }

    /// `load` with these tables.
    pub fn load(&self, name: &str) -> Result<Loaded, String> {
        load(&self.dir, &self.deps, &self.builtin, name)
    }

    /// `load_with` with these tables.
    pub fn load_with(&self, name: &str, params: &std::ffi::CStr) -> Result<Loaded, String> {
        load_with(&self.dir, &self.deps, &self.builtin, name, params)
    }
}

/// Reads modules.dep and modules.builtin of `dir` (missing files give empty tables).
pub fn read_tables(dir: &str) -> (DepMap, HashSet<String>) {
    let dep = std::fs::read_to_string(format!("{dir}/modules.dep")).unwrap_or_default();
    let builtin = std::fs::read_to_string(format!("{dir}/modules.builtin")).unwrap_or_default();
    (DepMap::parse(&dep), builtin_names(&builtin))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn names_follow_the_kernel() {
        assert_eq!(name_of("kernel/drivers/net/e1000/e1000.ko"), "e1000");
        assert_eq!(name_of("kernel/fs/a-b.ko.xz"), "a_b");
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
