//! The subject of an evaluation: OpenFeature's targetingKey and attributes, read from a JSON context
//! with its size and attribute count bounded, and looked up the way conditions need.

use serde_json::{Map, Value};

use super::condition::{Attr, Scalar};

/// The subject of an evaluation: OpenFeature's targetingKey plus attributes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub targeting_key: Option<String>,
    pub attributes: Map<String, Value>,
}

/// Why a context was refused, in OpenFeature's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidContext(pub String);

const MAX_CONTEXT_ATTRIBUTES: usize = 256;
const MAX_CONTEXT_BYTES: usize = 64 * 1024;
/// Up to this many attributes, a lookup scans the names instead of hashing.
const SCAN_ATTRIBUTES: usize = 8;

impl Context {
    pub fn with_key(key: &str) -> Context {
        Context {
            targeting_key: Some(key.to_owned()),
            attributes: Map::new(),
        }
    }

    /// Reads an OpenFeature context object: `{"targetingKey": "user-1", "email": "...", ...}`.
    pub fn from_json(value: &Value) -> Result<Context, InvalidContext> {
        let Value::Object(map) = value else {
            return Err(InvalidContext("context must be a JSON object, e.g. {\"targetingKey\": \"user-1\", \"email\": \"a@b.c\"}".into()));
        };
        Context::from_object(map.clone(), value.to_string().len())
    }

    /// A context from an object already parsed, whose JSON text was `size` bytes (an upper bound
    /// will do, e.g. the request body's length).
    pub fn from_object(
        mut attributes: Map<String, Value>,
        size: usize,
    ) -> Result<Context, InvalidContext> {
        if attributes.len() > MAX_CONTEXT_ATTRIBUTES {
            return Err(InvalidContext(format!(
                "context has {} attributes; at most {MAX_CONTEXT_ATTRIBUTES} are allowed",
                attributes.len()
            )));
        }
        if size > MAX_CONTEXT_BYTES {
            return Err(InvalidContext(format!(
                "context is {size} bytes of JSON; at most {MAX_CONTEXT_BYTES} are allowed"
            )));
        }
        let targeting_key = match attributes.remove("targetingKey") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                return Err(InvalidContext(
                    "context.targetingKey must be a string".into(),
                ));
            }
        };
        Ok(Context {
            targeting_key,
            attributes,
        })
    }

    #[inline]
    pub(super) fn get(&self, attr: &Attr) -> Option<Scalar<'_>> {
        match attr {
            Attr::TargetingKey => self.targeting_key.as_deref().map(Scalar::Str),
            Attr::Named(name) => self.attribute(name).and_then(Scalar::of),
        }
    }

    /// A typical context holds a handful of attributes: comparing their names is cheaper than hashing
    /// the name, and a map's keys are unique, so both find the same entry.
    #[inline]
    fn attribute(&self, name: &str) -> Option<&Value> {
        if self.attributes.len() <= SCAN_ATTRIBUTES {
            self.attributes
                .iter()
                .find_map(|(k, v)| (k == name).then_some(v))
        } else {
            self.attributes.get(name)
        }
    }
}
