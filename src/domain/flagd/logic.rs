//! JSONLogic as flagd reads it, as a tree that serializes straight to its text: an operator with
//! its arguments (`{"if": [...]}`), an operator with one operand (`{"var": "plan"}`,
//! `{"$ref": "shared-1"}`), or a JSON literal. Building `serde_json::Value` trees instead would cost
//! an ordered map, a key string and (through `json!`) a deep copy per node, and generating a
//! document is paid on every change to an environment; this costs one `Vec` per operator.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Logic {
    /// `{name: [args…]}`.
    Op(&'static str, Vec<Logic>),
    /// `{name: operand}`.
    Unary(&'static str, Box<Logic>),
    Literal(Value),
}

impl Logic {
    /// The context's attribute, `null` when it is missing.
    pub(super) fn var(attribute: &str) -> Logic {
        Logic::Unary("var", Box::new(Logic::lit(attribute)))
    }

    pub(super) fn op(name: &'static str, args: Vec<Logic>) -> Logic {
        Logic::Op(name, args)
    }

    pub(super) fn lit(v: impl Into<Value>) -> Logic {
        Logic::Literal(v.into())
    }

    /// Whether it is an operator (a literal `true` or `false` is no condition worth sharing).
    pub(super) fn is_operator(&self) -> bool {
        !matches!(self, Logic::Literal(_))
    }
}

impl Serialize for Logic {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Logic::Op(name, args) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(name, args)?;
                m.end()
            }
            Logic::Unary(name, operand) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry(name, operand)?;
                m.end()
            }
            Logic::Literal(v) => v.serialize(s),
        }
    }
}
