"""Prerequisites through the real binary: the official MCP Python SDK drives `flagwarden serve` over
Streamable HTTP, and OFREP answers from the same process.

A model flag runs a 25 % canary; the prompt flag that needs it is made to depend on it with
set_targeting's `prerequisite = {flag, variant}` and runs its own 50 % canary. Over OFREP, for 10,000
users, the prompt's candidate goes only to users who get the model's candidate; the prompt's control
is drawn from those users too; everyone else gets the prompt's off variant. A rollback of the model
takes the prompt's candidate from everyone at once. A prerequisite cycle, an unknown flag or variant
and a flag naming itself are refused by name and change nothing; `null` clears a prerequisite, and a
flag another waits on is not archived until it is cleared.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_prerequisites.py
"""

from __future__ import annotations

import dataclasses
from typing import Any

import requests

from scenario import Workspace, new_workspace, ok, refused, run, serve

POLICY = """
version = 1

[environments.production]
agent_may = ["set_targeting", "start_canary", "advance_canary", "record_signals", "rollback"]
steps = [25, 50, 100]
max_auto_percent = 50
max_step_increase = 50
agent_rollback = "allow"
"""

MODEL, PROMPT = "support-model", "support-prompt"
PROD = {"environment": "production"}
USERS = 10_000


def bulk(session: requests.Session, base: str, i: int) -> dict[str, dict[str, Any]]:
    r = session.post(f"{base}/ofrep/v1/evaluate/flags", json={"context": {"targetingKey": f"user-{i}"}},
                     headers={"x-flagwarden-environment": "production"}, timeout=10)
    assert r.status_code == 200, r.text
    return {f["key"]: f for f in r.json()["flags"]}


def everyone(base: str, n: int = USERS) -> list[dict[str, dict[str, Any]]]:
    with requests.Session() as s:
        return [bulk(s, base, i) for i in range(n)]


async def scenario(ws: Workspace, base: str) -> None:
    async with ws.client("2026-07-28", "prerequisites-e2e") as c:
        meta = {"reason": "e2e: prerequisites"}
        for key, variants in [(MODEL, {"m1": "model-1", "m2": "model-2"}),
                              (PROMPT, {"p1": "prompt-1", "p2": "prompt-2"})]:
            await ok(c, "create_flag", {"key": key, "description": key, "change_type": "code",
                                        "variants": variants, "off_variant": next(iter(variants)), **meta})
            await ok(c, "set_targeting", {"key": key, **PROD, "rules": [], **meta})
        await ok(c, "start_canary", {"key": MODEL, **PROD, "candidate_variant": "m2", "steps": [25, 100], **meta})
        dep = await ok(c, "set_targeting", {"key": PROMPT, **PROD, "rules": [],
                                            "prerequisite": {"flag": MODEL, "variant": "m2"}, **meta})
        env = dep["flag"]["environments"][0]
        assert env["prerequisite"] == {"flag": MODEL, "variant": "m2"}, env
        assert f"only where {MODEL} serves \"m2\"" in env["serving"], env["serving"]
        await ok(c, "start_canary", {"key": PROMPT, **PROD, "candidate_variant": "p2", "steps": [50, 100], **meta})

        answers = everyone(base)
        both = control = outside = 0
        for i, a in enumerate(answers):
            model, prompt = a[MODEL], a[PROMPT]
            if prompt["variant"] == "p2":
                assert model["variant"] == "m2", f"user-{i} got the candidate prompt without the candidate model"
                both += 1
            if model["variant"] != "m2":
                assert prompt["variant"] == "p1" and prompt["metadata"].get("arm") == "excluded", (i, prompt)
                outside += 1
            elif prompt["metadata"].get("arm") == "control":
                control += 1
        assert 1_000 <= both <= 1_500, f"{both} users in both canaries (about 12.5 %)"
        assert 1_000 <= control <= 1_500, f"{control} users in the prompt's control, drawn from the model's canary"
        assert outside >= 7_000, outside

        # ---- bad input is refused by name and changes nothing --------------------------------
        before = await ok(c, "audit_log", {"limit": 500})
        cases = [
            ({"key": MODEL, "prerequisite": {"flag": PROMPT, "variant": "p2"}},
             f"a prerequisite cycle: {MODEL} -> {PROMPT} -> {MODEL}"),
            ({"key": PROMPT, "prerequisite": {"flag": PROMPT, "variant": "p2"}}, "its own prerequisite"),
            ({"key": PROMPT, "prerequisite": {"flag": "no-such-flag", "variant": "on"}}, "unknown flag"),
            ({"key": PROMPT, "prerequisite": {"flag": MODEL, "variant": "m9"}}, "prerequisite.variant"),
        ]
        for args, says in cases:
            text = await refused(c, "set_targeting", {**PROD, "rules": [], **meta, **args})
            assert "prerequisite" in text and says in text, (args, text)
        after = await ok(c, "audit_log", {"limit": 500})
        assert len(after["events"]) == len(before["events"]), "refused input writes nothing"
        assert everyone(base, 1_000) == answers[:1_000], "a refusal changed an answer"

        # ---- the model rolled back: nobody gets the prompt's candidate -------------------------
        await ok(c, "rollback", {"key": MODEL, **PROD, **meta})
        assert all(a[MODEL]["variant"] == "m1" and a[PROMPT]["variant"] == "p1" for a in everyone(base, 1_000))


async def clearing(ws: Workspace, base: str) -> None:
    async with ws.client("2026-07-28", "prerequisites-e2e") as c:
        meta = {"reason": "e2e: prerequisites"}
        for key in ("a", "b"):
            await ok(c, "create_flag", {"key": key, "description": key, "change_type": "code", **meta})
        await ok(c, "set_targeting", {"key": "a", **PROD, "rules": [], "enabled": False, **meta})
        out = await ok(c, "set_targeting", {"key": "b", **PROD, "rules": [], "default_variant": "on",
                                            "prerequisite": {"flag": "a", "variant": "on"}, **meta})
        with requests.Session() as s:
            assert bulk(s, base, 1)["b"]["value"] is False, "a is off, so b is off"
            # Left out, the prerequisite stays; null clears it.
            kept = await ok(c, "set_targeting", {"key": "b", **PROD, "rules": [], "default_variant": "on", **meta})
            assert kept["flag"]["environments"][0]["prerequisite"] == {"flag": "a", "variant": "on"}, kept
            assert bulk(s, base, 1)["b"]["value"] is False
            # A flag another waits on is not archived from under it.
            refusal = await ws.cli("archive", "a", "--reason", "retire a", "--yes")
            assert refusal.returncode != 0 and b"b in production has a as a prerequisite" in refusal.stderr, refusal
            cleared = await ok(c, "set_targeting", {"key": "b", **PROD, "rules": [], "default_variant": "on",
                                                    "prerequisite": None, **meta})
            assert "prerequisite" not in cleared["flag"]["environments"][0], cleared
            assert bulk(s, base, 1)["b"]["value"] is True
        assert out["flag"]["version"] < cleared["flag"]["version"]
        archived = await ws.cli("archive", "a", "--reason", "retire a", "--yes")
        assert archived.returncode == 0, archived


def test_prerequisite_over_ofrep(tmp_path, flagwarden_bin):
    ws = new_workspace(tmp_path, flagwarden_bin, POLICY)
    with serve(ws) as server:
        run("2026-07-28", scenario, dataclasses.replace(ws, url=server.mcp), server.base)


def test_a_prerequisite_is_kept_until_cleared(tmp_path, flagwarden_bin):
    ws = new_workspace(tmp_path, flagwarden_bin, POLICY)
    with serve(ws) as server:
        run("2026-07-28", clearing, dataclasses.replace(ws, url=server.mcp), server.base)
