//! Reading a guard's condition: whether the branch that runs for the kept value is the `if`'s or the
//! `else`'s. It unwraps negations and parentheses, finds the two sides of a comparison (operators and
//! the languages' equality calls), and decides whether the kept value equals the candidate literal,
//! refusing with a reason whatever it cannot tell.

use serde_json::Value;

use super::{File, IfStatement};
use crate::codegen::{Language, lang, lex};

impl File<'_> {
    /// Whether the new-path branch runs for the kept value, and the name of the variable a Go
    /// `if v, _ := …; v` declares (as `Some("")` when it is scoped to the if).
    pub(super) fn decide(
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
