"""End-to-end: flagwarden's own telemetry, exported over OTLP/HTTP and read by a receiver that shares no
code with it (otlp_receiver.py, on OpenTelemetry's `opentelemetry-proto` package).

* `flagwarden mcp` over stdio (the official MCP Python SDK), protobuf: the span of one MCP tool call with
  its attributes, its policy decision as a child span in the same trace, a refused call with its error,
  the resource from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, the OTEL_EXPORTER_OTLP_HEADERS on the
  request, and the `/metrics` figures as OTLP metrics, all while the client is still connected.
* `flagwarden serve`, JSON, the exporters' default delays: a tool call over Streamable HTTP and an OFREP
  evaluation by OpenFeature's Python SDK (OFREP provider, with a W3C traceparent) reach the receiver only
  through the flush at SIGTERM: the OFREP span carries a `feature_flag.evaluation` event in the
  feature-flag conventions, and the HTTP request metrics arrive.
* Unset (or OTEL_SDK_DISABLED=true): nothing arrives, and the process runs no exporter thread at all.
* OTEL_EXPORTER_OTLP_PROTOCOL=grpc is refused at start, naming the variable and the fix.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_otel_out.py
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

from otlp_receiver import Receiver, attributes
from scenario import Workspace, ok, run, serve

CLIENT = "otel-e2e"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
# The SDK's exporter threads, as /proc names them (15 characters at most).
EXPORTER_THREADS = ("OpenTelemetry.T", "OpenTelemetry.M", "reqwest-interna")
SERVER_SPAN, INTERNAL_SPAN = 2, 1  # Span.SpanKind
STATUS_ERROR = 2


def otel_env(endpoint: str, protocol: str, **extra: str) -> dict[str, str]:
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_EXPORTER_OTLP_HEADERS": "x-otel-test=secret%20value",
        "OTEL_SERVICE_NAME": "flagwarden-e2e",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e,team=release",
        **extra,
    }


def stdio_client(ws: Workspace, env: dict[str, str]) -> Client:
    params = StdioServerParameters(
        command=str(ws.bin),
        args=[*ws.global_args(), "mcp"],
        cwd=str(ws.root),
        env={"RUST_LOG": "warn", "PATH": os.environ.get("PATH", ""), **env},
    )
    return Client(
        params,
        mode="legacy",
        client_info=types.Implementation(name=CLIENT, version="0.0.1"),
        read_timeout_seconds=15,
    )


def span_named(r: Receiver, name: str) -> tuple[dict[str, Any], Any] | None:
    return next(((res, s) for res, s in r.spans() if s.name == name), None)


def exporter_threads(pid: int) -> list[str]:
    names = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            names.append((task / "comm").read_text().strip())
        except FileNotFoundError:  # the thread ended meanwhile
            pass
    return [n for n in names if n.startswith(EXPORTER_THREADS)]


CREATE = {"key": "otel-flag", "description": "Traced flag", "change_type": "code", "reason": "e2e: otel out"}


# --------------------------------------------------------------------------------------------------------


def test_mcp_exports_the_spans_of_a_tool_call_and_the_metrics(ws: Workspace) -> None:
    async def scenario(r: Receiver) -> None:
        env = otel_env(
            r.endpoint,
            "http/protobuf",
            OTEL_BSP_SCHEDULE_DELAY="100",
            OTEL_METRIC_EXPORT_INTERVAL="200",
        )
        async with stdio_client(ws, env) as c:
            await ok(c, "create_flag", CREATE)
            refused = await c.call_tool("set_targeting", {"key": "no-such-flag", "environment": "development",
                                                         "rules": [], "reason": "e2e"})
            assert refused.is_error is True
            await ok(c, "evaluate_flag", {"key": "otel-flag", "environment": "development",
                                          "context": {"targetingKey": "user-1"}})

            # While the client is connected: the batch processor exports on its own schedule.
            resource, tool = await anyio.to_thread.run_sync(
                lambda: r.wait_for("create_flag span", lambda r: span_named(r, "tools/call create_flag"))
            )
            assert resource["service.name"] == "flagwarden-e2e", resource
            assert resource["deployment.environment.name"] == "e2e", resource
            assert resource["team"] == "release", resource
            assert resource["flagwarden.mode"] == "mcp", resource
            assert tool.kind == SERVER_SPAN
            a = attributes(tool.attributes)
            assert a["mcp.method.name"] == "tools/call", a
            assert a["gen_ai.tool.name"] == "create_flag", a
            assert a["gen_ai.operation.name"] == "execute_tool", a
            assert a["flagwarden.tool.outcome"] == "ok", a
            assert a["flagwarden.policy.decision"] == "allow", a
            assert tool.end_time_unix_nano >= tool.start_time_unix_nano > 0

            _, decide = r.wait_for("its policy decision", lambda r: span_named(r, "policy.decide create_flag"))
            assert decide.trace_id == tool.trace_id, "the decision is in the tool call's trace"
            assert decide.parent_span_id == tool.span_id, "the decision is the tool call's child"
            assert decide.kind == INTERNAL_SPAN
            d = attributes(decide.attributes)
            assert d["flagwarden.policy.decision"] == "allow", d
            assert d["flagwarden.policy.action"] == "create_flag", d
            assert (d["flagwarden.actor.kind"], d["flagwarden.actor.name"]) == ("agent", CLIENT), d
            assert d["flagwarden.dry_run"] is False, d

            _, bad = r.wait_for("the refused call", lambda r: span_named(r, "tools/call set_targeting"))
            b = attributes(bad.attributes)
            assert b["flagwarden.tool.outcome"] != "ok", b
            assert b["error.type"] == "tool_error", b
            assert bad.status.code == STATUS_ERROR, bad.status

            exports = [x for x in r.received if x.path == "/v1/traces"]
            assert all(x.headers.get("x-otel-test") == "secret value" for x in exports), exports[0].headers
            assert all(x.content_type == "application/x-protobuf" for x in exports)

            # `/metrics`' figures as OTLP metrics (no rollout and no OFREP traffic here, so the webhook
            # counters are the ones with points; the serve test below sees the others).
            deliveries = r.wait_for("the webhook metric", lambda r: r.metrics("flagwarden.webhook.deliveries"))
            points = {attributes(p.attributes)["result"]: p.as_int for p in deliveries[-1].sum.data_points}
            assert points == {"delivered": 0, "retried": 0, "gave_up": 0}, points
            assert deliveries[-1].sum.is_monotonic

    with Receiver() as r:
        run("legacy", scenario, r)


def test_serve_flushes_tool_call_and_ofrep_spans_at_shutdown(ws: Workspace) -> None:
    with Receiver() as r:
        # Default delays (5 s for spans, 60 s for metrics): everything below arrives by the shutdown flush.
        env = otel_env(r.endpoint, "http/json")
        with serve(ws, env=env) as server:
            assert exporter_threads(server.proc.pid), "telemetry is on: the exporter threads run"

            async def scenario() -> None:
                async with Client(server.mcp, mode="legacy",
                                  client_info=types.Implementation(name=CLIENT, version="0.0.1")) as c:
                    await ok(c, "create_flag", CREATE)
                    await ok(c, "start_canary", {"key": "otel-flag", "environment": "production",
                                                 "candidate_variant": "on", "reason": "e2e: a rollout to count"})

            run("legacy", scenario)
            provider = OFREPProvider(server.base, headers_factory=lambda: {"traceparent": TRACEPARENT}, timeout=10)
            api.set_provider_and_wait(provider, domain="otel")
            details = api.get_client("otel").get_boolean_details(
                "otel-flag", True, EvaluationContext(targeting_key="user-7"))
            assert (details.value, details.variant) == (False, "off"), details
            assert not r.received, f"nothing is due before the flush: {r.summary()}"
            server.proc.send_signal(signal.SIGTERM)
            assert server.proc.wait(15) == 0, server.log()

        assert all(x.content_type == "application/json" for x in r.received), r.summary()
        resource, tool = r.wait_for("the tool span", lambda r: span_named(r, "tools/call create_flag"), timeout=1)
        assert resource["flagwarden.mode"] == "serve", resource
        assert attributes(tool.attributes)["flagwarden.policy.decision"] == "allow"
        assert span_named(r, "policy.decide create_flag")[1].parent_span_id == tool.span_id

        _, ofrep = r.wait_for("the OFREP span",
                              lambda r: span_named(r, "POST /ofrep/v1/evaluate/flags/{key}"), timeout=1)
        assert ofrep.kind == SERVER_SPAN
        assert ofrep.trace_id.hex() == TRACEPARENT.split("-")[1], "the application's trace continues"
        assert ofrep.parent_span_id.hex() == TRACEPARENT.split("-")[2]
        o = attributes(ofrep.attributes)
        assert (o["http.route"], o["http.response.status_code"]) == ("/ofrep/v1/evaluate/flags/{key}", 200), o
        events = [e for e in ofrep.events if e.name == "feature_flag.evaluation"]
        assert len(events) == 1, ofrep.events
        e = attributes(events[0].attributes)
        assert e["feature_flag.key"] == "otel-flag", e
        assert e["feature_flag.result.variant"] == "off", e
        assert e["feature_flag.result.reason"] == "disabled", e
        assert e["feature_flag.context.id"] == "user-7", e
        assert e["feature_flag.provider.name"] == "flagwarden", e
        assert e["feature_flag.set.id"] == "development", e
        assert e["feature_flag.version"], e

        started = attributes(span_named(r, "tools/call start_canary")[1].attributes)
        assert started["flagwarden.tool.outcome"] == "ok", started
        names = r.metric_names()
        assert {"flagwarden.http.requests", "flagwarden.http.request.duration", "flagwarden.evaluations",
                "flagwarden.rollouts", "flagwarden.webhook.deliveries"} <= names, names
        routes = {attributes(p.attributes)["route"]
                  for m in r.metrics("flagwarden.http.requests") for p in m.sum.data_points}
        assert {"mcp", "ofrep_evaluate"} <= routes, routes
        evaluated = [(attributes(p.attributes), p.as_int)
                     for m in r.metrics("flagwarden.evaluations") for p in m.sum.data_points]
        assert ({"flag": "otel-flag", "environment": "development", "variant": "off"}, 1) in evaluated, evaluated
        states = {attributes(p.attributes)["state"]: p.as_int
                  for m in r.metrics("flagwarden.rollouts") for p in m.gauge.data_points}
        assert sum(states.values()) == 1, states


@pytest.mark.parametrize("case", ["unset", "disabled"])
def test_without_an_endpoint_or_disabled_nothing_is_exported(ws: Workspace, case: str) -> None:
    with Receiver() as r:
        if case == "unset":
            # Everything but an endpoint: the standard's default (localhost:4318) is not taken as a wish.
            env = {k: v for k, v in otel_env(r.endpoint, "http/protobuf").items()
                   if k != "OTEL_EXPORTER_OTLP_ENDPOINT"}
        else:
            env = otel_env(r.endpoint, "http/protobuf", OTEL_SDK_DISABLED="true")
        env["OTEL_BSP_SCHEDULE_DELAY"] = "50"
        with serve(ws, env=env) as server:
            assert exporter_threads(server.proc.pid) == [], "no exporter is built"

            async def scenario() -> None:
                async with Client(server.mcp, mode="legacy",
                                  client_info=types.Implementation(name=CLIENT, version="0.0.1")) as c:
                    await ok(c, "create_flag", CREATE)

            run("legacy", scenario)
            assert exporter_threads(server.proc.pid) == []
            server.proc.send_signal(signal.SIGTERM)
            assert server.proc.wait(15) == 0, server.log()

        async def stdio() -> None:
            async with stdio_client(ws, env) as c:
                await ok(c, "evaluate_flag", {"key": "otel-flag", "environment": "development",
                                              "context": {"targetingKey": "u"}})

        run("legacy", stdio)
        assert r.received == [], f"exported although {case}: {r.summary()}"


def test_grpc_is_refused_at_start_by_name(ws: Workspace) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLAGWARDEN_", "OTEL_"))}
    env.update(otel_env("http://127.0.0.1:9", "grpc"))
    out = subprocess.run([str(ws.bin), *ws.global_args(), "serve", "--listen", "127.0.0.1:0"],
                         cwd=ws.root, env=env, capture_output=True, timeout=15, check=False)
    assert out.returncode == 2, out
    err = out.stderr.decode()
    assert 'OTEL_EXPORTER_OTLP_PROTOCOL="grpc"' in err and "http/protobuf" in err, err
    assert out.stdout == b"", "nothing was served"
