//! Prompt and model versions: `add_version` appends an immutable version record as a new variant.
//!
//! The first version creates the flag with that version as its off and default variant: the
//! baseline everyone gets. Each later version is canaried with `start_canary`, and a rollback is the
//! usual pointer flip to the last-known-good version. Nothing ever edits a version.

use serde_json::json;

use super::flags::{create_in_tx, flag_view, outcome};
use super::*;
use crate::domain::flag::{ChangeType, FlagKey};
use crate::domain::policy::{Action, Usage, decide};
use crate::domain::version::VersionRow;
use crate::domain::version::{self, VersionRecord};

impl App {
    pub fn add_version(&self, actor: &Actor, req: &AddVersion) -> Result<VersionOutput> {
        FlagKey::parse(&req.key)?;
        // A prompt may be longer than other free text: the variant's size limit bounds it.
        if req.content.as_ref().is_some_and(|c| c.trim().is_empty()) {
            return Err(invalid(
                "content",
                "must not be empty; pass the prompt text",
            ));
        }
        let m = &req.meta;
        self.mutate(actor, "add_version", req, m, |tx| {
            let existing = store::load_flag(tx.conn, &req.key)?;
            let change_type = existing
                .as_ref()
                .map_or(req.change_type.unwrap_or(ChangeType::Prompt), |f| f.change_type);
            let record = VersionRecord::new(
                change_type,
                req.content.as_deref(),
                req.content_sha256.as_deref(),
                req.model_id.as_deref(),
                req.parameters.as_ref(),
            )?;
            let Some(mut flag) = existing else {
                return create_with_first(tx, req, change_type, &record);
            };
            let decision = decide(tx.policy, tx.actor, &Action::AddVersion { creates_flag: false }, &Usage::default(), tx.now);
            let mut audit = Audit { flag: Some(req.key.clone()), decision: Some(decision.clone()), ..Audit::default() };
            if decision != Decision::Allow {
                return tx.refuse(audit, &decision);
            }
            let known = store::versions(tx.conn, &req.key)?;
            if known.is_empty() {
                return Err(invalid(
                    "key",
                    format!("{} holds plain variants, not version records; version a prompt or model in a new flag (add_version with a new key creates it)", req.key),
                )
                .into());
            }
            if let Some(same) = known.iter().find(|v| record.same_as(&stored_record(v))) {
                return Err(AppError::Conflict(format!(
                    "this is version {} already (same content, model and parameters); canary it with start_canary candidate_variant {:?}",
                    same.variant, same.variant
                ))
                .into());
            }
            let seq = known.last().map_or(1, |v| v.seq + 1);
            flag.variants = version::append(&flag.variants, seq, &record)?;
            flag.version += 1;
            flag.updated_at = tx.now;
            store::update_flag(tx.conn, &flag)?;
            let row = row(seq, &record, tx);
            store::append_variant(tx.conn, &req.key, &row.variant, &record.value(&row.variant))?;
            store::insert_version(tx.conn, &req.key, &row)?;
            audit.after = json!({"version": row});
            let summary = format!("add version {} of {} (sha256 {}); nobody is served it until a rollout", row.variant, req.key, &row.content_sha256[..12]);
            let view = flag_view(tx.conn, &flag, None)?;
            Ok(Done { output: VersionOutput { outcome: outcome(tx, &decision, flag.version, summary), variant: row.variant, flag: view }, audit })
        })
    }
}

fn row(seq: i64, r: &VersionRecord, tx: &Tx) -> VersionRow {
    VersionRow {
        variant: version::variant_name(seq),
        seq,
        content_sha256: r.content_sha256.clone(),
        model_id: r.model_id.clone(),
        parameters: r.parameters.clone(),
        created_at: store::ts_text(tx.now),
        created_by: tx.actor.name().to_owned(),
    }
}

fn stored_record(v: &VersionRow) -> VersionRecord {
    VersionRecord {
        content_sha256: v.content_sha256.clone(),
        model_id: v.model_id.clone(),
        parameters: v.parameters.clone(),
        content: None,
    }
}

/// A new flag whose only variant, `v1`, is the first version: off and default everywhere.
fn create_with_first(
    tx: &mut Tx,
    req: &AddVersion,
    change_type: ChangeType,
    record: &VersionRecord,
) -> Step<VersionOutput> {
    let name = version::variant_name(1);
    let mut variants = serde_json::Map::new();
    variants.insert(name.clone(), record.value(&name));
    let create = CreateFlag {
        key: req.key.clone(),
        description: format!(
            "{} versions: {}",
            change_type.as_str(),
            req.meta.reason.trim()
        ),
        change_type,
        variants: Some(variants),
        off_variant: Some(name.clone()),
        default_variant: Some(name),
        owner: None,
        escalation: None,
        lifetime_days: None,
        tags: Vec::new(),
        meta: req.meta.clone(),
    };
    let Done { output, mut audit } =
        create_in_tx(tx, &create, Action::AddVersion { creates_flag: true })?;
    let row = row(1, record, tx);
    store::insert_version(tx.conn, &req.key, &row)?;
    audit.after["version"] = json!(row);
    let FlagOutput {
        outcome: mut out,
        mut flag,
    } = output;
    flag.versions = vec![row.clone()];
    let summary = format!(
        "create {} flag {} with version v1 (sha256 {}) served everywhere",
        change_type.as_str(),
        req.key,
        &row.content_sha256[..12]
    );
    out.summary = if tx.dry_run {
        format!("dry run, nothing changed: would {summary}")
    } else {
        summary
    };
    Ok(Done {
        output: VersionOutput {
            outcome: out,
            variant: row.variant,
            flag,
        },
        audit,
    })
}
