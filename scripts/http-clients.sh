#!/usr/bin/env bash
# MCP clients written by others against `flagwarden serve` (Streamable HTTP), on a fresh store:
#
#  1. MCP Inspector CLI 2.12.0: `tools/list --strict` (tool-schema portability lint) in both protocol eras,
#     `--protocol-era legacy` (initialize, 2025-11-25, sessions) and `modern` (2026-07-28, stateless).
#     Must exit 0, print nothing on stderr (no warnings, no errors) and list every tool.
#  2. The official conformance suite 0.2.0-alpha.12, `server --suite all` for spec versions 2025-11-25 and
#     2026-07-28, against tests/conformance/expected-failures.yaml (see the README there). Any failure not
#     in the baseline, or a baselined one that now passes, fails this script.
#
#   scripts/http-clients.sh                      # builds nothing: uses target/debug/flagwarden
#   FLAGWARDEN_BIN=path/to/flagwarden scripts/http-clients.sh
#
# Node 22 and the tools are installed on first use by scripts/node-tools.sh (npm ci into .node-tools/).
# The server listens on 127.0.0.1:0 (a free port, read from its first stdout line) and is stopped on exit.
# On failure the work directory (server log, per-check conformance results) is kept and named.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN="${FLAGWARDEN_BIN:-$ROOT/target/debug/flagwarden}"
BASELINE="$ROOT/tests/conformance/expected-failures.yaml"
SPEC_VERSIONS=(2025-11-25 2026-07-28)
ERAS=(legacy modern)
EXPECTED_TOOLS=17

if [ ! -x "$BIN" ]; then
  echo "http-clients: no flagwarden binary at $BIN: cargo build --bin flagwarden, or set FLAGWARDEN_BIN" >&2
  exit 1
fi

NODE_BIN=$(scripts/node-tools.sh)
export PATH="$NODE_BIN:$PATH"
MODULES="$(dirname "$(dirname "$NODE_BIN")")"   # .../.node-tools/node_modules
INSPECTOR="$MODULES/@modelcontextprotocol/inspector/clients/launcher/build/index.js"
CONFORMANCE="$MODULES/@modelcontextprotocol/conformance/dist/index.js"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/flagwarden-http-clients.XXXXXX")
SERVER_PID=""

stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "http-clients: the server did not stop within 10 s of SIGTERM; killing it" >&2
      kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}

on_exit() {
  local status=$?
  stop_server
  if [ "$status" -eq 0 ]; then
    rm -rf "$WORK"
  else
    echo "http-clients: FAILED; kept $WORK (serve.stderr: server log, conformance/: per-check results)" >&2
  fi
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- a fresh store and `flagwarden serve` on a free loopback port -------------------------------------

"$BIN" --policy "$WORK/flagwarden.toml" --db "$WORK/flagwarden.db" init >/dev/null
RUST_LOG="${RUST_LOG:-warn}" "$BIN" --policy "$WORK/flagwarden.toml" --db "$WORK/flagwarden.db" \
  serve --listen 127.0.0.1:0 >"$WORK/serve.stdout" 2>"$WORK/serve.stderr" </dev/null &
SERVER_PID=$!

BASE=""
for _ in $(seq 150); do
  if IFS= read -r first <"$WORK/serve.stdout" && [ -n "$first" ]; then
    if [[ "$first" =~ ^flagwarden\ serving\ (http://127\.0\.0\.1:[0-9]+)$ ]]; then
      BASE="${BASH_REMATCH[1]}"
      break
    fi
    echo "http-clients: unexpected first stdout line from serve: '$first'" >&2
    exit 1
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "http-clients: serve exited before listening:" >&2
    cat "$WORK/serve.stderr" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$BASE" ]; then
  echo "http-clients: serve printed no 'flagwarden serving ...' line within 15 s" >&2
  exit 1
fi
URL="$BASE/mcp"
echo "== flagwarden serve at $URL (pid $SERVER_PID)"

failures=()

# ---- 1. MCP Inspector CLI, tools/list --strict, both eras ---------------------------------------------

mkdir -p "$WORK/home"
for era in "${ERAS[@]}"; do
  out="$WORK/inspector-$era.json"
  err="$WORK/inspector-$era.stderr"
  echo "== MCP Inspector CLI: tools/list --strict --protocol-era $era"
  rc=0
  # HOME: the Inspector keeps a catalog and client config under ~/.mcp-inspector; keep them out of $HOME.
  HOME="$WORK/home" node "$INSPECTOR" --cli "$URL" --method tools/list --strict --protocol-era "$era" \
    --format json >"$out" 2>"$err" </dev/null || rc=$?
  problems=""
  if [ "$rc" -ne 0 ]; then
    problems+="exit code $rc; "
  fi
  if [ -s "$err" ]; then
    problems+="output on stderr (warnings or errors); "
  fi
  count=$(node -e '
    const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    const tools = Array.isArray(r.tools) ? r.tools : (r.result && r.result.tools) || [];
    console.log(tools.length);' "$out" 2>/dev/null) || count="unparsable"
  if [ "$count" != "$EXPECTED_TOOLS" ]; then
    problems+="listed $count tools, expected $EXPECTED_TOOLS; "
  fi
  if [ -n "$problems" ]; then
    echo "   FAIL: ${problems%; }"
    # Errors first (they set the exit code), then the rest; the full list stays in $WORK.
    { grep -A3 '^Error' "$err" || true; grep -v '^{' "$err" | tail -1; head -24 "$err"; } | sed 's/^/   | /'
    failures+=("inspector $era: ${problems%; }")
  else
    echo "   ok: $count tools, no schema-portability problems, nothing on stderr"
  fi
done

# ---- 2. conformance suite, both spec versions, against the baseline -----------------------------------

for spec in "${SPEC_VERSIONS[@]}"; do
  log="$WORK/conformance-$spec.log"
  echo "== conformance server --suite all --spec-version $spec"
  rc=0
  node "$CONFORMANCE" server --url "$URL" --suite all --spec-version "$spec" \
    --expected-failures "$BASELINE" -o "$WORK/conformance/$spec" >"$log" 2>&1 </dev/null || rc=$?
  sed -i 's/\x1b\[[0-9;]*m//g' "$log"   # the suite colours its output unconditionally
  # Totals, the baseline verdict and anything unexpected or stale; the full log stays in $WORK on failure.
  total=$(grep -E '^Total: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1 || true)
  expected=$(grep -cE '^  ~ ' "$log" || true)
  scenarios=$(grep -cE '^[✓✗] ' "$log" || true)
  clean=$(grep -cE '^✓ ' "$log" || true)
  echo "   ${total:-no summary} (checks; warnings not counted); $clean of $scenarios scenarios with no failed check; $expected baselined checks failed or warned as expected"
  awk '/^(Unexpected failures|Stale baseline entries)/ {show=1} /^$/ {show=0} show' "$log" | sed 's/^/   /'
  grep -E '^(Baseline check passed|Baseline is stale|Unexpected failures detected)' "$log" | sed 's/^/   /' || true
  if [ "$rc" -ne 0 ]; then
    failures+=("conformance $spec: exit $rc (${total:-no summary}; see $log)")
  fi
done

stop_server

if [ "${#failures[@]}" -ne 0 ]; then
  echo "== http-clients FAILED:"
  printf '   - %s\n' "${failures[@]}"
  exit 1
fi
echo "== http-clients passed (Inspector CLI in both eras, conformance ${SPEC_VERSIONS[*]} within the baseline)"
