#!/usr/bin/env bash
# The real agent CLIs against `flagwarden mcp` (stdio), with only the language model replaced:
#
#  1. Claude Code 2.1.328 (`claude -p`), its model the Anthropic Messages API (streaming) at ANTHROPIC_BASE_URL,
#  2. OpenAI Codex 0.169.0 (`codex exec`), its model the OpenAI Responses API (streaming) of a config.toml
#     model provider,
#
# both served by tests/agents/scripted_model.py on 127.0.0.1. The scripted model walks a release (create,
# wrap, target, a development canary with signals and an advance, a denied and a malformed call, a
# production canary and a rollback that asks for confirmation); tests/agents/drive.py then checks the store
# with the real CLI (`audit --verify`, `audit --json`, `approvals --all --json`) and the stdio traffic (the
# client's name, its automatic elicitation answer). HTTP(S)_PROXY/ALL_PROXY point at a listener that refuses
# and records every connection: any attempt to leave the machine fails the run. Checks marked
# FIXED-BEHAVIOUR (see tests/agents/drive.py) assert issue 13's fixes and fail on a server without them.
#
#   scripts/agent-clients.sh                      # builds nothing: uses target/debug/flagwarden
#   FLAGWARDEN_BIN=path/to/flagwarden scripts/agent-clients.sh
#   scripts/agent-clients.sh --only codex --keep  # extra arguments go to tests/agents/drive.py
#
# Node 22 and the clients are installed on first use by scripts/node-tools.sh (npm ci into .node-tools/);
# the native binaries of the clients' platform packages run directly (see there). Each client run has a
# 90 s timeout; the whole script takes seconds. On failure the work directory is kept and named.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="${FLAGWARDEN_BIN:-$ROOT/target/debug/flagwarden}"
if [ ! -x "$BIN" ]; then
  echo "agent-clients: no flagwarden binary at $BIN: cargo build --bin flagwarden, or set FLAGWARDEN_BIN" >&2
  exit 1
fi
PYTHON="$ROOT/.venv/bin/python"
[ -x "$PYTHON" ] || PYTHON=$(command -v python3)

NODE_BIN=$(scripts/node-tools.sh)
MODULES="$(dirname "$(dirname "$NODE_BIN")")"   # .../.node-tools/node_modules
CLAUDE="$MODULES/@anthropic-ai/claude-code-linux-x64/claude"
CODEX="$MODULES/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex"

echo "agent-clients: $("$CLAUDE" --version 2>/dev/null | head -1), $("$CODEX" --version 2>/dev/null | head -1)" >&2
exec timeout 300 "$PYTHON" tests/agents/drive.py --flagwarden "$BIN" --claude "$CLAUDE" --codex "$CODEX" "$@"
