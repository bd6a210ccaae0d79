//! The pure domain: flags, evaluation, bucketing, rules, policy, rollouts, the gate and the audit chain.
//! Nothing here does I/O, reads a clock or draws a random number; `now` and identities are arguments.

pub mod audit;
pub mod bucket;
pub(crate) mod duration;
pub mod eval;
pub mod evidence;
pub mod flag;
pub mod gate;
pub mod invalid;
pub mod policy;
pub mod rollout;
pub mod rules;
pub mod stale;
pub mod stats;
pub mod variant;
pub mod version;
