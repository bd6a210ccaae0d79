//! The layering, as a test: a scan of `src/` that fails when a room reaches where it must not. The
//! domain imports nothing of the crate but itself and has no import circles; the edges (`mcp/`,
//! `http/`, `cli/`, `console/`) never import `store` and never each other, but for the spots named in `ALLOWED`.
//! A source scan (comments and literals masked, `use` trees expanded) is enough: no compiler needed.

#[path = "layering/scan.rs"]
mod scan;

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use scan::references;

/// Where one edge may use another, each by file and path prefix. Anything else between edges fails.
/// When a file named here is split or moved, move its entry with the code.
const ALLOWED: &[Allowed] = &[
    // `/mcp` is rmcp's streamable HTTP service serving the same `mcp::Server` as stdio: HTTP mounts
    // the MCP edge, and carries the process's one state seal to every session's server.
    Allowed {
        file: "src/http/mod.rs",
        path: "mcp::Server",
    },
    Allowed {
        file: "src/http/mod.rs",
        path: "mcp::StateSeal",
    },
    // `/console` is served on the same router, behind the same Host guard: HTTP mounts the console.
    Allowed {
        file: "src/http/mod.rs",
        path: "console::Console",
    },
    Allowed {
        file: "src/http/mod.rs",
        path: "console::router",
    },
];

/// The edges: each speaks one protocol to the outside and reaches the rest only through `app`.
const EDGES: [&str; 5] = ["mcp", "http", "cli", "flagd_sync", "console"];

/// A module path below the crate root, such as `["domain", "flag"]`.
type Room = Vec<String>;

/// Where an import stands: file, line, and the path as written.
type Place = (String, usize, String);

struct Allowed {
    file: &'static str,
    path: &'static str,
}

/// One broken rule, where it is broken.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    file: String,
    line: usize,
    rule: &'static str,
    detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: [{}] {}",
            self.file, self.line, self.rule, self.detail
        )
    }
}

// ---- the rules ------------------------------------------------------------------------------------

/// Every violation in `files`, given as (path from the crate root such as `src/domain/flag.rs`, text).
fn check(files: &[(String, String)]) -> Vec<Violation> {
    let mut out = Vec::new();
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .filter_map(|(path, _)| module_of(path).map(|m| (m, path.clone())))
        .collect();
    // (from room, to room) -> the first place the import is made, for the circle rule.
    let mut room_edges: BTreeMap<(Room, Room), Place> = BTreeMap::new();

    for (path, text) in files {
        let Some(module) = module_of(path) else {
            continue;
        };
        let room = module.first().map(String::as_str).unwrap_or("");
        for r in references(&module, text) {
            let violate = |rule, detail: String| Violation {
                file: path.clone(),
                line: r.line,
                rule,
                detail,
            };
            let Some(target) = &r.resolved else {
                if room == "domain" {
                    out.push(violate(
                        "domain-imports-only-domain",
                        format!("`{}` climbs out of the crate", r.written),
                    ));
                }
                continue;
            };
            let to = target.first().map(String::as_str).unwrap_or("");
            let absolute = format!("crate::{}", target.join("::"));
            let shown = if r.written == absolute {
                format!("`{absolute}`")
            } else {
                format!("`{}` (that is {absolute})", r.written)
            };
            if room == "domain" && to != "domain" {
                out.push(violate(
                    "domain-imports-only-domain",
                    format!("{shown}: the domain imports nothing of the crate but itself"),
                ));
            }
            if EDGES.contains(&room) && to == "store" {
                out.push(violate(
                    "edges-never-import-store",
                    format!("{shown}: an edge reaches the store only through `app`"),
                ));
            }
            if EDGES.contains(&room) && EDGES.contains(&to) && to != room && !allowed(path, target)
            {
                out.push(violate(
                    "edges-never-import-each-other",
                    format!(
                        "{shown}: `{room}` must not use `{to}` (if this is a named exception that \
                         moved, move its entry in ALLOWED in tests/layering.rs)"
                    ),
                ));
            }
            if (room == "mcp" || room == "http" || room == "console") && to == "launch" {
                out.push(violate(
                    "servers-never-import-launch",
                    format!(
                        "{shown}: `launch` wires the servers; a server never reaches back up to it"
                    ),
                ));
            }
            if room == "domain" && to == "domain" {
                let Some(target_module) = file_module(&modules, target) else {
                    continue;
                };
                if let Some(pair) = rooms_between(&module, &target_module) {
                    room_edges
                        .entry(pair)
                        .or_insert_with(|| (path.clone(), r.line, r.written.clone()));
                }
            }
        }
    }

    for ((a, b), (file, line, written)) in &room_edges {
        if a < b
            && let Some((back_file, back_line, back_written)) =
                room_edges.get(&(b.clone(), a.clone()))
        {
            out.push(Violation {
                file: file.clone(),
                line: *line,
                rule: "domain-has-no-circles",
                detail: format!(
                    "crate::{} imports crate::{} (`{written}`) and crate::{} imports it back at \
                     {back_file}:{back_line} (`{back_written}`): move what both need where both can \
                     import it",
                    a.join("::"),
                    b.join("::"),
                    b.join("::"),
                ),
            });
        }
    }
    out.sort();
    out
}

fn allowed(file: &str, target: &[String]) -> bool {
    ALLOWED.iter().any(|a| {
        let prefix: Vec<&str> = a.path.split("::").collect();
        a.file == file
            && target.len() >= prefix.len()
            && target.iter().zip(&prefix).all(|(t, p)| t == p)
    })
}

/// The module a source file is: `src/domain/flag.rs` is `domain::flag`, `src/domain/mod.rs` is
/// `domain`, `src/lib.rs` the root. `src/main.rs` is another crate (it names this one `flagwarden`).
fn module_of(path: &str) -> Option<Vec<String>> {
    let rel = path.strip_prefix("src/")?.strip_suffix(".rs")?;
    if rel == "main" {
        return None;
    }
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    Some(parts)
}

/// The module with a file that a path lands in: the longest prefix of `target` that is a file.
fn file_module(modules: &BTreeMap<Vec<String>, String>, target: &[String]) -> Option<Vec<String>> {
    (1..=target.len())
        .rev()
        .map(|n| target[..n].to_vec())
        .find(|m| modules.contains_key(m))
}

/// The two sibling rooms an import crosses between, where the paths part: `domain::flag` to
/// `domain::rules` is (`domain::flag`, `domain::rules`); `domain::policy::parse` to `domain::gate`
/// is (`domain::policy`, `domain::gate`). A module and its own parent or child share a room.
fn rooms_between(from: &[String], to: &[String]) -> Option<(Vec<String>, Vec<String>)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((from[..=common].to_vec(), to[..=common].to_vec()))
}

// ---- the scanner ----------------------------------------------------------------------------------
// ---- the tests ------------------------------------------------------------------------------------

fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

#[test]
fn the_source_keeps_its_layering() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), root, &mut files);
    assert!(
        files.iter().any(|(p, _)| p == "src/domain/mod.rs"),
        "the scan found the sources"
    );
    let violations = check(&files);
    assert!(
        violations.is_empty(),
        "the layering is broken in {} places (ARCHITECTURE.md states the rules):\n{}",
        violations.len(),
        violations
            .iter()
            .map(|v| format!("  {v}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The scanner itself, on files written here: each rule must be seen to fire, at the right line.
fn scan(files: &[(&str, &str)]) -> Vec<String> {
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    check(&files)
        .iter()
        .map(|v| format!("{}:{} {}", v.file, v.line, v.rule))
        .collect()
}

#[test]
fn the_scanner_flags_a_domain_file_that_reaches_outside_the_domain() {
    let got = scan(&[
        ("src/domain/mod.rs", "pub mod a;\npub mod b;\n"),
        (
            "src/domain/a.rs",
            "use super::b::Thing;\nuse crate::store::Store;\nuse crate::domain::b::Other;\n\
             fn f() { let _ = crate::app::App::new(); }\n\
             fn g() { super::super::http::serve(); }\n",
        ),
        ("src/domain/b.rs", "pub struct Thing;\n"),
    ]);
    assert_eq!(
        got,
        [
            "src/domain/a.rs:2 domain-imports-only-domain",
            "src/domain/a.rs:4 domain-imports-only-domain",
            "src/domain/a.rs:5 domain-imports-only-domain",
        ]
    );
}

#[test]
fn the_scanner_flags_edges_that_import_the_store_or_each_other() {
    let got = scan(&[
        (
            "src/http/api.rs",
            "use crate::{\n    app::App,\n    store::Change,\n};\nuse crate::mcp::Server;\n",
        ),
        // The named exception: HTTP mounts the MCP service in its router, and only there.
        (
            "src/http/mod.rs",
            "use crate::mcp::{Server, StateSeal};\nuse crate::cli::run;\n",
        ),
        (
            "src/mcp/mod.rs",
            "fn who(p: &Parts) { p.extensions.get::<crate::http::auth::Principal>(); }\n",
        ),
        (
            "src/cli/mod.rs",
            "fn token() { crate::http::auth::hash(t); }\nfn serve() { crate::launch::serve(app, args); }\n",
        ),
        // The composition root knows every edge; only the CLI asks it for a mode.
        ("src/mcp/confirm.rs", "use crate::launch::tool_list;\n"),
        (
            "src/launch.rs",
            "use crate::{http, mcp};\nuse crate::notify::Notifier;\n",
        ),
    ]);
    assert_eq!(
        got,
        [
            "src/cli/mod.rs:1 edges-never-import-each-other",
            "src/http/api.rs:3 edges-never-import-store",
            "src/http/api.rs:5 edges-never-import-each-other",
            "src/http/mod.rs:2 edges-never-import-each-other",
            "src/mcp/confirm.rs:1 servers-never-import-launch",
            "src/mcp/mod.rs:1 edges-never-import-each-other",
        ]
    );
}

#[test]
fn the_scanner_flags_a_circle_in_the_domain_but_not_a_module_and_its_children() {
    let got = scan(&[
        (
            "src/domain/mod.rs",
            "pub mod flag;\npub mod rules;\npub mod gate;\n",
        ),
        ("src/domain/flag.rs", "use super::rules::Rule;\n"),
        (
            "src/domain/rules.rs",
            "\n\nuse super::flag::{InvalidFlag, Variants};\n",
        ),
        // A parent re-exporting its children and the children using the parent is one room.
        (
            "src/domain/gate/mod.rs",
            "mod config;\npub use config::GateConfig;\nuse self::config::X;\n",
        ),
        (
            "src/domain/gate/config.rs",
            "use super::Metric;\nuse crate::domain::flag::Flag;\n",
        ),
    ]);
    assert_eq!(got, ["src/domain/flag.rs:1 domain-has-no-circles"]);
    let message = check(&[
        (
            "src/domain/flag.rs".into(),
            "use super::rules::Rule;\n".into(),
        ),
        (
            "src/domain/rules.rs".into(),
            "\n\nuse super::flag::Variants;\n".into(),
        ),
    ])[0]
        .to_string();
    assert!(
        message.contains("src/domain/flag.rs:1")
            && message.contains("src/domain/rules.rs:3")
            && message.contains("domain-has-no-circles"),
        "{message}"
    );
}

#[test]
fn the_scanner_ignores_comments_strings_and_test_modules_inside_their_file() {
    let got = scan(&[(
        "src/domain/flag.rs",
        "//! Unlike crate::store::Store, this is pure.\n\
         /* use crate::app::App; /* nested */ crate::http::x */\n\
         const DOC: &str = \"use crate::store::Store;\";\n\
         const RAW: &str = r#\"crate::cli::run \"quoted\" \"#;\n\
         fn f<'a>(x: &'a str) -> char { '{' }\n\
         #[cfg(test)]\nmod tests {\n    use super::*;\n    use super::super::bucket::Percent;\n}\n",
    )]);
    assert!(got.is_empty(), "{got:?}");
}
