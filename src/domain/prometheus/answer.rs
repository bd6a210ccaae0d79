//! Reading Prometheus's answer to an instant query (`/api/v1/query`): one real number, no data, or
//! a failure, each with a reason a person can act on. An empty result is no data, never zero; NaN
//! and infinities (a ratio over no traffic) are no data too, so nothing trips or passes on them.
//! More than one series is a failure: the template must aggregate, or one arm's count would be a
//! guess at which series was meant.

use serde_json::Value;

/// What one query said.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    /// One finite value.
    Value(f64),
    /// Prometheus answered, but there is nothing to count: no series, or not a real number.
    NoData(String),
    /// Prometheus could not be asked or refused: an HTTP error, `status: error`, a body that is
    /// not its API, or a result of the wrong shape.
    Failed(String),
}

/// Reads the body of an HTTP answer with status `status`.
pub fn read_answer(status: u16, body: &str) -> Reading {
    let v: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => {
            return Reading::Failed(format!(
                "HTTP {status} with a body that is not Prometheus's JSON API: {}",
                excerpt(body)
            ));
        }
    };
    if v["status"] == "error" || !(200..300).contains(&status) {
        let kind = v["errorType"].as_str().unwrap_or("unknown");
        let msg = v["error"].as_str().unwrap_or("no message");
        return Reading::Failed(format!(
            "HTTP {status}: Prometheus refused the query ({kind}): {}",
            excerpt(msg)
        ));
    }
    if v["status"] != "success" {
        return Reading::Failed(format!(
            "HTTP {status} without a \"status\" of success or error: {}",
            excerpt(body)
        ));
    }
    let data = &v["data"];
    let sample = match data["resultType"].as_str() {
        Some("vector") => {
            let Some(series) = data["result"].as_array() else {
                return Reading::Failed("a vector answer without a result list".into());
            };
            match series.as_slice() {
                [] => return Reading::NoData("the query returned no series".into()),
                [one] => &one["value"],
                many => {
                    return Reading::Failed(format!(
                        "the query returned {} series; aggregate it to one, e.g. with sum(...)",
                        many.len()
                    ));
                }
            }
        }
        Some("scalar") => &data["result"],
        Some(other) => {
            return Reading::Failed(format!(
                "the query returned a {other}; write an instant vector or scalar query (a range selector needs a function such as increase(...[{{{{window}}}}]))"
            ));
        }
        None => return Reading::Failed("an answer without a resultType".into()),
    };
    let Some(text) = sample.get(1).and_then(Value::as_str) else {
        return Reading::Failed(format!("a sample that is not [time, \"value\"]: {sample}"));
    };
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() => Reading::Value(x),
        Ok(_) => Reading::NoData(format!("the value is {text}, not a real number")),
        Err(_) => Reading::Failed(format!("the value {text:?} is not a number")),
    }
}

/// The start of a long text, on one line.
fn excerpt(s: &str) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None => one_line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_series_or_scalar_is_its_value() {
        let vector = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"arm":"canary"},"value":[1796295701.710,"0.05"]}]}}"#;
        assert_eq!(read_answer(200, vector), Reading::Value(0.05));
        let scalar =
            r#"{"status":"success","data":{"resultType":"scalar","result":[1796295701.7,"1100"]}}"#;
        assert_eq!(read_answer(200, scalar), Reading::Value(1100.0));
    }

    #[test]
    fn an_empty_result_or_a_non_number_is_no_data_never_zero() {
        let empty = r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(matches!(read_answer(200, empty), Reading::NoData(r) if r.contains("no series")));
        for v in ["NaN", "+Inf", "-Inf"] {
            let body = format!(
                r#"{{"status":"success","data":{{"resultType":"vector","result":[{{"metric":{{}},"value":[1,"{v}"]}}]}}}}"#
            );
            assert!(
                matches!(read_answer(200, &body), Reading::NoData(r) if r.contains(v)),
                "{v}"
            );
        }
    }

    #[test]
    fn errors_and_wrong_shapes_are_failures_with_a_reason() {
        let bad =
            r#"{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected"}"#;
        assert!(
            matches!(read_answer(400, bad), Reading::Failed(r) if r.contains("bad_data") && r.contains("HTTP 400"))
        );
        assert!(
            matches!(read_answer(503, "<html>busy</html>"), Reading::Failed(r) if r.contains("503"))
        );
        let two = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"a":"1"},"value":[1,"1"]},{"metric":{"a":"2"},"value":[1,"2"]}]}}"#;
        assert!(matches!(read_answer(200, two), Reading::Failed(r) if r.contains("2 series")));
        let matrix = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(matches!(read_answer(200, matrix), Reading::Failed(r) if r.contains("matrix")));
        let text = r#"{"status":"success","data":{"resultType":"scalar","result":[1,"many"]}}"#;
        assert!(matches!(read_answer(200, text), Reading::Failed(_)));
    }
}
