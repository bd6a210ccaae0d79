//! Shared harness for the integration tests, one concept a file: `policies` the policy files more
//! than one test runs under, `project` a temp project with the real binary (CLI, stdio, `serve`),
//! `client` rmcp's client and a tool's answer, `digest` proof that a store did not change, `world` the
//! `App` in-process with a controlled clock, and `git` for the tests that apply generated diffs, `receiver` a webhook receiver.
//! Each test file compiles this module on its own and uses part of it, hence `dead_code` allowed.

#![allow(dead_code, unused_imports)]

pub mod client;
pub mod digest;
pub mod git;
pub mod policies;
pub mod project;
pub mod receiver;
pub mod world;

pub use client::{Answer, Client, connect_http};
pub use digest::{Before, before, before_serving, db_digest, db_digest_except};
pub use policies::TEST_POLICY;
pub use project::{Project, Served};
pub use receiver::Receiver;
