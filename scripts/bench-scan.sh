#!/usr/bin/env bash
# Times `flagwarden scan` against ripgrep on the same trees in the same run: this repository and a
# generated git project of 50,000 source files (~1-4 KB, some naming flag keys, plus ignored
# directories full of keys that neither tool may search). The scan-only mode (`scan --keys`) does
# rg's work: walk, honour .gitignore, search for the same 50 keys between key boundaries. The full
# `flagwarden scan` also records the references in the store; its own scan/record split is printed.
# Target: the scan within 1.5x of rg's time.
#
#   scripts/bench-scan.sh            # 5 timed runs per command after 2 warm-ups (page cache)
#   RUNS=10 scripts/bench-scan.sh
set -euo pipefail

RUNS=${RUNS:-5}
FILES=${FILES:-50000}
repo=$(cd "$(dirname "$0")/.." && pwd)

need() {
    if ! command -v "$1" >/dev/null; then
        echo "installing $2 with apt-get" >&2
        if [ "$(id -u)" = 0 ]; then apt-get install -y -qq "$2" >/dev/null; else sudo apt-get install -y -qq "$2" >/dev/null; fi
    fi
}
need rg ripgrep
need hyperfine hyperfine || true # optional: a date loop otherwise

(cd "$repo" && cargo build --release -q)
fw="$repo/target/release/flagwarden"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree="$work/tree"

# Deterministic tree: same seed, same files, every run.
python3 - "$tree" "$FILES" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
keys = [f"{w}-{i}" for i, w in enumerate(["checkout", "search", "pricing", "onboarding", "billing"] * 10)]
exts = [("rs", "rust"), ("ts", "ts"), ("js", "js"), ("py", "py"), ("go", "go"), ("java", "java"), ("cs", "cs")]
words = "let const var fn def func return if else for while match self this value result error config user request response item list map count index name data state handler client server".split()
def line():
    k = rng.randint(3, 10)
    return "    " * rng.randint(0, 3) + " ".join(rng.choice(words) for _ in range(k)) + ";"
def body(with_keys):
    size, out = rng.randint(1000, 4000), []
    total = 0
    while total < size:
        if with_keys and rng.random() < 0.05:
            l = f'    if client.is_enabled("{rng.choice(keys)}") {{'
        else:
            l = line()
        out.append(l)
        total += len(l) + 1
    return "\n".join(out) + "\n"
os.makedirs(os.path.join(root, ".git"))  # enough for .gitignore to count, as with rg
with open(os.path.join(root, ".gitignore"), "w") as f:
    f.write("target/\nnode_modules/\n*.log\n")
made = 0
for top in range(50):
    for sub in range(10):
        d = os.path.join(root, f"pkg{top:02}", "src", f"mod{sub}")
        os.makedirs(d, exist_ok=True)
        for i in range(n // 500):
            ext, _ = exts[(top + sub + i) % len(exts)]
            with open(os.path.join(d, f"file{i:03}.{ext}"), "w") as f:
                f.write(body(rng.random() < 0.2))
            made += 1
# Ignored: neither tool may look here.
for ign in ("target/debug", "node_modules/lib"):
    d = os.path.join(root, ign)
    os.makedirs(d)
    for i in range(1000):
        with open(os.path.join(d, f"gen{i}.js"), "w") as f:
            f.write(body(True))
with open(os.path.join(root, "keys.txt"), "w") as f:
    f.write(",".join(keys))
print(f"generated {made} files (+2000 ignored) in {root}", file=sys.stderr)
PY
keys=$(cat "$tree/keys.txt")
rm "$tree/keys.txt"
# The pattern rg is given: the same keys, longest first, between characters no key can hold.
pattern=$(python3 -c '
import sys
ks = sorted(set(sys.argv[1].split(",")), key=lambda k: (-len(k), k))
print("(^|[^A-Za-z0-9._-])(" + "|".join(k.replace(".", "\\.") for k in ks) + ")([^A-Za-z0-9._-]|$)")
' "$keys")

# A store with the 50 flags, made over MCP stdio like an agent would, for the full scan.
(cd "$tree" && "$fw" init >/dev/null 2>&1)
sed -i "s/^created_per_day = 20 /created_per_day = 100/" "$tree/flagwarden.toml" # 50 flags at once
python3 - "$fw" "$tree/flagwarden.toml" "$keys" <<'PY'
import json, subprocess, sys
fw, policy, keys = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
p = subprocess.Popen([fw, "--policy", policy, "mcp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
def call(i, method, params):
    p.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\n"); p.stdin.flush()
    reply = json.loads(p.stdout.readline())
    if "error" in reply or reply.get("result", {}).get("isError"):
        sys.exit(f"{method} failed: {reply}")
call(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench-scan", "version": "1"}})
p.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n"); p.stdin.flush()
for i, k in enumerate(keys, 1):
    call(i, "tools/call", {"name": "create_flag", "arguments": {"key": k, "description": "bench", "change_type": "code", "reason": "bench"}})
p.stdin.close(); p.wait()
PY

declare -A MEDIAN
median_of() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
# time_cmd NAME DIR CMD...: 2 warm-ups (page cache), then $RUNS runs; the median in ms.
time_cmd() {
    local name=$1 dir=$2; shift 2
    if command -v hyperfine >/dev/null; then
        (cd "$dir" && hyperfine -N -i -w 2 -r "$RUNS" --export-json "$work/h.json" --output null "$(printf '%q ' "$@")" >/dev/null)
        MEDIAN[$name]=$(python3 -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["median"]*1000, 1))' "$work/h.json")
    else
        local ts=()
        for i in $(seq $((RUNS + 2))); do
            local s; s=$(date +%s%N)
            (cd "$dir" && "$@" >/dev/null 2>&1 || true)
            [ "$i" -gt 2 ] && ts+=($(( ($(date +%s%N) - s) / 1000000 )))
        done
        MEDIAN[$name]=$(printf '%s\n' "${ts[@]}" | median_of)
    fi
}

for t in generated repo; do
    dir=$tree; [ $t = repo ] && dir=$repo
    # The same work, interleaved in one run: rg, the scan alone, rg again.
    time_cmd "$t rg" "$dir" rg -n --no-heading -e "$pattern" .
    time_cmd "$t scan" "$dir" "$fw" scan --root . --keys "$keys"
    time_cmd "$t rg2" "$dir" rg -n --no-heading -e "$pattern" .
done
time_cmd "generated full" "$tree" "$fw" --policy "$tree/flagwarden.toml" scan

lines_rg=$(cd "$tree" && rg -n --no-heading -e "$pattern" . | wc -l)
scan_only=$(cd "$tree" && "$fw" scan --root . --keys "$keys")
full=$(cd "$tree" && "$fw" --policy flagwarden.toml scan --json)
split=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("%s files, %s refs: scan %s ms, record %s ms" % (r["files"], r["refs"], r["scan_ms"], r["record_ms"]))' "$full")

echo
echo "cores: $(nproc); runs: $RUNS per command (median, ms); $(rg --version 2>/dev/null | head -1)"
echo "generated tree: rg found $lines_rg matching lines; flagwarden scan --keys: $scan_only"
for t in generated repo; do
    rg_ms=$(python3 -c "print(min(${MEDIAN[$t rg]}, ${MEDIAN[$t rg2]}))")
    ratio=$(python3 -c "print(round(${MEDIAN[$t scan]} / $rg_ms, 2))")
    printf '%-9s rg %8s ms   flagwarden scan %8s ms   ratio %s (target <= 1.5)\n' "$t" "$rg_ms" "${MEDIAN[$t scan]}" "$ratio"
done
echo "generated full scan with the store write: ${MEDIAN[generated full]} ms wall; last run: $split"
