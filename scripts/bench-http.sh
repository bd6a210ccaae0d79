#!/usr/bin/env bash
# HTTP load comparison: flagwarden OFREP against Unleash Edge (offline mode), same flags, same oha settings.
#
#   scripts/bench-http.sh                 # OHA=/path/oha EDGE=/path/unleash-edge when not on PATH
#
# Flags on both sides: "bench-flag" (boolean, 50 % sticky rollout by user id) and flag-0001..flag-0099 (on).
# N_FLAGS=1000 OFF_EVERY=2 makes it 1,000 flags with every second one off (flagwarden: never enabled, so
# served off; Edge: `enabled: false`, which its frontend endpoints leave out), about half enabled.
# flagwarden is seeded through its MCP tools with the official MCP SDK from .venv (scripts/test.sh makes it).
# Each server runs alone, pinned to CPU $SERVER_CPU, oha to CPU $LOAD_CPU; everything binds 127.0.0.1.
# Every load is bounded in count (-n) and time (timeout $CAP s). Servers are killed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

OHA=${OHA:-oha} EDGE=${EDGE:-unleash-edge}
N_SINGLE=${N_SINGLE:-1000000} N_BULK=${N_BULK:-100000} N_WARM=${N_WARM:-10000} CONC=${CONC:-32} CAP=${CAP:-300}
SERVER_CPU=${SERVER_CPU:-1} LOAD_CPU=${LOAD_CPU:-0}
N_FLAGS=${N_FLAGS:-100} OFF_EVERY=${OFF_EVERY:-0}
KEY=${KEY:-user-4}   # the same user on both sides; since the flagd bucketing, flagwarden serves it "off" and Edge "on": the same work
FW_CTX="{\"context\":{\"targetingKey\":\"$KEY\"}}"
EDGE_CTX="{\"userId\":\"$KEY\"}"
EDGE_TOKEN='*:development.bench-frontend'

cargo build --release --locked --bin flagwarden
BIN=$PWD/target/release/flagwarden
[ -x .venv/bin/python ] || { echo "no .venv: run scripts/test.sh once" >&2; exit 1; }

T=$(mktemp -d)
PID=
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=; fi; }
trap 'stop; rm -rf "$T"' EXIT

rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$PID/status"; }   # MiB

# load NAME N URL BODY [oha args...]: a warm-up, then N requests; the result goes to $T/NAME.json.
load() {
  local name=$1 n=$2 url=$3 body=$4; shift 4
  # --disable-compression: oha asks for gzip/br by default; Edge would brotli even 145 bytes, flagwarden never compresses.
  local cmd=(taskset -c "$LOAD_CPU" timeout "$CAP" "$OHA" --no-tui --output-format json --disable-compression -c "$CONC" -m POST
             -H 'content-type: application/json' -d "$body" "$@" "$url")
  "${cmd[@]}" -n "$N_WARM" > /dev/null
  "${cmd[@]}" -n "$n" > "$T/$name.json"
}

echo "== seed flagwarden"
cat > "$T/policy.toml" <<'EOF'
version = 1
[environments.development]
agent_may = ["set_targeting"]
EOF
cat > "$T/seed.py" <<'EOF'
import sys, anyio
from mcp import Client, StdioServerParameters

async def main(bin, policy, db):
    params = StdioServerParameters(command=bin, args=["--policy", policy, "--db", db, "mcp"])
    async with Client(params, mode="legacy", read_timeout_seconds=30) as c:
        async def call(tool, **args):
            r = await c.call_tool(tool, {**args, "reason": "bench seed"})
            if r.is_error:
                sys.exit(f"{tool} {args['key']}: {r.content}")
        half = [{"variant": "on", "percent": 50}, {"variant": "off", "percent": 50}]
        await call("create_flag", key="bench-flag", description="bench", change_type="code")
        await call("set_targeting", key="bench-flag", environment="development", rules=[{"serve": {"split": half}}])
        for i in range(1, n_flags):
            await call("create_flag", key=f"flag-{i:04d}", description="bench", change_type="config")
            if off_every == 0 or i % off_every != 0:
                await call("set_targeting", key=f"flag-{i:04d}", environment="development", rules=[], default_variant="on")

n_flags, off_every = int(sys.argv[4]), int(sys.argv[5])
anyio.run(main, *sys.argv[1:4])
EOF
RUST_LOG=warn timeout 600 .venv/bin/python "$T/seed.py" "$BIN" "$T/policy.toml" "$T/fw.db" "$N_FLAGS" "$OFF_EVERY"

echo "== flagwarden"
RUST_LOG=warn taskset -c "$SERVER_CPU" "$BIN" --policy "$T/policy.toml" --db "$T/fw.db" serve --listen 127.0.0.1:0 \
  > "$T/fw.out" 2> "$T/fw.err" &
PID=$!
for _ in $(seq 100); do grep -q '^flagwarden serving' "$T/fw.out" && break; sleep 0.1; done
FW=$(head -1 "$T/fw.out" | awk '{print $3}')
[[ $FW == http://127.0.0.1:* ]] || { echo "flagwarden did not start:"; cat "$T/fw.err"; exit 1; } >&2
echo "$FW  single: $(curl -s -X POST -H 'content-type: application/json' -d "$FW_CTX" "$FW/ofrep/v1/evaluate/flags/bench-flag")"
ETAG=$(curl -s -D - -o "$T/fw-bulk" -X POST -H 'content-type: application/json' -d "$FW_CTX" "$FW/ofrep/v1/evaluate/flags" \
  | tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}')
echo "bulk: $(jq '.flags | length' "$T/fw-bulk") flags, $(wc -c < "$T/fw-bulk") bytes, ETag $ETAG"
FW_IDLE=$(rss)
load fw-single "$N_SINGLE" "$FW/ofrep/v1/evaluate/flags/bench-flag" "$FW_CTX"
FW_AFTER=$(rss)
load fw-bulk "$N_BULK" "$FW/ofrep/v1/evaluate/flags" "$FW_CTX"
load fw-304 "$N_BULK" "$FW/ofrep/v1/evaluate/flags" "$FW_CTX" -H "If-None-Match: $ETAG"
stop

echo "== unleash edge"
jq -n --argjson n "$N_FLAGS" --argjson off "$OFF_EVERY" '{version: 2, features: (
  [{name: "bench-flag", enabled: true, strategies: [{name: "flexibleRollout",
     parameters: {rollout: "50", stickiness: "userId", groupId: "bench-flag"}}]}]
  + [range(1; $n) | {name: ("flag-" + ("000\(.)" | .[-4:])), enabled: ($off == 0 or (. % $off) != 0),
     strategies: [{name: "default", parameters: {}}]}])}' > "$T/features.json"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
RUST_LOG=warn taskset -c "$SERVER_CPU" "$EDGE" --interface 127.0.0.1 --port "$PORT" offline \
  --bootstrap-file "$T/features.json" --client-tokens '*:development.bench-client' --frontend-tokens "$EDGE_TOKEN" \
  > "$T/edge.log" 2>&1 &
PID=$!
ED=http://127.0.0.1:$PORT
for _ in $(seq 100); do curl -sf "$ED/internal-backstage/health" > /dev/null && break; sleep 0.1; done
curl -sf "$ED/internal-backstage/health" > /dev/null || { echo "Edge did not start:"; cat "$T/edge.log"; exit 1; } >&2
AUTH=(-H "Authorization: $EDGE_TOKEN")
echo "$ED  single: $(curl -s "${AUTH[@]}" -X POST -H 'content-type: application/json' -d "$EDGE_CTX" "$ED/api/frontend/features/bench-flag")"
EDGE_ETAG=$(curl -s -D - -o "$T/ed-bulk" "${AUTH[@]}" -X POST -H 'content-type: application/json' -d "$EDGE_CTX" "$ED/api/frontend/all" \
  | tr -d '\r' | awk 'tolower($1) == "etag:" {print $2}')
echo "bulk: $(jq '.toggles | length' "$T/ed-bulk") flags, $(wc -c < "$T/ed-bulk") bytes, ETag $EDGE_ETAG"
ED_IDLE=$(rss)
load ed-single "$N_SINGLE" "$ED/api/frontend/features/bench-flag" "$EDGE_CTX" "${AUTH[@]}"
ED_AFTER=$(rss)
load ed-bulk "$N_BULK" "$ED/api/frontend/all" "$EDGE_CTX" "${AUTH[@]}"
load ed-304 "$N_BULK" "$ED/api/frontend/all" "$EDGE_CTX" "${AUTH[@]}" -H "If-None-Match: $EDGE_ETAG"
stop

# row LABEL FW EDGE: rps, p50 and p99 (ms) and status codes each side, then the flagwarden/Edge ratios.
stats() { jq -r '[(.summary.requestsPerSec | round), (.latencyPercentiles | .p50, .p99 | . * 1e6 | round / 1e3),
                  (.statusCodeDistribution | to_entries | map("\(.key)x\(.value)") | join(","))] | @tsv' "$T/$1.json"; }
FMT="%-8s %8s %7s %7s %-12s | %8s %7s %7s %-12s | %5s %5s\n"
row() {
  echo "$1 $(stats "$2") $(stats "$3")" | awk -v fmt="$FMT" '{
    printf fmt, $1, $2, $3, $4, $5, $6, $7, $8, $9, sprintf("%.2f", $2 / $6), sprintf("%.2f", $4 / $8) }'
}
echo
echo "oha $("$OHA" --version | awk '{print $2}'), -c $CONC, single -n $N_SINGLE, bulk -n $N_BULK, each after $N_WARM warm-up; ÷ = flagwarden / Edge"
printf "$FMT" scenario "fw rps" p50ms p99ms codes "edge rps" p50ms p99ms codes "rps÷" "p99÷"
row single fw-single ed-single
row "bulk$N_FLAGS" fw-bulk ed-bulk
row bulk304 fw-304 ed-304
echo "RSS MiB: flagwarden idle $FW_IDLE, after single $FW_AFTER | Edge idle $ED_IDLE, after single $ED_AFTER"
