//! The domain's layering, checked on its own source: no file imports anything of the crate outside
//! `domain`, and no two files import each other (a parent's `pub use child::X` counts as an import),
//! so a shared type lives below both its users. A plain text scan is enough for the `use` style here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `.rs` file under `dir`, keyed by its module path inside `domain` (`["policy", "parse"]`).
fn files(dir: &Path, module: &[String], out: &mut BTreeMap<Vec<String>, String>) {
    for entry in std::fs::read_dir(dir).expect("src/domain is readable") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut m = module.to_vec();
        if path.is_dir() {
            m.push(name);
            files(&path, &m, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            if name != "mod" {
                m.push(name);
            }
            out.insert(m, std::fs::read_to_string(&path).expect("a source file"));
        }
    }
}

/// The leading lowercase segments of the path that follows `at` (`flag::{A, B}` gives `["flag"]`).
fn segments(at: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = at;
    loop {
        let n = rest
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(rest.len());
        if n == 0 || !rest[n..].starts_with("::") {
            return out;
        }
        out.push(rest[..n].to_owned());
        rest = &rest[n + 2..];
    }
}

/// The longest known module that `path` names (an item path names the module holding the item).
fn resolve(known: &BTreeMap<Vec<String>, String>, path: &[String]) -> Option<Vec<String>> {
    (0..=path.len())
        .rev()
        .map(|n| path[..n].to_vec())
        .find(|m| known.contains_key(m))
}

#[test]
fn no_domain_file_imports_outside_the_domain_or_a_file_that_imports_it() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut known = BTreeMap::new();
    files(&root, &[], &mut known);
    let (krate, sup) = (concat!("crate", "::"), concat!("super", "::"));
    let mut edges = BTreeSet::new();
    let mut outside = Vec::new();
    for (module, source) in &known {
        if module.last().is_some_and(|m| m == "layering") {
            continue;
        }
        for line in source.lines() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            // Absolute paths, anywhere in the file.
            for (i, _) in code.match_indices(krate) {
                let path = segments(&code[i + krate.len()..]);
                match path.split_first() {
                    Some((first, rest)) if first == "domain" => {
                        edges.extend(resolve(&known, rest).map(|t| (module.clone(), t)));
                    }
                    _ => outside.push(format!("{}: {code}", module.join("/"))),
                }
            }
            // Relative imports at the top level of a file (an indented `use super::*` is a test
            // module's, and names its own file), and a parent's uses of its own children.
            let Some(path) = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
                .iter()
                .find_map(|p| line.strip_prefix(p))
            else {
                continue;
            };
            let (mut base, path) = match path.strip_prefix(sup) {
                Some(rest) => (module[..module.len().saturating_sub(1)].to_vec(), rest),
                None => (module.clone(), path),
            };
            if path.starts_with(krate) {
                continue;
            }
            base.extend(segments(path));
            if let Some(target) = resolve(&known, &base) {
                edges.insert((module.clone(), target));
            }
        }
    }
    edges.retain(|(a, b)| a != b);
    assert!(
        outside.is_empty(),
        "the domain imports nothing of the crate but itself:\n{}",
        outside.join("\n")
    );
    let mutual: Vec<String> = edges
        .iter()
        .filter(|(a, b)| a < b && edges.contains(&(b.clone(), a.clone())))
        .map(|(a, b)| format!("{} <-> {}", a.join("/"), b.join("/")))
        .collect();
    assert!(
        mutual.is_empty(),
        "no two domain files import each other; move what both need below both:\n{}",
        mutual.join("\n")
    );
    assert!(
        edges.contains(&(vec!["policy".into(), "parse".into()], vec!["gate".into()])),
        "the scan sees imports (policy/parse.rs uses the gate's config)"
    );
}
