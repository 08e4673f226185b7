//! `modprobe` (qinit by that name, /sbin/modprobe): loads a module by name or by
//! modules.alias (`crypto-crc32c`, `fs-vfat`) with its dependencies through
//! system::modules, which reads the image's `.ko.zst` modules that busybox's modprobe
//! cannot. The kernel runs it too (`modprobe -q -- NAME`) for what it asks for at mount
//! or key time. Loading only: no removal, no listing.

use crate::system::{modalias, modules};

/// What `modprobe` takes: `-q`, the module (or alias), and its parameters.
#[derive(Debug, PartialEq, Eq)]
struct Args {
    quiet: bool,
    name: String,
    params: Vec<String>,
}

const USAGE: &str = "usage: modprobe [-q] [--] NAME [PARAM=VALUE ...]";

fn parse(args: &[String]) -> Result<Args, String> {
    let mut quiet = false;
    let mut it = args.iter();
    let name = loop {
        match it.next().map(String::as_str) {
            Some("-q" | "--quiet") => quiet = true,
            Some("--") => break it.next().cloned(),
            Some(o) if o.starts_with('-') && o.len() > 1 => {
                return Err(format!(
                    "unsupported option '{o}' (only -q: qinit's modprobe loads modules)"
                ));
            }
            Some(n) => break Some(n.to_string()),
            None => break None,
        }
    };
    let name = name.filter(|n| !n.is_empty()).ok_or("no module given")?;
    Ok(Args {
        quiet,
        name,
        params: it.cloned().collect(),
    })
}

/// The modules `name` stands for: itself if modules.dep or modules.builtin has it,
/// else what its alias matches in `aliases` (read only then), each once.
/// Whether `path` (a line's module path) is the module `key` (its name with '_' for
/// '-'), as `modules::name_of` would say, without building the name.
fn is_module(path: &str, key: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = file.split(".ko").next().unwrap_or(file);
    stem.len() == key.len()
        && stem
            .bytes()
            .zip(key.bytes())
            .all(|(a, b)| a == b || (a == b'-' && b == b'_'))
}

/// The modules `name` stands for: itself when modules.dep (`dep`) or modules.builtin
/// (`builtin`) lists it, else those whose alias in modules.alias matches it. Each file
/// is scanned once, no table built: the kernel's own requests are mostly for names no
/// image has (six of them before /init on Debian's kernel), and building the tables
/// took 6 ms a call under TCG.
fn resolve(
    name: &str,
    dep: &str,
    builtin: &str,
    aliases: impl FnOnce() -> Result<String, String>,
) -> Result<Vec<String>, String> {
    let key = name.replace('-', "_");
    let in_dep = dep
        .lines()
        .filter_map(|l| l.split_once(':'))
        .any(|(path, _)| is_module(path.trim(), &key));
    if in_dep || builtin.lines().any(|l| is_module(l.trim(), &key)) {
        return Ok(vec![name.to_string()]);
    }
    Ok(modalias::matches_in(&aliases()?, name))
}

pub fn main(args: &[String]) -> i32 {
    let args = match parse(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("modprobe: {e} ({USAGE})");
            return 2;
        }
    };
    match run(&args) {
        Ok(()) => 0,
        Err(Missing(_)) if args.quiet => 0,
        Err(Missing(e) | Failed(e)) => {
            eprintln!("modprobe: {e}");
            1
        }
    }
}

enum Error {
    /// No module by that name or alias (quiet with -q, as kmod's).
    Missing(String),
    Failed(String),
}
use Error::{Failed, Missing};

fn run(args: &Args) -> Result<(), Error> {
    let dir = modules::module_dir().map_err(Failed)?;
    let read = |file: &str| std::fs::read_to_string(format!("{dir}/{file}"));
    let names = resolve(
        &args.name,
        &read("modules.dep").unwrap_or_default(),
        &read("modules.builtin").unwrap_or_default(),
        || read("modules.alias").map_err(|e| format!("read {dir}/modules.alias: {e}")),
    )
    .map_err(|e| Failed(format!("{}: {e}", crate::log::escape(args.name.as_bytes()))))?;
    if names.is_empty() {
        return Err(Missing(format!(
            "module {} not found in {dir}",
            crate::log::escape(args.name.as_bytes()),
        )));
    }
    let tables = modules::Tables::read().map_err(Failed)?;
    let params = std::ffi::CString::new(args.params.join(" "))
        .map_err(|_| Failed("a parameter holds a NUL byte".into()))?;
    for name in names {
        tables
            .load_with(&name, &params)
            .map_err(|e| Failed(format!("{}: {}", crate::log::escape(name.as_bytes()), e)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn arguments_as_the_kernel_and_a_user_give_them() {
        assert_eq!(
            parse(&s(&["-q", "--", "crypto-crc32c"])).unwrap(),
            Args {
                quiet: true,
                name: "crypto-crc32c".into(),
                params: vec![]
            }
        );
        assert_eq!(
            parse(&s(&["bonding", "max_bonds=0", "miimon=100"])).unwrap(),
            Args {
                quiet: false,
                name: "bonding".into(),
                params: s(&["max_bonds=0", "miimon=100"])
            }
        );
        assert!(parse(&s(&["-r", "bonding"])).unwrap_err().contains("'-r'"));
        assert!(
            parse(&s(&["--show-depends", "x"]))
                .unwrap_err()
                .contains("--show-depends")
        );
        assert!(parse(&s(&["-q"])).is_err());
        assert!(parse(&s(&[])).is_err());
    }

    #[test]
    fn names_first_then_aliases() {
        let deps = "kernel/fs/ext4/ext4.ko.zst:\nkernel/crypto/crc32c_generic.ko.zst:\nkernel/net/8021q/8021q.ko: kernel/net/802/garp.ko\n";
        let builtin = "kernel/fs/fat/fat.ko\nkernel/drivers/char/hw_random/rng-core.ko\n";
        let aliases = || {
            Ok::<_, String>(
                "alias crypto-crc32c crc32c_generic\nalias fs-ext4 ext4\nalias fs-ext3 ext4\n"
                    .to_string(),
            )
        };
        assert_eq!(resolve("ext4", deps, builtin, aliases).unwrap(), ["ext4"]);
        assert_eq!(resolve("fat", deps, builtin, aliases).unwrap(), ["fat"]);
        assert_eq!(resolve("8021q", deps, builtin, aliases).unwrap(), ["8021q"]);
        // '-' and '_' are one in module names; a prefix or a suffix is not the name.
        assert_eq!(
            resolve("rng_core", deps, builtin, aliases).unwrap(),
            ["rng_core"]
        );
        assert_eq!(
            resolve("rng-core", deps, builtin, aliases).unwrap(),
            ["rng-core"]
        );
        assert!(resolve("ext", deps, builtin, aliases).unwrap().is_empty());
        assert!(resolve("ext45", deps, builtin, aliases).unwrap().is_empty());
        assert!(resolve("ko", deps, builtin, aliases).unwrap().is_empty());
        assert_eq!(
            resolve("crypto-crc32c", deps, builtin, aliases).unwrap(),
            ["crc32c_generic"]
        );
        assert!(
            resolve("nosuchmod", deps, builtin, aliases)
                .unwrap()
                .is_empty()
        );
        // modules.alias is read only for a name modules.dep lacks.
        let fails = || Err::<String, _>("read modules.alias: gone".to_string());
        assert_eq!(resolve("ext4", deps, builtin, fails).unwrap(), ["ext4"]);
        assert!(resolve("fs-ext4", deps, builtin, fails).is_err());
    }
}
