//! flagd flag definitions: one environment of a compiled `Snapshot` written as the JSON document
//! flagd's engines read (the daemon's sync sources, the in-process providers, file sync), so that
//! every engine serves exactly what `eval::evaluate` serves, to every user.
//!
//! The parts: `document.rs` the document and one flag's entry (state, variants, default variant,
//! metadata); `targeting.rs` rules and their conditions as JSONLogic with flagd's operators;
//! `arms.rs` splits and a running rollout's arms as `fractional`, bucketed as `bucket.rs` buckets;
//! `evaluators.rs` conditions shared by several flags lifted into `$evaluators`; `logic.rs` the
//! JSONLogic tree they are built of, which serializes straight to text. This file
//! re-exports them.

mod arms;
mod document;
mod evaluators;
mod logic;
mod prerequisites;
mod targeting;

pub use arms::TARGETING_KEY_MISSING;
pub use document::{SCHEMA_URL, document};
