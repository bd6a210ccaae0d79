//! Recognising a guard's statement around a reference to the flag key: the `if` that tests it (on the
//! same line, or after the one variable it is stored in), wrap_change's marker and prelude above it,
//! the `if`'s blocks in braced languages and in Python, and the kept branch dedented to stand alone.
//! Which branch is kept is `condition`'s question.

use super::{File, IfStatement, Rewrite};
use crate::codegen::lex::{self, At, Line, Literal};
use crate::codegen::{Language, lang, leading};

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

    pub(super) fn guard(&self, hit: &Literal) -> Result<Rewrite, String> {
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
