//! The Prometheus query provider: a worker beside `flagwarden serve` (and `flagwarden mcp`) that,
//! for every unfinished rollout whose environment or flag names a Prometheus in the policy, reads
//! each window of `interval` once it is `delay` old: the policy's PromQL templates per gate metric
//! and arm through `/api/v1/query` at the window's end (`query.rs`), turned into arm counts or a
//! guardrail's value by the pure `domain::prometheus`, and recorded through `App::record_prometheus`
//! (`worker.rs`). A failed read is an evidence gap with its reason, retried for a while and then
//! given up; an empty result is no data, never zero.

mod query;
mod worker;

pub use query::query;
pub use worker::{Poller, StartError};
