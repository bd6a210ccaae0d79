//! flagwarden: release control for coding agents. See ARCHITECTURE.md for the map.

pub mod app;
pub mod cli;
pub mod codegen;
pub mod console;
pub mod controller;
pub mod domain;
pub mod flagd_sync;
pub mod http;
pub mod launch;
pub mod mcp;
pub mod notify;
pub mod prometheus;
pub mod scan;
pub mod store;
pub mod telemetry_out;
