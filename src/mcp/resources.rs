//! MCP resources: a flag (`flagwarden://flags/{key}`), a rollout (`flagwarden://rollouts/{id}`) and
//! the policy (`flagwarden://policy`), as JSON: the same answers `get_flag`, `canary_status` and
//! `get_policy` give. This file names them (templates, the list of what exists), parses a URI
//! (refusing one that names nothing with the forms that do) and reads one; `watch.rs` tells
//! subscribers when one changes. Reads run on the blocking pool like the tools.

use rmcp::model::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
    ResourceContents, ResourceTemplate,
};
use serde_json::json;

use crate::app::{App, AppError, PolicyQuery};
use crate::domain::audit::Change;

const FLAGS: &str = "flagwarden://flags/";
const ROLLOUTS: &str = "flagwarden://rollouts/";
pub const POLICY: &str = "flagwarden://policy";
const JSON: &str = "application/json";
/// Finished rollouts `resources/list` shows beside every unfinished one.
const RECENT_FINISHED: u32 = 50;

/// What a resource URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Uri {
    Flag(String),
    Rollout(i64),
    Policy,
}

impl Uri {
    /// A URI this server serves, or an invalid-params error naming it and the forms it takes.
    pub fn parse(uri: &str) -> Result<Uri, rmcp::ErrorData> {
        let bad = |why: &str| {
            rmcp::ErrorData::invalid_params(
                format!(
                    "resource URI {uri:?} {why}; use flagwarden://flags/{{key}}, \
                     flagwarden://rollouts/{{id}} (the rollout id canary_status shows) or flagwarden://policy"
                ),
                Some(json!({ "uri": uri })),
            )
        };
        if uri == POLICY {
            return Ok(Uri::Policy);
        }
        if let Some(key) = uri.strip_prefix(FLAGS) {
            crate::domain::flag::FlagKey::parse(key)
                .map_err(|e| bad(&format!("does not name a flag: {}", e.message)))?;
            return Ok(Uri::Flag(key.to_owned()));
        }
        if let Some(id) = uri.strip_prefix(ROLLOUTS) {
            return match id.parse::<i64>() {
                Ok(n) if n > 0 && n.to_string() == id => Ok(Uri::Rollout(n)),
                _ => Err(bad("does not name a rollout: the id is a positive number")),
            };
        }
        Err(bad("is not one of flagwarden's resources"))
    }

    pub fn flag(key: &str) -> String {
        format!("{FLAGS}{key}")
    }

    pub fn rollout(id: i64) -> String {
        format!("{ROLLOUTS}{id}")
    }
}

/// The URIs a committed change updates: its flag's, and its rollout's when it moved one.
pub fn touched(c: &Change) -> Vec<String> {
    let mut uris = vec![Uri::flag(&c.flag)];
    uris.extend(c.rollout.map(Uri::rollout));
    uris
}

pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(format!("{FLAGS}{{key}}"), "flag")
            .with_description(
                "A flag as get_flag shows it; updated on every committed change to it.",
            )
            .with_mime_type(JSON),
        ResourceTemplate::new(format!("{ROLLOUTS}{{id}}"), "rollout")
            .with_description(
                "A rollout as canary_status shows it; updated when its state changes \
                 (a step, a pause, a proposal, an approval, a rollback), by anyone.",
            )
            .with_mime_type(JSON),
    ])
}

/// The policy, every flag, every unfinished rollout and the newest finished ones.
pub fn list(app: &App) -> crate::app::Result<ListResourcesResult> {
    let w = app.watchable(RECENT_FINISHED)?;
    let mut items = vec![
        Resource::new(POLICY, "policy")
            .with_description("The policy bounds agents work under (get_policy).")
            .with_mime_type(JSON),
    ];
    items.extend(w.flags.into_iter().map(|(key, description)| {
        Resource::new(Uri::flag(&key), format!("flag {key}"))
            .with_description(description)
            .with_mime_type(JSON)
    }));
    items.extend(w.rollouts.into_iter().map(|(id, flag, env, state)| {
        Resource::new(Uri::rollout(id), format!("rollout {id}"))
            .with_description(format!("{flag} in {env}: {state}"))
            .with_mime_type(JSON)
    }));
    Ok(ListResourcesResult::with_all_items(items))
}

/// Reads what `uri` names as JSON text, or the error to answer with: not found names the URI.
pub fn read(app: &App, raw: &str, uri: &Uri) -> Result<ReadResourceResult, rmcp::ErrorData> {
    let json = match uri {
        Uri::Policy => app
            .get_policy(&PolicyQuery::default())
            .map(|v| serde_json::to_string_pretty(&v).expect("answers serialize")),
        Uri::Flag(key) => app
            .get_flag(key)
            .map(|v| serde_json::to_string_pretty(&v).expect("answers serialize")),
        Uri::Rollout(id) => app
            .rollout_status(*id)
            .map(|v| serde_json::to_string_pretty(&v).expect("answers serialize")),
    };
    match json {
        Ok(text) => {
            let mut result = ReadResourceResult::new(vec![
                ResourceContents::text(text, raw).with_mime_type(JSON),
            ]);
            // Never fresh for long: a change may come at any moment (subscribe to hear of it).
            result.ttl_ms = Some(0);
            Ok(result)
        }
        Err(AppError::NotFound(message)) => Err(rmcp::ErrorData::resource_not_found(
            format!("resource {raw:?}: {message}"),
            Some(json!({ "uri": raw })),
        )),
        Err(AppError::Invalid { field, message }) => Err(rmcp::ErrorData::invalid_params(
            format!("resource {raw:?}: invalid {field}: {message}"),
            Some(json!({ "uri": raw })),
        )),
        Err(e) => {
            tracing::error!("reading {raw}: {e}");
            Err(rmcp::ErrorData::internal_error(
                format!("reading {raw} failed; retry, and report it if it persists"),
                None,
            ))
        }
    }
}
