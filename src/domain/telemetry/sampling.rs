//! What sampling an exporter declared for a span. OpenTelemetry's consistent probability sampling
//! writes its rejection threshold into the W3C tracestate as `ot=th:<hex>` (the sampling
//! probability is `1 - th / 2^56`); a span without it declared nothing. The label is recorded
//! with the evidence, so whoever reads a gate evaluation knows the counts are a sample.
//!
//! Head sampling that ignores the arm keeps each arm's ratios unbiased; tail sampling that keeps
//! errors does not (it inflates both arms' error rates, and unequally when traffic differs), and no
//! span says it was tail-sampled: the README warns about it.

use std::borrow::Cow;

/// A sampling label. Nearly every span declares nothing, and that label is never allocated.
pub type Sampling = Cow<'static, str>;

/// `"p=0.25"` for a declared threshold, `"undeclared"` otherwise.
pub fn declared_sampling(trace_state: &str) -> Sampling {
    threshold(trace_state).map_or(Cow::Borrowed("undeclared"), |p| {
        Cow::Owned(format!("p={}", (p * 1e6).round() / 1e6))
    })
}

/// The sampling probability the `ot=th:` entry declares.
fn threshold(trace_state: &str) -> Option<f64> {
    let ot = trace_state
        .split(',')
        .find_map(|member| member.trim().strip_prefix("ot="))?;
    let th = ot.split(';').find_map(|kv| kv.strip_prefix("th:"))?;
    if th.is_empty() || th.len() > 14 || !th.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // Trailing zeros may be left out: "th:8" is 0x80000000000000.
    let padded = format!("{th:0<14}");
    let t = u64::from_str_radix(&padded, 16).ok()?;
    Some(1.0 - t as f64 / (1u64 << 56) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_as_probabilities() {
        assert_eq!(declared_sampling("ot=th:8"), "p=0.5");
        assert_eq!(declared_sampling("vendor=x,ot=rv:abc;th:c"), "p=0.25");
        assert_eq!(declared_sampling("ot=th:0"), "p=1");
        assert_eq!(declared_sampling(""), "undeclared");
        assert_eq!(declared_sampling("ot=th:zz"), "undeclared");
    }
}
