//! Evaluation contexts and targeting rules: any JSON case builds variants, rules (through their wire
//! form and `Rule::parse`) and a live rollout; whatever the parsers accept compiles into a snapshot
//! that answers every context with a value or an error, never a panic.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_world::targets::eval::run(data));
