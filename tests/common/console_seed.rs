//! A store seeded for the console, through the `App`'s own use cases on a controlled clock: a stale
//! flag (created 41 days before the rest), then per rollout a day of looks (evidence every 30 minutes
//! and the agent's `advance_canary` each time, which stores the gate's evaluation and holds), and at
//! the end a clear harm on the canary, which the gate turns into a proposed rollback waiting for a
//! person. Strings an agent or an application controls carry markup, so every page shows whether it
//! escapes them. Shared by tests/console.rs, the console bench and examples/console_seed.rs (the
//! browser test's store).

#![allow(dead_code)]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use flagwarden::app::{App, Config, LoadedPolicy};
use flagwarden::domain::policy::Actor;
use flagwarden::store::Store;
use serde_json::{Value, json};

/// The policy: production bounded behind the gate, with a tight margin on the error rate so a day of
/// ordinary traffic stays INCONCLUSIVE instead of promoting.
pub const POLICY: &str = r#"version = 7

[environments.development]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback", "cleanup_flag"]
agent_rollback = "allow"

[environments.production]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback", "cleanup_flag"]
steps = [5, 25, 50, 100]
max_auto_percent = 25
max_step_increase = 25
agent_rollback = "propose"
[environments.production.gate]
min_samples = 100
fresh_within = "24h"
breakers = [{ metric = "error_rate", above = 0.2, min_samples = 100 }]
[environments.production.gate.metrics.error_rate]
margin = 0.001
"#;

/// Markup in the strings agents and applications write.
pub const XSS_DESCRIPTION: &str = "<script>alert('description')</script>";
pub const XSS_REASON: &str = "<img src=x onerror=alert('reason')>";
pub const XSS_VARIANT: &str = "<script>alert('variant')</script>";

/// 2027-01-15T08:00:00Z, where the clock starts.
pub const START: i64 = 1_800_000_000;

/// Looks per rollout: a day, every 30 minutes.
pub const LOOKS: usize = 48;

pub const STALE_FLAG: &str = "old-banner";

pub struct Seeded {
    pub app: App,
    /// (flag, rollout id, proposed rollback approval id) per rollout.
    pub rollouts: Vec<(String, i64, i64)>,
    /// The clock at the end, RFC 3339.
    pub now: String,
}

fn agent() -> Actor {
    Actor::Agent("claude".into())
}

fn parse<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("a valid request")
}

fn report(app: &App, id: &str, flag: &str, canary: (u64, u64), control: (u64, u64)) {
    let batch = parse(json!({
        "batch_id": id,
        "environment": "production",
        "signals": [
            {"flag": flag, "arm": "canary", "exposures": canary.0, "requests": canary.0, "errors": canary.1},
            {"flag": flag, "arm": "control", "exposures": control.0, "requests": control.0, "errors": control.1},
        ],
    }));
    app.ingest_signals(&Actor::App("web".into()), &batch)
        .expect("signals accepted");
}

/// Seeds `dir` (its `flagwarden.toml` and `.flagwarden/flagwarden.db`) with `rollouts` rollouts and
/// `extra_flags` more flags that only exist; returns the `App` on it with its clock at the end.
pub fn seed(dir: &Path, rollouts: usize, extra_flags: usize) -> Seeded {
    std::fs::write(dir.join("flagwarden.toml"), POLICY).unwrap();
    std::fs::create_dir_all(dir.join(".flagwarden")).unwrap();
    let store = Store::open(&dir.join(".flagwarden/flagwarden.db")).unwrap();
    let t = Arc::new(AtomicI64::new(START));
    let clock = {
        let t = t.clone();
        Arc::new(move || jiff::Timestamp::from_second(t.load(Ordering::SeqCst)).unwrap())
    };
    let app = App::new(
        store,
        LoadedPolicy::parse(&dir.join("flagwarden.toml").to_string_lossy(), POLICY).unwrap(),
        clock,
        Config {
            ofrep_base_url: "http://127.0.0.1:7070".into(),
            project_root: dir.to_owned(),
        },
    )
    .unwrap();
    let create = |key: &str, description: &str, variants: Value| {
        let req = parse(json!({
            "key": key, "description": description, "change_type": "code",
            "variants": variants, "reason": "seed",
        }));
        app.create_flag(&agent(), &req).expect("flag created");
    };
    create(
        STALE_FLAG,
        "the winter banner",
        json!({"on": true, "off": false}),
    );
    t.fetch_add(41 * 86_400, Ordering::SeqCst);
    for i in 0..extra_flags {
        create(
            &format!("extra-{i:04}"),
            "a flag that only exists",
            json!({"on": true, "off": false}),
        );
    }
    let mut out = Vec::new();
    for r in 0..rollouts {
        let key = if r == 0 {
            "checkout".to_owned()
        } else {
            format!("checkout-{r}")
        };
        create(
            &key,
            &format!("new checkout flow {XSS_DESCRIPTION}"),
            json!({"new": XSS_VARIANT, "old": "classic"}),
        );
        let start = parse(json!({
            "key": key, "environment": "production", "candidate_variant": "new",
            "reason": format!("ship the new checkout {XSS_REASON}"),
        }));
        app.start_canary(&agent(), &start).expect("rollout started");
        out.push(key);
    }
    // A day of looks, all rollouts side by side: ordinary traffic, equal error rates.
    for look in 0..LOOKS {
        t.fetch_add(1800, Ordering::SeqCst);
        for key in &out {
            report(&app, &format!("{key}-{look}"), key, (60, 1), (60, 1));
            let adv = parse(json!({"key": key, "environment": "production", "reason": "look"}));
            let _ = app.advance_canary(&agent(), &adv);
        }
    }
    // Then a clear harm: the canary errs five times as often.
    t.fetch_add(1800, Ordering::SeqCst);
    let mut seeded = Vec::new();
    for key in &out {
        report(&app, &format!("{key}-harm"), key, (4000, 400), (4000, 80));
        let adv = parse(json!({"key": key, "environment": "production", "reason": "look"}));
        let answer = app.advance_canary(&agent(), &adv).expect("the look runs");
        let rollout = answer.rollout.as_ref().expect("a rollout").id;
        let approval = answer.approval_id.expect("a proposed rollback");
        seeded.push((key.clone(), rollout, approval));
    }
    let now = format!("{:.0}", app.now());
    Seeded {
        app,
        rollouts: seeded,
        now,
    }
}
