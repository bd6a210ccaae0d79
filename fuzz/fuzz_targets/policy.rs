//! The policy file parser: any text either parses or is refused with an error, never a panic; a
//! policy that parses answers `decide` for every action in every environment it declares.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_world::targets::policy::run(data));
