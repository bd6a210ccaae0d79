//! A flag's variants: named values of one `FlagType`, validated once by `Variants::parse`. Rules and
//! versions check variant names against them without knowing the flag that holds them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::invalid::{InvalidFlag, check_name};

/// Validates a variant name in the context of `field` (the input field that carried it).
pub fn check_variant_name(field: &str, s: &str) -> Result<(), InvalidFlag> {
    check_name(field, "variant name", s)
}

/// The value type shared by every variant of a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FlagType {
    Boolean,
    String,
    Number,
    Object,
}

impl FlagType {
    pub fn of(value: &Value) -> Option<FlagType> {
        match value {
            Value::Bool(_) => Some(FlagType::Boolean),
            Value::String(_) => Some(FlagType::String),
            Value::Number(_) => Some(FlagType::Number),
            Value::Object(_) => Some(FlagType::Object),
            Value::Null | Value::Array(_) => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            FlagType::Boolean => "boolean",
            FlagType::String => "string",
            FlagType::Number => "number",
            FlagType::Object => "object",
        }
    }
}

/// A flag's variants: named values, at least one, all of one `FlagType`. Order is kept as given.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Variants {
    kind: FlagType,
    entries: Vec<(String, Value)>,
}

const MAX_VARIANTS: usize = 32;
const MAX_VARIANT_VALUE_BYTES: usize = 32 * 1024;

impl Variants {
    /// The boolean pair `on` = true, `off` = false: what a flag is when the caller names no variants.
    pub fn boolean() -> Variants {
        Variants {
            kind: FlagType::Boolean,
            entries: vec![
                ("on".into(), Value::Bool(true)),
                ("off".into(), Value::Bool(false)),
            ],
        }
    }

    pub fn parse(map: &serde_json::Map<String, Value>) -> Result<Variants, InvalidFlag> {
        if map.is_empty() {
            return Err(InvalidFlag::new(
                "variants",
                "give at least one variant, e.g. {\"on\": true, \"off\": false}",
            ));
        }
        if map.len() > MAX_VARIANTS {
            return Err(InvalidFlag::new(
                "variants",
                format!(
                    "at most {MAX_VARIANTS} variants are allowed, got {}",
                    map.len()
                ),
            ));
        }
        let mut kind = None;
        let mut entries = Vec::with_capacity(map.len());
        for (name, value) in map {
            let field = format!("variants.{name}");
            check_variant_name(&field, name)?;
            let Some(t) = FlagType::of(value) else {
                return Err(InvalidFlag::new(
                    field,
                    "a variant value must be a boolean, string, number or JSON object (not null or an array)",
                ));
            };
            if value.to_string().len() > MAX_VARIANT_VALUE_BYTES {
                return Err(InvalidFlag::new(
                    field,
                    format!(
                        "a variant value may be at most {MAX_VARIANT_VALUE_BYTES} bytes of JSON"
                    ),
                ));
            }
            match kind {
                None => kind = Some(t),
                Some(k) if k != t => {
                    return Err(InvalidFlag::new(
                        field,
                        format!(
                            "all variants must share one type: this one is {}, earlier ones are {}",
                            t.as_str(),
                            k.as_str()
                        ),
                    ));
                }
                Some(_) => {}
            }
            entries.push((name.clone(), value.clone()));
        }
        Ok(Variants {
            kind: kind.expect("non-empty map"),
            entries,
        })
    }

    pub fn kind(&self) -> FlagType {
        self.kind
    }
    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v))
    }
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|(n, _)| n == name)
    }
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// Checks that `name` (carried by input field `field`) is one of the variants.
    pub fn require(&self, field: &str, name: &str) -> Result<(), InvalidFlag> {
        if self.index_of(name).is_some() {
            return Ok(());
        }
        let names: Vec<_> = self.names().collect();
        Err(InvalidFlag::new(
            field,
            format!(
                "unknown variant {name:?}: this flag's variants are {}",
                names.join(", ")
            ),
        ))
    }

    pub fn to_map(&self) -> serde_json::Map<String, Value> {
        self.entries.iter().cloned().collect()
    }

    /// The variant that means "off": for booleans the one holding `false`, otherwise the last one.
    pub fn natural_off(&self) -> &str {
        self.entries
            .iter()
            .find(|(_, v)| *v == Value::Bool(false))
            .or(self.entries.last())
            .map(|(n, _)| n.as_str())
            .expect("variants are never empty")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn variants_share_one_type() {
        let v = Variants::parse(json!({"a": "x", "b": "y"}).as_object().unwrap()).unwrap();
        assert_eq!(v.kind(), FlagType::String);
        let err = Variants::parse(json!({"a": "x", "b": 1}).as_object().unwrap()).unwrap_err();
        assert_eq!(err.field, "variants.b");
        let err = Variants::parse(json!({"a": null}).as_object().unwrap()).unwrap_err();
        assert!(err.message.contains("not null"));
        let err = Variants::parse(json!({}).as_object().unwrap()).unwrap_err();
        assert_eq!(err.field, "variants");
    }

    #[test]
    fn natural_off_is_false_for_booleans() {
        assert_eq!(Variants::boolean().natural_off(), "off");
        let v =
            Variants::parse(json!({"gpt-5": "m1", "gpt-4": "m0"}).as_object().unwrap()).unwrap();
        assert_eq!(v.natural_off(), "gpt-4");
    }
}
