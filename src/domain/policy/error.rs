//! Where a policy file went wrong: `PolicyError` names the file, the line and the dotted field, and
//! `Ctx` turns a TOML span into that line (the line of the field's own key where it can find it).

/// Where a policy file went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {field}: {message}")]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

pub(super) struct Ctx<'a> {
    pub(super) file: &'a str,
    pub(super) source: &'a str,
}

impl Ctx<'_> {
    /// An error at `span`, pointing at the line of the field's own key when the span holds it.
    pub(super) fn err(
        &self,
        span: std::ops::Range<usize>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> PolicyError {
        let field = field.into();
        let start = span.start.min(self.source.len());
        let key = field.rsplit('.').next().unwrap_or("");
        let mut at = start;
        let mut offset = start;
        // A table's span may cover only its header, so look through its lines up to the next header.
        for (i, l) in self.source[start..].split_inclusive('\n').enumerate() {
            let t = l.trim_start();
            if i > 0 && t.starts_with('[') {
                break;
            }
            if t.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
            {
                at = offset;
                break;
            }
            offset += l.len();
        }
        let line = self.source[..at].matches('\n').count() + 1;
        PolicyError {
            file: self.file.to_owned(),
            line,
            field,
            message: message.into(),
        }
    }
}

/// The dotted path of the key on the line holding byte `at`: the nearest table header above it plus
/// the key, e.g. `environments.production.agent_may`; `(syntax)` when the line is not a key.
pub(super) fn field_at(source: &str, at: usize) -> String {
    let at = at.min(source.len());
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    let line = source[line_start..].lines().next().unwrap_or("");
    let Some((key, _)) = line.split_once('=') else {
        return "(syntax)".into();
    };
    let key = key.trim().trim_matches('"');
    let header = source[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('[') && l.ends_with(']'))
        .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim().to_owned());
    match header {
        Some(h) => format!("{h}.{key}"),
        None => key.to_owned(),
    }
}
