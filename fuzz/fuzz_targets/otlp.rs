//! OTLP bodies: any bytes through the receiver's decoding and `App::ingest_telemetry`. See
//! fuzz/src/targets/otlp.rs for the invariants.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_world::targets::otlp::run(data));
