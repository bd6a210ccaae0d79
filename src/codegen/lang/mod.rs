//! The snippets `wrap_change` hands out for one language, filled from its template: the install
//! command, the provider setup, the guard (as lines, rendered at the target file's indentation) and
//! the test plan for both paths.
//!
//! The templates themselves are in `templates`, one per language; `literal` writes values as each
//! language's literals.

mod literal;
mod templates;

use super::{Compare, Language, WrapRequest};
pub(super) use literal::value_literal;
use literal::{literals, quote};
use templates::template;

/// Fills `{name}` holes in one pass, so a value that happens to contain `{cand}` stays as it is.
fn fill(text: &str, holes: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('{') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let hole = holes.iter().find(|(name, _)| {
            rest[1..].starts_with(name) && rest[1 + name.len()..].starts_with('}')
        });
        match hole {
            Some((name, value)) => {
                out.push_str(value);
                rest = &rest[name.len() + 2..];
            }
            None => {
                out.push('{');
                rest = &rest[1..];
            }
        }
    }
    out + rest
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

pub(super) struct Parts {
    pub install: String,
    pub setup: String,
    pub guard: Guard,
    pub test_plan: String,
}

/// A guard as lines, so the same text serves the standalone snippet and the diff.
pub(super) struct Guard {
    prelude: Vec<String>,
    open: Vec<String>,
    new_path: Vec<String>,
    middle: Vec<String>,
    close: Vec<String>,
    /// Stands for the old code in the standalone snippet.
    pub old_placeholder: String,
}

impl Guard {
    /// Lines at indentation `base`, the branches one `unit` deeper; `old` lines keep their own
    /// indentation and gain one `unit`, except those `verbatim` marks.
    pub fn render(&self, base: &str, unit: &str, old: &[&str], verbatim: &[bool]) -> Vec<String> {
        let at = |depth: &str, line: &String| {
            let body = line.trim_start_matches('\t');
            let nested = unit.repeat(line.len() - body.len());
            if body.is_empty() {
                String::new()
            } else {
                format!("{base}{depth}{nested}{body}")
            }
        };
        let mut out: Vec<String> = self
            .prelude
            .iter()
            .chain(&self.open)
            .map(|l| at("", l))
            .collect();
        out.extend(self.new_path.iter().map(|l| at(unit, l)));
        out.extend(self.middle.iter().map(|l| at("", l)));
        // Empty lines stay empty and lines inside a multi-line string stay as they are, so that
        // `cleanup` can take the unit off again and get the old text back byte for byte.
        out.extend(old.iter().zip(verbatim).map(|(l, &keep)| {
            if l.is_empty() || keep {
                (*l).to_owned()
            } else {
                format!("{unit}{l}")
            }
        }));
        out.extend(self.close.iter().map(|l| at("", l)));
        out
    }
}

/// Opens the first line of every guard, followed by the flag key and `:`; `cleanup` recognises a
/// guard by it. Changing it orphans the guards already written.
pub(super) const MARKER: &str = "flagwarden:";

pub(super) fn default_unit(language: Language) -> &'static str {
    match language {
        Language::Go => "\t",
        Language::TypeScript | Language::JavaScript => "  ",
        _ => "    ",
    }
}

pub(super) fn parts(req: &WrapRequest, compare: &Compare, description: &str) -> Parts {
    let (language, key) = (req.language, req.flag_key);
    let t = template(language);
    let c = t.comment;
    let (kind, object) = match compare {
        Compare::Bool { .. } => (0, false),
        Compare::Str { .. } => (1, false),
        Compare::Int { .. } => (2, false),
        Compare::Float { .. } => (3, false),
        Compare::Object { .. } => (4, true),
    };
    // A plain off/on flag reads best as a question; anything else is a value compared to the candidate.
    let plain = matches!(
        compare,
        Compare::Bool {
            fallback: false,
            candidate: true
        }
    );
    let var = t.names[usize::from(!plain)];
    let (fb, cand) = literals(language, compare);
    let cond = match compare {
        Compare::Bool {
            candidate: false, ..
        } => format!("{}{var}", t.not),
        _ => fill(t.conds[kind], &[("var", var), ("cand", &cand)]),
    };
    // Go's and Java's in-memory providers take the decoded or wrapped values, not the literals.
    let (fb_mem, cand_mem) = match (language, object) {
        (Language::Go, true) => ("fallback".to_owned(), "candidate".to_owned()),
        (Language::Java, true) => (
            format!("Value.objectToValue({fb})"),
            format!("Value.objectToValue({cand})"),
        ),
        _ => (fb.clone(), cand.clone()),
    };
    // Python's provider urljoins "ofrep/v1/" onto the base, which needs the final slash.
    let base_url = req.ofrep_base_url.trim_end_matches('/');
    let url = match language {
        Language::Python => quote(language, &format!("{base_url}/")),
        _ => quote(language, base_url),
    };
    let note = format!(
        "{c} The evaluation context comes from each request: the guard for `{key}` builds it from the\n\
         {c} caller's stable id (its targeting key, which flagwarden buckets percentage rollouts on)."
    );
    let msg = quote(
        language,
        &format!("flagwarden:{key}: new path not written yet"),
    );
    let k = quote(language, key);
    let type_name = ["bool", "string", "int", "double", "Value"][kind];
    let holes = [
        ("url", url.as_str()),
        ("imports", t.imports[usize::from(object)]),
        ("note", note.as_str()),
        ("var", var),
        ("key", k.as_str()),
        ("fb", fb.as_str()),
        ("cand", cand.as_str()),
        ("cond", cond.as_str()),
        ("msg", msg.as_str()),
        ("type", type_name),
    ];
    let mut prelude = vec![
        format!(
            "{c} {MARKER}{key}: the targeting key must be a stable id of the user (or account, or request) served:"
        ),
        format!(
            "{c} percentage rollouts bucket on it. Replace `{}` with yours.",
            t.user
        ),
    ];
    prelude.extend(lines(t.context));
    prelude.push(format!(
        "{c} On any evaluation error (flagwarden unreachable, flag missing) the code default, the old path, applies."
    ));
    prelude.extend(lines(&fill(t.evals[kind], &holes)));
    let guard = Guard {
        prelude,
        open: lines(&fill(t.open, &holes)),
        new_path: vec![
            format!("{c} TODO(flagwarden:{key}): new path: {description}"),
            fill(t.stop, &holes),
        ],
        middle: lines(t.middle),
        close: lines(t.close),
        old_placeholder: t.old.to_owned(),
    };
    let unit_test = fill(
        t.unit_test,
        &[
            ("key", &k),
            ("fb", &fb_mem),
            ("cand", &cand_mem),
            ("type", type_name),
        ],
    );
    let scope = match language {
        Language::Python => "",
        _ => {
            " Variables declared in the wrapped lines are now local to the else branch: hoist any that later code uses."
        }
    };
    let test_plan = format!(
        "How to test both paths of `{key}`:\n\n\
         1. Old path, today's behaviour: the code default is {fallback}, so while the flag serves its off variant \
         (a new flag starts off) or flagwarden is unreachable, the old path runs. Run the existing tests unchanged: `{test_cmd}`.\n\
         2. New path, end to end: run the app against flagwarden at {base_url} and, in a development environment, \
         serve the new value there: call the `set_targeting` tool for `{key}` with `default_variant` set to the \
         variant whose value is {candidate} (or with a rule matching only your test user). Check what the app will \
         see with `flagwarden eval {key} --env <dev-environment> --context '{{\"targetingKey\":\"qa-user-1\"}}'`, \
         exercise the change as that user, then set `default_variant` back to the off variant and check the old \
         path again.\n\
         3. Unit tests, no server: {unit_test}\n\
         4. Before rolling out: replace the TODO placeholder with the new code.{scope} Keep the old path until \
         `cleanup_flag` retires the flag.\n",
        fallback = req.fallback,
        candidate = req.candidate,
        test_cmd = t.test_cmd,
    );
    let install = t.install_object.filter(|_| object).unwrap_or(t.install);
    Parts {
        install: format!("{install}\n"),
        setup: fill(t.setup, &holes) + "\n",
        guard,
        test_plan,
    }
}
