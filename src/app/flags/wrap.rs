//! `wrap_change`: puts a new code path behind a flag (created boolean and off if missing) and answers
//! with the OpenFeature setup, the guard and, for a line range of a project file, the diff.

use serde_json::{Value, json};

use super::*;
use crate::codegen;
use crate::domain::code_ref::CodeRef;
use crate::domain::flag::{ChangeType, FlagKey, FlagType};
use crate::domain::policy::{Action, Usage, decide};

impl App {
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
                        escalation: None,
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
                let r = CodeRef::wrapped(file.clone(), req.start_line, language.as_str().into(), store::ts_text(tx.now));
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
}
