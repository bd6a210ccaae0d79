//! MCP prompts for the main workflows: ship a change behind a flag, run a canary, clean up stale
//! flags, and review a rollout's postmortem (the report `App::postmortem` writes from the record). Each prompt is the workflow's checklist with the caller's arguments filled in and,
//! where an environment is named, that environment's bounds in plain words read from the live
//! policy, so the agent starts from what it may do rather than from what it would like to do.
//! The skills in `skills/` teach the same workflows at length; tools stay self-contained.

use rmcp::model::{GetPromptResult, PromptMessage, Role};
use rmcp::{ErrorData, prompt, prompt_router};
use schemars::JsonSchema;
use serde::Deserialize;

use super::Server;
use super::args::Parameters;
use crate::app::types::PolicyQuery;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ShipArgs {
    /// What the change does, in a sentence.
    pub change: String,
    /// rust, typescript, javascript, python, go, java or csharp.
    pub language: String,
    /// The file holding the old code, relative to the project root.
    #[serde(default)]
    pub file: Option<String>,
    /// The flag key to use or create, e.g. "new-checkout".
    #[serde(default)]
    pub flag_key: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CanaryArgs {
    pub flag_key: String,
    pub environment: String,
    /// The variant to roll out; default "on".
    #[serde(default)]
    pub candidate_variant: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct PostmortemArgs {
    /// The rollout's id, e.g. "12".
    pub rollout: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CleanupArgs {
    /// Only this environment's serving state counts; default all.
    #[serde(default)]
    pub environment: Option<String>,
}

fn user(text: String) -> GetPromptResult {
    GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
}

fn invalid(field: &str, message: String) -> ErrorData {
    ErrorData::invalid_params(format!("{field}: {message}"), None)
}

impl Server {
    /// One environment's bounds in plain words, or the error naming the environments there are.
    fn bounds(&self, environment: &str) -> Result<String, ErrorData> {
        let query = PolicyQuery {
            environment: Some(environment.to_owned()),
        };
        let view = self
            .app
            .get_policy(&query)
            .map_err(|e| invalid("environment", e.to_string()))?;
        let lines = view
            .plain
            .get(environment)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_default();
        Ok(lines
            .iter()
            .filter_map(|l| l.as_str())
            .map(|l| format!("- {l}\n"))
            .collect())
    }
}

#[prompt_router(vis = "pub(super)")]
impl Server {
    #[prompt(
        name = "ship_behind_flag",
        description = "Ship a code change behind a new flag: policy first, wrap_change, apply the diff, test both paths."
    )]
    async fn ship_behind_flag(
        &self,
        Parameters(a): Parameters<ShipArgs>,
    ) -> Result<GetPromptResult, ErrorData> {
        if crate::codegen::Language::parse(&a.language).is_err() {
            return Err(invalid(
                "language",
                format!(
                    "{:?} is not one of rust, typescript, javascript, python, go, java, csharp",
                    a.language
                ),
            ));
        }
        let key = a
            .flag_key
            .unwrap_or_else(|| "a short kebab-case key for the change".into());
        let file = a.file.map_or_else(
            || "the file holding the old code, with start_line and end_line around exactly the statements to replace".to_owned(),
            |f| format!("file {f:?}, with start_line and end_line around exactly the statements to replace"),
        );
        Ok(user(format!(
            "Ship this change behind a feature flag with flagwarden: {change}\n\n\
             1. Call get_policy and read the bounds you work under; say which ones matter here.\n\
             2. Call wrap_change with key {key}, language {language}, change_description, and {file}. \
             Use dry_run first if you are unsure; it creates the flag off everywhere.\n\
             3. Apply the returned diff, then write the new code in the guard's new-path branch and keep the old code as the fallback.\n\
             4. Add the returned setup once at startup if the project has no OpenFeature client yet, and the install command's packages.\n\
             5. Test both paths as the test_plan says (the flag on, and off), and run the project's tests.\n\
             6. Report the flag key and that it is off everywhere; turning it on is a rollout (set_targeting or start_canary) within the policy.\n\
             If a tool denies something, explain the rule it names and what would satisfy it; never work around it.",
            change = a.change,
            language = a.language,
        )))
    }

    #[prompt(
        name = "run_canary",
        description = "Run a staged canary of a flag in an environment and read its evidence, under the environment's policy."
    )]
    async fn run_canary(
        &self,
        Parameters(a): Parameters<CanaryArgs>,
    ) -> Result<GetPromptResult, ErrorData> {
        let bounds = self.bounds(&a.environment)?;
        let candidate = a.candidate_variant.unwrap_or_else(|| "on".into());
        Ok(user(format!(
            "Run a canary of flag {key} (candidate variant {candidate:?}) in {env} with flagwarden.\n\n\
             The policy in {env}:\n{bounds}\n\
             1. Call get_flag {key} and check nothing else is rolling out there.\n\
             2. Call start_canary (dry_run first). If it opens an approval request, tell the user its id and the command a human runs, and stop. \
             The same call takes other shapes: steps may name policy segments before percentages; group {{name, members}} moves several flags as one; \
             mode \"shadow\" serves everyone the last-known-good while the shadow arm runs the candidate unseen (report shadow_agreements and shadow_divergences); \
             mode \"experiment\" splits traffic % over variants by one of the policy's weights and judges a primary metric until one wins (report each variant's evidence with variant). \
             A prerequisite (set_targeting prerequisite {{flag, variant}}) keeps one flag's candidate where another's is.\n\
             3. Evidence arrives from the application (POST /api/v1/signals) or from record_signals for both arms. \
             Read canary_status: each metric's label, the samples still missing and the ETA.\n\
             4. Watch, do not poll: call canary_status with since (the seq of your last answer) and wait_s (at most 60); \
             it answers when the rollout changes (the controller in `flagwarden serve`, a human or another agent moved it) or the wait ends. \
             Clients that read resources may subscribe to flagwarden://rollouts/ID instead and re-read it on each update. \
             Act on what it reports; call advance_canary only when canary_status says an advance is possible and the controller has not already advanced it. \
             HOLD means wait for the evidence it names; do not retry to force it. \
             ROLLBACK means the canary is worse: the rollback is proposed or done per policy; tell the user. \
             A request for approval means a human must decide: give them the id and `flagwarden approve ID`.\n\
             5. Repeat (wait, act) until the rollout completes, then summarise the evidence that promoted it.\n\
             Never approve anything yourself, never change the policy file, and never use break-glass.",
            key = a.flag_key,
            env = a.environment,
        )))
    }

    #[prompt(
        name = "cleanup_stale_flags",
        description = "Find stale flags, remove their code paths keeping the served variant, and hand archiving to a human."
    )]
    async fn cleanup_stale_flags(
        &self,
        Parameters(a): Parameters<CleanupArgs>,
    ) -> Result<GetPromptResult, ErrorData> {
        let scope = match &a.environment {
            Some(env) => {
                self.bounds(env)?;
                format!(" with environment {env:?}")
            }
            None => String::new(),
        };
        Ok(user(format!(
            "Clean up stale feature flags with flagwarden.\n\n\
             1. Call list_stale_flags{scope}. For each flag, read its reason codes and evidence.\n\
             2. For ready_for_code_removal: call cleanup_flag with keep_variant set to the flag's keep_variant \
             (the variant everyone is served). Apply each returned diff; make each manual edit it lists. Keep the kept path's \
             behaviour exactly; delete the other path and the flag evaluation. Run the tests.\n\
             3. Skip flags whose environments do not agree on one variant: ask the owner which variant stays.\n\
             4. For ready_to_archive: archiving is for humans. Tell the user to run `flagwarden scan` and then \
             `flagwarden archive KEY --reason ...` for each flag.\n\
             5. Report what you removed, the tests you ran, and what is left for a human."
        )))
    }

    #[prompt(
        name = "postmortem",
        description = "A blameless postmortem of a rollout from the audit trail and stored gate evaluations, to review and share."
    )]
    async fn postmortem(
        &self,
        Parameters(a): Parameters<PostmortemArgs>,
    ) -> Result<GetPromptResult, ErrorData> {
        let id: i64 = a.rollout.trim().parse().map_err(|_| {
            invalid(
                "rollout",
                format!(
                    "{:?} is not a rollout id; canary_status shows a rollout's id",
                    a.rollout
                ),
            )
        })?;
        let report = self
            .app
            .postmortem(id)
            .map_err(|e| invalid("rollout", e.to_string()))?;
        Ok(user(format!(
            "Here is the postmortem of rollout {id}, written by flagwarden from its record. Review it with the user:              keep it blameless, keep every number with the audit event or evaluation it names, and add only what              the record cannot know (the customer impact, the follow-up work), marked as such.\n\n{report}"
        )))
    }
}
