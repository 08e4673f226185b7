//! The source tree's layers hold: a module imports only from its own folder or from the
//! layers below its folder, and no two modules import each other, directly or around a
//! longer circle. Read from the source text (every `crate::a::b` path outside tests),
//! so it needs no tool beyond cargo: `cargo test --test layers`.

#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "a test: what cannot be read fails it"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Folders (and base files) from the bottom up; a higher rank may use a lower one.
const LAYERS: &[(&str, u8)] = &[
    ("clock", 0),
    ("log", 0),
    ("names", 0),
    ("system", 1),
    ("dhcp", 1),
    ("config", 2),
    ("net", 3),
    ("pid1", 4),
    ("tools", 5),
];

fn rank(top: &str) -> Option<u8> {
    LAYERS.iter().find(|(n, _)| *n == top).map(|(_, r)| *r)
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// "src/net/link.rs" -> ["net", "link"]; "src/net/mod.rs" -> ["net"].
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// The source without its `#[cfg(test)]` module and without comments.
fn code_outside_tests(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every module a file names through `crate::`, as paths of up to two parts
/// (`crate::net::link::Link` -> ["net", "link"]; `crate::info` -> ["info"]), with
/// `crate::{a, b}` and `crate::net::{x, y}` groups expanded.
fn imports(code: &str, modules: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut out = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        let path: String = rest
            .chars()
            .take_while(|c| {
                c.is_alphanumeric()
                    || *c == '_'
                    || *c == ':'
                    || *c == '{'
                    || *c == '}'
                    || *c == ','
                    || *c == ' '
            })
            .collect();
        for candidate in expand(&path) {
            // The longest prefix that is a module of ours.
            let parts: Vec<String> = candidate.split("::").map(str::to_string).collect();
            for n in (1..=parts.len().min(2)).rev() {
                let prefix = parts[..n].to_vec();
                if modules.contains(&prefix) {
                    out.insert(prefix);
                    break;
                }
            }
        }
    }
    out
}

/// "net::{link, netif::NetIf}" -> ["net::link", "net::netif::NetIf"].
fn expand(path: &str) -> Vec<String> {
    let path = path.trim();
    match path.find('{') {
        None => vec![path.split([' ', ',', '}']).next().unwrap_or("").to_string()],
        Some(i) => {
            let head = &path[..i];
            let inner = path[i + 1..].split('}').next().unwrap_or("");
            inner
                .split(',')
                .map(|p| format!("{head}{}", p.trim()))
                .filter(|p| !p.ends_with("::"))
                .collect()
        }
    }
}

#[test]
fn imports_go_down_the_layers_and_never_in_circles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_of(&src, f))
        .filter(|m| !m.is_empty() && m[0] != "main" && m[0] != "lib")
        .collect();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let mut wrong = Vec::new();
    for f in &files {
        let me = module_of(&src, f);
        if me.is_empty() || me[0] == "main" || me[0] == "lib" {
            continue;
        }
        let my_rank =
            rank(&me[0]).unwrap_or_else(|| panic!("{}: folder not in LAYERS", f.display()));
        let code = code_outside_tests(&std::fs::read_to_string(f).expect("read"));
        let used = imports(&code, &modules);
        for u in &used {
            if u == &me {
                continue;
            }
            let r = rank(&u[0])
                .unwrap_or_else(|| panic!("{}: uses unknown crate::{}", f.display(), u[0]));
            // The base files (rank 0) are one room.
            let same_folder = u[0] == me[0] || (r == 0 && my_rank == 0);
            if r > my_rank || (r == my_rank && !same_folder) {
                wrong.push(format!(
                    "{} (layer {my_rank}) uses crate::{} (layer {r})",
                    me.join("::"),
                    u.join("::")
                ));
            }
        }
        graph.insert(
            me,
            used.into_iter().filter(|u| modules.contains(u)).collect(),
        );
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );

    // A cycle is a back edge in a depth-first walk.
    fn visit(
        m: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        state: &mut BTreeMap<Vec<String>, u8>,
        stack: &mut Vec<Vec<String>>,
        cycles: &mut Vec<String>,
    ) {
        state.insert(m.clone(), 1);
        stack.push(m.clone());
        for n in graph.get(m).into_iter().flatten() {
            if n == m {
                continue;
            }
            match state.get(n).copied().unwrap_or(0) {
                0 => visit(n, graph, state, stack, cycles),
                1 => {
                    let from = stack.iter().position(|s| s == n).unwrap_or(0);
                    let names: Vec<String> = stack[from..]
                        .iter()
                        .chain([n])
                        .map(|s| s.join("::"))
                        .collect();
                    cycles.push(names.join(" -> "));
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(m.clone(), 2);
    }
    let mut state = BTreeMap::new();
    let mut cycles = Vec::new();
    for m in graph.keys() {
        if state.get(m).copied().unwrap_or(0) == 0 {
            visit(m, &graph, &mut state, &mut Vec::new(), &mut cycles);
        }
    }
    assert!(cycles.is_empty(), "import cycles:\n{}", cycles.join("\n"));
    // The walk saw the tree: a broken reader would pass with an empty graph.
    assert!(graph.len() > 30, "only {} modules read", graph.len());
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(edges > 40, "only {edges} imports read");
}

#[test]
fn the_reader_sees_grouped_imports() {
    let modules: BTreeSet<Vec<String>> = [
        vec!["net".to_string(), "link".to_string()],
        vec!["net".to_string(), "netif".to_string()],
        vec!["log".to_string()],
    ]
    .into_iter()
    .collect();
    let got = imports(
        "use crate::net::{link::Link, netif};\nlet x = crate::log::ms(d);",
        &modules,
    );
    assert_eq!(got.len(), 3, "{got:?}");
}
