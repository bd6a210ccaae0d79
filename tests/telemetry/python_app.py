"""A Python application that gives flagwarden canary evidence through OpenTelemetry alone.

It is what a team already running OpenTelemetry would have, plus the one OpenFeature hook: the
`opentelemetry-sdk` TracerProvider with the OTLP/HTTP span exporter (protobuf from
`opentelemetry-exporter-otlp-proto-http`, or JSON from `opentelemetry-exporter-otlp-json-http`)
pointed at flagwarden's `/v1/traces`, and OpenFeature's Python SDK over its OFREP provider pointed at
flagwarden's OFREP endpoint, with `openfeature-hooks-opentelemetry`'s TracingHook, which adds a
`feature_flag.evaluation` event to the active span. Nothing in it reports an arm or a count to flagwarden.

It serves `--requests-per-user` requests for each of `--users` users (targeting keys `user-0` ...).
Each request is a SERVER span; the flag is evaluated inside it (with `--nested`, inside a child span
of it, as in a handler that evaluates deep in its own work); the request then fails (HTTP 500, span
status ERROR) for `--canary-error-rate` of the requests served the candidate variant and
`--control-error-rate` of the others, spread evenly from a phase seeded by `--seed`, so a run is
reproducible. It writes its own ground truth to `--truth` as JSON: per arm (the arm the OFREP
answer's metadata named: canary, control or excluded) the requests and errors it served, and what its
exporter reported (spans exported, exports that failed).

    python tests/telemetry/python_app.py --flagwarden http://127.0.0.1:7070 --flag checkout \
        --environment production --encoding proto --truth truth.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from openfeature import api
from openfeature.contrib.hook.opentelemetry import TracingHook
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status, StatusCode

ENV_HEADER = "X-Flagwarden-Environment"


def span_exporter(encoding: str, endpoint: str, gzip: bool) -> SpanExporter:
    """The OpenTelemetry project's own OTLP/HTTP span exporter for `encoding`."""
    if encoding == "proto":
        from opentelemetry.exporter.otlp.proto.http import Compression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    elif encoding == "json":
        from opentelemetry.exporter.otlp.common.http import Compression
        from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter
    else:
        raise SystemExit(f"--encoding must be proto or json, got {encoding!r}")
    # The two packages spell the same enum differently (Gzip/NoCompression against GZIP/NONE).
    if encoding == "proto":
        compression = Compression.Gzip if gzip else Compression.NoCompression
    else:
        compression = Compression.GZIP if gzip else Compression.NONE
    return OTLPSpanExporter(endpoint=endpoint, compression=compression, timeout=10)


class Counting(SpanExporter):
    """Passes every batch to the real exporter and counts what it says, so the ground truth knows
    whether every span reached flagwarden (an exporter that failed is the app's problem, not the
    gate's, and the test must tell the two apart)."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner
        self.exported = 0
        self.failed_exports = 0
        self.failed_spans = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        if result == SpanExportResult.SUCCESS:
            self.exported += len(spans)
        else:
            self.failed_exports += 1
            self.failed_spans += len(spans)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.inner.force_flush(timeout_millis)


class Failures:
    """Which requests fail: exactly `rate` of those served a variant, spread evenly (the n-th request
    fails when floor(n * rate + phase) steps up), with a phase per variant drawn from `seed`. So the
    error rates are the configured ones to within one request, and a run is reproducible."""

    def __init__(self, seed: str, candidate_rate: float, other_rate: float) -> None:
        rng = random.Random(seed)
        self.rate = {True: candidate_rate, False: other_rate}
        self.phase = {True: rng.random(), False: rng.random()}
        self.served = {True: 0, False: 0}

    def next(self, candidate: bool) -> bool:
        n, r, phase = self.served[candidate], self.rate[candidate], self.phase[candidate]
        self.served[candidate] = n + 1
        return math.floor((n + 1) * r + phase) > math.floor(n * r + phase)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--flagwarden", required=True, help="flagwarden serve's base URL (OFREP and OTLP)")
    p.add_argument("--otlp", help="where the OTLP exporter sends (default: --flagwarden)")
    p.add_argument("--flag", required=True)
    p.add_argument("--environment", required=True)
    p.add_argument("--encoding", choices=["proto", "json"], default="proto")
    p.add_argument("--gzip", action="store_true", help="gzip the OTLP bodies")
    p.add_argument("--nested", action="store_true",
                   help="evaluate in a child span of the server span, which alone carries the outcome")
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--requests-per-user", type=int, default=2)
    p.add_argument("--control-error-rate", type=float, default=0.01)
    p.add_argument("--canary-error-rate", type=float, default=0.06)
    p.add_argument("--candidate", default="on", help="the candidate variant: serving it fails more often")
    p.add_argument("--seed", default="flagwarden-otel")
    p.add_argument("--truth", type=Path, required=True)
    args = p.parse_args(argv)
    base = args.flagwarden.rstrip("/")

    # What the application adds for OpenTelemetry: a tracer provider whose OTLP exporter points at
    # flagwarden (the resource names the environment the evidence is for).
    resource = Resource.create({"service.name": f"checkout-python-{args.encoding}",
                                "deployment.environment.name": args.environment})
    provider = TracerProvider(resource=resource)
    exporter = Counting(span_exporter(args.encoding, f"{(args.otlp or base).rstrip('/')}/v1/traces", args.gzip))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000, schedule_delay_millis=200))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("checkout")

    # What it adds for OpenFeature: the OFREP provider and the OTel hook.
    api.set_provider_and_wait(OFREPProvider(base, headers_factory=lambda: {ENV_HEADER: args.environment},
                                            timeout=10))
    api.add_hooks([TracingHook()])
    client = api.get_client("checkout")

    failures = Failures(args.seed, args.canary_error_rate, args.control_error_rate)
    truth = {arm: {"requests": 0, "errors": 0} for arm in ("canary", "control", "excluded")}
    problems: list[str] = []
    started = time.monotonic()
    for u in range(args.users):
        user = f"user-{u}"
        for _ in range(args.requests_per_user):
            with tracer.start_as_current_span("GET /checkout", kind=SpanKind.SERVER,
                                              attributes={"http.request.method": "GET", "http.route": "/checkout",
                                                          "url.path": "/checkout"}) as span:
                if args.nested:
                    # The evaluation happens in a child span (the handler's own work); the request's
                    # outcome is recorded on the server span, its local root, as HTTP instrumentation does.
                    with tracer.start_as_current_span("render checkout"):
                        details = client.get_boolean_details(args.flag, False, EvaluationContext(targeting_key=user))
                else:
                    details = client.get_boolean_details(args.flag, False, EvaluationContext(targeting_key=user))
                if details.error_code is not None:
                    problems.append(f"{user}: evaluation failed: {details.error_code} {details.error_message}")
                # The arm is only for the ground truth; the request's behaviour depends on the variant.
                arm = str(details.flag_metadata.get("arm", "excluded"))
                failed = failures.next(details.variant == args.candidate)
                status = 500 if failed else 200
                span.set_attribute("http.response.status_code", status)
                if failed:
                    span.set_status(Status(StatusCode.ERROR, "checkout failed"))
                truth.setdefault(arm, {"requests": 0, "errors": 0})
                truth[arm]["requests"] += 1
                truth[arm]["errors"] += int(failed)
    served_s = time.monotonic() - started
    provider.shutdown()  # flushes every span still queued

    args.truth.write_text(json.dumps({
        "app": f"python-{args.encoding}{'-gzip' if args.gzip else ''}{'-nested' if args.nested else ''}",
        "flag": args.flag,
        "environment": args.environment,
        "arms": truth,
        "spans_exported": exporter.exported,
        "spans_per_request": 2 if args.nested else 1,
        "failed_exports": exporter.failed_exports,
        "failed_spans": exporter.failed_spans,
        "served_seconds": round(served_s, 3),
        "problems": problems[:20],
    }, indent=2))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
