"""End-to-end: flagwarden's MCP server over Streamable HTTP (`flagwarden serve`), driven by the official MCP
Python SDK (2.x), beyond the scenarios test_mcp_scenario.py runs over both transports: bearer tokens.

Every test gets a fresh store and its own `flagwarden --policy P --db D serve --listen 127.0.0.1:0`; the
port is read from the server's first stdout line. The human side still goes through the real CLI on the
same store, while the server runs.

Protocol modes: "legacy" (initialize handshake, 2025-11-25: the server keeps a session, Mcp-Session-Id)
and "2026-07-28" (stateless, per-request `_meta`). The release scenario also runs with bearer tokens
configured (FLAGWARDEN_TOKENS), the client sending its agent token; clients without a valid agent token
must not get in.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_http_mcp.py
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Iterator
from typing import Any

import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from scenario import (
    MODES,
    Workspace,
    release_scenario,
    run,
    serve,
)

AGENT_SECRET = "fw-e2e-agent-" + secrets.token_hex(16)
SDK_SECRET = "fw-e2e-sdk-" + secrets.token_hex(16)
AGENT_NAME = "e2e-agent"
TOKENS = f"agent:{AGENT_NAME}={AGENT_SECRET},sdk:e2e-web={SDK_SECRET}"


@pytest.fixture
def token_server(ws: Workspace) -> Iterator[Workspace]:
    """The store behind a `flagwarden serve` with an agent and an sdk token; no headers set yet."""
    with serve(ws, env={"FLAGWARDEN_TOKENS": TOKENS}) as server:
        yield dataclasses.replace(ws, url=server.mcp)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


# --------------------------------------------------------------------------------------------------------
# The release scenario with tokens (test_mcp_scenario.py runs every scenario over HTTP without them)
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_release_scenario_with_agent_token(token_server: Workspace, mode: str) -> None:
    # With tokens the audit trail names the token, not the client's self-declared clientInfo name.
    run(mode, release_scenario, dataclasses.replace(token_server, headers=bearer(AGENT_SECRET)), mode, AGENT_NAME)


# --------------------------------------------------------------------------------------------------------
# Tokens: the SDK gets nowhere without an agent (or human) token
# --------------------------------------------------------------------------------------------------------

REFUSED = {
    "no-token": ({}, 401),
    "unknown-token": (bearer("fw-e2e-not-a-token"), 401),
    "sdk-token": (bearer(SDK_SECRET), 403),
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_mcp_needs_an_agent_token(token_server: Workspace, mode: str, case: str) -> None:
    headers, status = REFUSED[case]
    assert token_server.url is not None

    async def scenario() -> None:
        # The SDK reports any refused HTTP request as "Server returned an error response": record the
        # statuses on the wire to tell 401 from 403.
        statuses: list[int] = []

        async def record(response: Any) -> None:
            statuses.append(response.status_code)

        got_in = ""
        async with create_mcp_http_client(headers=headers) as http:
            http.event_hooks["response"].append(record)
            client = Client(
                streamable_http_client(token_server.url, http_client=http),
                mode=mode,
                client_info=types.Implementation(name="flagwarden-e2e-intruder", version="0.0.1"),
                read_timeout_seconds=15,
            )
            with contextlib.suppress(Exception):
                async with client as c:
                    tools = await c.list_tools()
                    got_in = f"tools/list answered {len(tools.tools)} tools"
                    created = await c.call_tool(
                        "create_flag",
                        {"key": "intruder", "description": "x", "change_type": "code", "reason": "e2e: intruder"},
                    )
                    got_in += f"; create_flag answered (is_error={created.is_error})"
        assert not got_in, f"{case}: the client got in: {got_in}"
        assert statuses and set(statuses) == {status}, f"{case}: HTTP statuses {statuses}, expected only {status}"

    run(mode, scenario)
