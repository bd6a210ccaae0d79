//! OFREP request bodies: any bytes go through exactly the endpoints' parse (`parse_ofrep_body`); a
//! body it accepts evaluates every flag of a snapshot with varied targeting to a value or an error.

use std::sync::OnceLock;

use super::super::{ENVS, World};
use flagwarden::domain::eval::{Snapshot, evaluate};
use flagwarden::http::parse_ofrep_body;

/// The seeded world's flags, with targeting on every operator, compiled once.
fn snapshot() -> &'static Snapshot {
    static SNAPSHOT: OnceLock<std::sync::Arc<Snapshot>> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let world = World::new();
        let rules = serde_json::json!({
            "key": "dark-mode", "environment": "development", "enabled": true, "reason": "seed",
            "rules": [
                {"conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}], "serve": {"variant": "on"}},
                {"conditions": [{"attribute": "version", "op": "semver_gte", "values": ["2.0.0"]}, {"attribute": "age", "op": "gt", "values": [30]}], "serve": {"variant": "off"}},
                {"conditions": [{"attribute": "plan", "op": "in", "values": ["pro", "team"]}, {"attribute": "targetingKey", "op": "starts_with", "values": ["user-"]}], "serve": {"split": [{"variant": "on", "percent": 33.33}, {"variant": "off", "percent": 66.67}]}},
                {"conditions": [{"attribute": "country", "op": "not_in", "values": ["FR"]}, {"attribute": "name", "op": "contains", "values": ["a"]}], "serve": {"variant": "on"}}
            ]
        });
        let req = serde_json::from_value(rules).unwrap();
        world.app.set_targeting(&super::super::human(), &req).expect("seed targeting");
        world.app.snapshot()
    })
}

/// One input: panics on a broken invariant, like the fuzz target it serves.
pub fn run(data: &[u8]) {
    let snap = snapshot();
    let Ok(ctx) = parse_ofrep_body(data) else {
        return;
    };
    let keys: Vec<&str> = snap.keys().chain(["missing"]).collect();
    for key in keys {
        for env in ENVS {
            let r = evaluate(snap, key, env, &ctx, None);
            assert!(
                r.value.is_some() != r.error.is_some(),
                "{key} in {env}: {r:?}"
            );
            r.record();
        }
    }
}
