//! The policies more than one test runs under, put together from the pieces in `tests/data/policies/`
//! (TOML without `version`, so each test picks its own and Python reads the same files): a test whose
//! policy is a shared piece plus its own bounds writes `concat!` of the piece and its lines.

/// Development open to agents, production bounded (steps, auto limit, proposals) behind the gate.
pub const TEST_POLICY: &str = concat!(
    "\nversion = 3\n",
    include_str!("../data/policies/standard.toml"),
    include_str!("../data/policies/production_gate.toml"),
);

/// One development environment: every agent tool, steps 10, 50, 100 and rollbacks allowed.
pub const DEVELOPMENT_POLICY: &str = concat!(
    "\nversion = 1\n",
    include_str!("../data/policies/development.toml"),
);
