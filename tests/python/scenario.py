"""The agent scenario shared by the stdio and the HTTP end-to-end tests, and the harness around it.

A `Workspace` is one fresh store (a temp dir with its own policy file and SQLite database). Its `client()`
opens the official MCP Python SDK (2.x) `Client` on it: over stdio (`flagwarden --policy P --db D mcp`,
spawned by the SDK) when `url` is None, else over Streamable HTTP at `url` (a `flagwarden ... serve` started
with `serve()` below). The scenarios only talk to `ws.client(...)` and `ws.cli(...)`, so the same code runs
over both transports:

* test_mcp_scenario.py  runs them over stdio,
* test_http_mcp.py      runs them over `flagwarden serve` (Streamable HTTP),
* test_ofrep_provider.py uses the server launcher and the MCP client to set flags up for OpenFeature.

Protocol modes: "legacy" (initialize handshake, negotiates 2025-11-25) and "2026-07-28" (no handshake,
per-request `_meta`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

REPO_ROOT = Path(__file__).resolve().parents[2]

MODES = ["legacy", "2026-07-28"]
NEGOTIATED = {"legacy": "2025-11-25", "2026-07-28": "2026-07-28"}

FLAG = "new-checkout"
HUMAN = "alice"

# A whole test (server start, every call, the CLI runs) must finish within this many seconds.
TEST_DEADLINE_S = 30

# The standard test policy, from the same pieces as the Rust tests' `TEST_POLICY` (tests/common/policies.rs):
# development open to agents, production bounded behind the gate.
POLICIES = REPO_ROOT / "tests" / "data" / "policies"
POLICY = "version = 1\n\n" + (POLICIES / "standard.toml").read_text() + (POLICIES / "production_gate.toml").read_text()

READ_ONLY_TOOLS = {
    "list_flags",
    "get_flag",
    "evaluate_flag",
    "get_policy",
    "canary_status",
    "list_stale_flags",
    "list_approvals",
    "audit_log",
}
ALL_TOOLS = READ_ONLY_TOOLS | {
    "create_flag",
    "wrap_change",
    "set_targeting",
    "start_canary",
    "advance_canary",
    "record_signals",
    "rollback",
    "cleanup_flag",
    "add_version",
}

INTERNAL_RULE = {
    "conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}],
    "serve": {"variant": "on"},
}
INTERNAL_USER = {"targetingKey": "user-internal-1", "email": "dana@corp.com"}
EXTERNAL_USER = {"targetingKey": "user-external-1", "email": "eve@example.com"}


# --------------------------------------------------------------------------------------------------------
# Harness
# --------------------------------------------------------------------------------------------------------


def binary() -> Path:
    raw = os.environ.get("FLAGWARDEN_BIN")
    path = Path(raw) if raw else REPO_ROOT / "target" / "debug" / "flagwarden"
    return path.resolve()


@dataclass(frozen=True)
class Workspace:
    """One fresh store: a temp dir with the policy file and the database path. With `url` set, MCP
    clients reach it over Streamable HTTP (a running `flagwarden serve`, sending `headers` on every
    request); without, over stdio."""

    bin: Path
    root: Path
    policy: Path
    db: Path
    url: str | None = None
    headers: dict[str, str] = dataclass_field(default_factory=dict)

    def global_args(self) -> list[str]:
        return ["--policy", str(self.policy), "--db", str(self.db)]

    def client(
        self, mode: str, client_name: str, elicitation_callback: Any = None, message_handler: Any = None
    ) -> contextlib.AbstractAsyncContextManager[Client]:
        """With `elicitation_callback` the client declares elicitation and answers with it (a person
        at the client); without, it cannot be asked anything. `message_handler` gets the server's
        notifications (2025-era resource updates arrive there)."""
        options: dict[str, Any] = {
            "mode": mode,
            "client_info": types.Implementation(name=client_name, version="0.0.1"),
            "read_timeout_seconds": 15,
        }
        if elicitation_callback is not None:
            options["elicitation_callback"] = elicitation_callback
        if message_handler is not None:
            options["message_handler"] = message_handler
        if self.url is None:
            params = StdioServerParameters(
                command=str(self.bin),
                args=[*self.global_args(), "mcp"],
                cwd=str(self.root),
                env={"RUST_LOG": "warn"},
            )
            return Client(params, **options)
        if not self.headers:
            return Client(self.url, **options)
        return _client_with_headers(self.url, self.headers, options)

    async def cli(self, *args: str, human: str = HUMAN) -> subprocess.CompletedProcess[bytes]:
        """Run the human CLI against this store, as `human`."""
        env = {k: v for k, v in os.environ.items() if k not in ("FLAGWARDEN_POLICY", "FLAGWARDEN_DB")}
        env["FLAGWARDEN_HUMAN"] = human
        with anyio.fail_after(15):
            return await anyio.run_process(
                [str(self.bin), *self.global_args(), *args],
                cwd=str(self.root),
                env=env,
                check=False,
            )


@contextlib.asynccontextmanager
async def _client_with_headers(url: str, headers: dict[str, str], options: dict[str, Any]) -> AsyncIterator[Client]:
    """An HTTP client that sends `headers` (e.g. Authorization) on every request. The SDK does not close
    an http client it was given, so this does."""
    async with create_mcp_http_client(headers=headers) as http:
        async with Client(streamable_http_client(url, http_client=http), **options) as c:
            yield c


def new_workspace(root: Path, bin: Path, policy: str = "") -> Workspace:
    path = root / "flagwarden.toml"
    path.write_text(policy or POLICY)
    return Workspace(bin=bin, root=root, policy=path, db=root / "flagwarden.db")


def _text(result: types.CallToolResult) -> str:
    return "\n".join(getattr(block, "text", "") for block in result.content)


async def ok(client: Client, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """Call a tool that must succeed; return its structured content."""
    result = await client.call_tool(tool, args)
    assert not result.is_error, f"{tool}({json.dumps(args)}) failed in-band: {_text(result)}"
    assert isinstance(result.structured_content, dict), f"{tool} returned no structured_content: {_text(result)}"
    return result.structured_content


async def refused(client: Client, tool: str, args: dict[str, Any]) -> str:
    """Call a tool that must fail in-band (isError: true, not a protocol error); return its message text."""
    result = await client.call_tool(tool, args)
    assert result.is_error is True, (
        f"{tool}({json.dumps(args)}) should have been refused in-band but succeeded: "
        f"{json.dumps(result.structured_content)}"
    )
    text = _text(result)
    assert text.strip(), f"{tool} was refused without a message"
    return text


async def evaluate(client: Client, context: dict[str, Any], env: str = "production") -> dict[str, Any]:
    return await ok(client, "evaluate_flag", {"key": FLAG, "environment": env, "context": context})


async def audit_count(client: Client) -> int:
    return len((await ok(client, "audit_log", {"limit": 500}))["events"])


def run(mode: str, scenario, *args) -> None:
    """Run an async scenario under a hard deadline, so a hung server fails the test instead of the run."""

    async def main() -> None:
        with anyio.fail_after(TEST_DEADLINE_S):
            await scenario(*args)

    try:
        anyio.run(main)
    except BaseExceptionGroup as group:
        # The SDK's task groups wrap a failed assertion; show the assertion itself.
        leaves = _leaves(group)
        if len(leaves) == 1 and isinstance(leaves[0], AssertionError):
            raise leaves[0] from None
        raise


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for e in group.exceptions:
        out.extend(_leaves(e) if isinstance(e, BaseExceptionGroup) else [e])
    return out


class Steps:
    """Named steps. A failing step is fatal unless it is marked soft: a soft step's result feeds nothing
    later, so the scenario goes on and every failure is reported at the end (the test still fails)."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    @contextlib.contextmanager
    def soft(self, name: str):
        try:
            yield
        except AssertionError as e:
            self.failures.append(f"step {name}: {e}")

    @contextlib.contextmanager
    def fatal(self, name: str):
        try:
            yield
        except AssertionError as e:
            earlier = "".join(f"\n  (earlier) {f}" for f in self.failures)
            raise AssertionError(f"step {name}: {e}{earlier}") from None

    def finish(self) -> None:
        if self.failures:
            pytest.fail("\n".join(self.failures), pytrace=False)


# --------------------------------------------------------------------------------------------------------
# `flagwarden serve` on a free loopback port
# --------------------------------------------------------------------------------------------------------

SERVING = re.compile(r"flagwarden serving (http://127\.0\.0\.1:[0-9]{1,5})")
START_TIMEOUT_S = 15
STOP_TIMEOUT_S = 10


@dataclass(frozen=True)
class Served:
    """A running `flagwarden serve`: `base` is http://127.0.0.1:PORT, `mcp` the MCP endpoint."""

    base: str
    proc: subprocess.Popen[bytes]
    stderr: Path

    @property
    def mcp(self) -> str:
        return f"{self.base}/mcp"

    def log(self, last: int = 40) -> str:
        lines = self.stderr.read_text(errors="replace").splitlines()
        return "\n".join(lines[-last:])


@contextlib.contextmanager
def serve(ws: Workspace, *args: str, env: dict[str, str] | None = None) -> Iterator[Served]:
    """Start `flagwarden --policy P --db D serve --listen 127.0.0.1:0 ARGS` and read the port from its
    first stdout line. Stopped with SIGTERM (then SIGKILL) on exit; not stopping in time is a failure.
    `env` adds to (and FLAGWARDEN_TOKENS etc. from the caller's environment never leak into) the server's
    environment."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("FLAGWARDEN_")}
    base_env["RUST_LOG"] = "warn"
    stdout = ws.root / f"serve-{time.monotonic_ns()}.stdout"
    stderr = stdout.with_suffix(".stderr")
    cmd = [str(ws.bin), *ws.global_args(), "serve", "--listen", "127.0.0.1:0", *args]
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=ws.root, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                env={**base_env, **(env or {})})
    served: Served | None = None
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            text = stdout.read_bytes().decode(errors="replace")
            if "\n" in text:
                first = text.split("\n", 1)[0]
                m = SERVING.fullmatch(first)
                assert m, f"first stdout line of `serve` is {first!r}, expected 'flagwarden serving http://127.0.0.1:PORT'"
                served = Served(base=m.group(1), proc=proc, stderr=stderr)
                break
            if proc.poll() is not None:
                pytest.fail(f"`{' '.join(cmd)}` exited with {proc.returncode} before serving:\n"
                            f"{stderr.read_text(errors='replace')}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"`serve` printed no first line within {START_TIMEOUT_S}s:\n"
                            f"{stderr.read_text(errors='replace')}", pytrace=False)
            time.sleep(0.02)
        yield served
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                pytest.fail(f"`serve` did not stop within {STOP_TIMEOUT_S}s of SIGTERM", pytrace=False)
        if served is not None and proc.returncode not in (0, -15):
            print(f"serve exited with {proc.returncode}; last log lines:\n{served.log()}")


# --------------------------------------------------------------------------------------------------------
# The scenarios (each takes a Workspace and a protocol mode)
# --------------------------------------------------------------------------------------------------------


async def release_scenario(ws: Workspace, mode: str, agent: str | None = None) -> None:
    """The release of one flag, create to rollback. `agent` is the actor the audit trail must name for the
    agent's events: the client's own name (clientInfo) by default; over HTTP with tokens, the token's name."""
    steps = Steps()
    client_name = f"flagwarden-e2e-{mode}"
    prod = {"key": FLAG, "environment": "production"}

    async with ws.client(mode, client_name) as c:
        assert c.protocol_version == NEGOTIATED[mode]

        with steps.soft("1 tools/list"):
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert set(tools) == ALL_TOOLS, f"missing {ALL_TOOLS - set(tools)}, unexpected {set(tools) - ALL_TOOLS}"
            for name, tool in sorted(tools.items()):
                assert tool.output_schema, f"{name} has no outputSchema"
                assert tool.output_schema.get("type") == "object", f"{name}: outputSchema root is not an object"
                a = tool.annotations
                assert a is not None, f"{name} has no annotations"
                hints = {
                    "readOnlyHint": a.read_only_hint,
                    "destructiveHint": a.destructive_hint,
                    "idempotentHint": a.idempotent_hint,
                    "openWorldHint": a.open_world_hint,
                }
                assert None not in hints.values(), f"{name} leaves a hint to the spec default: {hints}"
                assert a.read_only_hint is (name in READ_ONLY_TOOLS), f"{name}: readOnlyHint {a.read_only_hint}"

        with steps.fatal("2 create_flag"):
            out = await ok(
                c,
                "create_flag",
                {
                    "key": FLAG,
                    "description": "New checkout flow",
                    "change_type": "code",
                    "reason": "e2e: guard the new checkout",
                },
            )
            assert out["dry_run"] is False
            assert out["decision"]["result"] == "allow"
            assert out["version"] == 1
            assert out["flag"]["key"] == FLAG
            assert out["flag"]["version"] == 1
            envs = {e["environment"]: e for e in out["flag"]["environments"]}
            assert set(envs) == {"development", "production"}
            for name, e in envs.items():
                assert e["enabled"] is False, f"{name} is not off: {e}"
            for env in ("production", "development"):
                ev = await evaluate(c, {"targetingKey": "user-1"}, env)
                assert (ev["variant"], ev["reason"], ev["value"]) == ("off", "DISABLED", False), f"{env}: {ev}"

        with steps.soft("3 wrap_change"):
            out = await ok(
                c,
                "wrap_change",
                {
                    "key": FLAG,
                    "language": "python",
                    "change_description": "Serve the new checkout flow",
                    "reason": "e2e: wrap the checkout change",
                },
            )
            assert out["decision"]["result"] == "allow"
            assert out["created_flag"] is False, "the flag exists already"
            for field in ("setup", "guard"):
                assert isinstance(out[field], str) and out[field].strip(), f"{field} is empty: {out[field]!r}"
                assert FLAG in out[field], f"{field} does not mention {FLAG}: {out[field]!r}"

        with steps.fatal("4 set_targeting"):
            out = await ok(c, "set_targeting", {**prod, "rules": [INTERNAL_RULE], "reason": "e2e: internal users first"})
            assert out["decision"]["result"] == "allow"
            assert out["version"] == 2
            ev = await evaluate(c, INTERNAL_USER)
            assert (ev["variant"], ev["reason"]) == ("on", "TARGETING_MATCH"), ev
            ev = await evaluate(c, EXTERNAL_USER)
            assert ev["variant"] == "off", ev
            assert ev["reason"] != "TARGETING_MATCH", ev

        with steps.fatal("5 start_canary"):
            out = await ok(c, "start_canary", {**prod, "candidate_variant": "on", "reason": "e2e: canary"})
            assert out["decision"]["result"] == "allow"
            rollout = out["rollout"]
            assert rollout["state"] == "RUNNING"
            assert rollout["percent"] == 5
            assert rollout["candidate"] == "on"
            assert rollout["lkg"] == "off"

        with steps.fatal("6 record_signals"):
            for arm in ("canary", "control"):
                out = await ok(
                    c,
                    "record_signals",
                    {**prod, "arm": arm, "requests": 200, "errors": 2, "reason": f"e2e: load test, {arm} arm"},
                )
                assert out["arm"] == arm
                assert out["rollout_id"] == rollout["id"]
                assert (out["totals"]["requests"], out["totals"]["errors"]) == (200, 2), out["totals"]

        with steps.fatal("7 advance_canary to 25%"):
            out = await ok(c, "advance_canary", {**prod, "reason": "e2e: gate is green"})
            assert out["decision"]["result"] == "allow", out["decision"]
            assert out["rollout"]["state"] == "RUNNING"
            assert out["rollout"]["percent"] == 25
            assert out["gate"]["verdict"] == "PROMOTE", out["gate"]

        with steps.fatal("8 advance_canary needs approval"):
            out = await ok(c, "advance_canary", {**prod, "reason": "e2e: on to 50%"})
            assert out["decision"]["result"] == "needs_approval", out["decision"]
            advance_approval = out["approval_id"]
            assert isinstance(advance_approval, int), out
            assert out["rollout"]["state"] == "AWAITING_APPROVAL"
            assert out["rollout"]["percent"] == 25
            status = await ok(c, "canary_status", prod)
            assert status["rollout"]["state"] == "AWAITING_APPROVAL"
            assert status["rollout"]["percent"] == 25
            assert advance_approval in status["pending_approvals"]
            pending = await ok(c, "list_approvals", {})
            assert [a["id"] for a in pending["approvals"]] == [advance_approval]
            text = await refused(c, "advance_canary", {**prod, "reason": "e2e: impatient"})
            assert "approval" in text.lower() and "wait" in text.lower(), text
            status = await ok(c, "canary_status", prod)
            assert (status["rollout"]["state"], status["rollout"]["percent"]) == ("AWAITING_APPROVAL", 25)

        with steps.fatal("9 human approves via CLI"):
            listed = await ws.cli("approvals", "--json")
            assert listed.returncode == 0, listed.stderr.decode()
            ids = [a["id"] for a in json.loads(listed.stdout)["approvals"]]
            assert advance_approval in ids, ids
            approved = await ws.cli("approve", str(advance_approval), "--yes")
            assert approved.returncode == 0, approved.stderr.decode()
            status = await ok(c, "canary_status", prod)
            assert status["rollout"]["state"] == "RUNNING"
            assert status["rollout"]["percent"] == 50
            assert status["pending_approvals"] == []
            # At 50 % some units get the candidate: remember them to check that the rollback reaches them.
            keys = [f"user-{i}" for i in range(40)]
            served = {k: (await evaluate(c, {"targetingKey": k}))["variant"] for k in keys}
            exposed = [k for k, v in served.items() if v == "on"]
            assert exposed, f"at 50% nobody of {len(keys)} units gets the candidate: {served}"

        with steps.fatal("10 agent proposes a rollback"):
            out = await ok(c, "rollback", {**prod, "reason": "e2e: checkout latency regression"})
            assert out["decision"]["result"] == "needs_approval", out["decision"]
            rollback_approval = out["approval_id"]
            assert isinstance(rollback_approval, int) and rollback_approval != advance_approval, out
            assert out["rollout"]["state"] == "ROLLBACK_PENDING"
            status = await ok(c, "canary_status", prod)
            assert status["rollout"]["state"] == "ROLLBACK_PENDING"
            assert rollback_approval in status["pending_approvals"]

        with steps.fatal("11 human confirms the rollback via CLI"):
            approved = await ws.cli("approve", str(rollback_approval), "--yes")
            assert approved.returncode == 0, approved.stderr.decode()
            status = await ok(c, "canary_status", prod)
            assert status["rollout"]["state"] == "ROLLED_BACK"
            assert status["pending_approvals"] == []
            for ctx in [*({"targetingKey": k} for k in keys), INTERNAL_USER, EXTERNAL_USER]:
                ev = await evaluate(c, ctx)
                assert ev["variant"] == "off", f"after the rollback {ctx} is served {ev}"
                assert ev["value"] is False, ev

    with steps.soft("12 audit"):
        verify = await ws.cli("audit", "--verify")
        assert verify.returncode == 0, verify.stderr.decode()
        assert "verified" in verify.stdout.decode().lower(), verify.stdout.decode()

        listed = await ws.cli("audit", "--json", "--limit", "100")
        assert listed.returncode == 0, listed.stderr.decode()
        events = json.loads(listed.stdout)
        agent_actions = {e["action"] for e in events if e["actor_kind"] == "agent"}
        for action in (
            "create_flag",
            "wrap_change",
            "set_targeting",
            "start_canary",
            "record_signals",
            "advance_canary",
            "rollback",
        ):
            assert action in agent_actions, f"no agent event for {action}: {sorted(agent_actions)}"
        for e in events:
            if e["actor_kind"] == "agent":
                assert e["actor"] == (agent or client_name), f"agent event with actor {e['actor']!r}: {e}"
        human = [e for e in events if e["actor_kind"] == "human"]
        approvals = {e["approval_id"] for e in human if e["action"] == "approve"}
        assert approvals == {advance_approval, rollback_approval}, human
        for e in human:
            assert e["actor"] == HUMAN, e

    steps.finish()


# --------------------------------------------------------------------------------------------------------
# Idempotency, dry run, bad arguments
# --------------------------------------------------------------------------------------------------------

CREATE = {
    "key": FLAG,
    "description": "New checkout flow",
    "change_type": "code",
    "reason": "e2e: idempotency",
    "idempotency_key": "create-new-checkout-1",
}


def plain_create(reason: str) -> dict[str, Any]:
    """create_flag arguments without an idempotency key."""
    return {k: v for k, v in CREATE.items() if k != "idempotency_key"} | {"reason": reason}


async def idempotent_create_flag_replay(ws: Workspace, mode: str) -> None:
    async with ws.client(mode, "flagwarden-e2e-idem") as c:
        first = await ok(c, "create_flag", CREATE)
        assert first["version"] == 1
        events = await audit_count(c)

        replay = await ok(c, "create_flag", CREATE)
        assert replay == first, "a replay must return the first answer"
        assert await audit_count(c) == events, "a replay must not write an audit event"
        assert [f["key"] for f in (await ok(c, "list_flags", {}))["flags"]] == [FLAG]

        for changed in ({"description": "something else"}, {"key": "other-flag"}):
            text = await refused(c, "create_flag", {**CREATE, **changed})
            assert "idempotency_key" in text, text
        assert [f["key"] for f in (await ok(c, "list_flags", {}))["flags"]] == [FLAG]
        flag = await ok(c, "get_flag", {"key": FLAG})
        assert (flag["version"], flag["description"]) == (1, CREATE["description"])


async def dry_run_set_targeting_changes_nothing(ws: Workspace, mode: str) -> None:
    async with ws.client(mode, "flagwarden-e2e-dry-run") as c:
        await ok(c, "create_flag", plain_create("e2e: dry run"))
        before = await ok(c, "get_flag", {"key": FLAG})
        events = await audit_count(c)

        out = await ok(
            c,
            "set_targeting",
            {
                "key": FLAG,
                "environment": "production",
                "rules": [INTERNAL_RULE],
                "reason": "e2e: preview",
                "dry_run": True,
            },
        )
        assert out["dry_run"] is True
        assert out["decision"]["result"] == "allow"

        after = await ok(c, "get_flag", {"key": FLAG})
        assert after["version"] == before["version"]
        prod = next(e for e in after["environments"] if e["environment"] == "production")
        assert prod["enabled"] is False and prod["rules"] == [], prod
        assert await audit_count(c) == events, "a dry run must not write an audit event"
        ev = await evaluate(c, INTERNAL_USER)
        assert (ev["variant"], ev["reason"]) == ("off", "DISABLED"), ev


BAD_ARGUMENTS = {
    "split-percent-150": (
        {
            "key": FLAG,
            "environment": "production",
            "rules": [{"serve": {"split": [{"variant": "on", "percent": 150}, {"variant": "off", "percent": -50}]}}],
            "reason": "e2e: bad split",
        },
        "percent",
    ),
    "unknown-environment": (
        {"key": FLAG, "environment": "moon", "rules": [INTERNAL_RULE], "reason": "e2e: bad environment"},
        "environment",
    ),
}


async def bad_argument_is_in_band_error_naming_the_field(ws: Workspace, mode: str, case: str) -> None:
    args, field = BAD_ARGUMENTS[case]

    async with ws.client(mode, "flagwarden-e2e-bad-args") as c:
        await ok(c, "create_flag", plain_create("e2e: bad args"))
        text = await refused(c, "set_targeting", args)
        assert field in text, f"the error does not name {field!r}: {text}"
        flag = await ok(c, "get_flag", {"key": FLAG})
        assert flag["version"] == 1, "a refused call must not change the flag"
