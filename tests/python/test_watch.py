"""End-to-end: agents watch instead of poll, with the official MCP Python SDK (2.x), over stdio and over
Streamable HTTP, in both protocol eras.

* Resources: `flagwarden://rollouts/{id}` (and flags, the policy) are listed, templated and read as the
  same JSON `canary_status` gives; a subscribed client hears `notifications/resources/updated` when another
  process (the human CLI on the same store) changes the rollout. 2025-11-25 subscribes with
  `resources/subscribe` and hears the notification through the message handler; 2026-07-28 opens a
  `subscriptions/listen` stream naming the URI.
* `canary_status` with `since` and `wait_s`: a wait returns on the change (well before its timeout, with
  the new state and a newer seq), a wait with nothing to wait for ends at its timeout, and a stale `since`
  answers at once.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_watch.py
"""

from __future__ import annotations

import json
import time
import warnings
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp.client.subscriptions import ResourceUpdated

from scenario import FLAG, MODES, NEGOTIATED, Workspace, ok, refused, run

DEV = {"key": FLAG, "environment": "development"}
# How long a notification may take to arrive: the feed notices another process's commit within 200 ms.
HEAR_WITHIN_S = 10


async def start_rollout(c: Any) -> int:
    await ok(c, "create_flag", {"key": FLAG, "description": "watched", "change_type": "code", "reason": "e2e"})
    started = await ok(c, "start_canary", {**DEV, "candidate_variant": "on", "reason": "e2e: watch it"})
    assert started["rollout"]["state"] == "RUNNING", started
    return started["rollout"]["id"]


async def read_json(c: Any, uri: str) -> dict[str, Any]:
    result = await c.read_resource(uri, cache_mode="bypass")
    assert len(result.contents) == 1, result
    content = result.contents[0]
    assert str(content.uri) == uri
    assert content.mime_type == "application/json"
    return json.loads(content.text)


async def abort_by_cli(ws: Workspace, rollout: int) -> None:
    done = await ws.cli("abort", str(rollout), "--yes", "--reason", "e2e: stop it from another process")
    assert done.returncode == 0, done.stderr.decode(errors="replace")


def resource_updates(into: list[str], heard: anyio.Event):
    """A message handler that records the URI of every resources/updated notification."""

    async def handler(message: Any) -> None:
        inner = getattr(message, "root", message)
        if isinstance(inner, types.ResourceUpdatedNotification):
            into.append(str(inner.params.uri))
            heard.set()

    return handler


async def watch_scenario(ws: Workspace, mode: str) -> None:
    uris: list[str] = []
    heard = anyio.Event()
    async with ws.client(mode, f"e2e-watch-{mode}", message_handler=resource_updates(uris, heard)) as c:
        assert c.protocol_version == NEGOTIATED[mode]
        rollout = await start_rollout(c)
        uri = f"flagwarden://rollouts/{rollout}"

        listed = {str(r.uri) for r in (await c.list_resources()).resources}
        assert {uri, f"flagwarden://flags/{FLAG}", "flagwarden://policy"} <= listed, listed
        templates = {t.uri_template for t in (await c.list_resource_templates()).resource_templates}
        assert templates == {"flagwarden://flags/{key}", "flagwarden://rollouts/{id}"}, templates

        before = await read_json(c, uri)
        status = await ok(c, "canary_status", DEV)
        assert before["rollout"]["id"] == rollout and before["rollout"]["state"] == "RUNNING", before
        assert before["seq"] == status["seq"], (before, status)
        flag = await read_json(c, f"flagwarden://flags/{FLAG}")
        assert flag["key"] == FLAG and flag["version"] == status["version"], flag
        policy = await read_json(c, "flagwarden://policy")
        assert set(policy["plain"]) == {"development", "production"}, policy

        if mode == "legacy":
            # The SDK marks resources/subscribe deprecated: it is the 2025 era's way, still theirs.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await c.subscribe_resource(uri)
            await abort_by_cli(ws, rollout)
            with anyio.fail_after(HEAR_WITHIN_S):
                await heard.wait()
            assert uris == [uri], uris
        else:
            async with c.listen(resource_subscriptions=[uri]) as sub:
                assert sub.honored.resource_subscriptions == [uri], sub.honored
                await abort_by_cli(ws, rollout)
                with anyio.fail_after(HEAR_WITHIN_S):
                    event = await sub.__anext__()
                assert event == ResourceUpdated(uri=uri), event

        after = await read_json(c, uri)
        assert after["rollout"]["state"] == "ABORTED", after
        assert after["seq"] > before["seq"], (before["seq"], after["seq"])


@pytest.mark.parametrize("mode", MODES)
def test_a_subscribed_rollout_hears_the_cli_in_another_process(transport_ws: Workspace, mode: str) -> None:
    run(mode, watch_scenario, transport_ws, mode)


async def wait_scenario(ws: Workspace, mode: str) -> None:
    async with ws.client(mode, f"e2e-wait-{mode}") as c:
        rollout = await start_rollout(c)
        first = await ok(c, "canary_status", DEV)

        # Nothing changes: the wait ends at its timeout, with the same seq.
        started = time.monotonic()
        quiet = await ok(c, "canary_status", {**DEV, "since": first["seq"], "wait_s": 1})
        waited = time.monotonic() - started
        assert quiet["seq"] == first["seq"], quiet
        assert 0.9 <= waited < 5, f"a 1 s wait with no change took {waited:.2f} s"

        # Another process changes the rollout while the agent waits: the answer comes on the change.
        timeout_s = 20
        answer: dict[str, Any] = {}

        async def wait() -> None:
            # Every answer before the deadline must come on a change (a newer seq); another committed
            # change to the flag (none is expected, but the wait may not assume so) is waited past.
            since = first["seq"]
            while True:
                out = await ok(c, "canary_status", {**DEV, "since": since, "wait_s": timeout_s})
                assert out["seq"] > since, f"the wait returned with no change: {out}"
                if out["rollout"]["state"] == "ABORTED":
                    answer.update(out)
                    return
                since = out["seq"]

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await abort_by_cli(ws, rollout)
        waited = time.monotonic() - started
        assert waited < timeout_s / 2, f"the wait returned after {waited:.1f} s, not on the change"
        assert answer["rollout"]["state"] == "ABORTED", answer
        assert answer["seq"] > first["seq"], (first["seq"], answer["seq"])

        # A since older than the state answers at once.
        started = time.monotonic()
        again = await ok(c, "canary_status", {**DEV, "since": first["seq"], "wait_s": timeout_s})
        assert time.monotonic() - started < 5, "a stale since must answer at once"
        assert again["seq"] == answer["seq"]

        # The wait is bounded: more than 60 s is refused, naming the field.
        text = await refused(c, "canary_status", {**DEV, "wait_s": 61})
        assert "wait_s" in text and "60" in text, text


@pytest.mark.parametrize("mode", MODES)
def test_canary_status_waits_for_the_change_not_the_timeout(transport_ws: Workspace, mode: str) -> None:
    run(mode, wait_scenario, transport_ws, mode)


# The controller in `serve` acts by itself on evidence: a non-critical harm on error_rate freezes the
# canary (ROLLBACK_PENDING, a proposed rollback) with no agent call. The agent watching the rollout,
# over `serve`'s own /mcp or over stdio (`flagwarden mcp`, another process on the same store), hears it.
CONTROLLED = """
version = 1
[controller]
interval = "200ms"
debounce = "10ms"

[environments.development]
agent_may = ["start_canary", "advance_canary", "record_signals", "rollback"]
[environments.development.gate]
min_samples = 100
required = ["error_rate"]
fresh_within = "2h"
[environments.development.gate.metrics.error_rate]
margin = 0.05
"""


def post_harm(base: str) -> None:
    """An application's batch: the canary fails 30 % of its requests, the control 1 %."""
    import urllib.request

    body = json.dumps({"batch_id": "harm-1", "environment": "development", "signals": [
        {"flag": FLAG, "arm": "canary", "exposures": 2000, "requests": 2000, "errors": 600},
        {"flag": FLAG, "arm": "control", "exposures": 2000, "requests": 2000, "errors": 20},
    ]}).encode()
    req = urllib.request.Request(f"{base}/api/v1/signals", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as res:
        assert res.status == 200, res.read()


async def controller_scenario(ws: Workspace, mode: str, base: str) -> None:
    uris: list[str] = []
    heard = anyio.Event()
    async with ws.client(mode, f"e2e-controller-{mode}", message_handler=resource_updates(uris, heard)) as c:
        rollout = await start_rollout(c)
        uri = f"flagwarden://rollouts/{rollout}"
        if mode == "legacy":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                await c.subscribe_resource(uri)
            post_harm(base)
            with anyio.fail_after(HEAR_WITHIN_S):
                await heard.wait()
            assert uri in uris, uris
        else:
            async with c.listen(resource_subscriptions=[uri]) as sub:
                post_harm(base)
                with anyio.fail_after(HEAR_WITHIN_S):
                    event = await sub.__anext__()
                assert event == ResourceUpdated(uri=uri), event
        after = await read_json(c, uri)
        assert after["rollout"]["state"] == "ROLLBACK_PENDING", after
    trail = await ws.cli("audit", "--json")
    assert trail.returncode == 0, trail.stderr.decode(errors="replace")
    events = json.loads(trail.stdout)
    by_system = [e for e in events if e["actor_kind"] == "system" and e["action"] == "propose_rollback"]
    assert len(by_system) == 1, events[-5:]


@pytest.mark.parametrize("transport", ["stdio", "http"])
@pytest.mark.parametrize("mode", MODES)
def test_a_subscribed_rollout_hears_what_the_controller_does(tmp_path, flagwarden_bin, mode: str, transport: str) -> None:
    import dataclasses

    from scenario import new_workspace, serve

    ws = new_workspace(tmp_path, flagwarden_bin, CONTROLLED)
    with serve(ws) as server:
        watched = dataclasses.replace(ws, url=server.mcp) if transport == "http" else ws
        run(mode, controller_scenario, watched, mode, server.base)
