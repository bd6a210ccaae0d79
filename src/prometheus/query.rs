//! One instant query: `GET {url}/api/v1/query?query=…&time=…&timeout=…` with a timeout, its answer
//! read by the pure `domain::prometheus::read_answer`. Every way of not getting an answer (refused
//! connection, timeout, a body cut off) is a `Reading::Failed` with a reason a person can act on.

use std::time::Duration;

use jiff::Timestamp;

use crate::domain::prometheus::{Reading, read_answer};

/// Asks the Prometheus at `base` for `promql` evaluated at `at`.
pub async fn query(
    client: &reqwest::Client,
    base: &str,
    promql: &str,
    at: Timestamp,
    timeout: Duration,
) -> Reading {
    let time = format!("{:.3}", at.as_millisecond() as f64 / 1000.0);
    let limit = format!("{}s", timeout.as_secs().max(1));
    let url = match reqwest::Url::parse_with_params(
        &format!("{base}/api/v1/query"),
        [("query", promql), ("time", &time), ("timeout", &limit)],
    ) {
        Ok(u) => u,
        Err(e) => return Reading::Failed(format!("{base} is not a URL: {e}")),
    };
    let sent = client.get(url).timeout(timeout).send().await;
    let response = match sent {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return Reading::Failed(format!(
                "Prometheus at {base} did not answer within {}s",
                timeout.as_secs()
            ));
        }
        Err(e) => {
            // The URL carries the whole query; the reason names the server instead.
            let e = e.without_url();
            return Reading::Failed(format!("cannot reach Prometheus at {base}: {}", chain(&e)));
        }
    };
    let status = response.status().as_u16();
    let mut response = response;
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(c)) => {
                body.extend_from_slice(&c);
                if body.len() > MAX_BODY {
                    return Reading::Failed(format!(
                        "Prometheus at {base} answered with more than {} MiB; aggregate the query to one series",
                        MAX_BODY >> 20
                    ));
                }
            }
            Ok(None) => break,
            Err(e) => {
                return Reading::Failed(format!(
                    "Prometheus at {base} answered HTTP {status} but the body broke off: {}",
                    chain(&e.without_url())
                ));
            }
        }
    }
    read_answer(status, &String::from_utf8_lossy(&body))
}

/// The most of an answer read: one aggregated series is a few hundred bytes.
const MAX_BODY: usize = 4 << 20;

/// An error and its causes on one line ("error sending request: … Connection refused").
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
