//! `ingest_telemetry`: an OTLP export (`POST /v1/traces`, `/v1/logs`) turned into arm evidence in
//! one transaction with one audit event. The domain finds the evaluations and span outcomes
//! (`domain::telemetry`); this use case attributes each evaluation to its rollout's arm, joins it
//! with the span whose outcome it takes, and adds the exposures to the same per-period arm
//! summaries `/api/v1/signals` writes (source `otlp`), then lets the system react to the evidence.
//!
//! Joining across requests: spans are held (`otlp_held`, one row per export) and evaluations whose
//! span has not come yet wait (`otlp_pending`), both for at most `JOIN_WINDOW_SECS` and within a
//! row bound. A waiting evaluation that outlives the window counts with what arrived (its active
//! span's outcome, or the exposure alone), so nothing acknowledged is lost. Each (span, flag) is
//! claimed once (`otlp_claims`, one row per export): a replayed export, or the same span in two
//! requests, counts once. Held spans and claims are looked up in memory (`joins.rs`), so the
//! cost of an export is a few rows, not a few per span.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::json;
use sha2::{Digest, Sha256};

use super::evidence::{may_record, react_to_evidence};
use super::joins::{JOIN_WINDOW_SECS, Joins};
use super::*;
use crate::domain::eval::Arm;
use crate::domain::evidence::Source;
use crate::domain::gate::ArmData;
use crate::domain::telemetry::{
    self, ArmPlan, Extracted, FlagEvaluation, Knobs, Link, Rejection, SpanFact, SpanKey, Tally,
};
use crate::store::ClaimKey;

/// Span keys and claims are random ids: a fast hash serves them (SipHash was a tenth of an
/// export's cost).
type Hasher = foldhash::fast::RandomState;

/// How many evaluations wait at most (how long: `JOIN_WINDOW_SECS`).
const MAX_WAITING: i64 = 100_000;
/// Spans deeper than this below their request's span are taken at the active span.
const MAX_DEPTH: usize = 64;

/// What attribution needs of one flag's rollout in one environment.
struct Plan {
    rollout_id: i64,
    salt: String,
    candidate: String,
    lkg: String,
    history: Vec<(jiff::Timestamp, crate::domain::bucket::Percent)>,
    shadow: bool,
}

/// Where the walk from an evaluation's span to its request's span ended.
enum Walk<'a> {
    Done {
        own: Option<&'a SpanFact>,
        outcome: Option<&'a SpanFact>,
    },
    Waiting {
        for_key: SpanKey,
        own: Option<&'a SpanFact>,
    },
}

/// One arm's evidence from an export, and how many exposures declared each sampling.
type ArmGathered = (ArmData, BTreeMap<String, u64>);

/// The evidence an export adds, per rollout and arm, with the sampling each exposure declared.
#[derive(Default)]
struct Gathered {
    arms: BTreeMap<(i64, &'static str), ArmGathered>,
    counted: u64,
}

impl Gathered {
    fn add(&mut self, rollout_id: i64, arm: Arm, d: ArmData, sampling: &str) {
        let e = self.arms.entry((rollout_id, arm.as_str())).or_default();
        e.0.add(&d);
        match e.1.get_mut(sampling) {
            Some(n) => *n += 1,
            None => {
                e.1.insert(sampling.to_owned(), 1);
            }
        }
        self.counted += 1;
    }
}

fn arm_named(s: &str) -> Option<Arm> {
    match s {
        "canary" => Some(Arm::Canary),
        "control" => Some(Arm::Control),
        _ => None,
    }
}

/// The key one (span, flag) exposure is claimed under: 16 bytes of SHA-256.
fn exposure_key(span: &SpanKey, flag: &str) -> ClaimKey {
    let mut h = Sha256::new();
    h.update(span.bytes());
    h.update(flag.as_bytes());
    let d = h.finalize();
    d[..16].try_into().expect("16 of 32 bytes")
}

fn load_plan(
    conn: &rusqlite::Connection,
    flag: &str,
    env: &str,
) -> Result<std::result::Result<Plan, Rejection>> {
    let Some(f) = store::load_flag(conn, flag)? else {
        return Ok(Err(Rejection::UnknownFlag { flag: flag.into() }));
    };
    let Some(r) = store::active_rollout(conn, flag, env)? else {
        return Ok(Err(Rejection::NoRollout {
            flag: flag.into(),
            env: env.into(),
        }));
    };
    Ok(Ok(Plan {
        rollout_id: r.id,
        history: store::rollout_steps(conn, r.id)?,
        shadow: r.analysis.mode == crate::domain::mode::Mode::Shadow,
        // A release group's members bucket by the group's salt, as evaluation does.
        salt: r.analysis.salt.clone().unwrap_or(f.salt),
        candidate: r.candidate,
        lkg: r.lkg,
    }))
}

/// The span `key`, from this export or held from an earlier one.
fn lookup<'a>(
    joins: &'a Joins,
    batch: &HashMap<SpanKey, &'a SpanFact, Hasher>,
    key: &SpanKey,
) -> Option<&'a SpanFact> {
    batch.get(key).copied().or_else(|| joins.span(key))
}

/// Walks from `start` (whose fact is `own` when already known) up to the request's span.
fn walk<'a>(
    joins: &'a Joins,
    batch: &HashMap<SpanKey, &'a SpanFact, Hasher>,
    start: SpanKey,
    own: Option<&'a SpanFact>,
) -> Walk<'a> {
    let Some(own) = own.or_else(|| lookup(joins, batch, &start)) else {
        return Walk::Waiting {
            for_key: start,
            own: None,
        };
    };
    let mut at = own;
    for _ in 0..MAX_DEPTH {
        match telemetry::next_link(at) {
            Link::Outcome => {
                return Walk::Done {
                    own: Some(own),
                    outcome: Some(at),
                };
            }
            Link::Parent(p) => match lookup(joins, batch, &p) {
                Some(f) => at = f,
                None => {
                    return Walk::Waiting {
                        for_key: p,
                        own: Some(own),
                    };
                }
            },
        }
    }
    Walk::Done {
        own: Some(own),
        outcome: None,
    }
}

impl App {
    /// The span attributes each environment's policy names for task success and safety checks.
    fn telemetry_knobs(&self) -> BTreeMap<String, Knobs> {
        self.policy
            .policy
            .environments
            .iter()
            .map(|(name, e)| (name.clone(), e.telemetry.clone()))
            .collect()
    }

    /// Attributes, joins and records one OTLP export. See the module docs.
    pub fn ingest_telemetry(&self, app: &Actor, req: &TelemetryIngest) -> Result<TelemetryOutput> {
        let (signal, ex) = match &req.export {
            OtlpExport::Traces(t) => (
                "traces",
                telemetry::extract_traces(t, &req.environment, &self.telemetry_knobs()),
            ),
            OtlpExport::Logs(l) => ("logs", telemetry::extract_logs(l, &req.environment)),
        };
        let Extracted {
            items,
            spans,
            evaluations,
            rejected: mut tally,
            ignored_scores,
        } = ex;
        // Evaluations for environments the policy does not declare, or the token may not report
        // for, are refused before anything is opened.
        let mut usable: Vec<(u64, FlagEvaluation)> = Vec::with_capacity(evaluations.len());
        // Per item (span or log record) with evaluations: whether any of them counted.
        let mut item_used: Vec<Option<bool>> = vec![None; items as usize];
        for (item, e) in evaluations {
            item_used[item as usize].get_or_insert(false);
            let env = &*e.environment;
            let refused = if check_env(&self.policy.policy, env).is_err() {
                Some(Rejection::UnknownEnvironment { env: env.into() })
            } else {
                req.bound
                    .as_deref()
                    .filter(|b| *b != env)
                    .map(|b| Rejection::OtherEnvironment {
                        env: env.into(),
                        bound: b.into(),
                    })
            };
            match refused {
                Some(r) => tally.add(&r),
                None => usable.push((item, e)),
            }
        }
        if ignored_scores > 0 {
            tally.reasons.insert(
                "gen_ai.evaluation.score.value outside [0, 1] (left out; scale scores to [0, 1])"
                    .into(),
                ignored_scores,
            );
        }
        let finish = |tally: &Tally, item_used: &[Option<bool>], counted, waiting| {
            let unused = item_used.iter().filter(|u| **u == Some(false)).count() as u64;
            TelemetryOutput {
                signal: signal.into(),
                items,
                rejected: tally.items + unused,
                message: tally.message(),
                counted,
                waiting,
                audit_seq: None,
            }
        };
        if spans.is_empty() && usable.is_empty() {
            return Ok(finish(&tally, &item_used, 0, 0));
        }
        let args = json!({
            "signal": signal,
            "items": items,
            "spans": spans.len(),
            "evaluations": usable.len(),
            "body_sha256": req.body_sha256,
        });
        let meta = Meta {
            reason: String::new(),
            idempotency_key: None,
            dry_run: false,
        };
        // Ingests are serialized by the store's lock anyway; this one is only ever taken first.
        let mut guard = self.joins.lock().unwrap_or_else(|p| p.into_inner());
        let joins: &mut Joins = &mut guard;
        let mut change = None;
        let change_out = &mut change;
        let result = self.mutate(app, "ingest_telemetry", &args, &meta, |tx| {
            let conn = tx.conn;
            let now_s = tx.now.as_second();
            let cutoff = now_s - JOIN_WINDOW_SECS;
            joins.sync(conn)?;
            let joins: &Joins = joins;
            let forgotten_before = store::claims_forgotten_before(conn)?;
            let mut got = Gathered::default();
            let mut active: HashMap<i64, bool> = HashMap::new();
            let mut is_active = |conn: &rusqlite::Connection, id: i64| -> Result<bool> {
                if let Some(a) = active.get(&id) {
                    return Ok(*a);
                }
                let a = store::rollout(conn, id)?.is_some_and(|r| !r.state.is_terminal());
                active.insert(id, a);
                Ok(a)
            };
            // Parts whose partner did not come in time count with what did arrive.
            for p in store::take_expired_pending(conn, cutoff, MAX_WAITING)? {
                if let Some(arm) = arm_named(&p.arm)
                    && is_active(conn, p.rollout_id)?
                {
                    got.add(
                        p.rollout_id,
                        arm,
                        telemetry::exposure_data(p.own.as_ref(), None),
                        &p.sampling,
                    );
                }
            }

            let batch: HashMap<SpanKey, &SpanFact, Hasher> =
                spans.iter().map(|s| (s.key, s)).collect();
            let mut decisions: HashMap<&str, Decision> = HashMap::new();
            let mut plans: HashMap<(&str, &str), std::result::Result<Plan, Rejection>> =
                HashMap::new();
            let mut waiting = 0u64;
            let mut claims: Vec<ClaimKey> = Vec::with_capacity(usable.len());
            let mut claimed_here: HashSet<ClaimKey, Hasher> =
                HashSet::with_capacity_and_hasher(usable.len(), Hasher::default());
            let mut newest_at = i64::MIN;
            for (item, e) in &usable {
                let env = &*e.environment;
                let decision = decisions.entry(env).or_insert_with(|| may_record(tx, env));
                if *decision != Decision::Allow {
                    tally.add(&Rejection::Disagrees {
                        flag: e.flag.to_string(),
                        detail: format!(
                            "the policy refuses evidence in {env}: {}",
                            decision.label()
                        ),
                    });
                    continue;
                }
                let plan = match plans.entry((&*e.flag, env)) {
                    Entry::Occupied(o) => o.into_mut(),
                    Entry::Vacant(v) => v.insert(load_plan(conn, &e.flag, env)?),
                };
                let plan = match plan {
                    Ok(p) => p,
                    Err(r) => {
                        tally.add(r);
                        continue;
                    }
                };
                let view = ArmPlan {
                    salt: &plan.salt,
                    candidate: &plan.candidate,
                    lkg: &plan.lkg,
                    history: &plan.history,
                    shadow: plan.shadow,
                };
                let arm = match telemetry::attribute(e, &view, tx.now) {
                    Ok(a) => a,
                    Err(r) => {
                        tally.add(&r);
                        continue;
                    }
                };
                let at_s = e.at.unwrap_or(tx.now).as_second();
                if let Some(before) = forgotten_before
                    && at_s < before
                {
                    tally.add(&Rejection::BeyondReplayHorizon {
                        flag: e.flag.to_string(),
                    });
                    continue;
                }
                let claim = exposure_key(&e.span, &e.flag);
                if joins.is_claimed(&claim) || !claimed_here.insert(claim) {
                    tally.add(&Rejection::Duplicate {
                        flag: e.flag.to_string(),
                    });
                    continue;
                }
                claims.push(claim);
                // Rounded up: once this claim is forgotten, nothing as old may count.
                newest_at = newest_at.max(at_s + 1);
                item_used[*item as usize] = Some(true);
                match walk(joins, &batch, e.span, None) {
                    Walk::Done { own, outcome } => got.add(
                        plan.rollout_id,
                        arm,
                        telemetry::exposure_data(own, outcome),
                        own.map_or(&e.sampling, |o| &o.sampling),
                    ),
                    Walk::Waiting { for_key, own } => {
                        waiting += 1;
                        store::insert_pending(
                            conn,
                            &store::Pending {
                                id: 0,
                                rollout_id: plan.rollout_id,
                                arm: arm.as_str().into(),
                                waiting: for_key.bytes().to_vec(),
                                sampling: own.map_or(&e.sampling, |o| &o.sampling).clone(),
                                own: own.cloned(),
                            },
                            now_s,
                        )?;
                    }
                }
            }
            // Spans of this export complete evaluations that were waiting for them, and are held
            // for evaluations still to come. Usually few wait: their keys are read at once.
            let waiting_for: Option<HashSet<[u8; 24]>> =
                store::waiting_keys(conn, 4 * spans.len().max(64))?
                    .map(|k| k.into_iter().collect());
            for s in &spans {
                let key = s.key.bytes();
                if waiting_for.as_ref().is_some_and(|w| !w.contains(&key)) {
                    continue;
                }
                for p in store::take_pending_for(conn, &key)? {
                    let Some(arm) = arm_named(&p.arm) else {
                        continue;
                    };
                    let own = p.own.as_ref().unwrap_or(s);
                    match walk(joins, &batch, own.key, Some(own)) {
                        Walk::Done { own, outcome } => {
                            if is_active(conn, p.rollout_id)? {
                                got.add(
                                    p.rollout_id,
                                    arm,
                                    telemetry::exposure_data(own, outcome),
                                    &p.sampling,
                                );
                            }
                        }
                        Walk::Waiting { for_key, own } => {
                            waiting += 1;
                            store::insert_pending(
                                conn,
                                &store::Pending {
                                    waiting: for_key.bytes().to_vec(),
                                    own: own.cloned(),
                                    arm: p.arm.clone(),
                                    sampling: p.sampling.clone(),
                                    ..p
                                },
                                now_s,
                            )?;
                        }
                    }
                }
            }
            drop(batch);
            *change_out = Some(joins.write(conn, spans, claims, newest_at, now_s)?);

            let mut rollouts = Vec::new();
            let mut touched: Vec<i64> = Vec::new();
            for ((rollout_id, arm), (data, sampling)) in &got.arms {
                let row = store::SignalRow {
                    rollout_id: *rollout_id,
                    arm,
                    data,
                    batch_id: None,
                    source: Source::Otlp,
                };
                store::insert_signals(conn, &row, tx.now)?;
                rollouts.push(json!({
                    "rollout_id": rollout_id,
                    "arm": arm,
                    "added": data.counts,
                    "sampling": sampling,
                }));
                if !touched.contains(rollout_id) {
                    touched.push(*rollout_id);
                }
            }
            let mut reactions = Vec::new();
            for rid in touched {
                reactions.extend(react_to_evidence(tx, rid)?);
            }
            let out = finish(&tally, &item_used, got.counted, waiting);
            let flags: HashSet<&str> = usable.iter().map(|(_, e)| &*e.flag).collect();
            let envs: HashSet<&str> = usable.iter().map(|(_, e)| &*e.environment).collect();
            let audit = Audit {
                flag: (flags.len() == 1).then(|| flags.iter().next().expect("one").to_string()),
                env: (envs.len() == 1).then(|| envs.iter().next().expect("one").to_string()),
                decision: Some(Decision::Allow),
                after: json!({
                    "signal": signal,
                    "rollouts": rollouts,
                    "counted": out.counted,
                    "waiting": waiting,
                    "rejected": out.rejected,
                    "reasons": tally.reasons,
                    "reactions": reactions,
                }),
                evidence_only: true,
                ..Audit::default()
            };
            Ok(Done { output: out, audit })
        });
        // The memory takes in what committed; after a failure it reads the store again.
        match (&result, change) {
            (Ok(_), Some(c)) => guard.apply(c),
            (Ok(_), None) => {}
            (Err(_), _) => guard.reset(),
        }
        result
    }
}
