"""Fixtures shared by the end-to-end tests: the flagwarden binary and a fresh store per test."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from scenario import Workspace, binary, new_workspace, serve


@pytest.fixture(scope="session")
def flagwarden_bin() -> Path:
    path = binary()
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(f"flagwarden binary not found at {path}: build it or set FLAGWARDEN_BIN", pytrace=False)
    return path


@pytest.fixture
def ws(tmp_path: Path, flagwarden_bin: Path) -> Workspace:
    return new_workspace(tmp_path, flagwarden_bin)


@pytest.fixture(params=["stdio", "http"])
def transport_ws(request: pytest.FixtureRequest, ws: Workspace) -> Iterator[Workspace]:
    """The same store reached over stdio (`flagwarden mcp`) or over Streamable HTTP (`flagwarden serve`
    without tokens, loopback mode)."""
    if request.param == "stdio":
        yield ws
        return
    with serve(ws) as server:
        yield dataclasses.replace(ws, url=server.mcp)
