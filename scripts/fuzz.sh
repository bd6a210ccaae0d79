#!/usr/bin/env bash
# Fuzzes every cargo-fuzz target under fuzz/ for a bounded time and fails on any crash.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]   # default 300: the long run, by hand or nightly
#   scripts/fuzz.sh 20                     # CI's short run
#   FUZZ_MERGE=1 scripts/fuzz.sh 300       # also merge what the run found into fuzz/corpus, minimized
#   FUZZ_TARGETS="policy eval" scripts/fuzz.sh 60
#
# The committed corpus (fuzz/corpus/<target>) is read, never written, by a plain run: new inputs go to
# fuzz/target/corpus/<target>, so CI leaves the tree clean. A crash leaves its input in
# fuzz/artifacts/<target>/; reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <file>`
# (from fuzz/ or the root), fix it, and add the input to tests/fuzz_regressions.rs.
#
# Only the stable toolchain is assumed: cargo-fuzz passes -Z flags to rustc, which stable accepts
# under RUSTC_BOOTSTRAP=1. The sanitizer is `none` by default (FUZZ_SANITIZER=address to change it):
# the crate has no `unsafe`, so what the fuzzer looks for is panics, overflow (debug assertions are
# on) and broken invariants, and an ASan build of every dependency costs CI minutes for nothing.
set -euo pipefail

seconds="${1:-300}"
sanitizer="${FUZZ_SANITIZER:-none}"
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz (into ~/.cargo/bin)" >&2
    cargo install cargo-fuzz --locked --version 0.13.2
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
build=(-s "$sanitizer" -a)
cargo fuzz build "${build[@]}"

failed=()
summary=""
for t in $targets; do
    scratch="fuzz/target/corpus/$t"
    mkdir -p "$scratch" "fuzz/corpus/$t"
    log="fuzz/target/fuzz-$t.log"
    echo "== $t: ${seconds}s" >&2
    # -max_len keeps generated inputs (and so a merged corpus) small; -timeout flags a hang as a crash.
    if cargo fuzz run "${build[@]}" "$t" "$scratch" "fuzz/corpus/$t" -- \
        -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed+=("$t")
        tail -n 40 "$log" >&2
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*' || echo "?")
    summary+=$(printf '%-10s %-6s runs %-10s exec/s %-8s cov %s' "$t" "$status" "$runs" "$rate" "$cov")$'\n'
    if [[ "${FUZZ_MERGE:-0}" == 1 && "$status" == ok ]]; then
        # Keep only inputs that add coverage: the committed corpus stays a few dozen small files.
        cp -n "$scratch"/* "fuzz/corpus/$t"/ 2>/dev/null || true
        cargo fuzz cmin "${build[@]}" "$t" "fuzz/corpus/$t" -- -max_len=4096 >"fuzz/target/cmin-$t.log" 2>&1
    fi
done

printf '\n%s' "$summary"
if ((${#failed[@]})); then
    echo "fuzzing found crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
