"""End-to-end: flagwarden's MCP server over stdio and over Streamable HTTP, driven by the official MCP
Python SDK (2.x).

Every test gets a fresh temporary directory with its own policy file (written here, never the default
policy) and its own SQLite store, starts `flagwarden --policy P --db D mcp` through the SDK (or `serve --listen 127.0.0.1:0`, the port read
from its first stdout line), and asserts on
`structured_content` of the tool results. The human side goes through the real CLI (`approve`, `audit`).
The scenarios live in scenario.py; test_http_mcp.py adds what only HTTP has (tokens).

Protocol modes: "legacy" (initialize handshake, negotiates 2025-11-25) and "2026-07-28" (no handshake,
per-request `_meta`). Each mode runs against its own fresh store.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python

FLAGWARDEN_BIN defaults to target/debug/flagwarden under the repository root.
"""

from __future__ import annotations

import pytest

from scenario import (
    BAD_ARGUMENTS,
    MODES,
    Workspace,
    bad_argument_is_in_band_error_naming_the_field,
    dry_run_set_targeting_changes_nothing,
    idempotent_create_flag_replay,
    release_scenario,
    run,
)


@pytest.mark.parametrize("mode", MODES)
def test_release_scenario(transport_ws: Workspace, mode: str) -> None:
    run(mode, release_scenario, transport_ws, mode)


@pytest.mark.parametrize("mode", MODES)
def test_idempotent_create_flag_replay(transport_ws: Workspace, mode: str) -> None:
    run(mode, idempotent_create_flag_replay, transport_ws, mode)


@pytest.mark.parametrize("mode", MODES)
def test_dry_run_set_targeting_changes_nothing(transport_ws: Workspace, mode: str) -> None:
    run(mode, dry_run_set_targeting_changes_nothing, transport_ws, mode)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", sorted(BAD_ARGUMENTS))
def test_bad_argument_is_in_band_error_naming_the_field(transport_ws: Workspace, mode: str, case: str) -> None:
    run(mode, bad_argument_is_in_band_error_naming_the_field, transport_ws, mode, case)
