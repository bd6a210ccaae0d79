"""End-to-end: shadow runs and experiments (issue 18) through the real binary, driven by the official MCP
Python SDK over `flagwarden serve`'s /mcp, with every unit's answer read back over OFREP.

* A shadow run whose divergence is above its margin stops (a rollback is proposed, exposure frozen)
  before any user is exposed: OFREP serves every unit the last-known-good value before, during and after,
  while the shadow arm's units are told (metadata shadow_variant/shadow_value, reason SPLIT) to run the
  candidate unseen.
* A shadow run within its margin becomes a live canary in one advance_canary call, keeping its evidence:
  the stored gate evaluation and the shadow_agreement result stay on record (canary_status `shape`,
  audit_log), and exactly the shadow arm's units now get the candidate.
* An experiment: a fixed 50/50 split within its traffic share, per-variant evidence, a winner, the end
  of the split, and list_stale_flags reporting the decided experiment as debt.
* Bad input refused by name, changing nothing: weights outside the allowed set, a shadow run on a flag
  with one variant, an unknown mode, experiment traffic over the policy's bound.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_shapes.py
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import re
from typing import Any
from urllib.parse import urlsplit

from scenario import Workspace, new_workspace, ok, refused, run, serve

ENV = "development"
KEYS = [f"unit-{i}" for i in range(400)]

POLICY = """version = 1

[controller]
enabled = false

[environments.development]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback", "cleanup_flag"]
steps = [10, 50, 100]
max_auto_percent = 100
max_step_increase = 50
min_dwell = "0s"
agent_rollback = "propose"

[environments.development.gate]
min_samples = 100
fresh_within = "24h"

[environments.development.shadow]
margin = 0.02
min_samples = 200

[environments.development.experiments]
weights = [[50, 50], [34, 33, 33]]
max_traffic = 20
guardrails = ["error_rate"]
sample = 1000

[environments.production]
agent_may = ["start_canary", "advance_canary", "record_signals"]
"""


def answers(base: str, key: str) -> dict[str, dict[str, Any]]:
    """Every test unit's OFREP answer for flag `key` in development, over one kept-alive connection."""
    url = urlsplit(base)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    out = {}
    try:
        for unit in KEYS:
            body = json.dumps({"context": {"targetingKey": unit}})
            conn.request("POST", f"/ofrep/v1/evaluate/flags/{key}", body=body,
                         headers={"Content-Type": "application/json", "X-Flagwarden-Environment": ENV})
            r = conn.getresponse()
            text = r.read()
            assert r.status == 200, text
            out[unit] = json.loads(text)
    finally:
        conn.close()
    return out


def assert_everyone_gets(base: str, key: str, value: Any) -> dict[str, dict[str, Any]]:
    got = answers(base, key)
    shown = {u: a["value"] for u, a in got.items() if a["value"] != value}
    assert not shown, f"units shown something other than {value!r}: {dict(list(shown.items())[:5])}"
    return got


async def create(client, key: str, variants: dict[str, Any] | None = None) -> None:
    args: dict[str, Any] = {"key": key, "description": f"{key} for the shapes test", "change_type": "code",
                            "reason": "shapes e2e"}
    if variants:
        args["variants"] = variants
        args["off_variant"] = next(iter(variants))
    await ok(client, "create_flag", args)


async def shadow_scenarios(ws: Workspace, base: str) -> None:
    async with ws.client("legacy", "shapes-e2e") as client:
        # ---- a shadow run diverging beyond its margin stops before anyone is exposed ------------
        await create(client, "ranker", {"old": "bm25", "new": "dense"})
        start = await ok(client, "start_canary", {"key": "ranker", "environment": ENV, "candidate_variant": "new",
                                                  "mode": "shadow", "reason": "shadow the dense ranker"})
        assert start["rollout"]["mode"] == "shadow", start
        assert "shadow_variant" in start["summary"], start["summary"]
        during = assert_everyone_gets(base, "ranker", "bm25")
        shadow_units = [u for u, a in during.items() if "shadow_variant" in a["metadata"]]
        assert 10 <= len(shadow_units) <= 80, f"{len(shadow_units)} shadow units of {len(KEYS)} at 10 %"
        for u in shadow_units:
            meta = during[u]["metadata"]
            assert during[u]["variant"] == "old" and during[u]["reason"] == "SPLIT" and meta["arm"] == "canary", during[u]
            assert meta["shadow_variant"] == "new" and meta["shadow_value"] == "dense", meta
        assert all("shadow_variant" not in a["metadata"] for u, a in during.items() if u not in shadow_units)

        for arm, extra in [("canary", {"shadow_agreements": 240, "shadow_divergences": 60}), ("control", {})]:
            await ok(client, "record_signals", {"key": "ranker", "environment": ENV, "arm": arm, "exposures": 300,
                                                "requests": 300, **extra, "reason": "shadow comparisons"})
        assert_everyone_gets(base, "ranker", "bm25")
        stop = await ok(client, "advance_canary", {"key": "ranker", "environment": ENV, "reason": "shadow verdict"})
        assert stop["gate"]["verdict"] == "ROLLBACK", stop["gate"]
        assert stop["rollout"]["state"] in ("ROLLBACK_PENDING", "ROLLED_BACK"), stop["rollout"]
        assert any("no user was shown it" in r for r in stop["gate"]["reasons"]), stop["gate"]["reasons"]
        assert_everyone_gets(base, "ranker", "bm25")
        status = await ok(client, "canary_status", {"key": "ranker", "environment": ENV})
        sa = status["gate"]["metrics"][0]
        assert sa["metric"] == "shadow_agreement" and sa["label"] == "HARM", sa
        refusal = await refused(client, "advance_canary", {"key": "ranker", "environment": ENV, "reason": "again"})
        assert "rollback was proposed" in refusal, refusal
        assert_everyone_gets(base, "ranker", "bm25")

        # ---- a shadow run within its margin becomes a live canary, keeping its evidence ---------
        await create(client, "reranker", {"old": "v1", "new": "v2"})
        await ok(client, "start_canary", {"key": "reranker", "environment": ENV, "candidate_variant": "new",
                                          "mode": "shadow", "reason": "shadow reranker v2"})
        before = assert_everyone_gets(base, "reranker", "v1")
        shadow_units = {u for u, a in before.items() if "shadow_variant" in a["metadata"]}
        early = await ok(client, "advance_canary", {"key": "reranker", "environment": ENV, "reason": "too early"})
        assert early["gate"]["verdict"] == "HOLD" and early["rollout"]["mode"] == "shadow", early
        for arm, extra in [("canary", {"shadow_agreements": 800, "shadow_divergences": 1}), ("control", {})]:
            await ok(client, "record_signals", {"key": "reranker", "environment": ENV, "arm": arm, "exposures": 800,
                                                "requests": 800, **extra, "reason": "shadow comparisons"})
        live = await ok(client, "advance_canary", {"key": "reranker", "environment": ENV, "reason": "shadow passed"})
        assert live["gate"]["verdict"] == "PROMOTE", live["gate"]
        assert "becomes a live canary" in live["summary"], live["summary"]
        assert "mode" not in live["rollout"] and live["rollout"]["state"] == "RUNNING", live["rollout"]
        after = answers(base, "reranker")
        now_shown = {u for u, a in after.items() if a["value"] == "v2"}
        assert now_shown == shadow_units, "exactly the shadow arm's units get the candidate"
        assert all(after[u]["reason"] == "SPLIT" for u in now_shown)
        status = await ok(client, "canary_status", {"key": "reranker", "environment": ENV})
        kept = status["shape"]
        assert kept["from_shadow"] is True and kept["shadow_agreement"]["label"] == "NONINFERIOR", kept
        assert kept["shadow_agreement"]["canary"]["n"] == 801, kept
        assert status["last_evaluation"] is not None
        assert status["canary"]["shadow_agreements"] == 0, "the canary's gate reads no shadow report"
        audit = await ok(client, "audit_log", {"key": "reranker", "limit": 50})
        actions = [e["action"] for e in audit["events"]]
        assert actions[:2] == ["advance_canary", "record_signals"], actions
        assert audit["events"][0]["reason"] == "shadow passed" and audit["events"][0]["decision"] == "allow", audit["events"][0]
        # The shadow evidence stays on record: the conversion's stored gate evaluation, via the CLI.
        shown = await ws.cli("canary", "show", "reranker", "--env", ENV)
        assert shown.returncode == 0, shown.stderr.decode()
        assert re.search(rb"evaluation #\d+ at [^\n]*: PROMOTE", shown.stdout), shown.stdout.decode()[-600:]


async def experiment_scenario(ws: Workspace, base: str) -> None:
    async with ws.client("legacy", "shapes-e2e") as client:
        await create(client, "checkout-copy", {"control": "Buy", "bold": "Buy now!"})
        args = {"key": "checkout-copy", "environment": ENV, "candidate_variant": "bold", "mode": "experiment",
                "traffic": 20, "primary": "task_success_rate", "reason": "which copy converts"}
        text = await refused(client, "start_canary", {**args, "weights": [40, 60]})
        assert "weights" in text and "[50, 50]" in text, text
        text = await refused(client, "start_canary", {**args, "traffic": 50})
        assert "experiments.max_traffic" in text, text
        assert_everyone_gets(base, "checkout-copy", "Buy")
        start = await ok(client, "start_canary", {**args, "weights": [50, 50]})
        assert start["rollout"]["mode"] == "experiment" and start["rollout"]["percent"] == 20, start["rollout"]
        split = answers(base, "checkout-copy")
        inside = [a for a in split.values() if a["reason"] == "SPLIT"]
        assert 40 <= len(inside) <= 120, f"{len(inside)} of {len(KEYS)} in a 20 % experiment"
        assert {a["variant"] for a in inside} == {"control", "bold"}
        assert all(a["value"] == "Buy" for a in split.values() if a["reason"] != "SPLIT")

        text = await refused(client, "record_signals", {"key": "checkout-copy", "environment": ENV, "arm": "canary",
                                                        "exposures": 10, "reason": "no variant"})
        assert "variant" in text, text
        for variant, successes in [("control", 300), ("bold", 420)]:
            await ok(client, "record_signals", {"key": "checkout-copy", "environment": ENV, "arm": "canary",
                                                "variant": variant, "exposures": 1000, "requests": 1000,
                                                "errors": 5, "task_attempts": 1000, "task_successes": successes,
                                                "reason": "conversion counts"})
        status = await ok(client, "canary_status", {"key": "checkout-copy", "environment": ENV})
        result = status["shape"]["experiment"]["result"]
        assert result["outcome"] == "winner" and result["winner"] == "bold", result
        done = await ok(client, "advance_canary", {"key": "checkout-copy", "environment": ENV, "reason": "decide"})
        assert done["rollout"]["state"] == "COMPLETED" and "wins" in done["summary"], done
        assert_everyone_gets(base, "checkout-copy", "Buy")
        stale = await ok(client, "list_stale_flags", {"environment": ENV})
        mine = [f for f in stale["flags"] if f["key"] == "checkout-copy"]
        assert mine and any(r["code"] == "experiment_decided" for r in mine[0]["reasons"]), stale
        assert "bold" in mine[0]["recommended_action"], mine[0]


async def bad_input(ws: Workspace, base: str) -> None:
    async with ws.client("legacy", "shapes-e2e") as client:
        await create(client, "solo", {"only": True})
        await create(client, "pair", {"off": False, "on": True})
        before = await ok(client, "audit_log", {"limit": 500})
        cases = [
            ({"key": "solo", "candidate_variant": "only", "mode": "shadow"}, "mode"),
            ({"key": "pair", "candidate_variant": "on", "mode": "blue"}, "mode"),
            ({"key": "pair", "candidate_variant": "on", "mode": "experiment", "traffic": 10,
              "primary": "task_success_rate", "weights": [70, 30]}, "weights"),
            ({"key": "pair", "candidate_variant": "on", "mode": "experiment", "traffic": 10,
              "primary": "task_success_rate", "weights": [34, 33, 33]}, "weights"),
            ({"key": "pair", "candidate_variant": "on", "weights": [50, 50]}, "weights"),
        ]
        for args, field in cases:
            text = await refused(client, "start_canary", {"environment": ENV, "reason": "bad", **args})
            assert field in text, (args, text)
        after = await ok(client, "audit_log", {"limit": 500})
        assert len(after["events"]) == len(before["events"]), "refused input writes nothing"
        for key in ("solo", "pair"):
            flag = await ok(client, "get_flag", {"key": key})
            assert flag.get("rollouts", flag.get("active_rollouts")) in (None, [], {}), flag
        assert_everyone_gets(base, "pair", False)


def test_shadow_runs(tmp_path, flagwarden_bin):
    ws = new_workspace(tmp_path, flagwarden_bin, POLICY)
    with serve(ws) as server:
        run("legacy", shadow_scenarios, dataclasses.replace(ws, url=server.mcp), server.base)


def test_experiment(tmp_path, flagwarden_bin):
    ws = new_workspace(tmp_path, flagwarden_bin, POLICY)
    with serve(ws) as server:
        run("legacy", experiment_scenario, dataclasses.replace(ws, url=server.mcp), server.base)


def test_bad_input_is_refused_by_name_and_changes_nothing(tmp_path, flagwarden_bin):
    ws = new_workspace(tmp_path, flagwarden_bin, POLICY)
    with serve(ws) as server:
        run("legacy", bad_input, dataclasses.replace(ws, url=server.mcp), server.base)


# --------------------------------------------------------------------------------------------------------
# Shadow comparisons over OpenTelemetry: the application's own OTel SDK and OpenFeature's OTel hook
# --------------------------------------------------------------------------------------------------------


def otel_shadow_app(base: str, flag: str, users: int) -> dict[str, int]:
    """An application serving one request per user: a SERVER span, the flag evaluated through
    OpenFeature's OFREP provider with the TracingHook, and, where the metadata names a shadow
    variant, the candidate run unseen and `flagwarden.shadow.agreement` set on the span (every
    seventh such user disagrees). Returns its own ground truth."""
    from openfeature import api
    from openfeature.contrib.hook.opentelemetry import TracingHook
    from openfeature.contrib.provider.ofrep import OFREPProvider
    from openfeature.evaluation_context import EvaluationContext
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import SpanKind

    provider = TracerProvider(resource=Resource.create({"service.name": "ranker-shadow",
                                                        "deployment.environment.name": ENV}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces")))
    tracer = provider.get_tracer("ranker")
    api.set_provider_and_wait(OFREPProvider(base, headers_factory=lambda: {"X-Flagwarden-Environment": ENV}),
                              domain="shapes-otel")
    client = api.get_client(domain="shapes-otel")
    client.add_hooks([TracingHook()])
    truth = {"served_lkg": 0, "served_other": 0, "agree": 0, "diverge": 0, "failed": 0}
    shadow_seen = 0
    for u in range(users):
        with tracer.start_as_current_span("GET /search", kind=SpanKind.SERVER) as span:
            d = client.get_string_details(flag, "fallback", EvaluationContext(targeting_key=f"user-{u}"))
            truth["failed"] += d.error_code is not None
            truth["served_lkg" if d.value == "bm25" else "served_other"] += 1
            shadow = d.flag_metadata.get("shadow_variant")
            if shadow is not None:
                assert shadow == "new" and d.flag_metadata.get("shadow_value") == "dense", d.flag_metadata
                agreed = shadow_seen % 7 != 0
                shadow_seen += 1
                span.set_attribute("flagwarden.shadow.agreement", agreed)
                truth["agree" if agreed else "diverge"] += 1
    provider.shutdown()
    return truth


async def otel_scenario(ws: Workspace, base: str) -> None:
    async with ws.client("legacy", "shapes-e2e") as client:
        await create(client, "ranker", {"old": "bm25", "new": "dense"})
        await ok(client, "start_canary", {"key": "ranker", "environment": ENV, "candidate_variant": "new",
                                          "mode": "shadow", "reason": "shadow over OTel"})
        import anyio

        truth = await anyio.to_thread.run_sync(otel_shadow_app, base, "ranker", 600)
        assert truth["failed"] == 0 and truth["served_other"] == 0, truth
        assert truth["agree"] > 20 and truth["diverge"] > 3, truth
        status = await ok(client, "canary_status", {"key": "ranker", "environment": ENV})
        canary = status["canary"]
        assert (canary["shadow_agreements"], canary["shadow_divergences"]) == (truth["agree"], truth["diverge"]), \
            (canary, truth)
        assert canary["by_source"]["otlp"]["shadow_agreements"] == truth["agree"], canary
        sa = status["gate"]["metrics"][0]
        assert sa["metric"] == "shadow_agreement" and sa["canary"]["n"] == truth["agree"] + truth["diverge"], sa


def test_shadow_agreement_over_opentelemetry(tmp_path, flagwarden_bin):
    ws = new_workspace(tmp_path, flagwarden_bin, POLICY)
    with serve(ws) as server:
        run("legacy", otel_scenario, dataclasses.replace(ws, url=server.mcp), server.base)
