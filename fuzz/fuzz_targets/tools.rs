//! Tool arguments: the first byte picks an MCP tool (or a human's approve/reject) and who calls it,
//! the rest is its JSON arguments, deserialized into the tool's typed request exactly as rmcp does and
//! run against a fresh world. No panic, no store error; bad input and dry runs write nothing, a
//! policy refusal writes only its audit event, a repeated idempotency key changes nothing more.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_world::targets::tools::run(data));
