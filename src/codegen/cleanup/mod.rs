//! The reverse of `wrap`: once a flag is retired, replace each guard with the branch that runs for the
//! value kept, and say what else reads the flag.
//!
//! A reference is a string literal equal to the flag key. It is rewritten when it is the evaluation of
//! a guard: `wrap_change`'s own (recognised by the marker that opens it, whose prelude goes too), or
//! the idiomatic hand-written forms, an `if` testing the evaluation directly or a variable assigned
//! from it on the line before, against a boolean or `==` a literal. Whatever else reads the key is a
//! manual edit with an instruction. Like `wrap`, it is pure: the caller reads the file.
//!
//! This file finds the references and builds the edits and the diff; `guard` recognises the statement
//! around a reference and `condition` reads which of its branches the kept value runs.

mod condition;
mod guard;

use serde_json::Value;

use super::lex::{self, Line};
use super::{CodegenError, Language, content, lang, unified};

pub struct CleanupRequest<'a> {
    pub language: Language,
    pub path: &'a str,
    /// The whole content of `path`.
    pub source: &'a str,
    pub flag_key: &'a str,
    /// Value of the variant to keep: the branch that runs for it stays.
    pub kept: &'a Value,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CleanupPlan {
    /// Git-style unified diff replacing every recognised guard, when there is one.
    pub diff: Option<String>,
    /// One per reference to the flag key, in line order.
    pub edits: Vec<CleanupEdit>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupEdit {
    /// 1-based line of the flag evaluation.
    pub line: usize,
    pub kind: EditKind,
    pub instruction: String,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EditKind {
    /// A guard the diff rewrites.
    Guard,
    /// A reference to change by hand, as the instruction says.
    Manual,
}

impl EditKind {
    /// The wire name: "guard" or "manual".
    pub fn as_str(self) -> &'static str {
        match self {
            EditKind::Guard => "guard",
            EditKind::Manual => "manual",
        }
    }
}

/// Finds every reference to the flag key; rewrites the guards, describes the rest.
pub fn cleanup(req: &CleanupRequest) -> Result<CleanupPlan, CodegenError> {
    let key = req.flag_key;
    let valid = key.starts_with(|c: char| c.is_ascii_alphanumeric())
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid {
        return Err(CodegenError::Value {
            message: format!(
                "flag_key: {key:?} is not a flag key: pass the key as created, [A-Za-z0-9][A-Za-z0-9._-]*"
            ),
        });
    }
    let raw: Vec<&str> = req.source.split_inclusive('\n').collect();
    let contents: Vec<&str> = raw.iter().map(|l| content(l)).collect();
    let (lines, literals) = lex::lex(req.language, &contents);
    let file = File {
        language: req.language,
        key,
        kept: req.kept,
        lines: &lines,
        contents: &contents,
    };
    let kept_literal = lang::value_literal(req.language, req.kept);
    let mut edits = Vec::new();
    let mut rewrites: Vec<Rewrite> = Vec::new();
    for hit in literals.iter().filter(|l| l.text == key) {
        if rewrites.iter().any(|r| (r.from..=r.to).contains(&hit.line)) {
            continue;
        }
        let line = hit.line + 1;
        let found = file.guard(hit).and_then(|r| match rewrites.last() {
            Some(previous) if previous.to >= r.from => {
                Err("its guard overlaps the one before it".to_owned())
            }
            _ => Ok(r),
        });
        match found {
            Ok(rewrite) => {
                let (from, to) = (rewrite.from + 1, rewrite.to + 1);
                let branch = if rewrite.then {
                    "new-path (if) branch"
                } else {
                    "old-path (else) branch"
                };
                edits.push(CleanupEdit {
                    line,
                    kind: EditKind::Guard,
                    instruction: format!(
                        "lines {from}-{to}: the guard is replaced by its {branch}, which runs when `{key}` is {}",
                        req.kept
                    ),
                });
                let todo = format!("TODO({}{key})", lang::MARKER);
                if rewrite.body.iter().any(|l| l.contains(&todo)) {
                    edits.push(CleanupEdit {
                        line,
                        kind: EditKind::Manual,
                        instruction: format!(
                            "line {line}: the kept branch is still wrap_change's placeholder ({todo}): write the new code there, or keep a different variant"
                        ),
                    });
                }
                rewrites.push(rewrite);
            }
            Err(why) => {
                let code: String = contents[hit.line].trim().chars().take(100).collect();
                edits.push(CleanupEdit {
                    line,
                    kind: EditKind::Manual,
                    instruction: format!(
                        "line {line}: `{code}` reads `{key}`, but {why}: replace the evaluation with the kept value {kept_literal} and remove the code that no longer runs",
                    ),
                });
            }
        }
    }
    let diff = (!rewrites.is_empty()).then(|| {
        let mut new = String::with_capacity(req.source.len());
        let mut n = 0;
        for r in &rewrites {
            new.push_str(&raw[n..r.from].concat());
            let newline = if raw[r.to].ends_with("\r\n") {
                "\r\n"
            } else {
                "\n"
            };
            let last = r.to + 1 == raw.len() && !raw[r.to].ends_with('\n');
            for (i, line) in r.body.iter().enumerate() {
                new.push_str(line);
                if !(last && i + 1 == r.body.len()) {
                    new.push_str(newline);
                }
            }
            n = r.to + 1;
        }
        new.push_str(&raw[n..].concat());
        unified(req.path, req.source, &new)
    });
    Ok(CleanupPlan { diff, edits })
}

/// Lines `from..=to` become `body`.
struct Rewrite {
    from: usize,
    to: usize,
    body: Vec<String>,
    then: bool,
}

/// One file being cleaned up: what `guard` and `condition` read, with the flag and the value kept.
struct File<'a> {
    language: Language,
    key: &'a str,
    kept: &'a Value,
    lines: &'a [Line],
    contents: &'a [&'a str],
}

/// The parts of an `if` statement, as line indexes.
struct IfStatement {
    /// The condition's masked and original text, lines joined by a space.
    masked: Vec<char>,
    text: Vec<char>,
    then_body: (usize, usize),
    else_body: Option<(usize, usize)>,
    end: usize,
}
