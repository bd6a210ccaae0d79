//! The fuzz targets' bodies, one module each: `fuzz_targets/*.rs` hand them libFuzzer's inputs, and
//! the main crate's tests/fuzz_corpus.rs replays the committed corpus and mutations of it through
//! the same code on every test run.

pub mod eval;
pub mod ofrep;
pub mod otlp;
pub mod policy;
pub mod signals;
pub mod tools;
