//! The pure domain: flags, evaluation, bucketing, rules, policy, rollouts, the gate and the audit chain.
//! Nothing here does I/O, reads a clock or draws a random number; `now` and identities are arguments.
//! It imports nothing of the crate outside `domain`, and no two of its files import each other: what
//! two concepts share (variants and the flag input error, durations) sits in a file below both
//! (`tests/layering.rs` checks both rules on the source).

pub mod approval;
pub mod audit;
pub mod bucket;
pub mod code_ref;
pub(crate) mod duration;
pub mod eval;
pub mod evidence;
pub mod experiment;
pub mod flag;
pub mod flagd;
pub mod gate;
pub mod invalid;
pub mod mode;
pub mod policy;
pub mod postmortem;
pub mod prerequisite;
pub mod prometheus;
pub mod rollout;
pub mod rules;
pub mod segment;
pub mod stale;
pub mod stats;
pub mod telemetry;
pub mod variant;
pub mod version;
