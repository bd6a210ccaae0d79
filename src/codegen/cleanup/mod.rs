//! The reverse of `wrap`: once a flag is retired, replace each guard with the branch that runs for the
//! value kept, and say what else reads the flag.
//!
//! A reference is a string literal equal to the flag key. It is rewritten when it is the evaluation of
//! a guard: `wrap_change`'s own (recognised by the marker that opens it, whose prelude goes too), or
//! the idiomatic hand-written forms, an `if` testing the evaluation directly or a variable assigned
//! from it on the line before, against a boolean or `==` a literal. Whatever else reads the key is a
//! manual edit with an instruction. Like `wrap`, it is pure: the caller reads the file.

use serde_json::Value;

use super::lex::{self, At, Line, Literal};
use super::{CodegenError, Language, content, lang, leading, unified};

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

fn first_word(line: &Line) -> Option<(usize, String)> {
    let col = line.first_code()?;
    lex::words(&line.masked[col..])
        .into_iter()
        .next()
        .filter(|(c, _)| *c == 0)
        .map(|(_, w)| (col, w))
}

impl File<'_> {
    fn next_code(&self, from: usize) -> Option<usize> {
        (from..self.lines.len())
            .find(|&n| self.lines[n].starts_in == At::Code && !self.lines[n].code().is_empty())
    }

    fn guard(&self, hit: &Literal) -> Result<Rewrite, String> {
        let lines = self.lines;
        let line = &lines[hit.line];
        let (col, word) = first_word(line)
            .ok_or("the line does not start a statement cleanup recognises".to_owned())?;
        // Either the `if` evaluates the flag itself, or a variable holds the value the `if` tests.
        let (if_line, var, eval_from) = if word == "if" {
            (hit.line, None, hit.line)
        } else {
            let names = lex::declared(self.language, &line.masked, col);
            let [name] = names.as_slice() else {
                return Err("its value is neither tested by an `if` on the same line nor stored in one variable".to_owned());
            };
            let end = self.statement_end(hit.line).ok_or(
                "the statement evaluating it does not end where cleanup can find".to_owned(),
            )?;
            let next = self
                .next_code(end + 1)
                .filter(|&n| first_word(&lines[n]).is_some_and(|(_, w)| w == "if"))
                .ok_or(format!("`{name}` is not tested by an `if` right after it"))?;
            (next, Some(name.clone()), hit.line)
        };
        let (if_col, _) = first_word(&lines[if_line]).unwrap_or((0, String::new()));
        let statement = match self.language {
            Language::Python => self.python_if(if_line, if_col)?,
            _ => self.braced_if(if_line, if_col)?,
        };
        let marker = self.marker_above(eval_from);
        let from = marker.unwrap_or(eval_from);
        let (then, mut var) = self.decide(
            &statement,
            var.as_deref(),
            (from, if_line),
            marker.is_some(),
        )?;
        // Go's `if v, _ := …; v {`: the variable lives in the if.
        if var.as_deref() == Some("") {
            var = None;
        }
        let kept = if then {
            Some(statement.then_body)
        } else {
            statement.else_body
        };
        // Names the removed lines declare must not be needed by what stays.
        let mut names: Vec<String> = var.into_iter().collect();
        for line in &lines[from..if_line] {
            if let Some(c) = line.first_code() {
                names.extend(lex::declared(self.language, &line.masked, c));
            }
        }
        names.sort();
        names.dedup();
        let indent = lex::width(&lines[if_line]);
        if let Some((name, m)) =
            lex::used_after(self.language, lines, statement.end + 1, &names, indent)
        {
            return Err(format!(
                "line {} still uses `{name}`, which the guard declares",
                m + 1
            ));
        }
        if let Some((a, b)) = kept
            && let Some(m) = (a..b).find(|&m| names.iter().any(|n| lex::uses(&lines[m].masked, n)))
        {
            return Err(format!(
                "the kept branch uses the guard's variables (line {})",
                m + 1
            ));
        }
        let body = match kept {
            Some((a, b)) => self.dedent(
                leading(self.contents[if_line]),
                &[statement.then_body, statement.else_body.unwrap_or((a, a))],
                (a, b),
            ),
            None => Vec::new(),
        };
        Ok(Rewrite {
            from,
            to: statement.end,
            body,
            then,
        })
    }

    /// The last line of the statement starting on `start`: brackets closed and, where statements
    /// end with one, a `;`.
    fn statement_end(&self, start: usize) -> Option<usize> {
        let mut depth = 0i64;
        for (n, line) in self.lines.iter().enumerate().skip(start) {
            for &c in &line.masked {
                match c {
                    '(' | '[' | '{' => depth += 1,
                    ')' | ']' | '}' => depth -= 1,
                    _ => {}
                }
            }
            let semicolons = !matches!(self.language, Language::Python | Language::Go);
            if depth <= 0 && line.ends_in == At::Code && (!semicolons || line.code().ends_with(';'))
            {
                return (depth == 0).then_some(n);
            }
        }
        None
    }

    /// The line of `wrap_change`'s marker comment among the lines right above `line`.
    fn marker_above(&self, line: usize) -> Option<usize> {
        let comment = match self.language {
            Language::Python => "#",
            _ => "//",
        };
        let marker = format!("{comment} {}{}:", lang::MARKER, self.key);
        (line.saturating_sub(40)..line)
            .rev()
            .take_while(|&n| !self.contents[n].trim().is_empty())
            .find(|&n| self.contents[n].trim_start().starts_with(&marker))
    }

    fn braced_if(&self, if_line: usize, if_col: usize) -> Result<IfStatement, String> {
        let lines = self.lines;
        let mut depth = 0i64;
        let (mut masked, mut text) = (Vec::new(), Vec::new());
        let mut open = None;
        'scan: for (n, line) in lines.iter().enumerate().skip(if_line) {
            let from = if n == if_line { if_col + 2 } else { 0 };
            if n > if_line {
                masked.push(' ');
                text.push(' ');
            }
            for col in from..line.masked.len() {
                let c = line.masked[col];
                match c {
                    '(' | '[' => depth += 1,
                    ')' | ']' => depth -= 1,
                    '{' if depth == 0 => {
                        open = Some((n, col));
                        break 'scan;
                    }
                    _ => {}
                }
                masked.push(c);
                text.push(line.chars[col]);
            }
        }
        let (ol, oc) = open.ok_or("its `if` has no block".to_owned())?;
        let block = |ol: usize, oc: usize| -> Result<(usize, usize), String> {
            if lines[ol].last_code() != Some(oc) {
                return Err(format!("line {} has code after its `{{`", ol + 1));
            }
            let open = lex::Open {
                bracket: '{',
                line: ol,
                col: oc,
            };
            let (cl, cc) = lex::closing(lines, open).ok_or("its block never closes".to_owned())?;
            if lines[cl].first_code() != Some(cc) {
                return Err(format!("line {} has code before its `}}`", cl + 1));
            }
            Ok((cl, cc))
        };
        let (cl, cc) = block(ol, oc)?;
        let then_body = (ol + 1, cl);
        // An `else`: on the closing line, or (Allman style) on the next code line.
        let rest: String = lines[cl].masked[cc + 1..].iter().collect();
        let rest = rest.trim();
        let else_at = if rest.is_empty() {
            self.next_code(cl + 1)
                .filter(|&n| first_word(&lines[n]).is_some_and(|(_, w)| w == "else"))
                .and_then(|n| lines[n].first_code().map(|c| (n, c)))
        } else if rest.starts_with("else") {
            Some((
                cl,
                cc + 1
                    + lines[cl].masked[cc + 1..]
                        .iter()
                        .take_while(|c| c.is_whitespace())
                        .count(),
            ))
        } else {
            return Err(format!("line {} goes on after the if's `}}`", cl + 1));
        };
        let Some((el, ec)) = else_at else {
            return Ok(IfStatement {
                masked,
                text,
                then_body,
                else_body: None,
                end: cl,
            });
        };
        // What follows `else`: `{` on this line or the next code line; `else if` is a chain.
        let after: String = lines[el].masked[ec + 4..].iter().collect();
        let (bl, bc) = if after.trim().is_empty() {
            let n = self
                .next_code(el + 1)
                .ok_or("its else has no block".to_owned())?;
            (n, lines[n].first_code().unwrap_or(0))
        } else {
            let skip = lines[el].masked[ec + 4..]
                .iter()
                .take_while(|c| c.is_whitespace())
                .count();
            (el, ec + 4 + skip)
        };
        if lines[bl].masked.get(bc) != Some(&'{') {
            return Err("its else is an `else if` chain or has no block".to_owned());
        }
        let (el2, ec2) = block(bl, bc)?;
        if lines[el2].last_code() != Some(ec2) {
            return Err(format!("line {} goes on after the else's `}}`", el2 + 1));
        }
        Ok(IfStatement {
            masked,
            text,
            then_body,
            else_body: Some((bl + 1, el2)),
            end: el2,
        })
    }

    fn python_if(&self, if_line: usize, if_col: usize) -> Result<IfStatement, String> {
        let lines = self.lines;
        let line = &lines[if_line];
        let colon = line
            .last_code()
            .filter(|&c| line.masked[c] == ':')
            .ok_or("its `if` does not end its line with `:`".to_owned())?;
        let masked = line.masked[if_col + 2..colon].to_vec();
        let text = line.chars[if_col + 2..colon].to_vec();
        let indent = lex::width(line);
        let body = |header: usize| -> (usize, usize) {
            let mut end = header + 1;
            for (n, l) in lines.iter().enumerate().skip(header + 1) {
                let code = l.starts_in == At::Code && !l.code().is_empty();
                if code && lex::width(l) <= indent {
                    break;
                }
                if !self.contents[n].trim().is_empty() {
                    end = n + 1;
                }
            }
            (header + 1, end)
        };
        let then_body = body(if_line);
        let else_line = self
            .next_code(then_body.1)
            .filter(|&n| lex::width(&lines[n]) == indent);
        let else_body = match else_line.map(|n| (n, lines[n].code())) {
            Some((n, code)) if code == "else:" => Some(body(n)),
            Some((_, code)) if code.starts_with("elif") || code.starts_with("else") => {
                return Err("its if has an `elif` chain".to_owned());
            }
            _ => None,
        };
        let end = else_body.map_or(then_body.1, |(_, e)| e) - 1;
        Ok(IfStatement {
            masked,
            text,
            then_body,
            else_body,
            end,
        })
    }

    /// Whether the new-path branch runs for the kept value, and the name of the variable a Go
    /// `if v, _ := …; v` declares (as `Some("")` when it is scoped to the if).
    fn decide(
        &self,
        statement: &IfStatement,
        var: Option<&str>,
        prelude: (usize, usize),
        ours: bool,
    ) -> Result<(bool, Option<String>), String> {
        let (mut masked, mut text) = (statement.masked.as_slice(), statement.text.as_slice());
        let mut var = var.map(str::to_owned);
        // Go: `if v, _ := eval; cond`.
        if let Some(semi) = split_at(masked, ";") {
            let init = &masked[..semi];
            let col = init.iter().position(|c| !c.is_whitespace()).unwrap_or(0);
            let names = lex::declared(self.language, init, col);
            if var.is_some() || names.len() != 1 {
                return Err("its if's init statement is not `value, _ := evaluation`".to_owned());
            }
            var = Some(names[0].clone());
            (masked, text) = (&masked[semi + 1..], &text[semi + 1..]);
        }
        let holds_value = |m: &[char], t: &[char]| {
            var.as_deref().is_some_and(|v| lex::uses(m, v))
                || t.iter()
                    .collect::<String>()
                    .contains(&format!("\"{}\"", self.key))
                || t.iter()
                    .collect::<String>()
                    .contains(&format!("'{}'", self.key))
        };
        let mut negated = false;
        loop {
            (masked, text) = trim(masked, text);
            if let Some((m, t)) = unparen(masked, text) {
                (masked, text) = (m, t);
            } else if masked.first() == Some(&'!') && masked.get(1) != Some(&'=') {
                negated = !negated;
                (masked, text) = (&masked[1..], &text[1..]);
            } else if self.language == Language::Python && masked.starts_with(&['n', 'o', 't', ' '])
            {
                negated = !negated;
                (masked, text) = (&masked[4..], &text[4..]);
            } else {
                break;
            }
        }
        let words: Vec<String> = lex::words(masked).into_iter().map(|(_, w)| w).collect();
        let python_or =
            self.language == Language::Python && words.iter().any(|w| w == "and" || w == "or");
        if split_at(masked, "||").is_some() || python_or {
            return Err("its if combines the flag with other conditions".to_owned());
        }
        // Java object guards: `v.isStructure() && v.asStructure().asObjectMap().equals(…)`.
        if let Some(and) = split_at(masked, "&&") {
            let left: String = masked[..and].iter().collect();
            if !(left.trim_end().ends_with(".isStructure()")
                && holds_value(&masked[..and], &text[..and]))
            {
                return Err("its if combines the flag with other conditions".to_owned());
            }
            (masked, text) = trim(&masked[and + 2..], &text[and + 2..]);
        }
        let pair = self.operands(masked, text);
        let outcome = match pair {
            Some((a, b, inverted)) => {
                negated ^= inverted;
                let (value, candidate) = if holds_value(a.0, a.1) {
                    (a, b)
                } else {
                    (b, a)
                };
                if !holds_value(value.0, value.1) {
                    return Err("its if does not compare the flag's value".to_owned());
                }
                let candidate: String = candidate.1.iter().collect();
                self.equals(candidate.trim(), prelude, ours)?
            }
            None => {
                if !holds_value(masked, text) || self.uses_other_calls(masked, var.as_deref()) {
                    return Err("its if does not test the flag's value alone".to_owned());
                }
                match self.kept {
                    Value::Bool(b) => *b,
                    _ => {
                        return Err(format!(
                            "the if tests it as a boolean, and {} is not one",
                            self.kept
                        ));
                    }
                }
            }
        };
        let var = match (var, statement.masked.contains(&';')) {
            (Some(_), true) => Some(String::new()),
            (v, _) => v,
        };
        Ok((outcome ^ negated, var))
    }

    /// A test that is only a variable must be that variable, not a call taking it.
    fn uses_other_calls(&self, masked: &[char], var: Option<&str>) -> bool {
        let text: String = masked.iter().collect();
        match var {
            Some(v) => text.trim() != v,
            None => false,
        }
    }

    /// Two sides of a comparison and whether it is a `!=`.
    #[allow(clippy::type_complexity)]
    fn operands<'c>(
        &self,
        masked: &'c [char],
        text: &'c [char],
    ) -> Option<((&'c [char], &'c [char]), (&'c [char], &'c [char]), bool)> {
        for (op, inverted) in [("===", false), ("!==", true), ("==", false), ("!=", true)] {
            if let Some(at) = split_at(masked, op) {
                let w = op.len();
                return Some((
                    (&masked[..at], &text[..at]),
                    (&masked[at + w..], &text[at + w..]),
                    inverted,
                ));
            }
        }
        // `a.equals(b)`, `isDeepStrictEqual(a, b)`, `reflect.DeepEqual(a, b)`, `SameValue(a, b)`.
        if masked.last() != Some(&')') {
            return None;
        }
        let open = matching_open(masked)?;
        let callee: String = masked[..open].iter().collect();
        let callee = callee.trim();
        let (args_m, args_t) = (
            &masked[open + 1..masked.len() - 1],
            &text[open + 1..text.len() - 1],
        );
        if let Some(receiver) = callee.strip_suffix(".equals") {
            let end = receiver.chars().count();
            let start = masked[..open]
                .iter()
                .position(|c| !c.is_whitespace())
                .unwrap_or(0);
            return Some((
                (&masked[start..start + end], &text[start..start + end]),
                (args_m, args_t),
                false,
            ));
        }
        let two = matches!(
            callee,
            "isDeepStrictEqual"
                | "reflect.DeepEqual"
                | "SameValue"
                | "Objects.equals"
                | "Equals"
                | "object.Equals"
        );
        let comma = split_at(args_m, ",")?;
        two.then(|| {
            (
                (&args_m[..comma], &args_t[..comma]),
                (&args_m[comma + 1..], &args_t[comma + 1..]),
                false,
            )
        })
    }

    /// Whether the kept value equals the candidate written as `text`; a name (`candidate`) is looked
    /// up in the guard's prelude.
    fn equals(&self, text: &str, prelude: (usize, usize), ours: bool) -> Result<bool, String> {
        let (from, if_line) = prelude;
        let mut text = text.to_owned();
        let constant =
            ["true", "false", "True", "False", "None", "null", "nil"].contains(&text.as_str());
        let name = text.starts_with(|c: char| c.is_alphabetic() || c == '_')
            && text.chars().all(|c| c.is_alphanumeric() || c == '_');
        if name && !constant {
            let defined = (from..if_line).find_map(|n| {
                let line = self.contents[n];
                let uses = line.contains(&text);
                let inner = |open: &str, close: &str| {
                    let start = line.find(open)? + open.len();
                    let end = line[start..].rfind(close)? + start;
                    Some(line[start..end].to_owned())
                };
                uses.then(|| inner("json!(", "))").or_else(|| inner("[]byte(", "), &")))
                    .flatten()
            });
            text = defined.ok_or(format!("cannot tell what `{text}` holds"))?;
        }
        if let Some(same) = same_value(&text, self.kept) {
            return Ok(same);
        }
        if ours || text == lang::value_literal(self.language, self.kept) {
            return Ok(text == lang::value_literal(self.language, self.kept));
        }
        Err(format!("cannot tell whether {} equals `{text}`", self.kept))
    }

    /// The kept branch's lines, one indentation unit less, the unit found from both branches.
    fn dedent(
        &self,
        base: &str,
        branches: &[(usize, usize); 2],
        kept: (usize, usize),
    ) -> Vec<String> {
        let shortest = branches
            .iter()
            .flat_map(|&(a, b)| a..b)
            .filter(|&n| self.lines[n].starts_in != At::Text && !self.contents[n].trim().is_empty())
            .map(|n| leading(self.contents[n]))
            .min_by_key(|w| w.len())
            .unwrap_or(base);
        let unit = shortest.get(base.len()..).unwrap_or("");
        (kept.0..kept.1)
            .map(|n| {
                let line = self.contents[n];
                if self.lines[n].starts_in == At::Text {
                    line.to_owned()
                } else {
                    line.strip_prefix(unit).unwrap_or(line).to_owned()
                }
            })
            .collect()
    }
}

/// The first column of `op` at bracket depth 0 of the masked text.
fn split_at(masked: &[char], op: &str) -> Option<usize> {
    let op: Vec<char> = op.chars().collect();
    let mut depth = 0i64;
    for i in 0..masked.len() {
        match masked[i] {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            _ => {}
        }
        if depth == 0 && masked[i..].starts_with(&op) {
            // `==` must not be part of `===` or `!==`, `!=` not of `!==`.
            let before = i.checked_sub(1).map(|j| masked[j]);
            let after = masked.get(i + op.len());
            if op.len() == 2
                && op[1] == '='
                && (after == Some(&'=') || matches!(before, Some('=' | '!')))
            {
                continue;
            }
            return Some(i);
        }
    }
    None
}

fn trim<'c>(masked: &'c [char], text: &'c [char]) -> (&'c [char], &'c [char]) {
    let start = masked
        .iter()
        .position(|c| !c.is_whitespace())
        .unwrap_or(masked.len());
    let end = masked
        .iter()
        .rposition(|c| !c.is_whitespace())
        .map_or(start, |e| e + 1);
    (&masked[start..end], &text[start..end])
}

/// The inside of `( … )` when those parentheses enclose the whole text.
fn unparen<'c>(masked: &'c [char], text: &'c [char]) -> Option<(&'c [char], &'c [char])> {
    if masked.first() != Some(&'(') || matching_open(masked) != Some(0) {
        return None;
    }
    Some((&masked[1..masked.len() - 1], &text[1..text.len() - 1]))
}

/// The column of the `(` that the final `)` closes.
fn matching_open(masked: &[char]) -> Option<usize> {
    if masked.last() != Some(&')') {
        return None;
    }
    let mut depth = 0i64;
    for i in (0..masked.len()).rev() {
        match masked[i] {
            ')' | ']' | '}' => depth += 1,
            '(' | '[' | '{' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether a literal means the same value as `kept`, when the literal is plain enough to read:
/// a string without escapes, a boolean, a number, JSON (also inside a Go raw string).
fn same_value(text: &str, kept: &Value) -> Option<bool> {
    let quoted = ['"', '\'', '`'].iter().find_map(|&q| {
        text.strip_prefix(q)
            .and_then(|t| t.strip_suffix(q))
            .filter(|inner| !inner.contains(['\\', q]))
    });
    if let Some(inner) = quoted {
        if let Value::String(s) = kept {
            return Some(s == inner);
        }
        return match serde_json::from_str::<Value>(inner) {
            Ok(v) if v.is_object() || v.is_array() => Some(&v == kept),
            _ => Some(false),
        };
    }
    match text {
        "true" | "True" => return Some(kept == &Value::Bool(true)),
        "false" | "False" => return Some(kept == &Value::Bool(false)),
        _ => {}
    }
    let number = text.trim_end_matches(['L', 'l', 'd', 'D', 'f', 'F', 'm', 'M']);
    let number = number
        .strip_suffix("i64")
        .or_else(|| number.strip_suffix("u64"))
        .unwrap_or(number);
    if let Ok(n) = number.replace('_', "").parse::<f64>() {
        return Some(kept.as_f64() == Some(n));
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Some(&v == kept),
        Err(_) => None,
    }
}
