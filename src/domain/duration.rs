//! Durations as people read and write them: `fmt_duration` for messages ("1h 30m") and
//! `parse_duration` for the policy file ("30m", "2h", "1h 30m"). The policy's bounds and the gate's
//! reasons both use them, so they live here rather than in either.

use jiff::SignedDuration;

pub(crate) fn fmt_duration(d: SignedDuration) -> String {
    let secs = d.as_secs().max(0);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m"),
        _ => format!("{h}h {m}m"),
    }
}

/// A duration such as "30m" or "1h 30m"; `None` when it does not parse or is negative.
pub(crate) fn parse_duration(s: &str) -> Option<SignedDuration> {
    let d: SignedDuration = s.trim().parse().ok()?;
    (!d.is_negative()).then_some(d)
}
