//! Signal batches: any bytes go through the ingest endpoint's parse (`parse_signal_batch`), and a
//! batch it accepts goes to `App::ingest_signals` on a world with a running canary. No panic, no store
//! error; a refused batch changes nothing; a retried batch counts nothing twice.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_world::targets::signals::run(data));
