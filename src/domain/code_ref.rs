//! Code references as a scan sees them change: a reference to a flag that appeared in, or disappeared
//! from, a file. The store records them, the scan reports them, people read them.

use std::fmt;

use serde::Serialize;

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
    pub fn place(&self) -> Place<'_> {
        Place(self)
    }
}

/// `file:line`, or `file` for a reference recorded without a line.
pub struct Place<'a>(&'a RefChange);

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.line {
            Some(line) => write!(f, "{}:{line}", self.0.file),
            None => f.write_str(&self.0.file),
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
        assert_eq!(at(Some(12)).place().to_string(), "src/pay.rs:12");
        assert_eq!(at(None).place().to_string(), "src/pay.rs");
    }
}
