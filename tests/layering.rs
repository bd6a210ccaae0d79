//! The layering, as a test: a scan of `src/` that fails when a room reaches where it must not. The
//! domain imports nothing of the crate but itself and has no import circles; the edges (`mcp/`,
//! `http/`, `cli/`) never import `store` and never each other, but for the spots named in `ALLOWED`.
//! A source scan (comments and literals masked, `use` trees expanded) is enough: no compiler needed.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

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
    // `flagwarden serve` starts the HTTP server: its entry point and the configuration it takes.
    Allowed {
        file: "src/cli/mod.rs",
        path: "http::serve",
    },
    Allowed {
        file: "src/cli/mod.rs",
        path: "http::ServeConfig",
    },
    // `flagwarden mcp` and `serve` make the process's state seal that every MCP session shares, and
    // `flagwarden schema` prints the server's tools/list.
    Allowed {
        file: "src/cli/mod.rs",
        path: "mcp::StateSeal",
    },
    Allowed {
        file: "src/cli/mod.rs",
        path: "mcp::Server",
    },
];

/// The edges: each speaks one protocol to the outside and reaches the rest only through `app`.
const EDGES: [&str; 3] = ["mcp", "http", "cli"];

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

/// One path of the crate a file names, resolved from its module to the crate root.
#[derive(Debug, Clone)]
struct Reference {
    line: usize,
    /// As written: `super::rules::Rule`.
    written: String,
    /// From the crate root: `["domain", "rules", "Rule"]`; `None` when `super` climbs out of the crate.
    resolved: Option<Vec<String>>,
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
    let mut room_edges: BTreeMap<(Vec<String>, Vec<String>), (String, usize, String)> =
        BTreeMap::new();

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

/// Every `crate::`, `super::` and `self::` path in a file, in `use` trees and in code, resolved from
/// the (inline) module it stands in.
fn references(module: &[String], text: &str) -> Vec<Reference> {
    let masked = mask(text);
    let inline = inline_modules(&masked);
    let line_of = |offset: usize| masked[..offset].iter().filter(|&&b| b == b'\n').count() + 1;
    let module_at = |offset: usize| {
        let mut m = module.to_vec();
        m.extend(
            inline
                .iter()
                .filter(|(start, end, _)| (*start..*end).contains(&offset))
                .map(|(_, _, name)| name.clone()),
        );
        m
    };
    let mut out = Vec::new();
    let mut in_use = vec![false; masked.len()];

    let mut i = 0;
    while let Some(start) = find_word(&masked, b"use", i) {
        let after = start + 3;
        i = after;
        // `impl Trait + use<'a>` is precise capturing, not an import.
        if masked.get(skip_space(&masked, after)) == Some(&b'<') {
            continue;
        }
        let Some(end) = masked[after..].iter().position(|&b| b == b';') else {
            break;
        };
        let end = after + end;
        in_use[start..end].iter_mut().for_each(|b| *b = true);
        for (path, at) in use_tree(&masked[after..end], after) {
            out.push(reference(&module_at(start), path, line_of(at)));
        }
        i = end;
    }

    let mut j = 0;
    while j < masked.len() {
        let starts_path = (j == 0 || !is_ident(masked[j - 1]) && !b"$:".contains(&masked[j - 1]))
            && ["crate::", "super::", "self::"]
                .iter()
                .any(|k| masked[j..].starts_with(k.as_bytes()));
        if !starts_path || in_use[j] {
            j += 1;
            continue;
        }
        let mut segments = Vec::new();
        let mut k = j;
        loop {
            let s = k;
            while k < masked.len() && is_ident(masked[k]) {
                k += 1;
            }
            if s == k {
                break;
            }
            segments.push(String::from_utf8_lossy(&masked[s..k]).into_owned());
            if masked[k..].starts_with(b"::") && masked.get(k + 2).is_some_and(|&b| is_ident(b)) {
                k += 2;
            } else {
                break;
            }
        }
        out.push(reference(&module_at(j), segments, line_of(j)));
        j = k.max(j + 1);
    }
    out.sort_by_key(|r| r.line);
    out
}

fn reference(module: &[String], path: Vec<String>, line: usize) -> Reference {
    let written = path.join("::");
    let resolved = match path.first().map(String::as_str) {
        Some("crate") => Some(path[1..].to_vec()),
        Some("self") => Some([module, &path[1..]].concat()),
        Some("super") => {
            let mut m = module.to_vec();
            let mut rest = &path[..];
            let mut inside = true;
            while rest.first().map(String::as_str) == Some("super") {
                inside &= m.pop().is_some();
                rest = &rest[1..];
            }
            inside.then(|| [&m[..], rest].concat())
        }
        // A path from an extern crate or a child module: it stays where it is.
        _ => Some(module.to_vec()),
    };
    Reference {
        line,
        written,
        resolved,
    }
}

/// The leaves of a `use` tree, each with the offset it starts at: `crate::{app::App, store::*}` is
/// `crate::app::App` and `crate::store::*`. `self` in a group names the group's own prefix.
fn use_tree(body: &[u8], base: usize) -> Vec<(Vec<String>, usize)> {
    let tokens = tokenize(body, base);
    let mut out = Vec::new();
    let mut pos = 0;
    tree(&tokens, &mut pos, &[], &mut out);
    out
}

fn tree(
    tokens: &[(String, usize)],
    pos: &mut usize,
    prefix: &[String],
    out: &mut Vec<(Vec<String>, usize)>,
) {
    let mut path = prefix.to_vec();
    let at = tokens.get(*pos).map_or(0, |t| t.1);
    if tokens.get(*pos).is_some_and(|t| t.0 == "::") {
        *pos += 1; // `::std::...`, an extern path
    }
    while let Some((tok, _)) = tokens.get(*pos) {
        match tok.as_str() {
            "{" => {
                *pos += 1;
                while tokens.get(*pos).is_some_and(|t| t.0 != "}") {
                    tree(tokens, pos, &path, out);
                    if tokens.get(*pos).is_some_and(|t| t.0 == ",") {
                        *pos += 1;
                    }
                }
                *pos += 1;
                return;
            }
            "*" => {
                *pos += 1;
                path.push("*".into());
                break;
            }
            "self" if !path.is_empty() => *pos += 1,
            "as" => {
                *pos += 2;
                break;
            }
            "," | "}" => break,
            ident => {
                path.push(ident.to_owned());
                *pos += 1;
                match tokens.get(*pos).map(|t| t.0.as_str()) {
                    Some("::") => *pos += 1,
                    Some("as") => {
                        *pos += 2;
                        break;
                    }
                    _ => break,
                }
            }
        }
    }
    if !path.is_empty() {
        out.push((path, at));
    }
}

fn tokenize(body: &[u8], base: usize) -> Vec<(String, usize)> {
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if is_ident(b) {
            let s = i;
            while i < body.len() && is_ident(body[i]) {
                i += 1;
            }
            tokens.push((String::from_utf8_lossy(&body[s..i]).into_owned(), base + s));
        } else if body[i..].starts_with(b"::") {
            tokens.push(("::".into(), base + i));
            i += 2;
        } else {
            if b"{},*".contains(&b) {
                tokens.push(((b as char).to_string(), base + i));
            }
            i += 1;
        }
    }
    tokens
}

/// The inline `mod name { ... }` blocks: (start, end, name), so `super` inside `mod tests` means the
/// file's own module.
fn inline_modules(masked: &[u8]) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    let mut stack: Vec<Option<(usize, String)>> = Vec::new();
    for (i, &b) in masked.iter().enumerate() {
        match b {
            b'{' => {
                let before = String::from_utf8_lossy(&masked[..i]);
                let words: Vec<&str> = before.split_whitespace().rev().take(2).collect();
                let named = match words[..] {
                    [name, "mod"] if name.bytes().all(is_ident) => Some((i, name.to_owned())),
                    _ => None,
                };
                stack.push(named);
            }
            b'}' => {
                if let Some(Some((start, name))) = stack.pop() {
                    out.push((start, i, name));
                }
            }
            _ => {}
        }
    }
    out
}

/// The text with comments, strings and character literals blanked (newlines kept), so nothing a
/// comment or a test fixture says is taken for an import.
fn mask(text: &str) -> Vec<u8> {
    let src = text.as_bytes();
    let mut out = src.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for b in &mut out[from..to.min(src.len())] {
            if *b != b'\n' {
                *b = b' ';
            }
        }
    };
    let mut i = 0;
    while i < src.len() {
        let rest = &src[i..];
        // `b'x'` and `b"x"` are literals too: a `b` that is a word of its own does not count.
        let prev_ident = i > 0
            && is_ident(src[i - 1])
            && !(src[i - 1] == b'b' && (i < 2 || !is_ident(src[i - 2])));
        if rest.starts_with(b"//") {
            let end = rest
                .iter()
                .position(|&b| b == b'\n')
                .map_or(src.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (1, i + 2);
            while j < src.len() && depth > 0 {
                if src[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if src[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if let Some((lead, hashes)) = raw_string_start(src, i) {
            let open = i + lead + hashes + 1; // `r` or `br`, hashes, quote
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let end = src[open..]
                .windows(close.len())
                .position(|w| w == close.as_slice())
                .map_or(src.len(), |n| open + n + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if src[i] == b'"' {
            let mut j = i + 1;
            while j < src.len() && src[j] != b'"' {
                j += if src[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i, j + 1);
            i = j + 1;
        } else if src[i] == b'\'' && !prev_ident {
            // A character literal ('x', '\n', '\u{..}'); otherwise a lifetime, left alone.
            let end = if rest.get(1) == Some(&b'\\') {
                rest.iter()
                    .skip(2)
                    .position(|&b| b == b'\'')
                    .map(|n| i + 2 + n + 1)
            } else {
                let ch = text[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + ch) == Some(&b'\'')).then_some(i + 1 + ch + 1)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i, end);
                    i = end;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    out
}

/// At a raw string (`r"`, `r#"`, `br#"`): the length of its `r` or `br`, and its number of hashes.
fn raw_string_start(src: &[u8], i: usize) -> Option<(usize, usize)> {
    let r = match src.get(i..i + 2) {
        Some(b"br") => i + 1,
        _ if src[i] == b'r' => i,
        _ => return None,
    };
    if i > 0 && is_ident(src[i - 1]) {
        return None;
    }
    let hashes = src[r + 1..].iter().take_while(|&&b| b == b'#').count();
    (src.get(r + 1 + hashes) == Some(&b'"')).then_some((r - i + 1, hashes))
}

fn find_word(hay: &[u8], word: &[u8], from: usize) -> Option<usize> {
    (from..hay.len().saturating_sub(word.len() - 1)).find(|&i| {
        hay[i..].starts_with(word)
            && (i == 0 || !is_ident(hay[i - 1]))
            && hay.get(i + word.len()).is_none_or(|&b| !is_ident(b))
    })
}

fn skip_space(hay: &[u8], mut i: usize) -> usize {
    while hay.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

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
            "fn serve() { crate::http::serve(cfg); crate::http::auth::hash(t); }\n",
        ),
    ]);
    assert_eq!(
        got,
        [
            "src/cli/mod.rs:1 edges-never-import-each-other",
            "src/http/api.rs:3 edges-never-import-store",
            "src/http/api.rs:5 edges-never-import-each-other",
            "src/http/mod.rs:2 edges-never-import-each-other",
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
