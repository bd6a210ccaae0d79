//! The policy file format: the `Raw*` shapes serde reads from TOML and `Policy::parse`, which checks
//! them into the model. Parsing is strict: unknown keys, bad types and out-of-range values are refused
//! with the file, the line and the field, so a server never runs on a half-read policy.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use toml::Spanned;

use super::calendar::{
    Freeze, FreezeWhen, MINUTES_PER_WEEK, Window, parse_time, parse_weekday, parse_zone,
};
use super::error::{Ctx, PolicyError, field_at};
use super::model::{
    ActionKind, Advance, AgentRollback, AutoRollback, ClientTrust, ControllerConfig, EnvPolicy,
    FlagBounds, MinDwell, Policy, PreflightConfig, RateLimits,
};
use super::parse_checklist::{RawChecklist, parse_checklist};
use super::parse_controller::{RawController, parse_controller};
use super::parse_gate::{RawGate, parse_gate};
use super::parse_prometheus::{RawPrometheus, parse_prometheus};
use super::parse_segments::{RawSegment, parse_plan, parse_segments, parse_segments_first};
use super::parse_shapes::{RawExperiments, RawShadow, parse_experiments, parse_shadow};
use super::parse_webhooks::{RawWebhook, parse_webhooks};
use crate::domain::bucket::Percent;
use crate::domain::duration::parse_duration;
use crate::domain::flag::{ChangeType, check_environment_name};
use crate::domain::gate::GateConfig;
use crate::domain::segment::{Segment, StepSpec};
use crate::domain::telemetry::Knobs;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<u32>,
    controller: Option<RawController>,
    #[serde(default)]
    flags: Option<RawFlags>,
    environments: Spanned<BTreeMap<String, Spanned<RawEnv>>>,
    #[serde(default)]
    segments: BTreeMap<String, Spanned<RawSegment>>,
    #[serde(default)]
    webhooks: Vec<Spanned<RawWebhook>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlags {
    #[serde(default = "yes")]
    agent_may_create: bool,
    created_per_day: Option<u32>,
    #[serde(default)]
    lifetime_days: BTreeMap<String, Spanned<u32>>,
}

fn yes() -> bool {
    true
}

impl Default for RawFlags {
    /// An absent `[flags]` section means the same as an empty one.
    fn default() -> Self {
        RawFlags {
            agent_may_create: true,
            created_per_day: None,
            lifetime_days: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnv {
    #[serde(default)]
    agent_may: Vec<ActionKind>,
    #[serde(default)]
    human_only: Vec<ActionKind>,
    steps: Option<Spanned<Vec<Spanned<StepSpec>>>>,
    segments_first: Option<Spanned<BTreeMap<String, Vec<String>>>>,
    max_auto_percent: Option<Spanned<f64>>,
    max_step_increase: Option<Spanned<f64>>,
    min_dwell: Option<Spanned<RawDwell>>,
    #[serde(default)]
    requires_start_approval: bool,
    agent_rollback: Option<AgentRollback>,
    approvals: Option<Spanned<u32>>,
    /// The boolean older files wrote, read as `auto_rollback` "critical" (true) or "none" (false).
    auto_rollback_critical: Option<Spanned<bool>>,
    auto_rollback: Option<Spanned<String>>,
    advance: Option<Spanned<String>>,
    /// A level by name, or the boolean older files wrote; read as a value so a wrong type gets the
    /// same clear message as an unknown level.
    confirm_in_client: Option<Spanned<toml::Value>>,
    gate: Option<RawGate>,
    prometheus: Option<Spanned<RawPrometheus>>,
    preflight: Option<Spanned<RawPreflight>>,
    rate_limits: Option<RawRateLimits>,
    #[serde(default)]
    change_windows: Vec<Spanned<RawWindow>>,
    #[serde(default)]
    freezes: Vec<Spanned<RawFreeze>>,
    telemetry: Option<Spanned<RawTelemetry>>,
    checklist: Option<RawChecklist>,
    shadow: Option<RawShadow>,
    experiments: Option<RawExperiments>,
}

/// Span attributes OTLP ingest reads as task success and safety checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTelemetry {
    task_success_attribute: Option<String>,
    safety_check_attribute: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawDwell {
    All(String),
    PerStep(BTreeMap<String, String>),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreflight {
    #[serde(default)]
    required: bool,
    alpha: Option<f64>,
    score_margin: Option<f64>,
    min_items: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRateLimits {
    advances_per_hour: Option<u32>,
    rollouts_per_day: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    days: Vec<String>,
    start: String,
    end: String,
    tz: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFreeze {
    #[serde(default)]
    reason: String,
    from: Option<String>,
    to: Option<String>,
    tz: Option<String>,
    start: Option<String>,
    end: Option<String>,
}

impl Policy {
    /// Parses and validates a policy file's text. `file` is used in error messages only.
    pub fn parse(file: &str, source: &str) -> Result<Policy, PolicyError> {
        let cx = Ctx { file, source };
        let raw: RawPolicy = toml::from_str(source).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().to_owned();
            // serde names a missing key in its message; point at that key rather than the line.
            let field = match message
                .strip_prefix("missing field `")
                .and_then(|m| m.split_once('`'))
            {
                Some((missing, _)) => missing.to_owned(),
                None => field_at(source, span.start),
            };
            cx.err(span, field, message)
        })?;
        if *raw.version.get_ref() == 0 {
            return Err(cx.err(
                raw.version.span(),
                "version",
                "version must be 1 or more; bump it on every change",
            ));
        }
        let controller = match raw.controller {
            None => ControllerConfig::default(),
            Some(c) => parse_controller(&cx, c)?,
        };
        let flags = raw.flags.unwrap_or_default();
        let mut lifetime_days = BTreeMap::new();
        for (name, days) in flags.lifetime_days {
            let field = format!("flags.lifetime_days.{name}");
            if let Err(e) = ChangeType::parse(&name) {
                return Err(cx.err(days.span(), field, e.message));
            }
            if *days.get_ref() > 3650 {
                return Err(cx.err(
                    days.span(),
                    field,
                    "at most 3650 days; use 0 for a flag type that is permanent by design",
                ));
            }
            lifetime_days.insert(name, days.into_inner());
        }
        let segments = parse_segments(&cx, raw.segments)?;
        let env_span = raw.environments.span();
        let mut environments = BTreeMap::new();
        let mut notes = Vec::new();
        for (name, env) in raw.environments.into_inner() {
            if check_environment_name(&name).is_err() {
                return Err(cx.err(
                    env.span(),
                    format!("environments.{name}"),
                    "an environment name uses letters, digits, '-', '_' or '.'",
                ));
            }
            let span = env.span();
            let parsed = parse_env(&cx, &name, span, env.into_inner(), &segments, &mut notes)?;
            environments.insert(name, parsed);
        }
        if environments.is_empty() {
            return Err(cx.err(
                env_span,
                "environments",
                "declare at least one environment, e.g. [environments.development]",
            ));
        }
        let webhooks = parse_webhooks(&cx, raw.webhooks, &environments)?;
        Ok(Policy {
            version: raw.version.into_inner(),
            controller,
            webhooks,
            flags: FlagBounds {
                agent_may_create: flags.agent_may_create,
                created_per_day: flags.created_per_day,
                lifetime_days,
            },
            environments,
            segments,
            notes,
        })
    }
}

fn percent(cx: &Ctx, field: &str, v: &Spanned<f64>) -> Result<Percent, PolicyError> {
    Percent::from_percent(*v.get_ref()).map_err(|m| cx.err(v.span(), field, m))
}

fn parse_env(
    cx: &Ctx,
    name: &str,
    span: std::ops::Range<usize>,
    raw: RawEnv,
    segments: &BTreeMap<String, Segment>,
    notes: &mut Vec<String>,
) -> Result<EnvPolicy, PolicyError> {
    let f = |k: &str| format!("environments.{name}.{k}");
    let confirm_in_client = match raw.confirm_in_client {
        None => ClientTrust::ReduceOnly,
        Some(t) => {
            let s = t.span();
            let unknown = |what: String| {
                cx.err(
                    s.clone(),
                    f("confirm_in_client"),
                    format!(
                        "unknown level {what}: use {} (which answers given in the agent's client count)",
                        ClientTrust::NAMES
                    ),
                )
            };
            match t.into_inner() {
                toml::Value::String(level) => {
                    ClientTrust::parse(&level).ok_or_else(|| unknown(format!("{level:?}")))?
                }
                toml::Value::Boolean(old) => {
                    let (level, means) = if old {
                        (
                            ClientTrust::ReduceOnly,
                            "an approve in the agent's client may confirm only what reduces exposure (a rollback, a pause)",
                        )
                    } else {
                        (
                            ClientTrust::None,
                            "answers in the agent's client decide nothing",
                        )
                    };
                    let line = cx.err(s.clone(), f("confirm_in_client"), "").line;
                    notes.push(format!(
                        "{}:{line}: {}: the boolean `confirm_in_client = {old}` is read as {:?}: {means}; write `confirm_in_client = {:?}` (levels: {}) to say so",
                        cx.file,
                        f("confirm_in_client"),
                        level.as_str(),
                        level.as_str(),
                        ClientTrust::NAMES
                    ));
                    level
                }
                other => return Err(unknown(other.to_string())),
            }
        }
    };
    let auto_rollback = match (raw.auto_rollback, raw.auto_rollback_critical) {
        (Some(_), Some(old)) => {
            return Err(cx.err(
                old.span(),
                f("auto_rollback_critical"),
                "auto_rollback replaces auto_rollback_critical: keep only auto_rollback (\"none\", \"critical\" or \"any\")",
            ));
        }
        (Some(level), None) => {
            let s = level.span();
            AutoRollback::parse(level.get_ref()).ok_or_else(|| {
                cx.err(
                    s,
                    f("auto_rollback"),
                    format!(
                        "unknown level {:?}: use {} (which harm the system rolls back without a human)",
                        level.get_ref(),
                        AutoRollback::NAMES
                    ),
                )
            })?
        }
        (None, Some(old)) => {
            let level = if *old.get_ref() {
                AutoRollback::Critical
            } else {
                AutoRollback::None
            };
            let line = cx.err(old.span(), f("auto_rollback_critical"), "").line;
            notes.push(format!(
                "{}:{line}: {}: `auto_rollback_critical = {}` is read as `auto_rollback = {:?}`; write that instead (levels: {})",
                cx.file,
                f("auto_rollback_critical"),
                old.get_ref(),
                level.as_str(),
                AutoRollback::NAMES
            ));
            level
        }
        (None, None) => AutoRollback::None,
    };
    let advance = match raw.advance {
        None => Advance::Agent,
        Some(a) => match a.get_ref().as_str() {
            "agent" => Advance::Agent,
            "auto" => Advance::Auto,
            other => {
                return Err(cx.err(
                    a.span(),
                    f("advance"),
                    format!(
                        "unknown value {other:?}: use \"agent\" (the agent advances) or \"auto\" (the controller advances within the bounds)"
                    ),
                ));
            }
        },
    };
    for a in &raw.agent_may {
        if raw.human_only.contains(a) {
            return Err(cx.err(
                span.clone(),
                f("agent_may"),
                format!("{a} is in both agent_may and human_only; keep it in one"),
            ));
        }
        if matches!(
            a,
            ActionKind::Approve
                | ActionKind::Reject
                | ActionKind::ArchiveFlag
                | ActionKind::Pause
                | ActionKind::Resume
        ) {
            return Err(cx.err(
                span.clone(),
                f("agent_may"),
                format!(
                    "{a} is for humans (and the controller) only and cannot be given to agents"
                ),
            ));
        }
    }
    let (steps, segment_steps) = match &raw.steps {
        None => (
            [1.0, 5.0, 25.0, 50.0, 100.0]
                .iter()
                .map(|p| Percent::from_percent(*p).expect("valid"))
                .collect(),
            Vec::new(),
        ),
        Some(list) => parse_plan(cx, &f("steps"), list, segments)?,
    };
    let segments_first = match &raw.segments_first {
        Some(sf) => parse_segments_first(cx, &f("segments_first"), sf, segments)?,
        None => BTreeMap::new(),
    };
    let max_auto_percent = raw
        .max_auto_percent
        .as_ref()
        .map(|v| percent(cx, &f("max_auto_percent"), v))
        .transpose()?
        .unwrap_or(Percent::FULL);
    let max_step_increase = raw
        .max_step_increase
        .as_ref()
        .map(|v| percent(cx, &f("max_step_increase"), v))
        .transpose()?
        .unwrap_or(Percent::FULL);
    if max_step_increase == Percent::ZERO {
        let s = raw.max_step_increase.as_ref().expect("set").span();
        return Err(cx.err(
            s,
            f("max_step_increase"),
            "must be above 0, or no rollout could ever advance",
        ));
    }
    let bad_duration = "use a duration such as \"30m\", \"2h\" or \"1h 30m\"";
    let min_dwell = match raw.min_dwell {
        None => MinDwell {
            default: SignedDuration::ZERO,
            per_step: BTreeMap::new(),
        },
        Some(d) => {
            let s = d.span();
            match d.into_inner() {
                RawDwell::All(text) => MinDwell {
                    default: parse_duration(&text)
                        .ok_or_else(|| cx.err(s.clone(), f("min_dwell"), bad_duration))?,
                    per_step: BTreeMap::new(),
                },
                RawDwell::PerStep(map) => {
                    let mut dwell = MinDwell {
                        default: SignedDuration::ZERO,
                        per_step: BTreeMap::new(),
                    };
                    for (k, v) in map {
                        let field = format!("{}.{k}", f("min_dwell"));
                        let d = parse_duration(&v)
                            .ok_or_else(|| cx.err(s.clone(), &field, bad_duration))?;
                        if k == "default" {
                            dwell.default = d;
                        } else {
                            let p = k
                                .parse::<f64>()
                                .ok()
                                .and_then(|p| Percent::from_percent(p).ok())
                                .filter(|p| steps.contains(p))
                                .ok_or_else(|| {
                                    cx.err(
                                        s.clone(),
                                        &field,
                                        "keys are \"default\" or one of the steps, e.g. \"25\"",
                                    )
                                })?;
                            dwell.per_step.insert(p.basis_points(), d);
                        }
                    }
                    dwell
                }
            }
        }
    };
    let approvals = match raw.approvals {
        None => 1,
        Some(a) if *a.get_ref() == 0 || *a.get_ref() > 5 => {
            return Err(cx.err(a.span(), f("approvals"), "between 1 and 5 humans"));
        }
        Some(a) => a.into_inner(),
    };
    let gate = match raw.gate {
        None => GateConfig::default(),
        Some(g) => parse_gate(cx, &f("gate"), span.clone(), g)?,
    };
    let (prometheus, prometheus_flags) = match raw.prometheus {
        None => (None, BTreeMap::new()),
        Some(p) => {
            let s = p.span();
            parse_prometheus(cx, &f("prometheus"), s, p.into_inner(), &gate)?
        }
    };
    let preflight = match raw.preflight {
        None => PreflightConfig {
            required: false,
            alpha: 0.05,
            score_margin: 0.02,
            min_items: 20,
        },
        Some(p) => {
            let s = p.span();
            let p = p.into_inner();
            let alpha = p.alpha.unwrap_or(0.05);
            let score_margin = p.score_margin.unwrap_or(0.02);
            if !(alpha > 0.0 && alpha < 0.5) {
                return Err(cx.err(
                    s,
                    f("preflight.alpha"),
                    "a level between 0 and 0.5, e.g. 0.05",
                ));
            }
            if !(0.0..=1.0).contains(&score_margin) {
                return Err(cx.err(
                    s,
                    f("preflight.score_margin"),
                    "score points between 0 and 1, e.g. 0.02",
                ));
            }
            PreflightConfig {
                required: p.required,
                alpha,
                score_margin,
                min_items: p.min_items.unwrap_or(20).max(1),
            }
        }
    };
    let rate_limits = raw
        .rate_limits
        .map(|r| RateLimits {
            advances_per_hour: r.advances_per_hour,
            rollouts_per_day: r.rollouts_per_day,
        })
        .unwrap_or_default();
    let mut change_windows = Vec::new();
    for (i, w) in raw.change_windows.into_iter().enumerate() {
        let s = w.span();
        let field = format!("{}[{i}]", f("change_windows"));
        let w = w.into_inner();
        let weekdays = w
            .days
            .iter()
            .map(|d| parse_weekday(d))
            .collect::<Option<Vec<_>>>()
            .filter(|d| !d.is_empty())
            .ok_or_else(|| {
                cx.err(
                    s.clone(),
                    format!("{field}.days"),
                    "days like [\"mon\", \"tue\"]",
                )
            })?;
        let start = parse_time(&w.start)
            .ok_or_else(|| cx.err(s.clone(), format!("{field}.start"), "a time \"HH:MM\""))?;
        let end = parse_time(&w.end)
            .ok_or_else(|| cx.err(s.clone(), format!("{field}.end"), "a time \"HH:MM\""))?;
        let zone = parse_zone(&w.tz).ok_or_else(|| {
            cx.err(
                s.clone(),
                format!("{field}.tz"),
                format!(
                    "unknown time zone {:?}: use an IANA name such as \"Europe/Berlin\"",
                    w.tz
                ),
            )
        })?;
        change_windows.push(Window {
            days: w.days,
            weekdays,
            start: w.start,
            end: w.end,
            tz: w.tz,
            times: (start, end),
            zone,
        });
    }
    let mut freezes = Vec::new();
    for (i, fr) in raw.freezes.into_iter().enumerate() {
        let s = fr.span();
        let field = format!("{}[{i}]", f("freezes"));
        let fr = fr.into_inner();
        let when = match (fr.from, fr.to, fr.tz, fr.start, fr.end) {
            (Some(from), Some(to), Some(tz), None, None) => {
                let at = |text: &str, k: &str| -> Result<u32, PolicyError> {
                    let bad = || {
                        cx.err(
                            s.clone(),
                            format!("{field}.{k}"),
                            "a weekday and time such as \"fri 16:00\"",
                        )
                    };
                    let (d, t) = text.trim().split_once(' ').ok_or_else(bad)?;
                    let day = parse_weekday(d).ok_or_else(bad)?;
                    let time = parse_time(t.trim()).ok_or_else(bad)?;
                    Ok(day.to_monday_zero_offset() as u32 * 1440
                        + time.hour() as u32 * 60
                        + time.minute() as u32)
                };
                let minutes = (at(&from, "from")?, at(&to, "to")?);
                if minutes.0 == minutes.1 || minutes.0 >= MINUTES_PER_WEEK {
                    return Err(cx.err(s, format!("{field}.to"), "`to` must differ from `from`"));
                }
                let zone = parse_zone(&tz).ok_or_else(|| {
                    cx.err(
                        s.clone(),
                        format!("{field}.tz"),
                        format!(
                            "unknown time zone {tz:?}: use an IANA name such as \"Europe/Berlin\""
                        ),
                    )
                })?;
                FreezeWhen::Weekly {
                    from,
                    to,
                    tz,
                    minutes,
                    zone,
                }
            }
            (None, None, None, Some(start), Some(end)) => {
                let ts = |text: &str, k: &str| {
                    text.parse::<Timestamp>().map_err(|_| {
                        cx.err(
                            s.clone(),
                            format!("{field}.{k}"),
                            "an RFC 3339 instant such as \"2026-12-20T00:00:00Z\"",
                        )
                    })
                };
                let (start, end) = (ts(&start, "start")?, ts(&end, "end")?);
                if end <= start {
                    return Err(cx.err(s, format!("{field}.end"), "`end` must be after `start`"));
                }
                FreezeWhen::Once { start, end }
            }
            _ => {
                return Err(cx.err(
                    s,
                    field,
                    "a freeze is either weekly (from = \"fri 16:00\", to = \"mon 09:00\", tz = \"Europe/Berlin\") or one-off (start and end as RFC 3339 instants)",
                ));
            }
        };
        freezes.push(Freeze {
            reason: fr.reason,
            when,
        });
    }
    let telemetry = match raw.telemetry {
        None => Knobs::default(),
        Some(t) => {
            let s = t.span();
            let t = t.into_inner();
            let check = |field: &str, v: Option<String>| {
                match v {
                Some(name)
                    if name.is_empty()
                        || name.len() > 255
                        || !name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
                {
                    Err(cx.err(
                        s.clone(),
                        f(&format!("telemetry.{field}")),
                        format!("{name:?} is not an attribute name: use letters, digits, '.', '_' and '-', e.g. \"app.task.success\""),
                    ))
                }
                other => Ok(other),
            }
            };
            Knobs {
                task_success_attribute: check("task_success_attribute", t.task_success_attribute)?,
                safety_check_attribute: check("safety_check_attribute", t.safety_check_attribute)?,
            }
        }
    };
    let checklist = match raw.checklist {
        None => Default::default(),
        Some(c) => parse_checklist(cx, &format!("environments.{name}"), c)?,
    };
    let shadow = match raw.shadow {
        Some(r) => parse_shadow(cx, &f("shadow"), r)?,
        None => Default::default(),
    };
    let experiments = match raw.experiments {
        Some(r) => parse_experiments(cx, &f("experiments"), r)?,
        None => Default::default(),
    };
    Ok(EnvPolicy {
        checklist,
        shadow,
        experiments,
        agent_may: raw.agent_may,
        human_only: raw.human_only,
        steps,
        segment_steps,
        segments_first,
        max_auto_percent,
        max_step_increase,
        min_dwell,
        requires_start_approval: raw.requires_start_approval,
        agent_rollback: raw.agent_rollback.unwrap_or(AgentRollback::Propose),
        approvals,
        auto_rollback,
        advance,
        confirm_in_client,
        gate,
        prometheus,
        prometheus_flags,
        preflight,
        rate_limits,
        change_windows,
        freezes,
        telemetry,
    })
}
