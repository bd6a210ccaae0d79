//! The `[controller]` section: its raw form and the checked `ControllerConfig` the controller in
//! `serve` runs by (whether it runs, its timer, its debounce, its lease), each duration bounded.

use jiff::SignedDuration;
use serde::Deserialize;
use toml::Spanned;

use super::error::{Ctx, PolicyError};
use super::model::ControllerConfig;
use crate::domain::duration::parse_duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawController {
    enabled: Option<bool>,
    interval: Option<Spanned<String>>,
    debounce: Option<Spanned<String>>,
    lease: Option<Spanned<String>>,
}

/// `[controller]`: whether it runs, how often it looks at every rollout, and how long it waits
/// after evidence for more.
pub(super) fn parse_controller(
    cx: &Ctx,
    raw: RawController,
) -> Result<ControllerConfig, PolicyError> {
    let mut c = ControllerConfig::default();
    if let Some(enabled) = raw.enabled {
        c.enabled = enabled;
    }
    let bounded = |text: Option<Spanned<String>>,
                   field: &str,
                   least: SignedDuration,
                   most: SignedDuration,
                   hint: &str|
     -> Result<Option<SignedDuration>, PolicyError> {
        let Some(text) = text else { return Ok(None) };
        match parse_duration(text.get_ref()) {
            Some(d) if d >= least && d <= most => Ok(Some(d)),
            _ => Err(cx.err(text.span(), format!("controller.{field}"), hint)),
        }
    };
    if let Some(d) = bounded(
        raw.interval,
        "interval",
        SignedDuration::from_millis(100),
        SignedDuration::from_hours(1),
        "a duration between 100ms and 1h, such as \"30s\"",
    )? {
        c.interval = d;
    }
    if let Some(d) = bounded(
        raw.debounce,
        "debounce",
        SignedDuration::ZERO,
        SignedDuration::from_secs(10),
        "a duration between 0s and 10s, such as \"10ms\"",
    )? {
        c.debounce = d;
    }
    if let Some(d) = bounded(
        raw.lease,
        "lease",
        SignedDuration::from_millis(500),
        SignedDuration::from_mins(5),
        "a duration between 500ms and 5m, such as \"5s\"",
    )? {
        c.lease = d;
    }
    Ok(c)
}
