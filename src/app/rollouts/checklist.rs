//! The pre-release checklist's own mutations: a flag's owner and escalation contact (`flagwarden
//! flags contacts`), and a statement attested for one item (`flagwarden checklist attest`), each one
//! audit event. `start.rs` gathers the facts `decide` checks the list against.

use serde_json::json;

use super::*;
use crate::domain::policy::ChecklistItem;

impl App {
    /// Sets the owner and/or escalation contact of a flag.
    pub fn set_contacts(
        &self,
        actor: &Actor,
        key: &str,
        owner: Option<&str>,
        escalation: Option<&str>,
        meta: &Meta,
    ) -> Result<String> {
        if owner.is_none() && escalation.is_none() {
            return Err(invalid("owner", "give --owner, --escalation or both"));
        }
        for (field, v) in [("owner", owner), ("escalation", escalation)] {
            if let Some(v) = v
                && (v.trim().is_empty() || v.len() > 200)
            {
                return Err(invalid(
                    field,
                    "1 to 200 characters, e.g. a team or a pager address",
                ));
            }
        }
        let args = json!({"key": key, "owner": owner, "escalation": escalation});
        self.mutate(actor, "set_contacts", &args, meta, |tx| {
            let mut flag = tx.flag(key)?;
            let before = json!({"owner": flag.owner, "escalation": store::flag_escalation(tx.conn, key)?});
            store::set_contacts(tx.conn, key, owner, escalation)?;
            // A change to the flag: a rehearsal before it no longer counts.
            tx.bump(&mut flag)?;
            let after = json!({"owner": owner.map(str::to_owned).or(flag.owner.clone()), "escalation": store::flag_escalation(tx.conn, key)?});
            Ok(Done {
                output: format!("{key}: owner {}, escalation {}", after["owner"], after["escalation"]),
                audit: Audit { flag: Some(key.into()), decision: Some(Decision::Allow), before, after, ..Audit::default() },
            })
        })
    }

    /// Records a statement for one checklist item of a flag in an environment.
    pub fn attest_checklist(
        &self,
        actor: &Actor,
        key: &str,
        env: &str,
        item: &str,
        text: &str,
        meta: &Meta,
    ) -> Result<String> {
        let parsed = ChecklistItem::parse(item)
            .filter(|i| i.attestable())
            .ok_or_else(|| invalid("item", "one of \"plan\", \"evidence\" (why there can be none), \"limitations\"; owner and escalation are set with `flagwarden flags contacts`, a rehearsal with `flagwarden rollouts rehearse`"))?;
        if parsed == ChecklistItem::Rehearsal {
            return Err(invalid(
                "item",
                "a rehearsal is run, not attested: `flagwarden rollouts rehearse KEY --env E`",
            ));
        }
        if text.trim().is_empty() || text.len() > 2000 {
            return Err(invalid("text", "say it in 1 to 2000 characters"));
        }
        let args = json!({"key": key, "environment": env, "item": item, "text": text});
        self.mutate(actor, "attest_checklist", &args, meta, |tx| {
            tx.flag(key)?;
            tx.env(env)?;
            let id = store::insert_attestation(
                tx.conn,
                key,
                env,
                item,
                text,
                tx.actor.kind(),
                tx.actor.name(),
                tx.now,
            )?;
            Ok(Done {
                output: format!(
                    "attestation #{id}: {item} of {key} in {env}, by {} {}",
                    tx.actor.kind(),
                    tx.actor.name()
                ),
                audit: Audit {
                    flag: Some(key.into()),
                    env: Some(env.into()),
                    decision: Some(Decision::Allow),
                    after: json!({"attestation": id, "item": item, "text": text}),
                    evidence_only: true,
                    ..Audit::default()
                },
            })
        })
    }
}
