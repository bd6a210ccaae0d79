#!/usr/bin/env bash
# Installs what the tests need on a fresh machine, then runs every test: the Rust unit and integration
# tests (the real binary over stdio and HTTP), the official MCP Python SDK and OpenFeature's Python OFREP
# provider, a real Prometheus (Debian's package, extracted by scripts/prometheus.sh) for the query
# provider, and (Node 22 and npm packages installed by scripts/node-tools.sh) the MCP Inspector CLI and
# the MCP conformance suite against `flagwarden serve`, and the real Claude Code and Codex CLIs against
# `flagwarden mcp` with a scripted model on 127.0.0.1 (scripts/agent-clients.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== python test dependencies (official MCP Python SDK, pytest) into .venv"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt

echo "== toolchains for the generated-code checks (rustc, tsc, node, python ast, gofmt, javac, mcs) and strace"
eval "$(bash scripts/lang-tools.sh)"

echo "== Debian's prometheus (bookworm 2.42) for tests/prometheus_provider.rs, extracted once into .prometheus/"
eval "$(bash scripts/prometheus.sh)"
export FLAGWARDEN_REQUIRE_TOOLCHAINS=1

echo "== cargo build and test"
cargo build --locked --bin flagwarden
cargo test --locked --all-targets

echo "== MCP Python SDK (stdio and HTTP, legacy and 2026-07-28), OpenFeature's Python OFREP provider, flagd's Python and JavaScript in-process providers over gRPC sync, real OTel exporters (Python, Node) into the OTLP receiver"
FLAGWARDEN_BIN="$PWD/target/debug/flagwarden" .venv/bin/python -m pytest -q tests/python

echo "== the console in Debian's chromium (Playwright, axe-core): log in, approve a proposed rollback, screenshots"
README_SHOT="$PWD/docs/console-approvals.png" bash scripts/console-browser.sh

echo "== real HTTP clients: MCP Inspector CLI --strict (both eras), MCP conformance suite (2025-11-25, 2026-07-28)"
FLAGWARDEN_BIN="$PWD/target/debug/flagwarden" bash scripts/http-clients.sh

echo "== real agent clients over stdio: Claude Code (claude -p) and Codex (codex exec), a scripted model on 127.0.0.1"
FLAGWARDEN_BIN="$PWD/target/debug/flagwarden" bash scripts/agent-clients.sh

echo "== all tests passed"
