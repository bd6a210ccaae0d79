"""flagwarden as a flagd sync source, measured in one run: how fast a rollback reaches in-process providers,
and in-process evaluation beside OFREP single evaluation.

    cargo build --release --locked --bin flagwarden
    FLAGWARDEN_BIN=target/release/flagwarden .venv/bin/python scripts/bench-flagd-sync.py [--rounds 10]

One `flagwarden serve` (loopback, sdk and agent tokens, a temp store, the standard test policy).

* Fan-out: 50 real `openfeature-provider-flagd` 0.6.1 in-process providers (5 processes of 10, each provider
  on its own gRPC stream, tests/python/flagd_subscribers.py) sync `development`. Each round creates a flag,
  starts a canary, picks a user the canary serves `on` (OFREP's answer), waits until all 50 providers
  answer `on` for that user, then rolls back over one open MCP session; the latency of each provider is
  from the start of the `rollback` tool call to the provider's first `off` answer for that user (checked
  in its PROVIDER_CONFIGURATION_CHANGED handler; CLOCK_MONOTONIC is shared by the processes). p50/p99 over
  rounds x 50.
* Evaluation: one flag with a targeting rule and a running canary, evaluated through OpenFeature's Python
  SDK: the in-process flagd provider (local JSONLogic) beside the OFREP provider (openfeature-provider-ofrep
  0.3.0, one POST per evaluation to the same serve), sequentially, users cycling; the answers must agree.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests" / "python"
sys.path.insert(0, str(TESTS))

from openfeature import api  # noqa: E402
from openfeature.contrib.provider.ofrep import OFREPProvider  # noqa: E402
from openfeature.evaluation_context import EvaluationContext  # noqa: E402

from flagd_support import in_process_client  # noqa: E402
from scenario import binary, new_workspace, ok, run, serve  # noqa: E402

AGENT = "fw_agent_flagd_bench_00000000"
SDK = "fw_sdk_flagd_bench_0000000000"
TOKENS = f"agent:claude={AGENT},sdk:web@development={SDK}"
ENV = "development"


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def send(procs, want) -> None:
    for p in procs:
        p.stdin.write(f"expect {json.dumps(want)}\n")
        p.stdin.flush()
    for p in procs:
        line = p.stdout.readline().strip()
        assert line == "armed", line


def collect(procs, started: float) -> list[float]:
    out = []
    for p in procs:
        answer = json.loads(p.stdout.readline())
        assert "seen" in answer, answer
        out += [(t - started) * 1000 for t in answer["seen"]]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--processes", type=int, default=5)
    ap.add_argument("--per-process", type=int, default=10)
    ap.add_argument("--inprocess-evals", type=int, default=20000)
    ap.add_argument("--ofrep-evals", type=int, default=2000)
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-flagd-sync-"))
    ws = new_workspace(root, binary())
    with serve(ws, env={"FLAGWARDEN_TOKENS": TOKENS, "RUST_LOG": "error"}) as server:
        import dataclasses

        ws = dataclasses.replace(ws, url=server.mcp, headers={"Authorization": f"Bearer {AGENT}"})
        port = int(server.base.rsplit(":", 1)[1])
        ofrep_client = None

        def ofrep_value(flag: str, key: str):
            nonlocal ofrep_client
            if ofrep_client is None:
                api.set_provider_and_wait(
                    OFREPProvider(server.base, headers_factory=lambda: {"Authorization": f"Bearer {SDK}"}, timeout=10),
                    domain="ofrep",
                )
                ofrep_client = api.get_client("ofrep")
            return ofrep_client.get_boolean_value(flag, False, EvaluationContext(targeting_key=key))

        async def create_flags(ws) -> None:
            async with ws.client("2026-07-28", "bench-flagd-setup") as c:
                for r in range(args.rounds):
                    await ok(c, "create_flag", {"key": f"fan-{r}", "description": "fan-out", "change_type": "code",
                                                "reason": "bench"})
                await ok(c, "create_flag", {"key": "eval-flag", "description": "eval", "change_type": "code",
                                            "reason": "bench"})
                await ok(c, "set_targeting", {"key": "eval-flag", "environment": ENV, "reason": "bench", "rules": [
                    {"name": "internal", "conditions": [{"attribute": "email", "op": "ends_with",
                                                         "values": ["@corp.com"]}], "serve": {"variant": "on"}}]})
                await ok(c, "start_canary", {"key": "eval-flag", "environment": ENV, "candidate_variant": "on",
                                             "reason": "bench"})

        run("2026-07-28", create_flags, ws)

        procs = [
            subprocess.Popen([sys.executable, str(TESTS / "flagd_subscribers.py"), str(port), SDK, "fan-0", "user-0",
                              str(args.per_process)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=TESTS)
            for _ in range(args.processes)
        ]
        for p in procs:
            assert p.stdout.readline().strip() == "ready"

        latencies: list[float] = []

        async def rounds(ws) -> None:
            async with ws.client("2026-07-28", "bench-flagd-rollbacks") as c:
                for r in range(args.rounds):
                    flag = f"fan-{r}"
                    await ok(c, "start_canary", {"key": flag, "environment": ENV, "candidate_variant": "on",
                                                 "reason": "bench"})
                    key = next(f"user-{i}" for i in range(5000) if ofrep_value(flag, f"user-{i}") is True)
                    send(procs, {"value": True, "flag": flag, "key": key})
                    collect(procs, time.monotonic())  # every provider serves the canary to `key`
                    send(procs, {"value": False, "flag": flag, "key": key})
                    started = time.monotonic()
                    await ok(c, "rollback", {"key": flag, "environment": ENV, "reason": "bench"})
                    latencies.extend(collect(procs, started))

        try:
            run("2026-07-28", rounds, ws)
        finally:
            for p in procs:
                p.stdin.close()
            for p in procs:
                p.wait(10)

        n = len(latencies)
        print(f"rollback -> {args.processes * args.per_process} in-process providers, {args.rounds} rounds ({n} samples): "
              f"p50 {statistics.median(latencies):.1f} ms, p99 {pct(latencies, 0.99):.1f} ms, "
              f"max {max(latencies):.1f} ms")

        # Evaluation: in-process beside OFREP single evaluation, the same flag and users.
        flagd = in_process_client(port, SDK, "bench-inprocess")
        users = [EvaluationContext(targeting_key=f"user-{i}", attributes={"email": f"u{i}@example.com"})
                 for i in range(1000)]
        for ctx in users[:200]:
            a = flagd.get_boolean_details("eval-flag", False, ctx)
            b = ofrep_client.get_boolean_details("eval-flag", False, ctx)
            assert (a.value, a.variant) == (b.value, b.variant), (ctx.targeting_key, a, b)

        def timed(client, count: int) -> list[float]:
            out = []
            for i in range(count):
                t = time.perf_counter()
                client.get_boolean_value("eval-flag", False, users[i % len(users)])
                out.append((time.perf_counter() - t) * 1e6)
            return out

        inproc = timed(flagd, args.inprocess_evals)
        remote = timed(ofrep_client, args.ofrep_evals)
        for name, xs in (("in-process flagd (Python)", inproc), ("OFREP single (Python provider)", remote)):
            print(f"{name}: {len(xs)} evaluations, mean {statistics.fmean(xs):.1f} us, p50 {pct(xs, 0.5):.1f} us, "
                  f"p99 {pct(xs, 0.99):.1f} us, {1e6 / statistics.fmean(xs):,.0f} evaluations/s")
        print(f"ratio: OFREP single costs {statistics.fmean(remote) / statistics.fmean(inproc):.1f}x "
              f"an in-process evaluation (mean)")
        api.shutdown()


if __name__ == "__main__":
    main()
