"""Staged audiences and coordinated releases through the real binary: the official MCP Python SDK
drives `flagwarden serve` over Streamable HTTP and OFREP answers from the same process.

A prompt flag and the model flag it needs go out as one release group: segment "internal", then
segment "beta", then 1 % and 5 %. At each segment step only the segment is exposed, half canary and
half control; at 5 % every one of 10,000 users who gets the canary prompt over OFREP also gets the
canary model. Then harm reported on the model's canary rolls both flags back in one audit event.
Bad input (an unknown segment, a segment after a percentage, a group of one flag, a prompt change
that skips `segments_first`) is refused by name and changes nothing.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_release_shapes.py
"""

from __future__ import annotations

import dataclasses
from typing import Any

import requests

import scenario as harness
from scenario import Workspace, new_workspace, ok, refused, run, serve

POLICY = """
version = 1

[segments.internal]
description = "staff"
conditions = [{ attribute = "email", op = "ends_with", values = ["@corp.com"] }]

[segments.beta]
conditions = [{ attribute = "beta", op = "equals", values = [true] }]

[environments.production]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback"]
steps = ["internal", "beta", 1, 5, 25, 100]
segments_first = { prompt = ["internal"] }
max_auto_percent = 25
max_step_increase = 25
agent_rollback = "allow"
auto_rollback = "any"

[environments.production.gate]
min_samples = 100
fresh_within = "24h"

[environments.production.gate.metrics.error_rate]
margin = 0.1
"""

PROMPT, MODEL = "support-prompt", "support-model"
PROD = {"environment": "production"}
GROUP = {"name": "support-v2", "members": {MODEL: "m2"}}
ENV_HEADER = "x-flagwarden-environment"


class Ofrep:
    """OFREP's bulk evaluation on one kept-alive connection."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()

    def __enter__(self) -> "Ofrep":
        return self

    def __exit__(self, *_: object) -> None:
        self.session.close()


def bulk(http: Ofrep, context: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every flag's OFREP answer for `context` in production."""
    r = http.session.post(f"{http.base}/ofrep/v1/evaluate/flags", json={"context": context},
                          headers={ENV_HEADER: "production"}, timeout=10)
    assert r.status_code == 200, r.text
    return {f["key"]: f for f in r.json()["flags"]}


async def flags_state(c) -> dict[str, Any]:
    out = {}
    for key in (PROMPT, MODEL):
        f = await ok(c, "get_flag", {"key": key})
        out[key] = (f["version"], [e.get("rollout") for e in f["environments"]])
    return out


async def scenario(ws: Workspace, base: str) -> None:
    async with ws.client("2026-07-28", "release-shapes-e2e") as c:
        await ok(c, "create_flag", {"key": PROMPT, "description": "support prompt", "change_type": "prompt",
                                    "variants": {"p1": "be brief", "p2": "be kind"}, "off_variant": "p1", "reason": "e2e"})
        await ok(c, "create_flag", {"key": MODEL, "description": "support model", "change_type": "model",
                                    "variants": {"m1": "small", "m2": "large"}, "off_variant": "m1", "reason": "e2e"})
        before = await flags_state(c)

        # Bad input, each refused by name, changing nothing.
        start = {"key": PROMPT, **PROD, "candidate_variant": "p2", "reason": "e2e"}
        text = await refused(c, "start_canary", {**start, "steps": ["staff", 1, 100], "group": GROUP})
        assert "steps[0]" in text and 'unknown segment "staff"' in text and "internal" in text, text
        text = await refused(c, "start_canary", {**start, "steps": ["internal", 1, "beta", 100], "group": GROUP})
        assert "steps[2]" in text and "comes after a percentage" in text, text
        text = await refused(c, "start_canary", {**start, "group": {"name": "solo", "members": {}}})
        assert "group.members" in text and "at least 2 flags" in text, text
        text = await refused(c, "start_canary", {**start, "group": {"name": "g", "members": {PROMPT: "p2"}}})
        assert f"group.members.{PROMPT}" in text and "name each flag once" in text, text
        text = await refused(c, "start_canary", {**start, "group": {"name": "g", "members": {"no-such": "x"}}})
        assert "group.members.no-such" in text and "does not exist" in text, text
        text = await refused(c, "start_canary", {**start, "group": {"name": "g", "members": {MODEL: "m9"}}})
        assert f"group.members.{MODEL}" in text and "m9" in text, text
        text = await refused(c, "start_canary", {**start, "steps": [1, 5, 100], "group": GROUP})
        assert "production.segments_first" in text and "internal" in text, text
        assert await flags_state(c) == before, "a refused start changed a flag"

        # The release: internal → beta → 1 % → 5 %, both flags in one step each.
        out = await ok(c, "start_canary", {**start, "group": GROUP})
        assert out["rollout"]["segment"] == "internal" and out["rollout"]["group"] == "support-v2", out
        assert out["rollout"]["segments"] == ["internal", "beta"], out
        with Ofrep(base) as http:
            exposed = {"canary": 0, "control": 0}
            for i in range(400):
                staff = i % 2 == 0
                ctx = {"targetingKey": f"u{i}", "email": f"u{i}@{'corp.com' if staff else 'mail.test'}"}
                got = bulk(http, ctx)
                p, m = got[PROMPT], got[MODEL]
                if not staff:
                    assert (p["variant"], p["reason"], m["variant"]) == ("p1", "DEFAULT", "m1"), (ctx, p, m)
                    continue
                # Members of the segment are split: canary (p2 + m2) or control (p1 + m1), both SPLIT.
                assert p["reason"] == m["reason"] == "SPLIT", (ctx, p, m)
                assert (p["variant"] == "p2") == (m["variant"] == "m2"), (ctx, p, m)
                exposed["canary" if p["variant"] == "p2" else "control"] += 1
            assert 60 <= exposed["canary"] <= 140 and exposed["canary"] + exposed["control"] == 200, exposed

        for step in ("beta", 1, 5):
            for key in (PROMPT, MODEL):
                for arm in ("canary", "control"):
                    await ok(c, "record_signals", {"key": key, **PROD, "arm": arm, "requests": 200, "errors": 2, "reason": "e2e"})
            out = await ok(c, "advance_canary", {"key": PROMPT, **PROD, "reason": "e2e: gate is green"})
            assert out["decision"]["result"] == "allow", out
            if step == "beta":
                assert out["rollout"]["segment"] == "beta", out
            else:
                assert out["rollout"]["percent"] == step and "segment" not in out["rollout"], out
            model = await ok(c, "canary_status", {"key": MODEL, **PROD})
            assert model["rollout"]["percent"] == out["rollout"]["percent"], ("the model moves with the prompt", model)
            assert model["rollout"].get("segment") == out["rollout"].get("segment"), model

        # At 5 %: the same users in both canaries, over OFREP, for 10,000 users.
        with Ofrep(base) as http:
            canary = 0
            for i in range(10_000):
                got = bulk(http, {"targetingKey": f"user-{i}", "email": "x@mail.test", "beta": False})
                p, m = got[PROMPT]["variant"], got[MODEL]["variant"]
                assert (p == "p2") == (m == "m2"), (i, p, m)
                canary += p == "p2"
            assert 350 <= canary <= 650, canary

        # Harm on the model's canary: both flags roll back in one audit event.
        seq_before = max(e["seq"] for e in (await ok(c, "audit_log", {"limit": 500}))["events"])
        await ok(c, "record_signals", {"key": MODEL, **PROD, "arm": "canary", "requests": 400, "errors": 200, "reason": "e2e: the model fails"})
        events = [e for e in (await ok(c, "audit_log", {"limit": 500}))["events"] if e["seq"] > seq_before]
        rollbacks = [e for e in events if e["action"] == "rollback"]
        assert len(rollbacks) == 1, events
        for key, lkg in ((PROMPT, "p1"), (MODEL, "m1")):
            got = await ok(c, "evaluate_flag", {"key": key, **PROD, "context": {"targetingKey": "user-1"}})
            assert got["variant"] == lkg, (key, got)
            f = await ok(c, "get_flag", {"key": key})
            prod = next(e for e in f["environments"] if e["environment"] == "production")
            assert prod.get("pinned_variant") == lkg and "rollout" not in prod, (key, prod)
        with Ofrep(base) as http:
            for i in range(200):
                got = bulk(http, {"targetingKey": f"user-{i}"})
                assert (got[PROMPT]["variant"], got[MODEL]["variant"]) == ("p1", "m1"), got


def test_a_prompt_and_model_release_moves_and_rolls_back_as_one(tmp_path, flagwarden_bin) -> None:
    ws = new_workspace(tmp_path, flagwarden_bin, POLICY)
    with serve(ws) as server:
        http_ws = dataclasses.replace(ws, url=server.mcp)
        # 10,000 OFREP evaluations take longer than one MCP scenario's usual deadline.
        old, harness.TEST_DEADLINE_S = harness.TEST_DEADLINE_S, 120
        try:
            run("2026-07-28", scenario, http_ws, server.base)
        finally:
            harness.TEST_DEADLINE_S = old
