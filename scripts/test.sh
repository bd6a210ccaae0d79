#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, then runs every test: the Rust unit and integration
# tests (the real binary over stdio with rmcp's client) and the official MCP Python SDK scenario.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== python test dependencies (official MCP Python SDK, pytest) into .venv"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

echo "== cargo build and test"
cargo build --locked --bin flagwarden
cargo test --locked --all-targets

echo "== MCP Python SDK scenario (legacy and 2026-07-28 protocol modes)"
FLAGWARDEN_BIN="$PWD/target/debug/flagwarden" .venv/bin/python -m pytest -q tests/python

echo "== all tests passed"
