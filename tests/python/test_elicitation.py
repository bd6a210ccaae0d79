"""End-to-end: a person confirms an agent's rollback proposal in the agent's own client, driven by the
official MCP Python SDK (2.x) over stdio and Streamable HTTP.

The agent proposes a rollback in production (policy: `agent_rollback = "propose"`). A client that
declares elicitation (it has an `elicitation_callback`, standing in for the person at the client) is
asked at once: in "legacy" mode (2025-11-25) through an `elicitation/create` request from the server,
in "2026-07-28" mode through an input-required result the SDK answers and retries with the sealed
request state. The server cannot see whether a person saw the question, so what the answer decides is
the policy's `confirm_in_client` level (production here: unset, so `reduce_only`): an approve confirms
the rollback (it reduces exposure); a reject (it keeps exposure), a decline or a cancel decides nothing,
is recorded as a refused `answer_in_client` with the client's name and version, and `flagwarden
approvals` shows it. Under `all` a reject counts. A decision records the channel `elicitation`. A
client without elicitation gets the proposal queued, and a human confirms it with the CLI
(`flagwarden approve ID --reason ... --yes`).

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_elicitation.py
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types
import pytest

from scenario import FLAG, HUMAN, MODES, NEGOTIATED, Workspace, evaluate, ok, run

PROD = {"key": FLAG, "environment": "production"}

# What the person at the client answers, and what must follow under reduce_only: the rollout's state
# after the call, the approval's status, and the reason recorded (None: the approval stays pending).
# Rule change (issue 13): a reject and a decline used to reject the proposal; now they decide nothing.
ANSWERS: dict[str, tuple[types.ElicitResult, str, str, str | None]] = {
    "approve": (
        types.ElicitResult(action="accept", content={"decision": "approve", "reason": "e2e: latency is up for me too"}),
        "ROLLED_BACK",
        "approved",
        "e2e: latency is up for me too",
    ),
    "reject": (
        types.ElicitResult(action="accept", content={"decision": "reject", "reason": "e2e: that was a load test"}),
        "ROLLBACK_PENDING",
        "pending",
        None,
    ),
    "decline": (types.ElicitResult(action="decline"), "ROLLBACK_PENDING", "pending", None),
    "cancel": (types.ElicitResult(action="cancel"), "ROLLBACK_PENDING", "pending", None),
}


async def start_canary_at_5_percent(c: Any) -> None:
    await ok(c, "create_flag", {"key": FLAG, "description": "New checkout", "change_type": "code", "reason": "e2e"})
    out = await ok(c, "start_canary", {**PROD, "candidate_variant": "on", "reason": "e2e: canary"})
    assert (out["rollout"]["state"], out["rollout"]["percent"]) == ("RUNNING", 5), out


async def approval(ws: Workspace, approval_id: int) -> dict[str, Any]:
    listed = await ws.cli("approvals", "--all", "--json")
    assert listed.returncode == 0, listed.stderr.decode()
    return next(a for a in json.loads(listed.stdout)["approvals"] if a["id"] == approval_id)


async def decision_events(ws: Workspace, approval_id: int) -> list[dict[str, Any]]:
    """The human decisions (approve/reject) recorded for one approval."""
    listed = await ws.cli("audit", "--json", "--limit", "200")
    assert listed.returncode == 0, listed.stderr.decode()
    return [
        e
        for e in json.loads(listed.stdout)
        if e["approval_id"] == approval_id and e["action"] in ("approve", "reject")
    ]


async def refused_answers(ws: Workspace, approval_id: int) -> list[dict[str, Any]]:
    """The in-client answers recorded for one approval that decided nothing."""
    listed = await ws.cli("audit", "--json", "--limit", "200")
    assert listed.returncode == 0, listed.stderr.decode()
    return [e for e in json.loads(listed.stdout) if e["approval_id"] == approval_id and e["action"] == "answer_in_client"]


async def person_answers_in_client(
    ws: Workspace, mode: str, answer: str, expect: tuple[str, str, str | None] | None = None
) -> None:
    reply, rollout_state, status, reason = ANSWERS[answer]
    if expect is not None:
        rollout_state, status, reason = expect
    client_name = f"flagwarden-e2e-elicit-{mode}"
    asked: list[types.ElicitRequestParams] = []

    async def person(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return reply

    async with ws.client(mode, client_name, elicitation_callback=person) as c:
        assert c.protocol_version == NEGOTIATED[mode]
        await start_canary_at_5_percent(c)
        assert asked == [], "starting within policy asks nobody"

        out = await ok(c, "rollback", {**PROD, "reason": "e2e: checkout latency regression"})
        assert len(asked) == 1, f"the person was asked {len(asked)} times"
        question = asked[0]
        assert isinstance(question, types.ElicitRequestFormParams), question
        assert f"Roll back {FLAG} in production" in question.message, question.message
        assert "e2e: checkout latency regression" in question.message, question.message
        assert question.requested_schema["properties"]["decision"]["enum"] == ["approve", "reject"]

        approval_id = out["approval_id"]
        assert isinstance(approval_id, int), out
        assert out["decision"]["result"] == "needs_approval", out
        assert out["rollout"]["state"] == rollout_state, out
        if status == "pending":
            assert f"flagwarden approve {approval_id}" in out["summary"], out["summary"]
            assert "decided nothing" in out["summary"], out["summary"]
        else:
            assert f"was {status} in your client" in out["summary"], out["summary"]
        status_now = await ok(c, "canary_status", PROD)
        assert status_now["rollout"]["state"] == rollout_state, status_now
        assert status_now["version"] == out["version"], (status_now["version"], out["version"])
        if rollout_state == "ROLLED_BACK":
            variants = {(await evaluate(c, {"targetingKey": f"user-{i}"}))["variant"] for i in range(60)}
            assert variants == {"off"}, f"after the rollback some units get {variants}"

    a = await approval(ws, approval_id)
    assert a["status"] == status, a
    events = await decision_events(ws, approval_id)
    refused = await refused_answers(ws, approval_id)
    if status == "pending":
        assert a["decided_via"] is None, a
        assert events == [], events
        said = answer
        [r] = refused
        assert (r["actor_kind"], r["actor"], r["decision"], r["rule"]) == (
            "agent",
            client_name,
            "deny",
            "production.confirm_in_client",
        ), r
        args = json.loads(r["args"])
        assert (args["via"], args["client"], args["answer"]) == (
            "elicitation",
            {"name": client_name, "version": "0.0.1"},
            said,
        ), args
        listed = await ws.cli("approvals")
        assert listed.returncode == 0, listed.stderr.decode()
        line = f"#{approval_id}: client {client_name} 0.0.1 answered {said}: no effect"
        assert line in listed.stdout.decode(), listed.stdout.decode()
        as_json = json.loads((await ws.cli("approvals", "--json")).stdout)
        assert [(c["approval_id"], c["answer"]) for c in as_json["client_answers"]] == [(approval_id, said)], as_json
        return
    assert refused == [], refused
    person_name = f"person at {client_name}'s client"
    assert (a["decided_via"], a["decided_by"], a["decision_reason"]) == ("elicitation", person_name, reason), a
    assert len(events) == 1, events
    e = events[0]
    assert (e["actor_kind"], e["actor"], e["action"]) == ("human", person_name, "approve" if status == "approved" else "reject"), e
    assert json.loads(e["args"])["via"] == "elicitation", e["args"]
    verify = await ws.cli("audit", "--verify")
    assert verify.returncode == 0, verify.stderr.decode()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("answer", sorted(ANSWERS))
def test_person_answers_a_rollback_proposal_in_the_client(transport_ws: Workspace, mode: str, answer: str) -> None:
    run(mode, person_answers_in_client, transport_ws, mode, answer)


def set_production_level(ws: Workspace, level: str) -> None:
    """Writes `confirm_in_client = LEVEL` into the workspace policy's production section (read by each
    stdio client's `flagwarden mcp` as it starts)."""
    text = ws.policy.read_text()
    marker = 'agent_rollback = "propose"\n'
    assert text.count(marker) == 1 and text.index(marker) > text.index("[environments.production]"), text
    ws.policy.write_text(text.replace(marker, marker + f'confirm_in_client = "{level}"\n'))


@pytest.mark.parametrize("mode", MODES)
def test_under_all_a_reject_in_the_client_counts(ws: Workspace, mode: str) -> None:
    set_production_level(ws, "all")
    run(mode, person_answers_in_client, ws, mode, "reject", ("RUNNING", "rejected", "e2e: that was a load test"))


async def queued_then_confirmed_with_the_cli(ws: Workspace, mode: str) -> None:
    async with ws.client(mode, f"flagwarden-e2e-no-elicit-{mode}") as c:
        await start_canary_at_5_percent(c)
        out = await ok(c, "rollback", {**PROD, "reason": "e2e: errors up"})
        approval_id = out["approval_id"]
        assert out["rollout"]["state"] == "ROLLBACK_PENDING", out
        assert f"flagwarden approve {approval_id}" in out["summary"], out["summary"]
        pending = await ok(c, "list_approvals", {})
        assert [p["id"] for p in pending["approvals"]] == [approval_id], pending

        # The CLI wants a typed confirmation on a terminal; without one (and without --yes) it refuses.
        unconfirmed = await ws.cli("approve", str(approval_id), "--reason", "e2e: confirmed")
        assert unconfirmed.returncode != 0
        assert "--yes" in unconfirmed.stderr.decode(), unconfirmed.stderr.decode()
        assert (await ok(c, "canary_status", PROD))["rollout"]["state"] == "ROLLBACK_PENDING"

        approved = await ws.cli("approve", str(approval_id), "--reason", "e2e: confirmed", "--yes")
        assert approved.returncode == 0, approved.stderr.decode()
        status = await ok(c, "canary_status", PROD)
        assert status["rollout"]["state"] == "ROLLED_BACK", status
        assert status["pending_approvals"] == [], status

    a = await approval(ws, approval_id)
    assert (a["status"], a["decided_via"], a["decided_by"]) == ("approved", "cli", HUMAN), a
    [e] = await decision_events(ws, approval_id)
    assert (e["actor_kind"], e["actor"]) == ("human", HUMAN), e
    assert json.loads(e["args"])["via"] == "cli", e["args"]


@pytest.mark.parametrize("mode", MODES)
def test_without_elicitation_the_proposal_waits_for_the_cli(transport_ws: Workspace, mode: str) -> None:
    run(mode, queued_then_confirmed_with_the_cli, transport_ws, mode)


async def person_approves_a_widening(ws: Workspace, mode: str, level: str) -> None:
    """Past max_auto_percent in production: under reduce_only the client's approve is refused and
    recorded and the rollout stays at 25 %; under all it takes the step."""
    client_name = f"flagwarden-e2e-widen-{mode}"
    asked: list[types.ElicitRequestParams] = []

    async def eager(_ctx: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params)
        return types.ElicitResult(action="accept", content={"decision": "approve", "reason": "e2e: go"})

    async with ws.client(mode, client_name, elicitation_callback=eager) as c:
        await start_canary_at_5_percent(c)
        for arm in ("canary", "control"):
            await ok(c, "record_signals", {**PROD, "arm": arm, "requests": 200, "errors": 2, "reason": "e2e"})
        out = await ok(c, "advance_canary", {**PROD, "reason": "e2e: to 25%"})
        assert (out["decision"]["result"], out["rollout"]["percent"]) == ("allow", 25), out
        assert asked == [], "a step within policy asks nobody"
        out = await ok(c, "advance_canary", {**PROD, "reason": "e2e: on to 50%"})
        assert len(asked) == 1, asked
        assert "go to 50%" in asked[0].message, asked[0].message
        approval_id = out["approval_id"]
        assert out["decision"]["result"] == "needs_approval", out
        if level == "all":
            assert (out["rollout"]["state"], out["rollout"]["percent"]) == ("RUNNING", 50), out
        else:
            assert (out["rollout"]["state"], out["rollout"]["percent"]) == ("AWAITING_APPROVAL", 25), out
            assert "production.confirm_in_client" in out["summary"], out["summary"]
            assert f"flagwarden approve {approval_id}" in out["summary"], out["summary"]

    a = await approval(ws, approval_id)
    refused = await refused_answers(ws, approval_id)
    if level == "all":
        assert (a["status"], a["decided_via"]) == ("approved", "elicitation"), a
        assert refused == [], refused
    else:
        assert (a["status"], a["decided_via"]) == ("pending", None), a
        [r] = refused
        assert (r["actor"], r["decision"], json.loads(r["args"])["answer"]) == (client_name, "deny", "approve"), r


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("level", ["reduce_only", "all"])
def test_an_approve_that_widens_counts_only_under_all(ws: Workspace, mode: str, level: str) -> None:
    if level == "all":
        set_production_level(ws, level)
    run(mode, person_approves_a_widening, ws, mode, level)
