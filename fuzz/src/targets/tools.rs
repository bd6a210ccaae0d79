//! Tool arguments: the first byte picks an MCP tool (or a human's approve/reject) and who calls it,
//! the rest is its JSON arguments, deserialized into the tool's typed request exactly as rmcp does and
//! run against a fresh world. No panic, no store error; bad input and dry runs write nothing, a
//! policy refusal writes only its audit event, a repeated idempotency key changes nothing more.

use super::super::{Dump, World, agent, human};
use flagwarden::app::types::*;
use flagwarden::app::{AppError, Result};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The CLI's approve and reject, as arguments (a human decides; agents are refused).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Decide {
    id: i64,
    #[serde(default)]
    reason: String,
}

const TOOLS: [&str; 19] = [
    "list_flags",
    "get_flag",
    "evaluate_flag",
    "get_policy",
    "canary_status",
    "list_stale_flags",
    "list_approvals",
    "audit_log",
    "create_flag",
    "wrap_change",
    "set_targeting",
    "start_canary",
    "advance_canary",
    "record_signals",
    "rollback",
    "cleanup_flag",
    "add_version",
    "approve",
    "reject",
];

fn args<T: DeserializeOwned>(json: &[u8]) -> Option<T> {
    serde_json::from_slice(json).ok()
}

/// Runs a mutating call, checks the invariants, and repeats it when it carried an idempotency key.
fn mutation<T: std::fmt::Debug + PartialEq>(
    world: &World,
    tool: &str,
    meta: (&Option<String>, bool),
    call: impl Fn() -> Result<T>,
) {
    let before: Dump = world.dump();
    let first = call();
    world.check(tool, &before, meta.1, &first);
    if let (Ok(answer), Some(_), false) = (&first, meta.0, meta.1) {
        let after = world.dump();
        match call() {
            Ok(again) => assert_eq!(answer, &again, "{tool}: a repeat gave a different answer"),
            Err(e) => panic!("{tool}: a repeat with the same idempotency key failed: {e}"),
        }
        assert_eq!(after, world.dump(), "{tool}: a repeat changed the store");
    }
}

/// A read never writes.
fn read<T: std::fmt::Debug>(world: &World, tool: &str, call: impl Fn() -> Result<T>) {
    let before = world.dump();
    let r = call();
    if let Err(AppError::Store(e)) = &r {
        panic!("{tool}: an input reached a store error: {e}");
    }
    assert_eq!(before, world.dump(), "{tool}: a read changed the store");
}

/// One input: panics on a broken invariant, like the fuzz target it serves.
pub fn run(data: &[u8]) {
    let Some((&selector, json)) = data.split_first() else {
        return;
    };
    let tool = TOOLS[usize::from(selector & 0x7f) % TOOLS.len()];
    let actor = if selector & 0x80 == 0 {
        agent()
    } else {
        human()
    };
    // Parse before building the world: most inputs stop here, and stopping is cheap.
    macro_rules! parsed {
        ($t:ty) => {
            match args::<$t>(json) {
                Some(a) => a,
                None => return,
            }
        };
    }
    match tool {
        "list_flags" => {
            let a = parsed!(ListFlags);
            let w = World::new();
            read(&w, tool, || w.app.list_flags(&a));
        }
        "get_flag" => {
            let a = parsed!(FlagRef);
            let w = World::new();
            read(&w, tool, || w.app.get_flag(&a.key));
        }
        "evaluate_flag" => {
            let a = parsed!(EvaluateFlag);
            let w = World::new();
            read(&w, tool, || w.app.evaluate_flag(&a));
        }
        "get_policy" => {
            let a = parsed!(PolicyQuery);
            let w = World::new();
            read(&w, tool, || w.app.get_policy(&a));
        }
        "canary_status" => {
            let a = parsed!(FlagEnv);
            let w = World::new();
            read(&w, tool, || w.app.canary_status(&a));
        }
        "list_stale_flags" => {
            let a = parsed!(ListStale);
            let w = World::new();
            read(&w, tool, || w.app.list_stale_flags(&a));
        }
        "list_approvals" => {
            let a = parsed!(ListApprovals);
            let w = World::new();
            read(&w, tool, || w.app.list_approvals(&a));
        }
        "audit_log" => {
            let a = parsed!(AuditQuery);
            let w = World::new();
            read(&w, tool, || w.app.audit_log(&a));
        }
        "create_flag" => {
            let a = parsed!(CreateFlag);
            let w = World::new();
            mutation(&w, tool, (&a.meta.idempotency_key, a.meta.dry_run), || {
                w.app.create_flag(&actor, &a)
            });
        }
        "wrap_change" => {
            let a = parsed!(WrapChange);
            let w = World::new();
            mutation(&w, tool, (&a.meta.idempotency_key, a.meta.dry_run), || {
                w.app.wrap_change(&actor, &a)
            });
        }
        "set_targeting" => {
            let a = parsed!(SetTargeting);
            let w = World::new();
            mutation(&w, tool, (&a.meta.idempotency_key, a.meta.dry_run), || {
                w.app.set_targeting(&actor, &a)
            });
        }
        "start_canary" => {
            let a = parsed!(StartCanary);
            let w = World::new();
            mutation(&w, tool, (&a.meta.idempotency_key, a.meta.dry_run), || {
                w.app.start_canary(&actor, &a)
            });
        }
        "advance_canary" => {
            let a = parsed!(AdvanceCanary);
            let w = World::new();
            mutation(&w, tool, (&a.meta.idempotency_key, a.meta.dry_run), || {
                w.app.advance_canary(&actor, &a)
            });
        }
        "record_signals" => {
            let a = parsed!(RecordSignals);
            let w = World::new();
            mutation(&w, tool, (&a.idempotency_key, a.dry_run), || {
                w.app.record_signals(&actor, &a)
            });
        }
        "rollback" => {
            let a = parsed!(RollbackFlag);
            let w = World::new();
            mutation(&w, tool, (&a.meta.idempotency_key, a.meta.dry_run), || {
                w.app.rollback(&actor, &a)
            });
        }
        "cleanup_flag" => {
            let a = parsed!(CleanupFlag);
            let w = World::new();
            mutation(&w, tool, (&a.meta.idempotency_key, a.meta.dry_run), || {
                w.app.cleanup_flag(&actor, &a)
            });
        }
        "add_version" => {
            let a = parsed!(AddVersion);
            let w = World::new();
            mutation(&w, tool, (&a.meta.idempotency_key, a.meta.dry_run), || {
                w.app.add_version(&actor, &a)
            });
        }
        "approve" => {
            let a = parsed!(Decide);
            let w = World::new();
            let b = w.dump();
            let r = w.app.approve(&actor, a.id, &a.reason, Channel::Cli);
            w.check(tool, &b, false, &r);
        }
        "reject" => {
            let a = parsed!(Decide);
            let w = World::new();
            let b = w.dump();
            let r = w.app.reject(&actor, a.id, &a.reason, Channel::Cli);
            w.check(tool, &b, false, &r);
        }
        _ => unreachable!(),
    }
}
