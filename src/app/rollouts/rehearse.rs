//! Rehearsing a rollback before exposure starts (`flagwarden rollouts rehearse`, start_canary's
//! `rehearse`): the real start and the real rollback flip, run in a scratch copy of the store (SQLite's
//! online backup into a temporary file), timed from the first write to the change reaching the change
//! feed and a snapshot compiled from the copy; then every arm's units and the sampled contexts are
//! evaluated there and must all get the last-known-good without error. The last-known-good must also
//! be known good: served to the application in that environment before. The result is a row in
//! `rehearsals` and a `rehearse_rollback` audit event; nothing in the real store's flags changes.

use std::time::Instant;

use serde_json::json;

use super::*;
use crate::domain::eval::{Context, Snapshot, evaluate, rollout_arm};
use crate::domain::rollout::{Analysis, Opening, Rollout};

/// One arm's or rule's answer before and after the flip.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct ArmFlip {
    pub who: String,
    pub before: String,
    pub after: String,
}

/// What a rehearsal found.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RehearsalView {
    pub id: i64,
    pub passed: bool,
    /// Why it failed; empty when it passed.
    pub why: String,
    pub lkg: String,
    pub candidate: String,
    pub arms: Vec<ArmFlip>,
    pub contexts_checked: usize,
    pub context_errors: Vec<String>,
    /// The flip in the scratch store, from its first write to the change read back from the feed
    /// and a snapshot compiled from the copy.
    pub flip_ms: f64,
    pub feed_seq: Option<i64>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize, schemars::JsonSchema)]
pub struct RehearsalOutput {
    pub outcome: Outcome,
    pub rehearsal: RehearsalView,
}

impl crate::app::Answer for RehearsalOutput {
    fn set_audit_seq(&mut self, seq: i64) {
        self.outcome.audit_seq = Some(seq);
    }
}

/// Units (targeting keys) that land in each arm at `share`, so every arm is checked.
fn arm_units(salt: &str, share_bp: u16) -> Vec<(Arm, String)> {
    let mut out: Vec<(Arm, String)> = Vec::new();
    for i in 0..10_000 {
        let key = format!("rehearsal-unit-{i}");
        let arm = rollout_arm(salt, &key, share_bp);
        if out.iter().filter(|(a, _)| *a == arm).count() < 3 {
            out.push((arm, key));
        }
        if out.len() == 9 {
            break;
        }
    }
    out
}

impl App {
    /// Rehearses the rollback of `key` in `env`: of its running rollout, or of one that would roll
    /// `candidate` out (default: the first variant that is not the last-known-good).
    pub fn rehearse(
        &self,
        actor: &Actor,
        key: &str,
        env: &str,
        candidate: Option<&str>,
        contexts: &[serde_json::Value],
        meta: &Meta,
    ) -> Result<RehearsalOutput> {
        let args = json!({"key": key, "environment": env, "candidate_variant": candidate, "contexts": contexts.len()});
        // Only evaluations already flushed count as the application's; counts still in memory
        // are added so a rehearsal right after traffic sees it.
        let unflushed: Vec<(String, u64)> = self
            .snapshot()
            .all_counts()
            .filter(|(f, e, _, c)| {
                *f == key && *e == env && c.load(std::sync::atomic::Ordering::Relaxed) > 0
            })
            .map(|(_, _, v, c)| (v.to_owned(), c.load(std::sync::atomic::Ordering::Relaxed)))
            .collect();
        let mut parsed = Vec::new();
        for (i, c) in contexts.iter().enumerate() {
            parsed
                .push(Context::from_json(c).map_err(|e| invalid(&format!("contexts[{i}]"), e.0))?);
        }
        // The scratch copy is taken before the rehearsal's transaction (SQLite's backup cannot read
        // a connection with a write transaction open); the flip below re-reads the flag from it.
        let dir = tempfile::tempdir().map_err(|e| {
            AppError::Conflict(format!(
                "cannot make a scratch directory for the rehearsal: {e}"
            ))
        })?;
        let scratch_path = dir.path().join("rehearsal.db");
        self.refresh()?;
        drop(store::scratch_copy(self.store().conn(), &scratch_path)?);
        self.mutate(actor, "rehearse_rollback", &args, meta, |tx| {
            let flag = tx.flag(key)?;
            tx.env(env)?;
            let live = store::active_rollout(tx.conn, key, env)?;
            let lkg = match &live {
                Some(r) => r.lkg.clone(),
                None => flag.envs[env].served_default(&flag).to_owned(),
            };
            let candidate = match (&live, candidate) {
                (Some(r), _) => r.candidate.clone(),
                (None, Some(c)) => {
                    flag.variants.require("candidate_variant", c)?;
                    c.to_owned()
                }
                (None, None) => flag
                    .variants
                    .iter()
                    .map(|(n, _)| n.to_owned())
                    .find(|n| *n != lkg)
                    .ok_or_else(|| invalid("candidate_variant", "the flag has one variant: nothing to roll out or back"))?,
            };
            let mut problems: Vec<String> = Vec::new();
            if flag.variants.get(&lkg).is_none() {
                problems.push(format!("the last-known-good {lkg:?} is not a variant of {key}"));
            }
            // Known good: the application in this environment was served it before.
            let mut served: std::collections::BTreeMap<String, u64> = store::evaluations(tx.conn, key)?
                .into_iter()
                .filter(|(e, ..)| e == env)
                .map(|(_, v, n, _)| (v, n))
                .collect();
            for (v, n) in &unflushed {
                *served.entry(v.clone()).or_default() += n;
            }
            if !served.is_empty() && served.get(&lkg).copied().unwrap_or(0) == 0 {
                let seen: Vec<String> = served.iter().map(|(v, n)| format!("{v:?} ({n})")).collect();
                problems.push(format!(
                    "the last-known-good {lkg:?} was never served in {env}: the application was served only {}; the targeting no longer serves what was known good, so a rollback would move everyone to a variant nobody ran",
                    seen.join(", ")
                ));
            }
            // The flip, for real, in a scratch copy.
            let scratch = store::open_scratch(&scratch_path)?;
            let before_seq = store::last_audit_seq(&scratch)?;
            let started = Instant::now();
            let share = live.as_ref().map(|r| r.percent()).unwrap_or_else(|| tx.policy.env(env).and_then(|e| e.steps.first().copied()).unwrap_or(crate::domain::bucket::Percent::FULL));
            let mut arms = Vec::new();
            let flipped = (|| -> std::result::Result<(Vec<crate::domain::flag::Flag>, Vec<Rollout>), Failure> {
                let stx = scratch.unchecked_transaction()?;
                let cx = Tx { conn: &stx, now: tx.now, actor: tx.actor, policy: tx.policy, dry_run: false, system_events: Vec::new(), also_changed: Default::default() };
                let mut f = store::load_flag(&stx, key)?.ok_or_else(|| Failure::Error(not_found_flag(key)))?;
                let r = match &live {
                    Some(r) => r.clone(),
                    None => {
                        let config = tx.policy.env(env).expect("checked").gate.clone();
                        let steps = tx.policy.env(env).expect("checked").steps.clone();
                        let r = Rollout::start(store::next_rollout_id(&stx)?, key, env, &candidate, &lkg, steps, Opening::Running, Analysis { config, latency_threshold_ms: None, ..Analysis::default() }, tx.now);
                        store::save_rollout(&stx, &r)?;
                        cx.expose(&mut f, &r)?;
                        r
                    }
                };
                cx.roll_back(&mut f, env, Some(&r))?;
                let e = crate::domain::audit::AuditEvent {
                    seq: 0,
                    ts: store::ts_text(tx.now),
                    actor_kind: tx.actor.kind().into(),
                    actor: tx.actor.name().into(),
                    action: "rollback".into(),
                    flag: Some(key.into()),
                    env: Some(env.into()),
                    rollout_id: Some(r.id),
                    approval_id: None,
                    decision: "allow".into(),
                    rule: None,
                    message: Some("rehearsal in a scratch copy".into()),
                    reason: Some("rehearsal".into()),
                    args: "{}".into(),
                    before: "{}".into(),
                    after: "{}".into(),
                    policy_version: tx.policy.version,
                    policy_sha256: String::new(),
                };
                store::append_audit(&stx, e)?;
                stx.commit()?;
                Ok((store::load_flags(&scratch)?, store::active_rollouts(&scratch)?))
            })();
            let mut feed_seq = None;
            let mut snapshot = None;
            match flipped {
                Ok((flags, rollouts)) => {
                    feed_seq = store::changes_since(&scratch, before_seq, 100)?
                        .into_iter()
                        .find(|c| c.flag == key && c.environment.as_deref() == Some(env))
                        .map(|c| c.seq);
                    if feed_seq.is_none() {
                        problems.push("the flip did not reach the change feed".into());
                    }
                    let live: Vec<_> = rollouts.iter().filter_map(|r| r.live()).collect();
                    snapshot = Some(Snapshot::compile(&flags, &live, None));
                }
                Err(Failure::Error(e)) => problems.push(format!("the flip failed: {e}")),
                Err(Failure::Refused(r)) => problems.push(format!("the flip was refused: {}", r.message)),
            }
            let flip_ms = started.elapsed().as_secs_f64() * 1000.0;
            // Every arm's units and the sampled contexts, after the flip.
            let mut checked = 0;
            let mut context_errors = Vec::new();
            if let Some(snap) = &snapshot {
                let salt = flag.salt.clone();
                let mut units: Vec<(String, Context)> = arm_units(&salt, share.basis_points())
                    .into_iter()
                    .map(|(arm, k)| {
                        let ctx = Context::from_json(&json!({"targetingKey": k})).expect("a plain targeting key");
                        (format!("{} unit {k}", arm.as_str()), ctx)
                    })
                    .collect();
                units.extend(parsed.iter().enumerate().map(|(i, c)| (format!("contexts[{i}]"), c.clone())));
                for (who, ctx) in &units {
                    checked += 1;
                    let res = evaluate(snap, key, env, ctx, None);
                    let got = res.variant.map(str::to_owned);
                    if let Some(err) = &res.error {
                        context_errors.push(format!("{who}: {err:?}"));
                    } else if got.as_deref() != Some(lkg.as_str()) {
                        context_errors.push(format!("{who}: served {got:?}, not the last-known-good {lkg:?}"));
                    }
                }
                for arm in ["canary", "control", "excluded"] {
                    let before = if arm == "canary" { candidate.clone() } else { lkg.clone() };
                    let after = units
                        .iter()
                        .find(|(w, _)| w.starts_with(arm))
                        .and_then(|(_, c)| evaluate(snap, key, env, c, None).variant.map(str::to_owned))
                        .unwrap_or_else(|| "(no unit)".into());
                    arms.push(ArmFlip { who: arm.into(), before, after });
                }
            }
            if !context_errors.is_empty() {
                problems.push(format!(
                    "{} of {checked} contexts do not get the last-known-good after the flip: {}",
                    context_errors.len(),
                    context_errors.iter().take(5).cloned().collect::<Vec<_>>().join("; ")
                ));
            }
            drop(scratch);
            let passed = problems.is_empty();
            let why = problems.join("; ");
            let result = json!({"arms": arms, "contexts_checked": checked, "context_errors": context_errors, "flip_ms": flip_ms, "feed_seq": feed_seq, "candidate": candidate});
            let id = store::insert_rehearsal(tx.conn, &store::RehearsalRow {
                flag: key,
                env,
                rollout_id: live.as_ref().map(|r| r.id),
                lkg: &lkg,
                passed,
                why: &why,
                result: &result,
                actor_kind: tx.actor.kind(),
                actor: tx.actor.name(),
                at: tx.now,
            })?;
            let view = RehearsalView { id, passed, why: why.clone(), lkg: lkg.clone(), candidate: candidate.clone(), arms, contexts_checked: checked, context_errors, flip_ms, feed_seq };
            let summary = if passed {
                format!("rehearsal #{id} passed: rolling {key} back in {env} gives every arm {lkg:?} ({checked} contexts checked, flip {flip_ms:.1} ms in a scratch copy); it counts until the flag next changes")
            } else {
                format!("rehearsal #{id} failed: {why}; a rollout of {key} in {env} cannot start on it")
            };
            Ok(Done {
                output: RehearsalOutput { outcome: outcome(tx, &Decision::Allow, flag.version, summary), rehearsal: view.clone() },
                audit: Audit {
                    flag: Some(key.into()),
                    env: Some(env.into()),
                    rollout_id: live.as_ref().map(|r| r.id),
                    decision: Some(Decision::Allow),
                    after: json!({"rehearsal": view}),
                    evidence_only: true,
                    message: Some(if passed { format!("rehearsal #{id} passed") } else { format!("rehearsal #{id} failed: {why}") }),
                    ..Audit::default()
                },
            })
        })
    }
}
