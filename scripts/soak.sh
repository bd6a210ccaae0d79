#!/usr/bin/env bash
# The long, slow checks of issue 6, bounded in time and count, run by hand (CI runs a short version of
# each from scripts/test.sh):
#
#   scripts/soak.sh                 # 60 s mixed load, 200 SIGKILLs, 300 s of fuzzing per target
#   SOAK_SECS=600 scripts/soak.sh   # a longer load
#   ONLY=load scripts/soak.sh       # one of: load, crash, fuzz
#
#   load   benches/soak.rs against `flagwarden serve` (release), server pinned to CPU 1 and the load to
#          CPU 0: OFREP evaluations as fast as the server answers, MCP tool calls from 4 agents, signal
#          batches at 10/s; prints per-endpoint rate and p50/p90/p99/max, resident memory each second,
#          and fails if memory grows 10 % or more after the warm-up or a valid request fails.
#   crash  tests/crash_safety.rs with FLAGWARDEN_CRASH_ROUNDS=200 SIGKILLs.
#   fuzz   scripts/fuzz.sh with FUZZ_SECS seconds per target.
set -euo pipefail
cd "$(dirname "$0")/.."

ONLY=${ONLY:-all}
SOAK_SECS=${SOAK_SECS:-60}
SOAK_WARMUP=${SOAK_WARMUP:-10}
CRASH_ROUNDS=${CRASH_ROUNDS:-200}
FUZZ_SECS=${FUZZ_SECS:-300}

if [ "$ONLY" = all ] || [ "$ONLY" = load ]; then
  echo "== mixed load for ${SOAK_SECS}s (warm-up ${SOAK_WARMUP}s)"
  cargo bench --locked --bench soak --no-run
  pin=()
  if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
    pin=(taskset -c 0)
    export SOAK_SERVER_CPU=1
  fi
  SOAK_SECS=$SOAK_SECS SOAK_WARMUP=$SOAK_WARMUP timeout $((SOAK_SECS + 120)) \
    "${pin[@]}" cargo bench --locked --bench soak
fi

if [ "$ONLY" = all ] || [ "$ONLY" = crash ]; then
  echo "== ${CRASH_ROUNDS} SIGKILLs"
  FLAGWARDEN_CRASH_ROUNDS=$CRASH_ROUNDS cargo test --locked --release --test crash_safety -- --nocapture
fi

if [ "$ONLY" = all ] || [ "$ONLY" = fuzz ]; then
  echo "== fuzzing, ${FUZZ_SECS}s per target"
  bash scripts/fuzz.sh "$FUZZ_SECS"
fi
