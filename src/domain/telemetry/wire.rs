//! The parts of OTLP trace and log exports that evidence is read from, as prost messages with
//! OTLP's field numbers. Decoded from the request's `Bytes`, every id and text is a slice of that
//! one buffer: no allocation or copy per attribute, which was half of an export's cost with the
//! complete `opentelemetry-proto` messages. Fields not named here (links, scopes, schema URLs,
//! dropped counts, log bodies) are skipped by prost, still checked to be well-formed protobuf.
//!
//! Texts are raw bytes, as protobuf carries them; `text` reads one as UTF-8 and takes invalid UTF-8
//! as absent. The JSON encoding is decoded by `opentelemetry-proto` and re-encoded into these
//! (`http/otlp.rs`), so both encodings are read by the same code.

use prost::bytes::Bytes;

/// A text field as UTF-8; `None` when it is not.
pub fn text(b: &Bytes) -> Option<&str> {
    std::str::from_utf8(b).ok()
}

/// `opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TracesExport {
    #[prost(message, repeated, tag = "1")]
    pub resource_spans: Vec<ResourceSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceSpans {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_spans: Vec<ScopeSpans>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeSpans {
    #[prost(message, repeated, tag = "2")]
    pub spans: Vec<Span>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    #[prost(bytes = "bytes", tag = "1")]
    pub trace_id: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub span_id: Bytes,
    /// W3C tracestate (text).
    #[prost(bytes = "bytes", tag = "3")]
    pub trace_state: Bytes,
    #[prost(bytes = "bytes", tag = "4")]
    pub parent_span_id: Bytes,
    /// Bits 8 and 9: whether the parent's remoteness is known, and whether it is remote.
    #[prost(fixed32, tag = "16")]
    pub flags: u32,
    /// Text.
    #[prost(bytes = "bytes", tag = "5")]
    pub name: Bytes,
    /// `SpanKind`: 2 is SERVER.
    #[prost(int32, tag = "6")]
    pub kind: i32,
    #[prost(fixed64, tag = "7")]
    pub start_time_unix_nano: u64,
    #[prost(fixed64, tag = "8")]
    pub end_time_unix_nano: u64,
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    #[prost(message, repeated, tag = "11")]
    pub events: Vec<Event>,
    #[prost(message, optional, tag = "15")]
    pub status: Option<Status>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Event {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    /// Text.
    #[prost(bytes = "bytes", tag = "2")]
    pub name: Bytes,
    #[prost(message, repeated, tag = "3")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    /// `StatusCode`: 2 is ERROR.
    #[prost(int32, tag = "3")]
    pub code: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// Text.
    #[prost(bytes = "bytes", tag = "1")]
    pub key: Bytes,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AnyValue {
    #[prost(oneof = "Value", tags = "1, 2, 3, 4")]
    pub value: Option<Value>,
}

/// The scalar values attributes are read as; arrays, maps and bytes are skipped.
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum Value {
    /// Text.
    #[prost(bytes = "bytes", tag = "1")]
    StringValue(Bytes),
    #[prost(bool, tag = "2")]
    BoolValue(bool),
    #[prost(int64, tag = "3")]
    IntValue(i64),
    #[prost(double, tag = "4")]
    DoubleValue(f64),
}

/// `opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct LogsExport {
    #[prost(message, repeated, tag = "1")]
    pub resource_logs: Vec<ResourceLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceLogs {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_logs: Vec<ScopeLogs>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ScopeLogs {
    #[prost(message, repeated, tag = "2")]
    pub log_records: Vec<LogRecord>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LogRecord {
    #[prost(fixed64, tag = "1")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "11")]
    pub observed_time_unix_nano: u64,
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<KeyValue>,
    #[prost(bytes = "bytes", tag = "9")]
    pub trace_id: Bytes,
    #[prost(bytes = "bytes", tag = "10")]
    pub span_id: Bytes,
    /// Text.
    #[prost(bytes = "bytes", tag = "12")]
    pub event_name: Bytes,
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, span};
    use prost::Message;

    use super::*;

    /// The field numbers agree with `opentelemetry-proto`'s: a full message reads back as the
    /// parts named here, and what is left out is skipped.
    #[test]
    fn reads_what_opentelemetry_proto_writes() {
        let kv = |k: &str, v: any_value::Value| KeyValue {
            key: k.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        };
        let full = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        parent_span_id: vec![3; 8],
                        trace_state: "ot=th:8".into(),
                        name: "GET /".into(),
                        kind: span::SpanKind::Server as i32,
                        flags: 0x300,
                        start_time_unix_nano: 5,
                        end_time_unix_nano: 9,
                        attributes: vec![
                            kv("a", any_value::Value::IntValue(500)),
                            kv("skipped", any_value::Value::BytesValue(vec![0xff])),
                        ],
                        events: vec![span::Event {
                            time_unix_nano: 7,
                            name: "feature_flag.evaluation".into(),
                            attributes: vec![kv("k", any_value::Value::StringValue("v".into()))],
                            ..Default::default()
                        }],
                        links: vec![span::Link::default()],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let read = TracesExport::decode(Bytes::from(full.encode_to_vec())).unwrap();
        let s = &read.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            (&s.trace_id[..], &s.span_id[..], &s.parent_span_id[..]),
            (&[1u8; 16][..], &[2u8; 8][..], &[3u8; 8][..])
        );
        assert_eq!(text(&s.trace_state), Some("ot=th:8"));
        assert_eq!(text(&s.name), Some("GET /"));
        assert_eq!(
            (
                s.kind,
                s.flags,
                s.start_time_unix_nano,
                s.end_time_unix_nano
            ),
            (2, 0x300, 5, 9)
        );
        assert_eq!(
            s.attributes[0].value.as_ref().unwrap().value,
            Some(Value::IntValue(500))
        );
        assert_eq!(s.attributes[1].value.as_ref().unwrap().value, None);
        let e = &s.events[0];
        assert_eq!(
            (e.time_unix_nano, text(&e.name)),
            (7, Some("feature_flag.evaluation"))
        );
        assert_eq!(
            e.attributes[0].value.as_ref().unwrap().value,
            Some(Value::StringValue(Bytes::from_static(b"v")))
        );
        assert_eq!(text(&Bytes::from_static(&[0xff, 0xfe])), None);
    }
}
