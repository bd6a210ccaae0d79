//! OTLP bodies: any bytes go through the receiver's decoding (`parse_otlp_body`) as traces, logs or
//! metrics, protobuf or JSON, gzipped or not (the first byte picks which), and an export it decodes
//! goes to `App::ingest_telemetry` on a world with a running canary. No panic, no store error, every
//! refusal a 4xx; a replayed export counts nothing twice and changes nothing but the audit trail.

use std::io::Write;

use super::super::World;
use flagwarden::app::types::{OtlpExport, TelemetryIngest};
use flagwarden::domain::policy::Actor;
use flagwarden::http::{Decoded, Signal, parse_otlp_body};

/// The first byte: bits 0-1 the signal, bit 2 JSON, bit 3 gzip the rest, bit 4 a wrong type.
pub fn run(data: &[u8]) {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let signal = match mode & 3 {
        0 => Signal::Traces,
        1 => Signal::Logs,
        _ => Signal::Metrics,
    };
    let content_type = match (mode & 16 != 0, mode & 4 != 0) {
        (true, _) => "text/plain",
        (false, true) => "application/json; charset=utf-8",
        (false, false) => "application/x-protobuf",
    };
    let (encoding, body) = if mode & 8 != 0 {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(body).expect("gzip in memory");
        (Some("gzip"), z.finish().expect("gzip in memory"))
    } else {
        (None, body.to_vec())
    };
    let decoded = match parse_otlp_body(signal, Some(content_type), encoding, body.into()) {
        Ok(d) => d,
        Err(e) => {
            assert!(e.status.is_client_error(), "{}: {}", e.status, e.message);
            assert!(!e.message.is_empty());
            return;
        }
    };
    let export = match decoded {
        Decoded::Traces(t) => OtlpExport::Traces(t),
        Decoded::Logs(l) => OtlpExport::Logs(l),
        Decoded::Metrics { .. } => return,
    };
    let req = TelemetryIngest {
        export,
        environment: "development".into(),
        bound: None,
        body_sha256: "fuzz".into(),
    };
    let world = World::new();
    let app = Actor::App("fuzz-otlp".into());
    let before = world.dump();
    let first = world.app.ingest_telemetry(&app, &req);
    world.check("ingest_telemetry", &before, false, &first);
    let first = first.expect("an export that decodes is answered");
    assert!(first.rejected <= first.items, "{first:?}");
    let after = world.dump();
    let again = world
        .app
        .ingest_telemetry(&app, &req)
        .expect("a replayed export is answered");
    assert_eq!(
        again.counted, 0,
        "a replayed export counted again: {again:?}"
    );
    assert_eq!(
        after.without_audit,
        world.dump().without_audit,
        "a replayed export changed the evidence"
    );
}
