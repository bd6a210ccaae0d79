//! Which arm a flag evaluation served. The hooks drop custom flag metadata, so the arm cannot ride
//! along in it; it is recomputed as the evaluator assigns it (`eval::rollout_arm`): from the
//! evaluation's targeting key (`feature_flag.context.id`), the flag's salt and the rollout's canary
//! share at the evaluation's time.
//!
//! The hook also says what was served (the variant, and the reason: canary = candidate + SPLIT,
//! control = last-known-good + SPLIT, outside = last-known-good + DEFAULT). Neither wins alone;
//! both must agree. The recomputation is needed because the variant cannot tell control from
//! outside (both get the last-known-good) and a hook may send neither variant nor reason. What was
//! served is needed because a cached answer from before a step, or a targeting rule that matched
//! first, gives the unit something other than its arm's treatment, and counting it there would
//! mix treatments. So an evaluation counts only where the served variant (when sent) is the arm's
//! and the reason (when it says anything, i.e. not `cached`, `stale` or `unknown`) is the split's:
//! `split` from flagwarden (OFREP, MCP); from a flagd engine (the hook names its provider, e.g.
//! `FlagdProvider`, `flagd`), which reports every targeting result as `targeting_match`, `fractional`
//! included (`domain::flagd` writes the arms as one), `targeting_match` too. From those engines a rule
//! that matched first and served the arm's own variant reads the same; a rule serving another
//! variant is still refused by the variant check.
//! A cached answer with the arm's variant counts: the unit got exactly its arm's treatment.

use jiff::{SignedDuration, Timestamp};

use super::facts::FlagEvaluation;
use super::rejection::Rejection;
use crate::domain::bucket::Percent;
use crate::domain::eval::{Arm, rollout_arm};

/// How far ahead of the server's clock an evaluation may be stamped (clock skew).
pub const FUTURE_SKEW: SignedDuration = SignedDuration::from_mins(5);

/// What attribution needs of a rollout.
pub struct ArmPlan<'a> {
    pub salt: &'a str,
    pub candidate: &'a str,
    pub lkg: &'a str,
    /// The canary share from each change on, oldest first.
    pub history: &'a [(Timestamp, Percent)],
    /// A shadow run: its canary arm is served the last-known-good (reason SPLIT, the shadow variant
    /// in the metadata, which the hooks do not record).
    pub shadow: bool,
}

/// The canary share in force at `t`; `None` before the rollout's first entry.
pub fn percent_at(history: &[(Timestamp, Percent)], t: Timestamp) -> Option<Percent> {
    let i = history.partition_point(|(from, _)| *from <= t);
    (i > 0).then(|| history[i - 1].1)
}

/// The arm `e` served under `plan`, or why it does not count. An evaluation without a timestamp
/// is taken at `now`, when it was received.
pub fn attribute(e: &FlagEvaluation, plan: &ArmPlan, now: Timestamp) -> Result<Arm, Rejection> {
    let flag = || e.flag.to_string();
    if e.failed {
        return Err(Rejection::EvaluationFailed { flag: flag() });
    }
    let tk = e
        .context_id
        .as_deref()
        .ok_or_else(|| Rejection::NoTargetingKey { flag: flag() })?;
    let at = e.at.unwrap_or(now);
    if at > now + FUTURE_SKEW {
        return Err(Rejection::FutureTime { flag: flag() });
    }
    let share =
        percent_at(plan.history, at).ok_or_else(|| Rejection::BeforeRollout { flag: flag() })?;
    let arm = rollout_arm(plan.salt, tk, share.basis_points());
    let expected = match arm {
        Arm::Canary if plan.shadow => plan.lkg,
        Arm::Canary => plan.candidate,
        Arm::Control => plan.lkg,
        Arm::Excluded => return Err(Rejection::OutsideArms { flag: flag() }),
    };
    if let Some(v) = e.variant.as_deref()
        && v != expected
    {
        return Err(Rejection::Disagrees {
            flag: flag(),
            detail: format!(
                "served variant {v:?}, but its targeting key is in the {} arm, which serves {expected:?} (a stale cached answer or a targeting rule)",
                arm.as_str()
            ),
        });
    }
    let flagd = e
        .provider
        .as_deref()
        .is_some_and(|p| p.to_ascii_lowercase().contains("flagd"));
    if let Some(r) = e.reason.as_deref()
        && !matches!(r, "split" | "cached" | "stale" | "unknown")
        && !(flagd && r == "targeting_match")
    {
        return Err(Rejection::Disagrees {
            flag: flag(),
            detail: format!(
                "served with reason {r:?}, but the {} arm is served by the rollout's split",
                arm.as_str()
            ),
        });
    }
    Ok(arm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::telemetry::SpanKey;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }

    fn eval<'a>(
        tk: &'a str,
        variant: Option<&'a str>,
        reason: Option<&'a str>,
        at: i64,
    ) -> FlagEvaluation<'a> {
        FlagEvaluation {
            span: SpanKey {
                trace: [1; 16],
                span: [2; 8],
            },
            flag: "f".into(),
            context_id: Some(tk.into()),
            variant: variant.map(Into::into),
            reason: reason.map(Into::into),
            failed: false,
            at: Some(ts(at)),
            environment: "dev".into(),
            sampling: "undeclared".into(),
            provider: None,
        }
    }

    /// Units by the arm the evaluator puts them in at 10 %.
    fn units(arm: Arm) -> String {
        (0..10_000)
            .map(|i| format!("u{i}"))
            .find(|k| rollout_arm("salt", k, 1000) == arm)
            .unwrap()
    }

    #[test]
    fn the_arm_is_recomputed_and_checked_against_what_was_served() {
        let history = [
            (ts(0), Percent::from_basis_points(1000).unwrap()),
            (ts(100), Percent::from_basis_points(0).unwrap()),
        ];
        let plan = ArmPlan {
            salt: "salt",
            candidate: "on",
            lkg: "off",
            history: &history,
            shadow: false,
        };
        let now = ts(200);
        let (c, k, x) = (
            units(Arm::Canary),
            units(Arm::Control),
            units(Arm::Excluded),
        );
        let ok = |e: FlagEvaluation| attribute(&e, &plan, now);
        assert_eq!(ok(eval(&c, Some("on"), Some("split"), 10)), Ok(Arm::Canary));
        assert_eq!(
            ok(eval(&k, Some("off"), Some("split"), 10)),
            Ok(Arm::Control)
        );
        assert_eq!(
            ok(eval(&c, None, None, 10)),
            Ok(Arm::Canary),
            "only the recomputation"
        );
        assert_eq!(
            ok(eval(&k, Some("off"), Some("cached"), 10)),
            Ok(Arm::Control)
        );
        assert!(matches!(
            ok(eval(&x, Some("off"), Some("default"), 10)),
            Err(Rejection::OutsideArms { .. })
        ));
        assert!(
            matches!(
                ok(eval(&c, Some("off"), Some("cached"), 10)),
                Err(Rejection::Disagrees { .. })
            ),
            "stale cache"
        );
        assert!(matches!(
            ok(eval(&k, Some("off"), Some("default"), 10)),
            Err(Rejection::Disagrees { .. })
        ));
        // flagd's engines report a `fractional` arm as TARGETING_MATCH; a rule that matched first
        // is told apart by the variant it served.
        fn from_flagd<'a>(mut e: FlagEvaluation<'a>, provider: &'a str) -> FlagEvaluation<'a> {
            e.provider = Some(provider.into());
            e
        }
        assert_eq!(
            ok(from_flagd(
                eval(&k, Some("off"), Some("targeting_match"), 10),
                "FlagdProvider"
            )),
            Ok(Arm::Control)
        );
        assert_eq!(
            ok(from_flagd(
                eval(&c, Some("on"), Some("targeting_match"), 10),
                "flagd"
            )),
            Ok(Arm::Canary)
        );
        assert!(matches!(
            ok(from_flagd(
                eval(&k, Some("on"), Some("targeting_match"), 10),
                "flagd"
            )),
            Err(Rejection::Disagrees { .. })
        ));
        assert!(matches!(
            ok(from_flagd(
                eval(&x, Some("off"), Some("default"), 10),
                "flagd"
            )),
            Err(Rejection::OutsideArms { .. })
        ));
        assert!(matches!(
            ok(eval(&c, Some("on"), Some("split"), -5)),
            Err(Rejection::BeforeRollout { .. })
        ));
        assert!(
            matches!(
                ok(eval(&c, Some("on"), Some("split"), 150)),
                Err(Rejection::OutsideArms { .. })
            ),
            "after the share fell to 0"
        );
        assert!(matches!(
            ok(eval(&c, Some("on"), Some("split"), 200 + 301)),
            Err(Rejection::FutureTime { .. })
        ));
        let mut no_key = eval(&c, None, None, 10);
        no_key.context_id = None;
        assert!(matches!(ok(no_key), Err(Rejection::NoTargetingKey { .. })));
    }

    #[test]
    fn a_shadow_runs_canary_arm_is_served_the_lkg() {
        let history = [(ts(0), Percent::from_basis_points(1000).unwrap())];
        let plan = ArmPlan {
            salt: "salt",
            candidate: "on",
            lkg: "off",
            history: &history,
            shadow: true,
        };
        let (c, k) = (units(Arm::Canary), units(Arm::Control));
        let ok = |e: FlagEvaluation| attribute(&e, &plan, ts(200));
        assert_eq!(
            ok(eval(&c, Some("off"), Some("split"), 10)),
            Ok(Arm::Canary)
        );
        assert_eq!(
            ok(eval(&k, Some("off"), Some("split"), 10)),
            Ok(Arm::Control)
        );
        for wrong in [
            eval(&c, Some("on"), Some("split"), 10),
            eval(&c, Some("off"), Some("default"), 10),
        ] {
            assert!(matches!(ok(wrong), Err(Rejection::Disagrees { .. })));
        }
    }
}
