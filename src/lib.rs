//! flagwarden: release control for coding agents. See ARCHITECTURE.md for the map.

pub mod domain;
pub mod store;
pub mod app;
pub mod codegen;
