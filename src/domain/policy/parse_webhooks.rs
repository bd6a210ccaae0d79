//! The `[[webhooks]]` entries: their raw form and the checked `Webhook` the notifier sends by. Each
//! field is checked by name: the URL's scheme, every event name, every environment (it must be
//! declared), and the digest interval (a duration such as "10m").

use std::collections::BTreeMap;

use jiff::SignedDuration;
use serde::Deserialize;
use toml::Spanned;

use super::error::{Ctx, PolicyError};
use super::model::{EnvPolicy, NotifyEvent, Webhook, WebhookFormat};
use crate::domain::duration::parse_duration;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWebhook {
    url: Spanned<String>,
    #[serde(default)]
    format: WebhookFormat,
    #[serde(default)]
    events: Vec<Spanned<String>>,
    #[serde(default)]
    environments: Vec<Spanned<String>>,
    digest: Option<Spanned<String>>,
}

/// The shortest and longest digest interval: shorter is no batch, longer leaves people uninformed.
const DIGEST: (SignedDuration, SignedDuration) = (
    SignedDuration::from_secs(10),
    SignedDuration::from_hours(24),
);

pub(super) fn parse_webhooks(
    cx: &Ctx,
    raw: Vec<Spanned<RawWebhook>>,
    environments: &BTreeMap<String, EnvPolicy>,
) -> Result<Vec<Webhook>, PolicyError> {
    let mut out = Vec::new();
    for (i, w) in raw.into_iter().enumerate() {
        let w = w.into_inner();
        let url = w.url.get_ref();
        let ok = ["http://", "https://"].iter().any(|p| url.starts_with(p))
            && url.len() > "https://".len();
        if !ok {
            return Err(cx.err(
                w.url.span(),
                format!("webhooks[{i}].url"),
                "an http:// or https:// URL, e.g. a Slack incoming-webhook URL",
            ));
        }
        let mut events = Vec::new();
        for e in &w.events {
            let Some(event) = NotifyEvent::parse(e.get_ref()) else {
                let names: Vec<&str> = NotifyEvent::ALL.iter().map(|e| e.as_str()).collect();
                return Err(cx.err(
                    e.span(),
                    format!("webhooks[{i}].events"),
                    format!(
                        "unknown event {:?}: use {} (or leave events out for all of them)",
                        e.get_ref(),
                        names.join(", ")
                    ),
                ));
            };
            events.push(event);
        }
        let mut envs = Vec::new();
        for e in &w.environments {
            if !environments.contains_key(e.get_ref()) {
                let declared: Vec<&str> = environments.keys().map(String::as_str).collect();
                return Err(cx.err(
                    e.span(),
                    format!("webhooks[{i}].environments"),
                    format!(
                        "unknown environment {:?}: the policy declares {} (or leave environments out for all of them)",
                        e.get_ref(),
                        declared.join(", ")
                    ),
                ));
            }
            envs.push(e.get_ref().clone());
        }
        let digest = match &w.digest {
            None => None,
            Some(text) => match parse_duration(text.get_ref()) {
                Some(d) if d >= DIGEST.0 && d <= DIGEST.1 => Some(d),
                _ => {
                    return Err(cx.err(
                        text.span(),
                        format!("webhooks[{i}].digest"),
                        format!(
                            "{:?} is not a digest interval: a duration between 10s and 24h, such as \"10m\"",
                            text.get_ref()
                        ),
                    ));
                }
            },
        };
        out.push(Webhook {
            url: w.url.into_inner(),
            format: w.format,
            events,
            environments: envs,
            digest,
        });
    }
    Ok(out)
}
