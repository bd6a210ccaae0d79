//! The flag-definition document of one environment: `$schema`, the flag set's `metadata`
//! (`flagSetId` = the environment, `version` = the audit sequence it reflects) and one entry per
//! flag. A flag disabled in flagwarden is still `ENABLED` for flagd, serving its off variant: flagd's
//! `DISABLED` answers the caller's code default with an error, while flagwarden serves the off
//! variant, and the engines must give the same value.

use serde_json::{Map, Value, json};

use crate::domain::eval::FlagSource;

/// The schema flagd publishes for flag definitions.
pub const SCHEMA_URL: &str = "https://flagd.dev/schema/v0/flags.json";

/// The definition document of `env` for `flags` (in key order), reflecting audit event `seq`.
pub fn document(flags: &[FlagSource<'_>], env: &str, seq: i64) -> Value {
    let mut entries = Map::new();
    for source in flags {
        if let Some(entry) = flag_entry(source, env) {
            entries.insert(source.flag.key.as_str().to_owned(), entry);
        }
    }
    json!({
        "$schema": SCHEMA_URL,
        "metadata": {"flagSetId": env, "version": seq.to_string()},
        "flags": entries,
    })
}

/// One flag's entry in `env`, or `None` when the flag has no state there.
fn flag_entry(source: &FlagSource<'_>, env: &str) -> Option<Value> {
    let flag = source.flag;
    let state = flag.envs.get(env)?;
    let variants: Map<String, Value> = flag
        .variants
        .iter()
        .map(|(n, v)| (n.to_owned(), v.clone()))
        .collect();
    let default = state.served_default(flag);
    Some(json!({
        "state": "ENABLED",
        "variants": variants,
        "defaultVariant": default,
    }))
}
