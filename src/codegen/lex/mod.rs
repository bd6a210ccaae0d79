//! A small lexer and the structural questions asked of its output: where brackets open and close,
//! where statements start, which names a line declares.
//!
//! It is not a parser. It knows enough of each language's strings (escapes, Python triple quotes,
//! Rust raw strings and char literals, JavaScript template literals with `${}`, Go raw strings, Java
//! text blocks, C# verbatim and raw strings) and comments (line, block, Rust's nested block) to mask
//! them out, so that what is left can be scanned for brackets and words. A line is masked char by
//! char: comment chars become spaces, string contents `_`, quotes stay; columns therefore match the
//! original line's chars. Regular expression literals in JavaScript are not recognised.
//!
//! This file is the lexer; `brackets` and `names` answer the structural questions.

mod brackets;
mod names;

pub(super) use brackets::{Open, Walk, closing, opener, walk};
pub(super) use names::{declared, used_after, uses, words};

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

/// The width of a line's indentation, a tab counting 8.
pub(super) fn width(line: &Line) -> usize {
    line.chars
        .iter()
        .take_while(|c| c.is_whitespace())
        .map(|&c| if c == '\t' { 8 } else { 1 })
        .sum()
}
