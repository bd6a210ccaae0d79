//! Prompt and model versions as flag variants: immutable records, each a new variant.
//!
//! A version is identified by the SHA-256 of its content (the prompt text, or for a model change
//! the canonical JSON of model id and parameters), its model id and its parameters. The variant's
//! value carries the record, so an application reading the flag through OFREP learns which version
//! to use; rolling back is the usual pointer flip to the last-known-good variant.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::flag::ChangeType;
use super::invalid::InvalidFlag;
use super::variant::Variants;

/// Parameters (temperature, max tokens, ...) stay small: they ride in every evaluation.
const MAX_PARAMETERS_BYTES: usize = 4 * 1024;
const MAX_MODEL_ID: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub content_sha256: String,
    pub model_id: Option<String>,
    pub parameters: Map<String, Value>,
    /// The prompt text, when given inline; served in the variant's value.
    pub content: Option<String>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl VersionRecord {
    /// Validates the parts of a new version of a `change_type` flag.
    pub fn new(
        change_type: ChangeType,
        content: Option<&str>,
        content_sha256: Option<&str>,
        model_id: Option<&str>,
        parameters: Option<&Map<String, Value>>,
    ) -> Result<VersionRecord, InvalidFlag> {
        if !matches!(change_type, ChangeType::Prompt | ChangeType::Model) {
            return Err(InvalidFlag::new(
                "key",
                format!(
                    "versions are for prompt and model flags; this is a {} flag: use create_flag variants instead",
                    change_type.as_str()
                ),
            ));
        }
        let parameters = parameters.cloned().unwrap_or_default();
        if Value::Object(parameters.clone()).to_string().len() > MAX_PARAMETERS_BYTES {
            return Err(InvalidFlag::new(
                "parameters",
                format!(
                    "at most {MAX_PARAMETERS_BYTES} bytes of JSON; keep large settings in the code or the prompt"
                ),
            ));
        }
        if let Some(m) = model_id
            && (m.trim().is_empty() || m.len() > MAX_MODEL_ID || m.chars().any(char::is_control))
        {
            return Err(InvalidFlag::new(
                "model_id",
                format!("1 to {MAX_MODEL_ID} printable characters, e.g. \"claude-sonnet-4-5\""),
            ));
        }
        if let Some(given) = content_sha256
            && (given.len() != 64
                || !given
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        {
            return Err(InvalidFlag::new(
                "content_sha256",
                "64 lowercase hex digits (e.g. the output of `sha256sum prompt.txt`)",
            ));
        }
        let content_sha256 = match (content, content_sha256) {
            (Some(text), given) => {
                let hash = sha256_hex(text.as_bytes());
                if given.is_some_and(|g| g != hash) {
                    return Err(InvalidFlag::new(
                        "content_sha256",
                        format!(
                            "does not match the content (its SHA-256 is {hash}); pass one of them or both agreeing"
                        ),
                    ));
                }
                hash
            }
            (None, Some(given)) => given.to_owned(),
            (None, None) if change_type == ChangeType::Model && model_id.is_some() => {
                // A model change is its model and parameters; serde_json's maps keep insertion order
                // here, so the canonical form sorts the keys first.
                let sorted: std::collections::BTreeMap<_, _> = parameters.iter().collect();
                sha256_hex(
                    json!({"model_id": model_id, "parameters": sorted})
                        .to_string()
                        .as_bytes(),
                )
            }
            (None, None) => {
                return Err(InvalidFlag::new(
                    "content",
                    match change_type {
                        ChangeType::Model => {
                            "give model_id (and parameters), or the content or content_sha256 it runs with"
                        }
                        _ => {
                            "give the prompt as content, or its content_sha256 when the text lives in the repository"
                        }
                    },
                ));
            }
        };
        Ok(VersionRecord {
            content_sha256,
            model_id: model_id.map(str::to_owned),
            parameters,
            content: content.map(str::to_owned),
        })
    }

    /// Whether `other` is the same version: same content, model and parameters.
    pub fn same_as(&self, other: &VersionRecord) -> bool {
        self.content_sha256 == other.content_sha256
            && self.model_id == other.model_id
            && self.parameters == other.parameters
    }

    /// The variant's value: what OFREP serves for this version.
    pub fn value(&self, name: &str) -> Value {
        let mut v = json!({"version": name, "content_sha256": self.content_sha256, "parameters": self.parameters});
        if let Some(m) = &self.model_id {
            v["model_id"] = json!(m);
        }
        if let Some(c) = &self.content {
            v["content"] = json!(c);
        }
        v
    }
}

/// The name of version `seq` (1-based).
pub fn variant_name(seq: i64) -> String {
    format!("v{seq}")
}

/// `variants` with version `seq` appended, checked like any variant (type, size, count).
pub fn append(
    variants: &Variants,
    seq: i64,
    record: &VersionRecord,
) -> Result<Variants, InvalidFlag> {
    let name = variant_name(seq);
    if variants.get(&name).is_some() {
        return Err(InvalidFlag::new(
            "key",
            format!("variant {name} already exists; versions are never edited"),
        ));
    }
    let mut map = variants.to_map();
    map.insert(name.clone(), record.value(&name));
    Variants::parse(&map).map_err(|e| {
        let field = if e.field.starts_with("variants.") {
            "content"
        } else {
            "key"
        };
        InvalidFlag::new(field, e.message)
    })
}

/// One immutable version record as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct VersionRow {
    pub variant: String,
    pub seq: i64,
    pub content_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    pub parameters: serde_json::Map<String, serde_json::Value>,
    pub created_at: String,
    pub created_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_is_hashed_and_a_given_hash_must_agree() {
        let r = VersionRecord::new(ChangeType::Prompt, Some("hello"), None, None, None).unwrap();
        assert_eq!(
            r.content_sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        let bad = VersionRecord::new(
            ChangeType::Prompt,
            Some("hello"),
            Some(&"0".repeat(64)),
            None,
            None,
        )
        .unwrap_err();
        assert_eq!(bad.field, "content_sha256");
        let bad =
            VersionRecord::new(ChangeType::Prompt, None, Some("ABC"), None, None).unwrap_err();
        assert_eq!(bad.field, "content_sha256");
        let bad = VersionRecord::new(ChangeType::Prompt, None, None, Some("m"), None).unwrap_err();
        assert_eq!(bad.field, "content", "a prompt needs its content");
        let bad = VersionRecord::new(ChangeType::Code, Some("x"), None, None, None).unwrap_err();
        assert_eq!(bad.field, "key");
    }

    #[test]
    fn a_model_version_is_its_model_and_parameters_in_any_key_order() {
        let p1: Map<String, Value> =
            serde_json::from_str(r#"{"temperature": 0.2, "max_tokens": 500}"#).unwrap();
        let p2: Map<String, Value> =
            serde_json::from_str(r#"{"max_tokens": 500, "temperature": 0.2}"#).unwrap();
        let a = VersionRecord::new(ChangeType::Model, None, None, Some("m-1"), Some(&p1)).unwrap();
        let b = VersionRecord::new(ChangeType::Model, None, None, Some("m-1"), Some(&p2)).unwrap();
        assert_eq!(a.content_sha256, b.content_sha256);
        assert!(a.same_as(&b));
        let c = VersionRecord::new(ChangeType::Model, None, None, Some("m-2"), Some(&p1)).unwrap();
        assert_ne!(a.content_sha256, c.content_sha256);
    }

    #[test]
    fn append_adds_the_next_variant_and_never_replaces_one() {
        let r = VersionRecord::new(ChangeType::Prompt, Some("v1 text"), None, None, None).unwrap();
        let mut m = Map::new();
        m.insert("v1".into(), r.value("v1"));
        let vs = Variants::parse(&m).unwrap();
        let r2 = VersionRecord::new(ChangeType::Prompt, Some("v2 text"), None, None, None).unwrap();
        let vs2 = append(&vs, 2, &r2).unwrap();
        assert_eq!(vs2.names().collect::<Vec<_>>(), ["v1", "v2"]);
        assert_eq!(vs2.get("v1"), vs.get("v1"), "v1 unchanged");
        assert_eq!(append(&vs2, 1, &r2).unwrap_err().field, "key");
    }
}
