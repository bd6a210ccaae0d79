//! Whether a line range can be wrapped safely: whole statements of one block, nothing they declare
//! needed after them.
//!
//! Wrapping puts the selected lines inside an `else` block one level deeper. That is only safe when
//! they are whole statements of one block: brackets balanced inside the range, the first line not
//! continuing an earlier statement, the last line not leaving one unfinished, and for Python no line
//! outside the first one's block. In block-scoped languages a name the range declares would also
//! become invisible to the code after it. Each refusal names the field, the line and the fix.

use super::lex::{self, At, Line, Open, Walk};
use super::{CodegenError, Language};

fn refuse(message: String) -> Result<(), CodegenError> {
    Err(CodegenError::LineRange { message })
}

/// Checks lines `start..end` (0-based, end exclusive) of the lexed file.
pub(super) fn check(
    language: Language,
    lines: &[Line],
    start: usize,
    end: usize,
) -> Result<(), CodegenError> {
    let (s, e) = (start + 1, end);
    if lines[start].starts_in != At::Code {
        return refuse(format!(
            "start_line: line {s} is inside a multi-line string or comment that opens before it: move start_line to the line that opens it"
        ));
    }
    if lines[end - 1].ends_in != At::Code {
        return refuse(format!(
            "end_line: line {e} ends inside a multi-line string or comment that goes on after it: move end_line to the line that closes it"
        ));
    }
    let before = match lex::walk(lines, 0, start, Vec::new()) {
        Walk::Open(stack) => stack,
        // The file's brackets don't balance before the range: no bracket question can be answered.
        Walk::Unopened(..) => return Ok(()),
    };
    if let Some(open) = before.last()
        && expression_bracket(language, lines, *open)
    {
        let (o, b) = (open.line + 1, open.bracket);
        let close = lex::closing(lines, *open).map_or("never closes".to_owned(), |(l, _)| {
            format!("closes on line {}", l + 1)
        });
        return refuse(format!(
            "start_line: line {s} is inside the expression `{b}` opened on line {o} (it {close}): select whole statements, e.g. from line {o} to the end of that statement"
        ));
    }
    match lex::walk(lines, start, end, Vec::new()) {
        Walk::Unopened(n, c) => {
            let opened = before
                .last()
                .filter(|o| Some(o.bracket) == lex::opener(c))
                .map_or(String::new(), |o| format!(" (on line {})", o.line + 1));
            let n = n + 1;
            return refuse(format!(
                "start_line: line {n} closes a `{c}` opened before line {s}{opened}: move start_line to the line that opens it, or end_line above line {n}"
            ));
        }
        Walk::Open(stack) => {
            if let Some(open) = stack.first() {
                let (o, b) = (open.line + 1, open.bracket);
                let fix = match lex::closing(lines, *open) {
                    Some((l, _)) => format!("move end_line to line {}, which closes it", l + 1),
                    None => "it never closes: check the file".to_owned(),
                };
                return refuse(format!(
                    "end_line: line {o} opens a `{b}` that is still open after line {e}: {fix}"
                ));
            }
        }
    }
    let first = &lines[start];
    if let Some(token) = continuation(language, &first.code()) {
        return refuse(format!(
            "start_line: line {s} starts with `{token}`, so it continues the statement before it: move start_line to where that statement starts"
        ));
    }
    if let Some(p) = previous_code(lines, start)
        && let Some(token) = unfinished(language, &lines[p].code(), true)
    {
        let p = p + 1;
        return refuse(format!(
            "start_line: line {p} ends with `{token}`, so line {s} continues its statement: move start_line to where that statement starts"
        ));
    }
    let last = lines[end - 1].code();
    if let Some(token) = unfinished(language, &last, false) {
        let why = if language == Language::Python && token == ":" {
            "opens a block whose body is outside the range"
        } else {
            "leaves its statement unfinished"
        };
        return refuse(format!(
            "end_line: line {e} ends with `{token}` and {why}: move end_line to where that statement ends"
        ));
    }
    let attribute = match language {
        Language::Rust => last.starts_with("#["),
        Language::CSharp => false,
        _ => last.starts_with('@'),
    };
    if attribute {
        return refuse(format!(
            "end_line: line {e} is an attribute or decorator of the line after it: move end_line past the item it decorates"
        ));
    }
    if let Some(n) = next_code(lines, end)
        && let Some(token) = continuation(language, &lines[n].code())
        && !matches!(token.as_str(), ")" | "]" | "}")
    {
        let n = n + 1;
        return refuse(format!(
            "end_line: line {n} starts with `{token}` and continues the statement on line {e}: move end_line to include it (and where it ends)"
        ));
    }
    if language == Language::Python {
        python_block(lines, start, end)?;
    } else {
        declarations(language, lines, start, end)?;
    }
    Ok(())
}

fn blank(line: &Line) -> bool {
    line.starts_in != At::Code || line.code().is_empty()
}

fn previous_code(lines: &[Line], start: usize) -> Option<usize> {
    (0..start).rev().find(|&n| !blank(&lines[n]))
}

fn next_code(lines: &[Line], end: usize) -> Option<usize> {
    (end..lines.len()).find(|&n| !blank(&lines[n]))
}

/// A bracket that holds an expression, not statements: `(`, `[`, any bracket in Python, and a `{`
/// after `=`, `(`, `[`, `,`, `return` (an object or array literal).
fn expression_bracket(language: Language, lines: &[Line], open: Open) -> bool {
    if open.bracket != '{' || language == Language::Python {
        return true;
    }
    let mut before: Vec<char> = Vec::new();
    for n in (0..=open.line).rev() {
        let line = &lines[n].masked;
        let upto = if n == open.line { open.col } else { line.len() };
        before = line[..upto.min(line.len())].to_vec();
        if before.iter().any(|c| !c.is_whitespace()) {
            break;
        }
    }
    let text: String = before.iter().collect();
    let text = text.trim_end();
    let after_colon = text.ends_with(':')
        && !text.ends_with("::")
        && matches!(language, Language::TypeScript | Language::JavaScript);
    text.ends_with(['=', '(', '[', ',']) && !text.ends_with("=>") && !text.ends_with("->")
        || after_colon
        || text.ends_with(" return")
        || text == "return"
}

fn python_like_keyword(code: &str, words: &[&'static str]) -> Option<&'static str> {
    words.iter().copied().find(|w| {
        code.strip_prefix(w)
            .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric() || c == '_'))
    })
}

/// The token a line starts with that makes it the continuation of an earlier statement.
fn continuation(language: Language, code: &str) -> Option<String> {
    let keywords: &[&'static str] = match language {
        Language::Python => &["elif", "else", "except", "finally", "and", "or"],
        _ => &["else", "catch", "finally"],
    };
    if let Some(w) = python_like_keyword(code, keywords) {
        return Some(w.to_owned());
    }
    let mut chars = code.chars();
    let (c, next) = (chars.next()?, chars.next().unwrap_or(' '));
    let token = match c {
        '.' if !next.is_ascii_digit() => ".",
        ')' | ']' | '}' | ',' | '?' | '%' | '^' | '>' => return Some(c.to_string()),
        ':' if next != ':' => ":",
        '=' => "=",
        '&' if next == '&' => "&&",
        '|' if next == '|' => "||",
        '|' if language != Language::Rust => "|",
        '+' if next != '+' => "+",
        '-' if next != '-' && !next.is_ascii_digit() => "-",
        _ => return None,
    };
    Some(token.to_owned())
}

/// The token a line ends with that leaves its statement unfinished. `previous` is for the line
/// before a range, where a block opener (`:`) is fine.
fn unfinished(language: Language, code: &str, previous: bool) -> Option<String> {
    let code = code.trim_end();
    for token in ["&&", "||", "::", "->", "=>", "++", "--"] {
        if code.ends_with(token) {
            return match token {
                "++" | "--" => None,
                _ => Some(token.to_owned()),
            };
        }
    }
    if language == Language::Python && code.starts_with("from ") && code.ends_with("import *") {
        return None;
    }
    let c = code.chars().last()?;
    let ends = match c {
        ',' | '(' | '[' | '=' | '.' | '\\' | '+' | '-' | '*' | '/' | '%' | '|' | '&' | '^'
        | '<' | '>' => true,
        '?' => language != Language::Rust,
        ':' => !previous,
        _ => false,
    };
    ends.then(|| c.to_string())
}

use lex::width as indent;

/// Python: no line of the range less indented than the first, none after it more indented.
fn python_block(lines: &[Line], start: usize, end: usize) -> Result<(), CodegenError> {
    let s = start + 1;
    let base = indent(&lines[start]);
    if let Some(n) = (start..end).find(|&n| !blank(&lines[n]) && indent(&lines[n]) < base) {
        let n = n + 1;
        return refuse(format!(
            "end_line: line {n} is less indented than line {s}, so the range leaves the block it starts in: end the range above line {n}"
        ));
    }
    if let Some(n) = next_code(lines, end)
        && indent(&lines[n]) > base
    {
        let block_end = (n..lines.len())
            .take_while(|&m| blank(&lines[m]) || indent(&lines[m]) > base)
            .filter(|&m| !blank(&lines[m]))
            .last()
            .unwrap_or(n);
        let (n, b) = (n + 1, block_end + 1);
        return refuse(format!(
            "end_line: line {n} is more indented than line {s}, so the range cuts its block in two: move end_line to line {b}, where that block ends"
        ));
    }
    Ok(())
}

/// Block-scoped languages: nothing the range declares may be used after it in the same block.
fn declarations(
    language: Language,
    lines: &[Line],
    start: usize,
    end: usize,
) -> Result<(), CodegenError> {
    let mut names: Vec<(String, usize)> = Vec::new();
    let mut depth = 0i64;
    for (n, line) in lines.iter().enumerate().take(end).skip(start) {
        if line.starts_in != At::Code {
            depth += count(&line.masked);
            continue;
        }
        let mut starts = Vec::new();
        if depth == 0
            && let Some(col) = line.first_code()
        {
            starts.push(col);
        }
        for (col, &c) in line.masked.iter().enumerate() {
            match c {
                '(' | '[' | '{' => depth += 1,
                ')' | ']' | '}' => depth -= 1,
                ';' if depth == 0 => starts.push(col + 1),
                _ => {}
            }
        }
        for col in starts {
            for name in lex::declared(language, &line.masked, col) {
                names.push((name, n));
            }
        }
    }
    if names.is_empty() {
        return Ok(());
    }
    let declared: Vec<String> = names.iter().map(|(n, _)| n.clone()).collect();
    if let Some((name, m)) = lex::used_after(language, lines, end, &declared, 0) {
        let d = names
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(start, |(_, d)| *d);
        let (d, m, s) = (d + 1, m + 1, start + 1);
        return refuse(format!(
            "end_line: line {d} declares `{name}`, which line {m} uses after the range; wrapped, the declaration moves into the else block and line {m} no longer sees it: widen end_line to line {m} to wrap its uses too, or declare `{name}` above line {s}"
        ));
    }
    Ok(())
}

fn count(masked: &[char]) -> i64 {
    masked.iter().fold(0, |d, c| match c {
        '(' | '[' | '{' => d + 1,
        ')' | ']' | '}' => d - 1,
        _ => d,
    })
}
