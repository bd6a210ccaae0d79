//! Code references to a flag: where each is (`CodeRef`, as wrap_change or a scan recorded it), and how
//! a scan saw them change (`RefChange`: appeared in, or disappeared from, a file). The store records
//! them, the scan reports them, people read them.

use serde::{Deserialize, Serialize};

/// A code reference to a flag as recorded: where, in which language, and whether a scan still sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CodeRef {
    pub file: String,
    pub line: Option<u32>,
    pub language: String,
    pub recorded_at: String,
    /// wrap_change or scan.
    #[serde(default = "wrap_change")]
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub snippet: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub last_seen_at: Option<String>,
    /// When a scan stopped finding it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "String")]
    pub gone_at: Option<String>,
}

fn wrap_change() -> String {
    "wrap_change".into()
}

impl CodeRef {
    /// A reference wrap_change records where it put a guard (no scan has seen it yet).
    pub fn wrapped(
        file: String,
        line: Option<u32>,
        language: String,
        recorded_at: String,
    ) -> CodeRef {
        CodeRef {
            file,
            line,
            language,
            recorded_at,
            source: wrap_change(),
            snippet: String::new(),
            last_seen_at: None,
            gone_at: None,
        }
    }
}

/// A reference that a scan saw appear or disappear. `line` is absent for a wrap_change reference
/// recorded without one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RefChange {
    pub flag: String,
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

impl RefChange {
    /// Where the reference is, as people read it: `file:line`, or the file alone without a line.
    pub fn place(&self) -> String {
        match self.line {
            Some(line) => format!("{}:{line}", self.file),
            None => self.file.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_place_has_its_line_when_known() {
        let at = |line| RefChange {
            flag: "pay".into(),
            file: "src/pay.rs".into(),
            line,
        };
        assert_eq!(at(Some(12)).place(), "src/pay.rs:12");
        assert_eq!(at(None).place(), "src/pay.rs");
    }
}
