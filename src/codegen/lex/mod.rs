//! A small lexer and the structural questions asked of its output: where brackets open and close,
//! where statements start, which names a line declares.
//!
//! It is not a parser. It knows enough of each language's strings (escapes, Python triple quotes,
//! Rust raw strings and char literals, JavaScript template literals with `${}`, Go raw strings, Java
//! text blocks, C# verbatim and raw strings) and comments (line, block, Rust's nested block) to mask
//! them out, so that what is left can be scanned for brackets and words. A line is masked char by
//! char: comment chars become spaces, string contents `_`, quotes stay; columns therefore match the
//! original line's chars. Regular expression literals in JavaScript are not recognised.

use super::Language;

/// What a line starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum At {
    Code,
    Comment,
    Text,
}

pub(super) struct Line {
    pub chars: Vec<char>,
    pub masked: Vec<char>,
    pub starts_in: At,
    pub ends_in: At,
}

impl Line {
    /// The masked line without the leading and trailing whitespace.
    pub fn code(&self) -> String {
        self.masked.iter().collect::<String>().trim().to_owned()
    }

    /// Column of the first char that is neither whitespace nor masked comment.
    pub fn first_code(&self) -> Option<usize> {
        self.masked.iter().position(|c| !c.is_whitespace())
    }

    /// Column of the last char that is neither whitespace nor masked comment.
    pub fn last_code(&self) -> Option<usize> {
        self.masked.iter().rposition(|c| !c.is_whitespace())
    }
}

/// A string literal that opens and closes on one line.
pub(super) struct Literal {
    pub line: usize,
    pub text: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Close {
    /// `"`, `'` or a backtick; `escapes` says whether a backslash escapes.
    Quote(char),
    /// Rust `r#"…"#`: the number of hashes.
    Raw(usize),
    /// `"""` or `'''`.
    Triple(char),
    /// C# `@"…"`, where `""` is a quote.
    Verbatim,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Code,
    Block(u32),
    Str {
        close: Close,
        escapes: bool,
        template: bool,
        /// The literal opened on this line at this column (None when it opened on an earlier line
        /// or holds `${}`).
        opened: Option<usize>,
    },
}

fn at(mode: Mode) -> At {
    match mode {
        Mode::Code => At::Code,
        Mode::Block(_) => At::Comment,
        Mode::Str { .. } => At::Text,
    }
}

fn ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Lexes `lines` (without their line terminators).
pub(super) fn lex(language: Language, lines: &[&str]) -> (Vec<Line>, Vec<Literal>) {
    use Language::*;
    let mut mode = Mode::Code;
    let mut braces = 0usize;
    // Brace depths at which a template literal's `${` resumes the template.
    let mut templates: Vec<usize> = Vec::new();
    let mut out = Vec::with_capacity(lines.len());
    let mut literals = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut masked = chars.clone();
        let starts_in = at(mode);
        if let Mode::Str { opened, .. } = &mut mode {
            *opened = None;
        }
        let get = |i: usize| chars.get(i).copied().unwrap_or('\0');
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match mode {
                Mode::Block(depth) => {
                    if c == '*' && get(i + 1) == '/' {
                        masked[i] = ' ';
                        masked[i + 1] = ' ';
                        i += 2;
                        mode = if depth > 1 {
                            Mode::Block(depth - 1)
                        } else {
                            Mode::Code
                        };
                        continue;
                    }
                    if language == Rust && c == '/' && get(i + 1) == '*' {
                        masked[i] = ' ';
                        masked[i + 1] = ' ';
                        i += 2;
                        mode = Mode::Block(depth + 1);
                        continue;
                    }
                    masked[i] = ' ';
                    i += 1;
                }
                Mode::Str {
                    close,
                    escapes,
                    template,
                    opened,
                } => {
                    if escapes && c == '\\' {
                        masked[i] = '_';
                        if i + 1 < chars.len() {
                            masked[i + 1] = '_';
                        }
                        i += 2;
                        continue;
                    }
                    if template && c == '$' && get(i + 1) == '{' {
                        masked[i] = '_';
                        masked[i + 1] = '_';
                        i += 2;
                        braces += 1;
                        templates.push(braces);
                        mode = Mode::Code;
                        continue;
                    }
                    let closes = match close {
                        Close::Quote(q) => (c == q).then_some(1),
                        Close::Triple(q) => {
                            (c == q && get(i + 1) == q && get(i + 2) == q).then_some(3)
                        }
                        Close::Raw(hashes) => (c == '"' && (1..=hashes).all(|k| get(i + k) == '#'))
                            .then_some(1 + hashes),
                        Close::Verbatim if c == '"' && get(i + 1) == '"' => {
                            masked[i] = '_';
                            masked[i + 1] = '_';
                            i += 2;
                            continue;
                        }
                        Close::Verbatim => (c == '"').then_some(1),
                    };
                    match closes {
                        Some(width) => {
                            if let Some(start) = opened {
                                let content = start + quote_width(&chars, start);
                                literals.push(Literal {
                                    line: n,
                                    text: chars[content.min(i)..i].iter().collect(),
                                });
                            }
                            i += width;
                            mode = Mode::Code;
                        }
                        None => {
                            masked[i] = '_';
                            i += 1;
                        }
                    }
                }
                Mode::Code => {
                    let next = get(i + 1);
                    let comment_line = match language {
                        Python => c == '#',
                        _ => c == '/' && next == '/',
                    };
                    if comment_line {
                        for m in &mut masked[i..] {
                            *m = ' ';
                        }
                        break;
                    }
                    if language != Python && c == '/' && next == '*' {
                        masked[i] = ' ';
                        masked[i + 1] = ' ';
                        i += 2;
                        mode = Mode::Block(1);
                        continue;
                    }
                    if c == '{' {
                        braces += 1;
                    } else if c == '}' {
                        if templates.last() == Some(&braces) {
                            templates.pop();
                            masked[i] = '_';
                            braces -= 1;
                            i += 1;
                            mode = Mode::Str {
                                close: Close::Quote('`'),
                                escapes: true,
                                template: true,
                                opened: None,
                            };
                            continue;
                        }
                        braces = braces.saturating_sub(1);
                    }
                    let after_ident = i > 0 && ident_char(chars[i - 1]);
                    let opening = match (language, c) {
                        (Rust, 'r') if !after_ident => {
                            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
                            (get(i + 1 + hashes) == '"').then_some((
                                Close::Raw(hashes),
                                false,
                                2 + hashes,
                            ))
                        }
                        (Rust, '\'') => {
                            // A char literal, not a lifetime: '\…' or 'x'.
                            (next == '\\' || get(i + 2) == '\'').then_some((
                                Close::Quote('\''),
                                true,
                                1,
                            ))
                        }
                        (Python | Java | CSharp, '"' | '\'')
                            if next == c && get(i + 2) == c && (c == '"' || language == Python) =>
                        {
                            Some((Close::Triple(c), language != CSharp, 3))
                        }
                        (CSharp, '@') if next == '"' => Some((Close::Verbatim, false, 2)),
                        (CSharp, '$' | '@')
                            if next != c && matches!(next, '@' | '$') && get(i + 2) == '"' =>
                        {
                            Some((Close::Verbatim, false, 3))
                        }
                        (Go, '`') => Some((Close::Quote('`'), false, 1)),
                        (TypeScript | JavaScript, '`') => Some((Close::Quote('`'), true, 1)),
                        (_, '"' | '\'') => Some((Close::Quote(c), true, 1)),
                        _ => None,
                    };
                    match opening {
                        Some((close, escapes, width)) => {
                            mode = Mode::Str {
                                close,
                                escapes,
                                template: c == '`' && matches!(language, TypeScript | JavaScript),
                                opened: Some(i),
                            };
                            i += width;
                        }
                        None => i += 1,
                    }
                }
            }
        }
        // Most languages' one-line strings end at the line's end (an unterminated one is the
        // code's problem, not a reason to mask the rest of the file); a backslash continues them.
        if let Mode::Str {
            close: Close::Quote(q),
            ..
        } = mode
        {
            let continued = chars.last() == Some(&'\\');
            let multiline = (language == Rust && q == '"') || q == '`';
            if !multiline && !continued {
                mode = Mode::Code;
            }
        }
        out.push(Line {
            chars,
            masked,
            starts_in,
            ends_in: at(mode),
        });
    }
    (out, literals)
}

/// How many chars open the literal at `start` (the quote and any `r#`, `@`, `$`).
fn quote_width(chars: &[char], start: usize) -> usize {
    let rest = &chars[start..];
    match rest.first() {
        Some('r') => 2 + rest[1..].iter().take_while(|&&h| h == '#').count(),
        Some('@' | '$') if matches!(rest.get(1), Some('@' | '$')) => 3,
        Some('@') => 2,
        Some(&q) if rest.get(1) == Some(&q) && rest.get(2) == Some(&q) => 3,
        _ => 1,
    }
}

pub(super) fn opener(c: char) -> Option<char> {
    match c {
        ')' => Some('('),
        ']' => Some('['),
        '}' => Some('{'),
        _ => None,
    }
}

/// An open bracket: its char, line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Open {
    pub bracket: char,
    pub line: usize,
    pub col: usize,
}

/// What happened while walking lines `from..to` with a bracket stack.
pub(super) enum Walk {
    /// The brackets still open at the end, innermost last.
    Open(Vec<Open>),
    /// A closing bracket on a line with nothing open to close, or the wrong kind.
    Unopened(usize, char),
}

/// Walks the masked lines `from..to`, starting with `stack` open.
pub(super) fn walk(lines: &[Line], from: usize, to: usize, mut stack: Vec<Open>) -> Walk {
    for (n, line) in lines.iter().enumerate().take(to).skip(from) {
        for (col, &c) in line.masked.iter().enumerate() {
            match c {
                '(' | '[' | '{' => stack.push(Open {
                    bracket: c,
                    line: n,
                    col,
                }),
                ')' | ']' | '}' => match stack.last() {
                    Some(open) if Some(open.bracket) == opener(c) => {
                        stack.pop();
                    }
                    _ => return Walk::Unopened(n, c),
                },
                _ => {}
            }
        }
    }
    Walk::Open(stack)
}

/// The (line, col) closing the bracket opened at `open`, if any.
pub(super) fn closing(lines: &[Line], open: Open) -> Option<(usize, usize)> {
    let mut depth = 0usize;
    for (n, line) in lines.iter().enumerate().skip(open.line) {
        let from = if n == open.line { open.col } else { 0 };
        for (col, &c) in line.masked.iter().enumerate().skip(from) {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return Some((n, col));
                    }
                }
                _ => {}
            }
        }
    }
    None
}

/// The words (identifiers and keywords) of masked code, with their columns.
pub(super) fn words(masked: &[char]) -> Vec<(usize, String)> {
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
pub(super) fn uses(masked: &[char], name: &str) -> bool {
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
pub(super) fn declared(language: Language, masked: &[char], col: usize) -> Vec<String> {
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
pub(super) fn used_after(
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

/// The width of a line's indentation, a tab counting 8.
pub(super) fn width(line: &Line) -> usize {
    line.chars
        .iter()
        .take_while(|c| c.is_whitespace())
        .map(|&c| if c == '\t' { 8 } else { 1 })
        .sum()
}
