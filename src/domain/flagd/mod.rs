//! flagd flag definitions: one environment of a compiled `Snapshot` written as the JSON document
//! flagd's engines read (the daemon's sync sources, the in-process providers, file sync), so that
//! every engine serves exactly what `eval::evaluate` serves.
//!
//! The parts: `document.rs` the document and one flag's entry (state, variants, default variant).
//! This file re-exports them.

mod document;

pub use document::{SCHEMA_URL, document};
