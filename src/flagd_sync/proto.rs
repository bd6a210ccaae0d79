//! The `flagd.sync.v1` messages and the tonic server trait, generated at build time by `build.rs`
//! from the vendored `proto/flagd/sync/v1/sync.proto`. Nothing here is written by hand.

#![allow(
    deprecated, // the protocol marks `selector` and `GetMetadata` deprecated; flagd still sends both
    clippy::all,
    missing_docs
)]

tonic::include_proto!("flagd.sync.v1");
