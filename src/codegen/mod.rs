//! Code generation for `wrap_change`: what a coding agent needs to put a change behind a flag.
//!
//! For one language it produces the install command for the OpenFeature SDK and its OFREP provider,
//! the setup that points that provider at flagwarden, a guard that evaluates the flag with the old
//! path as the code default, a unified diff wrapping a line range of a file in that guard, and a test
//! plan for both paths. It is pure: no file I/O, no clock, no randomness; the caller reads the file.
//! The per-language templates live in `lang`; this module validates input and builds the diff.

mod cleanup;
mod lang;
mod lex;
mod range;

pub use cleanup::{CleanupEdit, CleanupPlan, CleanupRequest, EditKind, cleanup};

use serde_json::Value;
use similar::TextDiff;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    TypeScript,
    JavaScript,
    Python,
    Go,
    Java,
    CSharp,
}

impl Language {
    pub const ALL: [Language; 7] = [
        Language::Rust,
        Language::TypeScript,
        Language::JavaScript,
        Language::Python,
        Language::Go,
        Language::Java,
        Language::CSharp,
    ];

    /// Accepts lowercase names and common aliases: "rust"|"rs", "typescript"|"ts",
    /// "javascript"|"js"|"node", "python"|"py", "go"|"golang", "java", "csharp"|"c#"|"cs"|"dotnet".
    pub fn parse(s: &str) -> Result<Language, CodegenError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "rust" | "rs" => Language::Rust,
            "typescript" | "ts" => Language::TypeScript,
            "javascript" | "js" | "node" => Language::JavaScript,
            "python" | "py" => Language::Python,
            "go" | "golang" => Language::Go,
            "java" => Language::Java,
            "csharp" | "c#" | "cs" | "dotnet" => Language::CSharp,
            _ => {
                return Err(CodegenError::UnknownLanguage {
                    given: s.to_owned(),
                });
            }
        })
    }

    /// The language a file is written in, from its extension; `None` for any other file.
    pub fn from_path(path: &str) -> Option<Language> {
        let ext = path.rsplit_once('.').map_or("", |(_, e)| e);
        Some(match ext {
            "rs" => Language::Rust,
            "ts" | "tsx" | "mts" | "cts" => Language::TypeScript,
            "js" | "jsx" | "mjs" | "cjs" => Language::JavaScript,
            "py" | "pyi" => Language::Python,
            "go" => Language::Go,
            "java" => Language::Java,
            "cs" => Language::CSharp,
            _ => return None,
        })
    }

    /// The canonical lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::TypeScript => "typescript",
            Language::JavaScript => "javascript",
            Language::Python => "python",
            Language::Go => "go",
            Language::Java => "java",
            Language::CSharp => "csharp",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Boolean,
    String,
    Number,
    Object,
}

pub struct WrapRequest<'a> {
    pub language: Language,
    /// Already validated: `[A-Za-z0-9][A-Za-z0-9._-]*`, so it is safe inside any string literal.
    pub flag_key: &'a str,
    pub kind: ValueKind,
    /// Value of the flag's off variant: the old path, and the code default.
    pub fallback: &'a Value,
    /// Value that selects the new path.
    pub candidate: &'a Value,
    /// Free text from the agent; it ends up in a comment, sanitized to one harmless line.
    pub change_description: &'a str,
    /// E.g. "http://127.0.0.1:7070"; providers append /ofrep/v1/...
    pub ofrep_base_url: &'a str,
    pub file: Option<SourceRange<'a>>,
}

/// Lines `start_line..=end_line` (1-based, inclusive) of `source`, the whole content of `path`.
pub struct SourceRange<'a> {
    pub path: &'a str,
    pub source: &'a str,
    pub start_line: usize,
    pub end_line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WrapPlan {
    /// Shell command(s) adding the OpenFeature SDK and the OFREP provider.
    pub install: String,
    /// Creates the OFREP provider with the base URL, registers it, gets a client.
    pub setup: String,
    /// Evaluates the flag (code default = fallback): `if` new path `else` old path.
    pub guard: String,
    /// Git-style unified diff wrapping the selected lines in the guard, when a file was given.
    pub diff: Option<String>,
    /// How to test both paths.
    pub test_plan: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodegenError {
    #[error(
        "unknown language {given:?}: use one of rust, typescript, javascript, python, go, java, csharp"
    )]
    UnknownLanguage { given: String },
    #[error("{message}")]
    LineRange { message: String },
    /// A fallback or candidate that does not fit the flag's kind, or a candidate equal to the fallback.
    #[error("{message}")]
    Value { message: String },
}

/// Builds the whole plan; refuses bad line ranges and values that don't fit the kind.
pub fn wrap(req: &WrapRequest) -> Result<WrapPlan, CodegenError> {
    let selection = req
        .file
        .as_ref()
        .map(|range| select(req.language, range))
        .transpose()?;
    let compare = Compare::new(req.kind, req.fallback, req.candidate)?;
    let description = sanitize_comment(req.change_description);
    let parts = lang::parts(req, &compare, &description);
    let unit = lang::default_unit(req.language);
    let guard = parts
        .guard
        .render("", unit, &[parts.guard.old_placeholder.as_str()], &[false]);
    let diff = match (&req.file, selection) {
        (Some(range), Some(sel)) => Some(diff(req.language, range, &sel, &parts.guard)),
        _ => None,
    };
    Ok(WrapPlan {
        install: parts.install,
        setup: parts.setup,
        guard: guard.join("\n") + "\n",
        diff,
        test_plan: parts.test_plan,
    })
}

/// The two values the guard tells apart, already checked against the kind.
#[derive(Debug, Clone, Copy)]
enum Compare<'a> {
    Bool {
        fallback: bool,
        candidate: bool,
    },
    Str {
        fallback: &'a str,
        candidate: &'a str,
    },
    /// Both integers that fit an `int` everywhere (Java and C# evaluate 32-bit integers).
    Int {
        fallback: i64,
        candidate: i64,
    },
    Float {
        fallback: f64,
        candidate: f64,
    },
    Object {
        fallback: &'a Value,
        candidate: &'a Value,
    },
}

impl<'a> Compare<'a> {
    fn new(
        kind: ValueKind,
        fallback: &'a Value,
        candidate: &'a Value,
    ) -> Result<Self, CodegenError> {
        let (name, expected) = match kind {
            ValueKind::Boolean => ("boolean", "a boolean"),
            ValueKind::String => ("string", "a string"),
            ValueKind::Number => ("number", "a number"),
            ValueKind::Object => ("object", "a JSON object"),
        };
        let fits = |v: &Value| match kind {
            ValueKind::Boolean => v.is_boolean(),
            ValueKind::String => v.is_string(),
            ValueKind::Number => v.is_number(),
            ValueKind::Object => v.is_object(),
        };
        for (field, value) in [("fallback", fallback), ("candidate", candidate)] {
            if !fits(value) {
                return Err(CodegenError::Value {
                    message: format!(
                        "{field}: a {name} flag needs {expected} value, got {value}: pass {expected}"
                    ),
                });
            }
        }
        if fallback == candidate {
            return Err(CodegenError::Value {
                message: format!(
                    "candidate: equals the fallback ({fallback}), so the new path could never be selected: pick a different candidate value"
                ),
            });
        }
        let small_int = |v: &Value| v.as_i64().filter(|n| i32::try_from(*n).is_ok());
        Ok(match kind {
            ValueKind::Boolean => Compare::Bool {
                fallback: fallback == &Value::Bool(true),
                candidate: candidate == &Value::Bool(true),
            },
            ValueKind::String => Compare::Str {
                fallback: fallback.as_str().unwrap_or_default(),
                candidate: candidate.as_str().unwrap_or_default(),
            },
            ValueKind::Number => match (small_int(fallback), small_int(candidate)) {
                (Some(fallback), Some(candidate)) => Compare::Int {
                    fallback,
                    candidate,
                },
                _ => Compare::Float {
                    fallback: fallback.as_f64().unwrap_or_default(),
                    candidate: candidate.as_f64().unwrap_or_default(),
                },
            },
            ValueKind::Object => Compare::Object {
                fallback,
                candidate,
            },
        })
    }
}

/// One line of text that cannot end the comment it is put in, in any of the seven languages.
fn sanitize_comment(text: &str) -> String {
    // Line terminators differ: JS ends `//` comments at U+2028/U+2029, C# also at U+0085, and Java
    // turns `\u000a` into a newline before lexing, so backslashes go too. Bidi controls are refused
    // by rustc in comments and hide code from reviewers.
    let breaks = |c: char| {
        c.is_control()
            || matches!(
                c,
                '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
            )
            || ('\u{202a}'..='\u{202e}').contains(&c)
            || ('\u{2066}'..='\u{2069}').contains(&c)
    };
    let cleaned: String = text
        .chars()
        .map(|c| {
            if breaks(c) {
                ' '
            } else if c == '\\' {
                '/'
            } else {
                c
            }
        })
        .collect();
    let mut line = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    while line.contains("*/") || line.contains("/*") {
        line = line.replace("*/", "* /").replace("/*", "/ *");
    }
    const MAX_CHARS: usize = 160;
    if line.chars().count() > MAX_CHARS {
        line = line.chars().take(MAX_CHARS).collect::<String>() + "...";
    }
    if line.is_empty() {
        "(no description given)".to_owned()
    } else {
        line
    }
}

/// The validated selection: index range into the file's lines.
struct Selection {
    lines: Vec<String>,
    start: usize,
    end: usize,
    newline: &'static str,
    /// Per line of the file: it starts inside a multi-line string, so indenting it would change
    /// the string; it is moved as it is.
    verbatim: Vec<bool>,
}

fn select(language: Language, range: &SourceRange) -> Result<Selection, CodegenError> {
    let refuse = |message: String| Err(CodegenError::LineRange { message });
    let lines: Vec<String> = range
        .source
        .split_inclusive('\n')
        .map(str::to_owned)
        .collect();
    let (start, end, path, count) = (range.start_line, range.end_line, range.path, lines.len());
    if start == 0 {
        return refuse(
            "start_line: lines are numbered from 1, got 0: pass the first line of the old code"
                .to_owned(),
        );
    }
    if start > end {
        return refuse(format!(
            "start_line ({start}) is after end_line ({end}): pass start_line <= end_line"
        ));
    }
    if end > count {
        return refuse(format!(
            "end_line ({end}) is beyond the end of {path}, which has {count} lines: pass end_line <= {count}"
        ));
    }
    if lines[start - 1..end].iter().all(|l| l.trim().is_empty()) {
        return refuse(format!(
            "start_line..end_line ({start}..{end}) of {path} are blank: point them at the old code to wrap"
        ));
    }
    let content_lines: Vec<&str> = lines.iter().map(|l| content(l)).collect();
    let (lexed, _) = lex::lex(language, &content_lines);
    range::check(language, &lexed, start - 1, end)?;
    let verbatim = lexed.iter().map(|l| l.starts_in == lex::At::Text).collect();
    let newline = if lines[0].ends_with("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    Ok(Selection {
        lines,
        start: start - 1,
        end,
        newline,
        verbatim,
    })
}

pub(super) fn content(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

pub(super) fn leading(line: &str) -> &str {
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// The indentation unit: the most common indent step in the selection, else in the whole file,
/// else the language's convention. Tabs win whenever the code is tab-indented.
fn indent_unit(language: Language, selected: &[String], all: &[String]) -> String {
    fn step(lines: &[String]) -> Option<String> {
        let code: Vec<&str> = lines
            .iter()
            .map(|l| content(l))
            .filter(|l| !l.trim().is_empty())
            .collect();
        let tabbed = code.iter().filter(|l| l.starts_with('\t')).count();
        if tabbed > 0 && tabbed * 2 >= code.iter().filter(|l| !leading(l).is_empty()).count() {
            return Some("\t".to_owned());
        }
        let mut counts = [0usize; 9];
        for pair in code.windows(2) {
            let (a, b) = (leading(pair[0]).len(), leading(pair[1]).len());
            if let Some(d) = b.checked_sub(a).filter(|d| (2..=8).contains(d)) {
                counts[d] += 1;
            }
        }
        // The most common step. max_by_key keeps the last of equal counts, so going from 8 down
        // makes a tie go to the smaller step.
        let (width, n) = (2..=8)
            .rev()
            .map(|d| (d, counts[d]))
            .max_by_key(|&(_, n)| n)?;
        (n > 0).then(|| " ".repeat(width))
    }
    step(selected)
        .or_else(|| step(all))
        .unwrap_or_else(|| lang::default_unit(language).to_owned())
}

fn diff(language: Language, range: &SourceRange, sel: &Selection, guard: &lang::Guard) -> String {
    let selected = &sel.lines[sel.start..sel.end];
    let verbatim = &sel.verbatim[sel.start..sel.end];
    // Lines inside a multi-line string keep their place, so they don't set the guard's indentation.
    let base = selected
        .iter()
        .zip(verbatim)
        .filter(|(_, keep)| !**keep)
        .map(|(l, _)| content(l))
        .filter(|l| !l.trim().is_empty())
        .map(leading)
        .min_by_key(|w| w.len())
        .unwrap_or("");
    let unit = indent_unit(language, selected, &sel.lines);
    let old: Vec<&str> = selected.iter().map(|l| content(l)).collect();
    let mut new = sel.lines[..sel.start].concat();
    for line in guard.render(base, &unit, &old, verbatim) {
        new.push_str(&line);
        new.push_str(sel.newline);
    }
    new.push_str(&sel.lines[sel.end..].concat());
    if sel.end == sel.lines.len() && !range.source.ends_with('\n') {
        // Keep a file that had no final newline that way, so the diff touches only the selection.
        new.truncate(new.len() - sel.newline.len());
    }
    unified(range.path, range.source, &new)
}

/// A git-style unified diff of `path` from `old` to `new`, ending in a newline.
fn unified(path: &str, old: &str, new: &str) -> String {
    let path = path.replace('\\', "/");
    let path = path.trim_start_matches("./");
    let mut text = TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests;
