//! Flag use cases: create, read, list, evaluate, target, wrap a change, stale flags, cleanup, and the
//! read-only views of policy, approvals and audit.

use rusqlite::Connection;
use serde_json::{Map, Value, json};

use super::*;
use crate::codegen;
use crate::domain::eval::{Context, evaluate};
use crate::domain::flag::{ChangeType, EnvState, FlagKey, FlagStatus, FlagType, Variants};
use crate::domain::policy::{Action, Usage, decide};
use crate::domain::rules::Rule;
use crate::domain::stale;
use crate::store::CodeRef;

const MAX_TEXT: usize = 2000;

fn text(field: &str, s: &str, required: bool) -> Result<()> {
    if required && s.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if s.len() > MAX_TEXT {
        return Err(invalid(field, format!("at most {MAX_TEXT} characters")));
    }
    Ok(())
}

pub(crate) fn rollout_view(r: &crate::domain::rollout::Rollout) -> RolloutView {
    RolloutView {
        id: r.id,
        state: r.state,
        candidate: r.candidate.clone(),
        lkg: r.lkg.clone(),
        percent: r.percent().as_f64(),
        steps: r.steps.iter().map(|p| p.as_f64()).collect(),
        pending_percent: r.pending_step.map(|i| r.steps[i].as_f64()),
        step_started_at: r.step_started_at.map(store::ts_text),
        paused_reason: r.paused_reason.clone(),
    }
}

fn serving(flag: &Flag, s: &EnvState, rollout: Option<&crate::domain::rollout::Rollout>) -> String {
    if let Some(pin) = &s.pinned_variant {
        return format!("everyone gets {pin:?} (pinned by a rollback)");
    }
    if !s.enabled {
        return format!("off: everyone gets {:?}", flag.off_variant);
    }
    let mut parts = Vec::new();
    if !s.rules.is_empty() {
        parts.push(format!("{} targeting rule(s) first", s.rules.len()));
    }
    match rollout.filter(|r| r.step.is_some()) {
        Some(r) => parts.push(format!(
            "canary: {} of the rest get {:?}, others {:?}",
            r.percent(),
            r.candidate,
            r.lkg
        )),
        None => parts.push(format!("everyone else gets {:?}", s.default_variant)),
    }
    parts.join("; ")
}

pub(crate) fn flag_view(
    conn: &Connection,
    flag: &Flag,
    only_env: Option<&str>,
) -> Result<FlagView> {
    let evals = store::evaluations(conn, flag.key.as_str())?;
    let mut environments = Vec::new();
    for (env, s) in &flag.envs {
        if only_env.is_some_and(|e| e != env) {
            continue;
        }
        let rollout = store::active_rollout(conn, flag.key.as_str(), env)?;
        let evaluations: Map<String, Value> = evals
            .iter()
            .filter(|(e, ..)| e == env)
            .map(|(_, v, n, _)| (v.clone(), json!(n)))
            .collect();
        environments.push(EnvView {
            environment: env.clone(),
            enabled: s.enabled,
            default_variant: s.default_variant.clone(),
            pinned_variant: s.pinned_variant.clone(),
            rules: s.rules.iter().map(|r| r.spec().clone()).collect(),
            serving: serving(flag, s, rollout.as_ref()),
            rollout: rollout.as_ref().map(rollout_view),
            evaluations,
        });
    }
    Ok(FlagView {
        key: flag.key.to_string(),
        description: flag.description.clone(),
        change_type: flag.change_type,
        flag_type: flag.variants.kind(),
        variants: flag.variants.to_map(),
        off_variant: flag.off_variant.clone(),
        default_variant: flag.default_variant.clone(),
        owner: flag.owner.clone(),
        lifetime_days: flag.lifetime_days,
        tags: flag.tags.clone(),
        status: flag.status,
        version: flag.version,
        created_at: store::ts_text(flag.created_at),
        environments,
        code_refs: store::code_refs(conn, flag.key.as_str())?,
        versions: store::versions(conn, flag.key.as_str())?,
    })
}

pub(crate) fn outcome(tx: &Tx, decision: &Decision, version: i64, summary: String) -> Outcome {
    let summary = if tx.dry_run {
        format!("dry run, nothing changed: would {summary}")
    } else {
        summary
    };
    Outcome {
        dry_run: tx.dry_run,
        decision: decision.into(),
        summary,
        version,
        audit_seq: None,
    }
}

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

pub(super) fn create_in_tx(tx: &mut Tx, req: &CreateFlag, action: Action) -> Step<FlagOutput> {
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

    pub fn get_flag(&self, key: &str) -> Result<FlagView> {
        FlagKey::parse(key)?;
        self.flush_counts()?;
        self.read(|conn, _| {
            let flag = store::load_flag(conn, key)?.ok_or_else(|| not_found_flag(key))?;
            flag_view(conn, &flag, None)
        })
    }

    pub fn list_flags(&self, q: &ListFlags) -> Result<FlagList> {
        if let Some(env) = &q.environment {
            check_env(&self.policy.policy, env)?;
        }
        let needle = q.query.as_deref().map(str::to_lowercase);
        self.read(|conn, _| {
            let mut out = Vec::new();
            for f in store::load_flags(conn)? {
                if q.change_type.is_some_and(|c| c != f.change_type)
                    || q.status.is_some_and(|s| s != f.status)
                {
                    continue;
                }
                if let Some(n) = &needle {
                    let hay = format!(
                        "{} {} {} {}",
                        f.key,
                        f.description,
                        f.owner.clone().unwrap_or_default(),
                        f.tags.join(" ")
                    )
                    .to_lowercase();
                    if !hay.contains(n) {
                        continue;
                    }
                }
                let mut serving_map = Map::new();
                for (env, s) in &f.envs {
                    if q.environment.as_ref().is_some_and(|e| e != env) {
                        continue;
                    }
                    let r = store::active_rollout(conn, f.key.as_str(), env)?;
                    serving_map.insert(env.clone(), json!(serving(&f, s, r.as_ref())));
                }
                out.push(FlagSummary {
                    key: f.key.to_string(),
                    change_type: f.change_type,
                    status: f.status,
                    version: f.version,
                    description: f.description.clone(),
                    serving: serving_map,
                });
            }
            Ok(FlagList { flags: out })
        })
    }

    /// Evaluates like an application would, from the snapshot; counts the evaluation.
    pub fn evaluate_flag(&self, req: &EvaluateFlag) -> Result<Evaluation> {
        FlagKey::parse(&req.key)?;
        check_env(&self.policy.policy, &req.environment)?;
        let ctx = Context::from_json(&req.context).map_err(|e| invalid("context", e.0))?;
        self.refresh()?;
        let snap = self.snapshot();
        let r = evaluate(&snap, &req.key, &req.environment, &ctx, None);
        r.record();
        Ok(Evaluation {
            key: req.key.clone(),
            value: r.value.cloned(),
            variant: r.variant.map(str::to_owned),
            reason: r.reason,
            error_code: r.error.map(|(c, _)| c),
            error_message: r.error.map(|(_, m)| m.to_owned()),
            arm: r.arm,
        })
    }

    pub fn set_targeting(&self, actor: &Actor, req: &SetTargeting) -> Result<FlagOutput> {
        let m = &req.meta;
        self.mutate(actor, "set_targeting", req, m, |tx| {
            let mut flag = tx.flag(&req.key)?;
            tx.env(&req.environment)?;
            let rules = Rule::parse_all(&req.rules, &flag.variants)?;
            if let Some(d) = &req.default_variant {
                flag.variants.require("default_variant", d)?;
            }
            tx.check_version(&flag, req.expected_version)?;
            let active = store::active_rollout(tx.conn, flag.key.as_str(), &req.environment)?;
            if let Some(r) = &active {
                let changes_default = req.default_variant.as_ref().is_some_and(|d| *d != r.lkg) || req.enabled == Some(false);
                if changes_default {
                    return Err(AppError::Conflict(format!(
                        "rollout {} is {} in {}: its default must stay {:?}; finish it or roll back before changing the default or disabling",
                        r.id,
                        r.state.as_str(),
                        req.environment,
                        r.lkg
                    ))
                    .into());
                }
            }
            let env = req.environment.as_str();
            let usage = Usage { break_glass_until: store::break_glass_until(tx.conn, env, tx.now)?, ..Usage::default() };
            let decision = decide(tx.policy, tx.actor, &Action::SetTargeting { env }, &usage, tx.now);
            let before = flag.envs.get(env).cloned();
            let mut audit = Audit { flag: Some(req.key.clone()), env: Some(env.into()), decision: Some(decision.clone()), before: state(&before), ..Audit::default() };
            if decision != Decision::Allow {
                return tx.refuse(audit, &decision);
            }
            let s = flag.envs.entry(env.to_owned()).or_insert_with(|| EnvState::new_off(&flag.default_variant, tx.now));
            s.rules = rules;
            s.enabled = req.enabled.unwrap_or(true);
            if let Some(d) = &req.default_variant {
                s.default_variant = d.clone();
            }
            // Changing targeting on purpose lifts a rollback's pin: the human or agent is now saying who gets what.
            s.pinned_variant = None;
            s.updated_at = tx.now;
            let after = s.clone();
            store::upsert_env(tx.conn, flag.key.as_str(), env, &after)?;
            flag.version += 1;
            flag.updated_at = tx.now;
            store::update_flag(tx.conn, &flag)?;
            audit.after = state(&after);
            let view = flag_view(tx.conn, &flag, Some(env))?;
            let summary = format!("set targeting of {} in {env}: {}", flag.key, view.environments[0].serving);
            Ok(Done { output: FlagOutput { outcome: outcome(tx, &decision, flag.version, summary), flag: view }, audit })
        })
    }

    pub fn wrap_change(&self, actor: &Actor, req: &WrapChange) -> Result<WrapOutput> {
        let language = codegen::Language::parse(&req.language)
            .map_err(|e| invalid("language", e.to_string()))?;
        text("change_description", &req.change_description, true)?;
        FlagKey::parse(&req.key)?;
        if let Some(file) = &req.file {
            let inside = std::path::Path::new(file).components().all(|c| {
                matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            });
            if !inside {
                return Err(invalid(
                    "file",
                    "give a path relative to the project root, without '..' (e.g. \"src/checkout.rs\")",
                ));
            }
        }
        // The old code's text, read only when there is a range to wrap.
        let lines = match (&req.file, req.start_line, req.end_line) {
            (_, None, None) => None,
            (Some(file), Some(start), Some(end)) => {
                let path = self.config.project_root.join(file);
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| invalid("file", format!("cannot read {}: {e}", path.display())))?;
                Some((file.as_str(), text, start as usize, end as usize))
            }
            _ => {
                return Err(invalid(
                    "start_line",
                    "give file, start_line and end_line together (or just file to record a reference)",
                ));
            }
        };
        let m = &req.meta;
        self.mutate(actor, "wrap_change", req, m, |tx| {
            let existing = store::load_flag(tx.conn, &req.key)?;
            let created = existing.is_none();
            let (flag, mut audit, decision) = match existing {
                Some(f) => {
                    let decision = decide(tx.policy, tx.actor, &Action::WrapChange { creates_flag: false }, &Usage::default(), tx.now);
                    let audit = Audit { flag: Some(req.key.clone()), decision: Some(decision.clone()), ..Audit::default() };
                    (f, audit, decision)
                }
                None => {
                    let create = CreateFlag {
                        key: req.key.clone(),
                        description: req.change_description.clone(),
                        change_type: req.change_type.unwrap_or(ChangeType::Code),
                        variants: None,
                        off_variant: None,
                        default_variant: None,
                        owner: None,
                        lifetime_days: None,
                        tags: Vec::new(),
                        meta: m.clone(),
                    };
                    let done = create_in_tx(tx, &create, Action::WrapChange { creates_flag: true })?;
                    let flag = store::load_flag(tx.conn, &req.key)?.ok_or_else(|| not_found_flag(&req.key))?;
                    (flag, done.audit, Decision::Allow)
                }
            };
            if decision != Decision::Allow {
                return tx.refuse(audit, &decision);
            }
            let candidate = flag.variants.iter().find(|(n, _)| *n != flag.off_variant).map(|(_, v)| v.clone());
            let fallback = flag.variants.get(&flag.off_variant).cloned().unwrap_or(Value::Null);
            let candidate = candidate.unwrap_or_else(|| fallback.clone());
            let kind = match flag.variants.kind() {
                FlagType::Boolean => codegen::ValueKind::Boolean,
                FlagType::String => codegen::ValueKind::String,
                FlagType::Number => codegen::ValueKind::Number,
                FlagType::Object => codegen::ValueKind::Object,
            };
            let range = lines.as_ref().map(|(path, text, start, end)| codegen::SourceRange {
                path,
                source: text,
                start_line: *start,
                end_line: *end,
            });
            let plan = codegen::wrap(&codegen::WrapRequest {
                language,
                flag_key: flag.key.as_str(),
                kind,
                fallback: &fallback,
                candidate: &candidate,
                change_description: &req.change_description,
                ofrep_base_url: &self.config.ofrep_base_url,
                file: range,
            })
            .map_err(|e| {
                let field = match &e {
                    codegen::CodegenError::UnknownLanguage { .. } => "language",
                    codegen::CodegenError::LineRange { message } if message.starts_with("end_line") => "end_line",
                    codegen::CodegenError::LineRange { .. } => "start_line",
                    codegen::CodegenError::Value { .. } => "key",
                };
                invalid(field, e.to_string())
            })?;
            if let Some(file) = &req.file {
                let r = CodeRef::wrapped(file.clone(), req.start_line, language.as_str().into(), tx.now);
                store::add_code_ref(tx.conn, flag.key.as_str(), &r)?;
                audit.after = json!({"code_ref": r, "created_flag": created});
            }
            let summary = if created {
                format!("create flag {} (off everywhere) and return the {} guard; put your change in its new-path branch", flag.key, language.as_str())
            } else {
                format!("return the {} guard for existing flag {}", language.as_str(), flag.key)
            };
            let output = WrapOutput {
                outcome: outcome(tx, &decision, flag.version, summary),
                created_flag: created,
                install: plan.install,
                setup: plan.setup,
                guard: plan.guard,
                diff: plan.diff,
                test_plan: plan.test_plan,
            };
            Ok(Done { output, audit })
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

    pub fn list_stale_flags(&self, q: &ListStale) -> Result<StaleList> {
        if let Some(env) = &q.environment {
            check_env(&self.policy.policy, env)?;
        }
        self.flush_counts()?;
        self.read(|conn, now| {
            let mut out = Vec::new();
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
                for (env, s) in &f.envs {
                    if q.environment.as_ref().is_some_and(|e| e != env) {
                        continue;
                    }
                    let everyone = (s.pinned_variant.is_some()
                        || (s.enabled && s.rules.is_empty()))
                    .then(|| s.served_default(&f).to_owned());
                    let rollout_active =
                        store::active_rollout(conn, f.key.as_str(), env)?.is_some();
                    envs.push(stale::EnvFacts {
                        env: env.clone(),
                        everyone,
                        since: s.updated_at,
                        rollout_active,
                    });
                }
                let usage = store::usage_facts(conn, f.key.as_str())?;
                let facts = stale::Facts {
                    created_at: f.created_at,
                    change_type: f.change_type.as_str(),
                    lifetime_days: f.lifetime_days,
                    envs,
                    last_evaluated: usage.last_evaluated,
                    live_refs: usage.live_refs,
                    last_scan: usage.last_scan,
                    pending_removal: f.status == FlagStatus::PendingRemoval,
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

    pub fn get_policy(&self, q: &PolicyQuery) -> Result<PolicyView> {
        let p = &self.policy;
        if let Some(env) = &q.environment {
            check_env(&p.policy, env)?;
        }
        let mut plain = Map::new();
        let mut bounds = serde_json::to_value(&p.policy).expect("policy serializes");
        for (name, env) in &p.policy.environments {
            if q.environment.as_ref().is_some_and(|e| e != name) {
                bounds["environments"]
                    .as_object_mut()
                    .map(|m| m.remove(name));
                continue;
            }
            plain.insert(name.clone(), json!(crate::domain::policy::describe(env)));
        }
        Ok(PolicyView {
            version: p.policy.version,
            sha256: p.sha256.clone(),
            path: p.path.clone(),
            plain,
            bounds,
        })
    }

    pub fn list_approvals(&self, q: &ListApprovals) -> Result<ApprovalList> {
        let status = q.status.as_deref().unwrap_or("pending");
        let filter = match status {
            "all" => None,
            "pending" | "approved" | "rejected" | "superseded" => Some(status),
            other => {
                return Err(invalid(
                    "status",
                    format!(
                        "unknown status {other:?}: use pending, approved, rejected, superseded or all"
                    ),
                ));
            }
        };
        self.read(|conn, _| {
            Ok(ApprovalList {
                approvals: store::approvals(conn, filter, 200)?,
                how_to_decide: "a human runs `flagwarden approve ID` or `flagwarden reject ID --reason TEXT`; agents cannot approve".into(),
            })
        })
    }

    pub fn audit_log(&self, q: &AuditQuery) -> Result<AuditLog> {
        if let Some(env) = &q.environment {
            check_env(&self.policy.policy, env)?;
        }
        if let Some(k) = &q.key {
            FlagKey::parse(k)?;
        }
        let limit = q.limit.unwrap_or(50);
        if limit == 0 || limit > 500 {
            return Err(invalid("limit", "between 1 and 500"));
        }
        self.read(|conn, _| {
            let events =
                store::audit_events(conn, q.key.as_deref(), q.environment.as_deref(), limit)?;
            Ok(AuditLog {
                events: events
                    .into_iter()
                    .map(|e| AuditEntry {
                        seq: e.seq,
                        ts: e.ts,
                        actor: if e.actor_kind == "system" {
                            "system".into()
                        } else {
                            format!("{}:{}", e.actor_kind, e.actor)
                        },
                        action: e.action,
                        flag: e.flag,
                        env: e.env,
                        decision: e.decision,
                        rule: e.rule,
                        reason: e.reason,
                    })
                    .collect(),
            })
        })
    }

    /// Full events (for the CLI's detailed view).
    pub fn audit_events(
        &self,
        key: Option<&str>,
        env: Option<&str>,
        limit: u32,
    ) -> Result<Vec<crate::domain::audit::AuditEvent>> {
        self.read(|conn, _| Ok(store::audit_events(conn, key, env, limit)?))
    }

    /// Verifies the whole audit chain; returns the number of events.
    pub fn verify_audit(
        &self,
    ) -> Result<std::result::Result<usize, crate::domain::audit::BrokenChain>> {
        self.read(|conn, _| {
            let chain = store::audit_chain(conn)?;
            Ok(crate::domain::audit::verify(
                chain.iter().map(|(e, p, h)| (e, p.as_str(), h.as_str())),
            ))
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
