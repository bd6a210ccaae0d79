"""OTLP ingest beside /api/v1/signals, the same evidence, one run: server CPU per span and spans per second.

    cargo build --release --locked --bin flagwarden
    FLAGWARDEN_BIN=target/release/flagwarden .venv/bin/python scripts/bench-otlp.py [--exports 200 --spans 512]

512 spans per export is what the OpenTelemetry SDKs' batch span processor sends by default
(`maxExportBatchSize`, Python, JavaScript, Java and Go alike); `--spans 100` shows a smaller batch,
where the per-export cost (the commit's fsync above all) weighs more.

One `flagwarden serve` (release, loopback, a temp store, the standard test policy) runs a canary at 25 %
of production. The OFREP answer of each of 1000 users is read once, so every span's evaluation event
carries the variant and reason that user is served (attribution refuses a variant that disagrees). Then:

* OTLP: `--exports` protobuf ExportTraceServiceRequests of `--spans` SERVER spans each, every span with
  one `feature_flag.evaluation` event (key, variant, reason, context id), a status and a duration;
* signals: one /api/v1/signals batch per export carrying the same evidence (per arm: exposures,
  requests, errors, the latency histogram), so the store does the same per-period work.

Each side is sent from one client connection, one request at a time. The server's CPU (utime + stime
from /proc) is read before and after each side, so the figure is the server's own cost per span,
whatever the Python client costs; spans per second is that CPU's inverse (one core) and the wall rate
with this client. Every load is bounded by its count; the server stops at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status  # noqa: E402

from scenario import new_workspace, ok, run, serve  # noqa: E402

FLAG = "bench-otlp"
ENV = "production"
USERS = 1000
TICKS = os.sysconf("SC_CLK_TCK")
BOUNDS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def served_arms(base: str) -> dict[str, tuple[str, str, str]]:
    """Per user: (arm, variant, reason) as OFREP serves them now."""
    conn = http.client.HTTPConnection(base.removeprefix("http://"))
    out = {}
    for i in range(USERS):
        body = json.dumps({"context": {"targetingKey": f"user-{i}"}})
        conn.request("POST", f"/ofrep/v1/evaluate/flags/{FLAG}", body,
                     {"Content-Type": "application/json", "X-Flagwarden-Environment": ENV})
        r = json.loads(conn.getresponse().read())
        arm = r.get("metadata", {}).get("arm", "excluded")
        out[f"user-{i}"] = (arm, r["variant"], r["reason"].lower())
    return out


def build(exports: int, spans: int, arms, rng: random.Random):
    """The OTLP bodies and the signal batches carrying the same evidence."""
    users = [u for u, (arm, _, _) in arms.items() if arm in ("canary", "control")]
    bodies, batches = [], []
    now = time.time_ns()
    for e in range(exports):
        req = ExportTraceServiceRequest()
        rs = req.resource_spans.add(resource=None)
        rs.resource.attributes.append(kv("service.name", "bench"))
        rs.resource.attributes.append(kv("deployment.environment.name", ENV))
        ss = rs.scope_spans.add()
        per_arm = {a: {"exposures": 0, "requests": 0, "errors": 0, "latency": [0] * (len(BOUNDS_MS) + 1)}
                   for a in ("canary", "control")}
        for s in range(spans):
            user = rng.choice(users)
            arm, variant, reason = arms[user]
            error = rng.random() < (0.06 if arm == "canary" else 0.01)
            ms = rng.choice([3, 8, 20, 40, 90])
            start = now + (e * spans + s) * 1000  # after the rollout started, never far ahead
            span = ss.spans.add(
                trace_id=rng.randbytes(16), span_id=rng.randbytes(8), name="GET /checkout",
                kind=Span.SPAN_KIND_SERVER, start_time_unix_nano=start,
                end_time_unix_nano=start + ms * 1_000_000,
                status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET))
            span.attributes.append(KeyValue(key="http.response.status_code",
                                            value=AnyValue(int_value=500 if error else 200)))
            ev = span.events.add(name="feature_flag.evaluation", time_unix_nano=start + 1000)
            for k, v in (("feature_flag.key", FLAG), ("feature_flag.result.variant", variant),
                         ("feature_flag.result.reason", reason), ("feature_flag.context.id", user),
                         ("feature_flag.provider.name", "ofrep")):
                ev.attributes.append(kv(k, v))
            a = per_arm[arm]
            a["exposures"] += 1
            a["requests"] += 1
            a["errors"] += error
            a["latency"][next(i for i, b in enumerate(BOUNDS_MS + [10**9]) if ms <= b)] += 1
        bodies.append(req.SerializeToString())
        signals = []
        for arm, a in per_arm.items():
            if a["requests"]:
                hist = {("+Inf" if i == len(BOUNDS_MS) else str(BOUNDS_MS[i])): c
                        for i, c in enumerate(a["latency"]) if c}
                signals.append({"flag": FLAG, "arm": arm, "exposures": a["exposures"], "requests": a["requests"],
                                "errors": a["errors"], "latency_ms": hist})
        batches.append(json.dumps({"batch_id": f"b{e}", "environment": ENV, "signals": signals}).encode())
    return bodies, batches


def send(base: str, pid: int, path: str, ctype: str, bodies: list[bytes]) -> tuple[float, float]:
    """(server CPU seconds, wall seconds) for sending every body once, in order."""
    conn = http.client.HTTPConnection(base.removeprefix("http://"))
    cpu0, t0 = cpu_seconds(pid), time.perf_counter()
    for b in bodies:
        conn.request("POST", path, b, {"Content-Type": ctype})
        r = conn.getresponse()
        text = r.read()
        if r.status != 200:
            sys.exit(f"{path}: {r.status} {text[:300]!r}")
        if path == "/v1/traces":
            # partial_success must be empty: every span counted.
            from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
            resp = ExportTraceServiceResponse.FromString(text)
            if resp.partial_success.rejected_spans:
                sys.exit(f"rejected spans: {resp.partial_success.error_message}")
    return cpu_seconds(pid) - cpu0, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--exports", type=int, default=200)
    ap.add_argument("--spans", type=int, default=512)
    args = ap.parse_args()
    binary = Path(os.environ.get("FLAGWARDEN_BIN", "target/release/flagwarden")).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        ws = new_workspace(Path(tmp), binary)
        with serve(ws) as server:
            ws = ws.__class__(**{**ws.__dict__, "url": server.mcp})

            async def setup(w):
                async with w.client("2026-07-28", "bench-otlp") as c:
                    await ok(c, "create_flag", {"key": FLAG, "description": "bench", "change_type": "code",
                                                "reason": "bench"})
                    await ok(c, "start_canary", {"key": FLAG, "environment": ENV, "candidate_variant": "on",
                                                 "steps": [25, 50, 100], "reason": "bench"})

            run("2026-07-28", setup, ws)
            arms = served_arms(server.base)
            bodies, batches = build(args.exports, args.spans, arms, random.Random(7))
            spans = args.exports * args.spans
            pid = server.proc.pid
            otlp_cpu, otlp_wall = send(server.base, pid, "/v1/traces", "application/x-protobuf", bodies)
            sig_cpu, sig_wall = send(server.base, pid, "/api/v1/signals", "application/json", batches)
            print(f"{spans} spans in {args.exports} exports of {args.spans}; the same evidence as "
                  f"{args.exports} /api/v1/signals batches")
            print(f"OTLP protobuf  server CPU {otlp_cpu * 1e6 / spans:7.2f} us/span   "
                  f"{spans / otlp_cpu if otlp_cpu else float('inf'):9.0f} spans/s per core   "
                  f"wall {spans / otlp_wall:8.0f} spans/s ({otlp_wall:.2f} s)")
            print(f"/api/v1/signals server CPU {sig_cpu * 1e6 / spans:7.2f} us/span-equivalent "
                  f"({sig_cpu * 1e3 / args.exports:.3f} ms/batch)   wall {spans / sig_wall:8.0f} span-equivalents/s")
            if sig_cpu:
                print(f"ratio OTLP/signals CPU: {otlp_cpu / sig_cpu:.1f}x")


if __name__ == "__main__":
    main()
