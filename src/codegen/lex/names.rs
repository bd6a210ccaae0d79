//! Names on the masked lines: the words of code, whether a line uses a name, which names a
//! statement declares by each language's declaration forms, and whether names a removed statement
//! declared are still used before their block ends.

use super::{At, Line, ident_char, width};
use crate::codegen::Language;

/// The words (identifiers and keywords) of masked code, with their columns.
pub(in crate::codegen) fn words(masked: &[char]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < masked.len() {
        if ident_char(masked[i]) && !(i > 0 && ident_char(masked[i - 1])) {
            let end = i + masked[i..].iter().take_while(|&&c| ident_char(c)).count();
            if !masked[i].is_ascii_digit() {
                out.push((i, masked[i..end].iter().collect()));
            }
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

/// Whether `name` is used as a name (not as `x.name`, a field or method) on the masked line.
pub(in crate::codegen) fn uses(masked: &[char], name: &str) -> bool {
    words(masked).iter().any(|(col, w)| {
        let member = masked[..*col].iter().rev().find(|c| !c.is_whitespace()) == Some(&'.')
            && !masked[..*col].ends_with(&['.', '.']);
        w == name && !member
    })
}

const NOT_TYPES: &[&str] = &[
    "return",
    "throw",
    "new",
    "yield",
    "await",
    "case",
    "goto",
    "else",
    "do",
    "break",
    "continue",
    "import",
    "package",
    "using",
    "namespace",
    "if",
    "while",
    "for",
    "switch",
    "try",
    "catch",
    "finally",
    "lock",
    "fixed",
    "checked",
    "unchecked",
    "delete",
    "typeof",
    "in",
    "is",
    "as",
    "out",
    "ref",
    "params",
    "this",
    "base",
    "super",
    "default",
    "static",
    "public",
    "private",
    "protected",
    "internal",
    "class",
    "struct",
    "interface",
    "enum",
    "record",
    "void",
];

/// The names a statement starting at column `col` of a masked line declares in its block, by the
/// language's declaration forms: `let`, `const`, `var`, `function`/`class` (JavaScript), `:=` and
/// `var`/`const` (Go), `Type name =` (Java, C#).
pub(in crate::codegen) fn declared(language: Language, masked: &[char], col: usize) -> Vec<String> {
    use Language::*;
    let rest = &masked[col.min(masked.len())..];
    let ws = words(rest);
    let Some((0, first)) = ws.first() else {
        return Vec::new();
    };
    // The text between the declaring keyword and the `=`, `:` (a type) or `;` that ends the names.
    let names_after = |skip: usize| -> Vec<String> {
        let from = ws.get(skip).map_or(rest.len(), |(c, _)| *c);
        let end = (from..rest.len())
            .find(|&i| {
                matches!(rest[i], '=' | ';' | ':' | '<' | '(')
                    && !(rest[i] == ':' && depth(&rest[from..i]) > 0)
            })
            .unwrap_or(rest.len());
        words(&rest[from..end])
            .into_iter()
            .map(|(_, w)| w)
            .filter(|w| !matches!(w.as_str(), "mut" | "ref" | "_"))
            .filter(|w| !(language == Rust && w.starts_with(char::is_uppercase)))
            .collect()
    };
    match (language, first.as_str()) {
        (Rust, "let") => names_after(1),
        (TypeScript | JavaScript, "let" | "const" | "var") => names_after(1),
        (TypeScript | JavaScript, "function" | "class") => {
            ws.get(1).map(|(_, w)| vec![w.clone()]).unwrap_or_default()
        }
        (Go, "var" | "const") => names_after(1),
        (Go, _) => {
            // `a, b := …`: only names and commas before the `:=`.
            let text: String = rest.iter().collect();
            match text.find(":=") {
                Some(at)
                    if text[..at]
                        .chars()
                        .all(|c| ident_char(c) || c == ',' || c.is_whitespace()) =>
                {
                    text[..at]
                        .split(',')
                        .map(|w| w.trim().to_owned())
                        .filter(|w| !w.is_empty() && w != "_")
                        .collect()
                }
                _ => Vec::new(),
            }
        }
        (Java | CSharp, _) => java_declared(rest, &ws),
        (Python, _) => {
            // `name = …`, not `name == …`.
            let after: String = rest[first.chars().count()..].iter().collect();
            let after = after.trim_start();
            if after.starts_with('=') && !after.starts_with("==") {
                vec![first.clone()]
            } else {
                Vec::new()
            }
        }
        _ => Vec::new(),
    }
}

/// Bracket depth change over `chars` (negative when more close than open).
fn depth(chars: &[char]) -> i64 {
    chars.iter().fold(0, |d, c| match c {
        '(' | '[' | '{' | '<' => d + 1,
        ')' | ']' | '}' | '>' => d - 1,
        _ => d,
    })
}

/// `[final|const|readonly] Type[<…>][[]][?] name (=|;|,)`.
fn java_declared(rest: &[char], ws: &[(usize, String)]) -> Vec<String> {
    let mut k = 0;
    while ws.get(k).is_some_and(|(_, w)| {
        matches!(
            w.as_str(),
            "final" | "const" | "readonly" | "await" | "using"
        )
    }) && ws.len() > k + 2
    {
        k += 1;
    }
    let Some((type_col, type_name)) = ws.get(k) else {
        return Vec::new();
    };
    if NOT_TYPES.contains(&type_name.as_str()) {
        return Vec::new();
    }
    // Skip the type: dotted names, generic arguments, array brackets, nullable mark.
    let mut i = type_col + type_name.chars().count();
    let mut angle = 0i64;
    while i < rest.len() {
        let c = rest[i];
        match c {
            '<' => angle += 1,
            '>' => angle -= 1,
            '.' | '[' | ']' | '?' | ',' => {}
            c if c.is_whitespace() => {}
            c if ident_char(c) => {
                let previous = rest[i - 1];
                if angle == 0 && !ident_char(previous) && previous != '.' {
                    break;
                }
            }
            _ => break,
        }
        if angle < 0 || (c == ',' && angle == 0) {
            return Vec::new();
        }
        i += 1;
    }
    let end = i + rest[i.min(rest.len())..]
        .iter()
        .take_while(|&&c| ident_char(c))
        .count();
    if end == i {
        return Vec::new();
    }
    let name: String = rest[i..end].iter().collect();
    let after = rest[end..].iter().find(|c| !c.is_whitespace());
    match after {
        Some('=')
            if rest
                .get(end..)
                .and_then(|r| r.iter().skip_while(|c| c.is_whitespace()).nth(1))
                != Some(&'=') =>
        {
            vec![name]
        }
        Some(';' | ',') => vec![name],
        _ => Vec::new(),
    }
}

/// The first of `names` used in lines `from..` before the block holding line `from` ends (a bracket
/// closes one opened before `from`, or for Python a code line is indented less than `indent`), with
/// the line using it.
pub(in crate::codegen) fn used_after(
    language: Language,
    lines: &[Line],
    from: usize,
    names: &[String],
    indent: usize,
) -> Option<(String, usize)> {
    let mut depth = 0i64;
    for (m, line) in lines.iter().enumerate().skip(from) {
        if language == Language::Python
            && line.starts_in == At::Code
            && !line.code().is_empty()
            && width(line) < indent
        {
            return None;
        }
        let mut upto = line.masked.len();
        for (col, &c) in line.masked.iter().enumerate() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                _ => {}
            }
            if depth < 0 {
                upto = col;
                break;
            }
        }
        if let Some(name) = names.iter().find(|n| uses(&line.masked[..upto], n)) {
            return Some((name.clone(), m));
        }
        if depth < 0 {
            return None;
        }
    }
    None
}
