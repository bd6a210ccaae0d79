//! `create_flag`: a new flag, validated, off in every environment the policy declares. `wrap_change`
//! and `add_version` create flags through the same `create_in_tx`.

use super::*;
use crate::domain::flag::{EnvState, FlagKey, FlagStatus, Variants};
use crate::domain::policy::{Action, Usage, decide};

/// Builds a new flag from a request, validated; off in every environment the policy declares.
fn new_flag(req: &CreateFlag, policy: &Policy, now: jiff::Timestamp) -> Result<Flag> {
    let key = FlagKey::parse(&req.key)?;
    text("description", &req.description, true)?;
    let variants = match &req.variants {
        None => Variants::boolean(),
        Some(map) => Variants::parse(map)?,
    };
    let off_variant = req
        .off_variant
        .clone()
        .unwrap_or_else(|| variants.natural_off().to_owned());
    variants.require("off_variant", &off_variant)?;
    let default_variant = req
        .default_variant
        .clone()
        .unwrap_or_else(|| off_variant.clone());
    variants.require("default_variant", &default_variant)?;
    if let Some(owner) = &req.owner {
        text("owner", owner, false)?;
    }
    if let Some(e) = &req.escalation {
        text("escalation", e, false)?;
    }
    if req.lifetime_days.is_some_and(|d| d == 0 || d > 3650) {
        return Err(invalid("lifetime_days", "between 1 and 3650 days"));
    }
    if req.tags.len() > 20 || req.tags.iter().any(|t| t.is_empty() || t.len() > 50) {
        return Err(invalid("tags", "at most 20 tags of 1 to 50 characters"));
    }
    let envs = policy
        .env_names()
        .map(|e| (e.to_owned(), EnvState::new_off(&default_variant, now)))
        .collect();
    Ok(Flag {
        salt: key.to_string(),
        key,
        description: req.description.clone(),
        change_type: req.change_type,
        variants,
        off_variant,
        default_variant,
        owner: req.owner.clone(),
        lifetime_days: req.lifetime_days.or(policy.flags.lifetime(req.change_type)),
        tags: req.tags.clone(),
        status: FlagStatus::Active,
        version: 1,
        created_at: now,
        updated_at: now,
        envs,
    })
}

pub(in crate::app) fn create_in_tx(
    tx: &mut Tx,
    req: &CreateFlag,
    action: Action,
) -> Step<FlagOutput> {
    let flag = new_flag(req, tx.policy, tx.now)?;
    if store::load_flag(tx.conn, flag.key.as_str())?.is_some() {
        return Err(invalid(
            "key",
            format!(
                "flag {:?} already exists; use get_flag to read it or pick another key",
                req.key
            ),
        )
        .into());
    }
    let usage = Usage {
        flags_created_last_day: store::count_flags_created_since(
            tx.conn,
            tx.now - jiff::SignedDuration::from_hours(24),
        )?,
        ..Usage::default()
    };
    let decision = decide(tx.policy, tx.actor, &action, &usage, tx.now);
    let audit = Audit {
        flag: Some(flag.key.to_string()),
        decision: Some(decision.clone()),
        after: state(&flag),
        ..Audit::default()
    };
    if decision != Decision::Allow {
        return tx.refuse(audit, &decision);
    }
    store::insert_flag(tx.conn, &flag)?;
    if req.escalation.is_some() {
        store::set_contacts(tx.conn, flag.key.as_str(), None, req.escalation.as_deref())?;
    }
    let view = flag_view(tx.conn, &flag, None)?;
    let summary = format!(
        "create flag {} ({}), off in every environment",
        flag.key,
        flag.variants.kind().as_str()
    );
    Ok(Done {
        output: FlagOutput {
            outcome: outcome(tx, &decision, flag.version, summary),
            flag: view,
        },
        audit,
    })
}

impl App {
    pub fn create_flag(&self, actor: &Actor, req: &CreateFlag) -> Result<FlagOutput> {
        let m = &req.meta;
        self.mutate(actor, "create_flag", req, m, |tx| {
            create_in_tx(tx, req, Action::CreateFlag)
        })
    }
}
