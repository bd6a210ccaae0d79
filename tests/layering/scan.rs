//! The scanner behind tests/layering.rs: every `crate::`, `super::` and `self::` path a Rust file names,
//! in `use` trees and in code, resolved to a path from the crate root. Comments and literals are masked
//! first and inline `mod` blocks tracked, so `super` means what the compiler takes it to mean.

/// A token of a `use` tree and the offset it starts at.
type Token = (String, usize);

/// One path of the crate a file names, resolved from its module to the crate root.
#[derive(Debug, Clone)]
pub struct Reference {
    pub line: usize,
    /// As written: `super::rules::Rule`.
    pub written: String,
    /// From the crate root: `["domain", "rules", "Rule"]`; `None` when `super` climbs out of the crate.
    pub resolved: Option<Vec<String>>,
}

/// Every `crate::`, `super::` and `self::` path in a file, in `use` trees and in code, resolved from
/// the (inline) module it stands in.
pub fn references(module: &[String], text: &str) -> Vec<Reference> {
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

fn tree(tokens: &[Token], pos: &mut usize, prefix: &[String], out: &mut Vec<(Vec<String>, usize)>) {
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

fn tokenize(body: &[u8], base: usize) -> Vec<Token> {
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
