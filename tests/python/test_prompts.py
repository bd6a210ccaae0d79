"""MCP prompts for the three main workflows, read with the official MCP Python SDK over stdio and HTTP:
prompts/list names them with their arguments, prompts/get fills in the caller's arguments and the live
policy's bounds for the named environment, and bad arguments are protocol errors naming the field.
Every tool a prompt names is one the server lists."""

from __future__ import annotations

import re

import pytest
from mcp.shared.exceptions import MCPError

from scenario import MODES, Workspace, ok, run

PROMPTS = {
    "ship_behind_flag": {"change", "language", "file", "flag_key"},
    "run_canary": {"flag_key", "environment", "candidate_variant"},
    "cleanup_stale_flags": {"environment"},
    "postmortem": {"rollout"},
}


def _text(result) -> str:
    return "\n".join(m.content.text for m in result.messages)


async def prompts_follow_the_policy(ws: Workspace, mode: str) -> None:
    async with ws.client(mode, "flagwarden-e2e-prompts") as c:
        listed = {p.name: p for p in (await c.list_prompts()).prompts}
        assert set(listed) == set(PROMPTS)
        for name, args in PROMPTS.items():
            assert {a.name for a in listed[name].arguments or []} == args, name
            assert listed[name].description
        listed_tools = (await c.list_tools()).tools
        tools = {t.name for t in listed_tools}
        fields = {f for t in listed_tools for f in t.input_schema.get("properties", {})}

        policy = await ok(c, "get_policy", {"environment": "production"})
        canary = _text(await c.get_prompt("run_canary", {"flag_key": "new-checkout", "environment": "production"}))
        assert "new-checkout" in canary and "production" in canary
        bounds = policy["plain"]["production"]
        assert bounds and all(line in canary for line in bounds), "the prompt carries the environment's live bounds"

        ship = _text(
            await c.get_prompt("ship_behind_flag", {"change": "faster totals", "language": "python", "file": "app/cart.py"})
        )
        assert '"app/cart.py"' in ship and "python" in ship
        cleanup = _text(await c.get_prompt("cleanup_stale_flags", {}))

        for text in (canary, ship, cleanup):
            named = set(re.findall(r"\b([a-z]+(?:_[a-z]+)+)\b", text))
            verbs = {"get", "list", "start", "advance", "wrap", "cleanup", "set", "record", "add"}
            calls = {n for n in named - fields if n in tools or n.split("_")[0] in verbs}
            assert calls, text
            assert calls <= tools, f"prompt names tools the server does not have: {calls - tools}"

        with pytest.raises(MCPError, match="environment"):
            await c.get_prompt("run_canary", {"flag_key": "x", "environment": "staging"})
        with pytest.raises(MCPError, match="language"):
            await c.get_prompt("ship_behind_flag", {"change": "x", "language": "cobol"})


@pytest.mark.parametrize("mode", MODES)
def test_prompts_follow_the_policy(transport_ws: Workspace, mode: str) -> None:
    run(mode, prompts_follow_the_policy, transport_ws, mode)
