//! The end of a flag's life: which flags are debt (`list_stale_flags`), the code edits that remove one
//! (`cleanup_flag`) and taking it out of serving for good (`archive_flag`).

use rusqlite::Connection;
use serde_json::{Value, json};

use super::*;
use crate::codegen;
use crate::domain::flag::{FlagKey, FlagStatus};
use crate::domain::policy::{Action, Usage, decide};
use crate::domain::stale;

impl App {
    pub fn list_stale_flags(&self, q: &ListStale) -> Result<StaleList> {
        if let Some(env) = &q.environment {
            check_env(&self.policy.policy, env)?;
        }
        self.flush_counts()?;
        self.read(|conn, now| {
            let mut out = Vec::new();
            let active = store::active_by_flag_env(conn)?;
            let usage = store::all_usage(conn)?;
            for f in store::load_flags(conn)? {
                if f.status == FlagStatus::Archived {
                    continue;
                }
                let age = now.duration_since(f.created_at);
                if age
                    < jiff::SignedDuration::from_hours(24 * i64::from(q.min_age_days.unwrap_or(0)))
                {
                    continue;
                }
                let mut envs = Vec::new();
                let mut decided = Vec::new();
                for (env, s) in &f.envs {
                    if q.environment.as_ref().is_some_and(|e| e != env) {
                        continue;
                    }
                    let everyone = (s.pinned_variant.is_some()
                        || (s.enabled && s.rules.is_empty()))
                    .then(|| s.served_default(&f).to_owned());
                    let rollout_active = active.contains_key(&(f.key.to_string(), env.clone()));
                    // The latest rollout here a decided experiment: its outcome waits on someone.
                    if !rollout_active
                        && let Some(r) = store::latest_rollout(conn, f.key.as_str(), env)?
                        && r.analysis.mode == crate::domain::mode::Mode::Experiment
                        && r.state == crate::domain::rollout::RolloutState::Completed
                        && let Some(o) = &r.analysis.outcome
                    {
                        decided.push(stale::DecidedExperiment {
                            env: env.clone(),
                            rollout_id: r.id,
                            winner: o.winner.clone(),
                            decided_at: r.updated_at,
                        });
                    }
                    envs.push(stale::EnvFacts {
                        env: env.clone(),
                        everyone,
                        since: s.updated_at,
                        rollout_active,
                    });
                }
                let usage = usage.of(f.key.as_str());
                let facts = stale::Facts {
                    created_at: f.created_at,
                    change_type: f.change_type.as_str(),
                    lifetime_days: f.lifetime_days,
                    envs,
                    last_evaluated: usage.last_evaluated,
                    live_refs: usage.live_refs,
                    last_scan: usage.last_scan,
                    pending_removal: f.status == FlagStatus::PendingRemoval,
                    decided_experiments: decided,
                };
                let Some(a) = stale::assess(f.key.as_str(), &facts, now) else {
                    continue;
                };
                out.push(StaleFlag {
                    key: f.key.to_string(),
                    reasons: a
                        .findings
                        .into_iter()
                        .map(|x| StaleReason {
                            code: x.reason,
                            evidence: x.evidence,
                        })
                        .collect(),
                    keep_variant: a.launched_variant,
                    recommended_action: a.action,
                    code_refs: store::code_refs(conn, f.key.as_str())?,
                });
            }
            Ok(StaleList { flags: out })
        })
    }

    pub fn cleanup_flag(&self, actor: &Actor, req: &CleanupFlag) -> Result<CleanupOutput> {
        // The edits are computed from the files as they are now, before the transaction: reading
        // code never holds the store.
        let (kept, stored) = self.read(|conn, _| {
            FlagKey::parse(&req.key)?;
            let flag = store::load_flag(conn, &req.key)?.ok_or_else(|| not_found_flag(&req.key))?;
            flag.variants.require("keep_variant", &req.keep_variant)?;
            let kept = flag
                .variants
                .get(&req.keep_variant)
                .cloned()
                .unwrap_or(Value::Null);
            Ok((kept, store::code_refs(conn, &req.key)?))
        })?;
        // The references stored (wrap_change's, the last scan's) plus what a search of the project
        // finds now, so a reference written by hand since the last scan gets its edit too.
        let mut refs: Vec<(String, u32)> = stored
            .iter()
            .filter(|r| r.gone_at.is_none())
            .map(|r| (r.file.clone(), r.line.unwrap_or(0)))
            .collect();
        if let Ok(found) =
            crate::scan::scan(&self.config.project_root, std::slice::from_ref(&req.key))
        {
            refs.extend(found.hits.into_iter().map(|h| (h.file, h.line)));
        }
        refs.sort();
        refs.dedup();
        // A file-only reference (line 0) says nothing once a line in that file is known.
        let located: Vec<String> = refs
            .iter()
            .filter(|(_, l)| *l > 0)
            .map(|(f, _)| f.clone())
            .collect();
        refs.retain(|(f, l)| *l > 0 || !located.contains(f));
        let (edits, diff) = plan_cleanup(&self.config.project_root, &req.key, &kept, &refs);
        let m = &req.meta;
        self.mutate(actor, "cleanup_flag", req, m, |tx| {
            let mut flag = tx.flag(&req.key)?;
            flag.variants.require("keep_variant", &req.keep_variant)?;
            tx.check_version(&flag, req.expected_version)?;
            let decision = decide(tx.policy, tx.actor, &Action::CleanupFlag, &Usage::default(), tx.now);
            let mut audit = Audit { flag: Some(req.key.clone()), decision: Some(decision.clone()), before: json!({"status": flag.status}), ..Audit::default() };
            if decision != Decision::Allow {
                return tx.refuse(audit, &decision);
            }
            no_rollout_running(tx.conn, &flag, "cleaning up the flag")?;
            let mut steps = Vec::new();
            for (env, s) in &flag.envs {
                let served = s.served_default(&flag);
                if served != req.keep_variant || (!s.rules.is_empty() && s.pinned_variant.is_none() && s.enabled) {
                    steps.push(format!(
                        "{env} does not yet serve {:?} to everyone (it serves {served:?} by default): set it first, or the code removal changes behaviour there",
                        req.keep_variant
                    ));
                }
            }
            if diff.is_some() {
                steps.push("apply the diff (git apply), which replaces each guard with the kept branch".into());
            }
            if edits.iter().any(|e| e.kind == codegen::EditKind::Manual) {
                steps.push(format!("make each manual edit: keep the behaviour of {:?}, delete the other path and the flag evaluation", req.keep_variant));
            }
            steps.push("run the tests, then `flagwarden scan` to confirm no reference is left".into());
            steps.push("once no references remain, a human archives the flag".into());
            flag.status = FlagStatus::PendingRemoval;
            flag.version += 1;
            flag.updated_at = tx.now;
            store::update_flag(tx.conn, &flag)?;
            audit.after = json!({"status": flag.status, "keep_variant": req.keep_variant});
            let guards = edits.iter().filter(|e| e.kind == codegen::EditKind::Guard).count();
            let summary = format!(
                "mark {} for removal keeping {:?}; {guards} guard(s) rewritten in the diff, {} manual edit(s)",
                flag.key,
                req.keep_variant,
                edits.len() - guards
            );
            Ok(Done { output: CleanupOutput { outcome: outcome(tx, &decision, flag.version, summary), keep_variant: req.keep_variant.clone(), code_refs: stored, edits, diff, steps }, audit })
        })
    }

    /// Takes a flag out of serving for good (a human, from the CLI): OFREP then answers
    /// FLAG_NOT_FOUND and SDKs fall back to their code default. Refused while a rollout runs or
    /// while code still references the flag, unless `force` says the person checked.
    pub fn archive_flag(
        &self,
        human: &Actor,
        key: &str,
        reason: &str,
        force: bool,
    ) -> Result<FlagOutput> {
        if reason.trim().is_empty() {
            return Err(invalid("reason", "say why; the audit trail keeps it"));
        }
        self.flush_counts()?;
        let args = json!({"key": key, "reason": reason, "force": force});
        self.mutate(human, "archive_flag", &args, &Meta::because(reason), |tx| {
            let mut flag = tx.flag(key)?;
            let decision = decide(tx.policy, tx.actor, &Action::ArchiveFlag, &Usage::default(), tx.now);
            let mut audit = Audit { flag: Some(key.to_owned()), decision: Some(decision.clone()), before: json!({"status": flag.status}), ..Audit::default() };
            if decision != Decision::Allow {
                return tx.refuse(audit, &decision);
            }
            if flag.status == FlagStatus::Archived {
                return Err(AppError::Conflict(format!("{key} is already archived")).into());
            }
            no_rollout_running(tx.conn, &flag, "archiving")?;
            // A flag others wait on would turn them off everywhere once it is gone: say which.
            let waiting: Vec<String> = store::load_flags(tx.conn)?
                .iter()
                .filter(|f| f.status != FlagStatus::Archived)
                .flat_map(|f| {
                    f.envs
                        .iter()
                        .filter(|(_, s)| s.prerequisite.as_ref().is_some_and(|p| p.flag == key))
                        .map(move |(env, _)| format!("{} in {env}", f.key))
                })
                .collect();
            if !waiting.is_empty() {
                return Err(AppError::Conflict(format!(
                    "{} {} {key} as a prerequisite: clear it there first (set_targeting prerequisite null), then archive",
                    waiting.join(", "),
                    if waiting.len() == 1 { "has" } else { "have" }
                ))
                .into());
            }
            let live = store::usage_facts(tx.conn, key)?.live_refs;
            if live > 0 && !force {
                return Err(AppError::Conflict(format!(
                    "{live} code reference(s) to {key} are still live: remove them (cleanup_flag lists the edits), run `flagwarden scan`, then archive; --force archives anyway"
                ))
                .into());
            }
            flag.status = FlagStatus::Archived;
            flag.version += 1;
            flag.updated_at = tx.now;
            store::update_flag(tx.conn, &flag)?;
            audit.after = json!({"status": flag.status, "live_code_refs": live});
            let view = flag_view(tx.conn, &flag, None)?;
            let summary = format!("archive {key}: no longer served; SDKs fall back to their code default");
            Ok(Done { output: FlagOutput { outcome: outcome(tx, &decision, flag.version, summary), flag: view }, audit })
        })
    }
}

/// Refuses `what` while any environment of the flag has an unfinished rollout.
fn no_rollout_running(conn: &Connection, flag: &Flag, what: &str) -> Result<()> {
    for env in flag.envs.keys() {
        if let Some(r) = store::active_rollout(conn, flag.key.as_str(), env)? {
            return Err(AppError::Conflict(format!(
                "rollout {} in {env} is {}: finish or roll it back before {what}",
                r.id,
                r.state.as_str()
            )));
        }
    }
    Ok(())
}

/// The edits that remove flag `key` from the files its code references are in, keeping the branch
/// that runs for `kept`: a diff for the guards codegen recognises, a manual instruction otherwise.
fn plan_cleanup(
    root: &std::path::Path,
    key: &str,
    kept: &Value,
    refs: &[(String, u32)],
) -> (Vec<RefEdit>, Option<String>) {
    let mut files: Vec<&str> = refs.iter().map(|(f, _)| f.as_str()).collect();
    files.sort_unstable();
    files.dedup();
    let mut edits = Vec::new();
    let mut diff = String::new();
    for file in files {
        let manual = |line: usize, instruction: String| RefEdit {
            file: file.to_owned(),
            line,
            kind: codegen::EditKind::Manual,
            instruction,
        };
        let lines = || {
            refs.iter()
                .filter(|(f, _)| f == file)
                .map(|(_, l)| *l as usize)
        };
        let inside = std::path::Path::new(file).components().all(|c| {
            matches!(
                c,
                std::path::Component::Normal(_) | std::path::Component::CurDir
            )
        });
        let Some(language) = codegen::Language::from_path(file).filter(|_| inside) else {
            edits.extend(lines().map(|l| manual(l, format!("remove the reference to {key} by hand, keeping the behaviour of the kept variant"))));
            continue;
        };
        let source = match std::fs::read_to_string(root.join(file)) {
            Ok(s) => s,
            Err(e) => {
                edits.extend(lines().map(|l| manual(l, format!("cannot read {file} ({e}); run `flagwarden scan` to refresh the references"))));
                continue;
            }
        };
        match codegen::cleanup(&codegen::CleanupRequest {
            language,
            path: file,
            source: &source,
            flag_key: key,
            kept,
        }) {
            Ok(plan) => {
                edits.extend(plan.edits.into_iter().map(|e| RefEdit {
                    file: file.to_owned(),
                    line: e.line,
                    kind: e.kind,
                    instruction: e.instruction,
                }));
                diff.push_str(&plan.diff.unwrap_or_default());
            }
            Err(e) => edits.extend(lines().map(|l| manual(l, e.to_string()))),
        }
    }
    (edits, (!diff.is_empty()).then_some(diff))
}
