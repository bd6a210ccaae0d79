"""The real Claude Code and Codex CLIs drive flagwarden over stdio through a release, with only the model
replaced (tests/agents/scripted_model.py); then the store is checked from outside with the real CLI.

    python3 tests/agents/drive.py --flagwarden target/debug/flagwarden \
        --claude .node-tools/node_modules/@anthropic-ai/claude-code-linux-x64/claude \
        --codex .node-tools/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex \
        [--only claude|codex] [--keep]

scripts/agent-clients.sh runs it with the pinned clients. Each client gets its own fresh store, HOME and
config (nothing of the user's is read), `HTTP(S)_PROXY`/`ALL_PROXY` pointing at a refusing listener (any
attempt fails the run) and `NO_PROXY` only for the scripted model on 127.0.0.1. Every client run has a
timeout. Exit 0 when every check passed; otherwise each failed check is printed and the work directory
(client stdout/stderr, requests the model got, the MCP stdio log, the store) is kept. Standard library only.

Checks marked FIXED-BEHAVIOUR assert what issue 13 asks of the server and fail against the server before
that fix: an automatic elicitation answer (Codex's `decline`) must decide nothing (the approval stays
pending, no human actor), and the schemas Codex shows its model must mean what flagwarden's say (no item
type Codex invents for an untyped array).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scripted_model import RefusingProxy, ScriptedModel, Turn  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
POLICIES = REPO_ROOT / "tests" / "data" / "policies"
# development open to agents; production bounded: steps 5/25/50/100, max_auto_percent 25, rollback proposed.
POLICY = "version = 1\n\n" + (POLICIES / "standard.toml").read_text() + (POLICIES / "production_gate.toml").read_text()

SERVER = "flagwarden"
FLAG = "new-checkout"
CLIENT_TIMEOUT_S = 90
DEV = {"key": FLAG, "environment": "development"}
PROD = {"key": FLAG, "environment": "production"}
INTERNAL_RULE = {
    "conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}],
    "serve": {"variant": "on"},
}

# The release walk. Turn indexes are used by the checks below.
SCRIPT = [
    Turn("create", "create_flag", {"key": FLAG, "description": "New checkout", "change_type": "code", "reason": "agents: new checkout"}),
    Turn(
        "wrap",
        "wrap_change",
        {"key": FLAG, "language": "python", "change_description": "Serve the new checkout flow", "reason": "agents: wrap"},
    ),
    Turn("target", "set_targeting", {**DEV, "rules": [INTERNAL_RULE], "reason": "agents: internal users first"}),
    Turn("start dev", "start_canary", {**DEV, "candidate_variant": "on", "reason": "agents: dev canary"}),
    Turn("signals canary", "record_signals", {**DEV, "arm": "canary", "requests": 5000, "errors": 0, "reason": "agents: load test"}),
    Turn("signals control", "record_signals", {**DEV, "arm": "control", "requests": 5000, "errors": 0, "reason": "agents: load test"}),
    Turn("advance dev", "advance_canary", {**DEV, "reason": "agents: dev looks fine"}),
    # Denied: straight to 50 % in production, a first step past production.max_step_increase (25).
    Turn("denied", "start_canary", {**PROD, "candidate_variant": "on", "steps": [50, 100], "reason": "agents: hurry"}),
    Turn("start prod", "start_canary", {**PROD, "candidate_variant": "on", "reason": "agents: production canary"}),
    # Malformed the way a model writes it: the arm named as the prose says it, not as the enum spells it.
    Turn("malformed", "record_signals", {**PROD, "arm": "candidate", "requests": 200, "reason": "agents: typo"}),
    Turn("rollback", "rollback", {**PROD, "reason": "agents: checkout latency regression"}),
]
T = {turn.label: i for i, turn in enumerate(SCRIPT)}
MUTATING_ACTIONS = ["create_flag", "wrap_change", "set_targeting", "start_canary", "record_signals", "advance_canary", "rollback"]
PROMPT = "Release new-checkout with flagwarden: create it, canary it in development, then production."


class Checks:
    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: list[str] = []
        self.passed = 0

    def check(self, ok: bool, what: str, detail: Any = "") -> bool:
        if ok:
            self.passed += 1
        else:
            text = detail if isinstance(detail, str) else json.dumps(detail, default=str)[:1500]
            self.failures.append(f"{what}: {text}")
        return ok


def flagwarden(bin: Path, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLAGWARDEN_")}
    env["FLAGWARDEN_HUMAN"] = "agents-test-operator"
    return subprocess.run(
        [str(bin), "--policy", str(store / "flagwarden.toml"), "--db", str(store / "flagwarden.db"), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )


def server_argv(fw: Path, store: Path, work: Path) -> list[str]:
    """The MCP server command's arguments after the Python interpreter: flagwarden over stdio behind the
    logging wrapper, so the checks see the client's own messages in work/mcp.jsonl."""
    tee = Path(__file__).resolve().parent / "mcp_tee.py"
    flagwarden_argv = [str(fw), "--policy", str(store / "flagwarden.toml"), "--db", str(store / "flagwarden.db"), "mcp"]
    return [str(tee), str(work / "mcp.jsonl"), "--", *flagwarden_argv]


def base_env(home: Path, proxy: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "USER": os.environ.get("USER", "agents"),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "TMPDIR": str(home / "tmp"),
        "HTTP_PROXY": proxy,
        "HTTPS_PROXY": proxy,
        "ALL_PROXY": proxy,
        "http_proxy": proxy,
        "https_proxy": proxy,
        "all_proxy": proxy,
        "NO_PROXY": "127.0.0.1",
        "no_proxy": "127.0.0.1",
    }
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def run_client(argv: list[str], env: dict[str, str], cwd: Path, out: Path) -> tuple[int | None, float]:
    started = time.monotonic()
    with open(out / "stdout", "w") as so, open(out / "stderr", "w") as se:
        try:
            proc = subprocess.run(argv, env=env, cwd=cwd, stdout=so, stderr=se, stdin=subprocess.DEVNULL, timeout=CLIENT_TIMEOUT_S)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            code = None
    return code, time.monotonic() - started


def claude(exe: Path, fw: Path, store: Path, work: Path, model_url: str, proxy: str) -> tuple[int | None, float]:
    home = work / "home"
    project = work / "project"
    project.mkdir(parents=True)
    mcp = {
        "mcpServers": {
            SERVER: {
                "type": "stdio",
                "command": sys.executable,
                "args": server_argv(fw, store, work),
                "env": {"RUST_LOG": "warn"},
            }
        }
    }
    (work / "mcp.json").write_text(json.dumps(mcp, indent=2))
    env = base_env(home, proxy)
    env.update(
        {
            "ANTHROPIC_BASE_URL": model_url,
            "ANTHROPIC_API_KEY": "sk-ant-scripted-model-on-loopback",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
            "DISABLE_AUTOUPDATER": "1",
            "DISABLE_TELEMETRY": "1",
            "DISABLE_ERROR_REPORTING": "1",
            # Load every MCP tool's schema up front instead of behind ToolSearch: the script calls them directly.
            "ENABLE_TOOL_SEARCH": "false",
            "MCP_TIMEOUT": "20000",
            "MCP_TOOL_TIMEOUT": "20000",
        }
    )
    argv = [
        str(exe),
        "-p",
        PROMPT,
        "--mcp-config",
        str(work / "mcp.json"),
        "--strict-mcp-config",
        "--allowedTools",
        f"mcp__{SERVER}",
        "--output-format",
        "json",
        "--model",
        "claude-sonnet-4-5",
        "--max-turns",
        str(len(SCRIPT) + 5),
    ]
    return run_client(argv, env, project, work)


def codex(exe: Path, fw: Path, store: Path, work: Path, model_url: str, proxy: str) -> tuple[int | None, float]:
    home = work / "home"
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True)
    project = work / "project"
    project.mkdir(parents=True)
    config = f"""# Written by tests/agents/drive.py: the scripted model on loopback, flagwarden over stdio.
model = "scripted-model"
model_provider = "scripted"
approval_policy = "never"
sandbox_mode = "read-only"

[model_providers.scripted]
name = "scripted model on 127.0.0.1"
base_url = "{model_url}/v1"
wire_api = "responses"
env_key = "SCRIPTED_MODEL_API_KEY"
request_max_retries = 0
stream_max_retries = 0

[mcp_servers.{SERVER}]
command = {json.dumps(sys.executable)}
args = {json.dumps(server_argv(fw, store, work))}
env = {{ RUST_LOG = "warn" }}
startup_timeout_sec = 20
tool_timeout_sec = 20
default_tools_approval_mode = "approve"

# The curated-plugin sync reaches github.com, api.github.com and chatgpt.com at startup: off.
[features]
plugins = false
remote_plugin = false
plugin_sharing = false
apps = false

[analytics]
enabled = false

[feedback]
enabled = false
"""
    (codex_home / "config.toml").write_text(config)
    env = base_env(home, proxy)
    env.update({"CODEX_HOME": str(codex_home), "SCRIPTED_MODEL_API_KEY": "scripted", "RUST_LOG": "warn"})
    argv = [str(exe), "exec", "--skip-git-repo-check", "--json", PROMPT]
    return run_client(argv, env, project, work)


def check_store(c: Checks, fw: Path, store: Path, actor: str, results: dict[int, dict[str, Any]]) -> None:
    """The store from outside, with the real CLI; and what the model read back."""
    for label in ("create", "wrap", "target", "start dev", "signals canary", "signals control", "advance dev", "start prod", "rollback"):
        r = results.get(T[label])
        c.check(r is not None, f"the model got the {label} result back", sorted(results))
    advanced = results.get(T["advance dev"], {}).get("text", "")
    c.check("from 1% to 5% of development" in advanced, "the dev canary advanced from 1% to 5% on green signals", advanced)
    denied = results.get(T["denied"], {}).get("text", "")
    c.check("denied by production.max_step_increase" in denied, "the denied call's result names the rule", denied)
    malformed = results.get(T["malformed"], {}).get("text", "")
    c.check("arm" in malformed, "the malformed call's result names the field `arm`", malformed)
    rollback = results.get(T["rollback"], {}).get("text", "")
    c.check("needs_approval" in rollback or "approve" in rollback, "the rollback result says it waits for approval", rollback)

    verify = flagwarden(fw, store, "audit", "--verify")
    c.check(verify.returncode == 0, "flagwarden audit --verify exits 0", verify.stdout + verify.stderr)

    audit = flagwarden(fw, store, "audit", "--json", "--limit", "500")
    if not c.check(audit.returncode == 0, "flagwarden audit --json exits 0", audit.stderr):
        return
    events = json.loads(audit.stdout)
    actions = [e["action"] for e in events]
    for action in MUTATING_ACTIONS:
        c.check(action in actions, f"the audit has a {action} event", actions)
    c.check(actions.count("record_signals") == 2, "two record_signals events (the malformed one changed nothing)", actions)
    agent_events = [e for e in events if e["actor_kind"] == "agent"]
    c.check(bool(agent_events), "agent events exist", events)
    c.check(
        all(e["actor"] == actor for e in agent_events),
        f"every agent event is by {actor!r}, the name the client gave itself",
        sorted({e["actor"] for e in agent_events}),
    )
    humans = [e for e in events if e["actor_kind"] == "human"]

    approvals = flagwarden(fw, store, "approvals", "--all", "--json")
    if not c.check(approvals.returncode == 0, "flagwarden approvals --all --json exits 0", approvals.stderr):
        return
    listed = json.loads(approvals.stdout)["approvals"]
    rollbacks = [a for a in listed if "rollback" in json.dumps(a)]
    # FIXED-BEHAVIOUR CHECK (issue 13): the client's automatic elicitation answer (Claude Code: cancel, Codex:
    # decline) decides nothing: the rollback approval stays pending and no human actor appears in the audit.
    # Against today's server Codex's decline is recorded as a human rejection, so this fails for Codex until
    # the trust-model fix lands.
    c.check(
        len(rollbacks) == 1 and rollbacks[0].get("status") == "pending",
        "FIXED-BEHAVIOUR: the rollback approval is still pending after the client's automatic answer",
        [{k: a.get(k) for k in ("id", "status", "decided_by", "decided_via", "decision_reason")} for a in rollbacks],
    )
    c.check(
        not humans,
        "FIXED-BEHAVIOUR: no human actor in the audit (nobody was asked)",
        [{k: e.get(k) for k in ("seq", "actor_kind", "actor", "action", "reason")} for e in humans],
    )


def mcp_log(work: Path) -> list[dict[str, Any]]:
    path = work / "mcp.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def client_names(log: list[dict[str, Any]]) -> set[str]:
    """The names the client gave itself: initialize's clientInfo, or the 2026-07-28 per-request _meta."""
    names = set()
    for entry in log:
        msg = entry["msg"]
        if entry["dir"] != "c2s" or not isinstance(msg, dict):
            continue
        params = msg.get("params") or {}
        info = params.get("clientInfo") or (params.get("_meta") or {}).get("io.modelcontextprotocol/clientInfo")
        if isinstance(info, dict) and info.get("name"):
            names.add(info["name"])
    return names


def elicitation_answers(log: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """How often the server asked the client (an `elicitation/create` request, or an MRTR `input_required`
    result), and the actions the client answered with (the response to the request, or `inputResponses`)."""
    asked = 0
    asked_ids = set()
    actions = []
    for entry in log:
        msg = entry["msg"]
        if not isinstance(msg, dict):
            continue
        if entry["dir"] == "s2c":
            if msg.get("method") == "elicitation/create":
                asked += 1
                asked_ids.add(msg.get("id"))
            elif (msg.get("result") or {}).get("resultType") == "input_required":
                asked += 1
        else:
            if "method" not in msg and msg.get("id") in asked_ids and isinstance(msg.get("result"), dict):
                actions.append(msg["result"].get("action"))
            for answer in ((msg.get("params") or {}).get("inputResponses") or {}).values():
                actions.append(answer.get("action") if isinstance(answer, dict) else answer)
    return asked, actions


def calls_sent(log: list[dict[str, Any]], tool: str) -> list[dict[str, Any]]:
    return [
        e["msg"]["params"].get("arguments")
        for e in log
        if e["dir"] == "c2s" and isinstance(e["msg"], dict) and e["msg"].get("method") == "tools/call"
        and e["msg"]["params"].get("name") == tool
    ]


def check_protocol(c: Checks, work: Path, actor: str, automatic_answer: str) -> None:
    """What the client sent flagwarden, from the stdio log."""
    log = mcp_log(work)
    c.check(bool(log), "the MCP stdio log is not empty", str(work / "mcp.jsonl"))
    c.check(client_names(log) == {actor}, f"the client calls itself {actor!r}", sorted(client_names(log)))
    asked, actions = elicitation_answers(log)
    c.check(asked == 1, "the server asked the client once to confirm the production rollback", asked)
    c.check(actions == [automatic_answer], f"the client answered {automatic_answer!r} by itself (nobody was asked)", actions)
    sent = calls_sent(log, "record_signals")
    c.check(
        any(isinstance(a, dict) and a.get("arm") == "candidate" for a in sent),
        "the malformed arguments reached the server unchanged (no client-side validation)",
        sent,
    )


def schema_rewrites(ours: Any, theirs: Any, path: str = "") -> list[str]:
    """Where the schema a client shows its model says more than flagwarden's: an array given an item type
    (Codex adds `"items": {"type": "string"}`, which turns numeric and semantic-version operands into
    strings for the model) or an object given properties (`"properties": {}` on a free-form object)."""
    found = []
    if isinstance(ours, dict) and isinstance(theirs, dict):
        if ours.get("type") == "array" and "items" not in ours and "items" in theirs:
            found.append(f"{path}: items {json.dumps(theirs['items'])} added")
        if ours.get("type") == "object" and "properties" not in ours and "properties" in theirs:
            found.append(f"{path}: properties {json.dumps(theirs['properties'])} added")
        for key, value in ours.items():
            if key in theirs:
                found += schema_rewrites(value, theirs[key], f"{path}/{key}")
    elif isinstance(ours, list) and isinstance(theirs, list):
        for i, (a, b) in enumerate(zip(ours, theirs)):
            found += schema_rewrites(a, b, f"{path}/{i}")
    return found


def check_codex_schemas(c: Checks, work: Path, requests: list[dict[str, Any]]) -> None:
    """FIXED-BEHAVIOUR CHECK (issue 13, "schemas no client can misread"): the tool schemas Codex sends its
    model mean what flagwarden's tools/list says. Fails against today's schemas (set_targeting's condition
    `values` has no item type, so Codex declares them strings) until the schema fix lands."""
    served = {}
    for entry in mcp_log(work):
        tools = ((entry["msg"] if isinstance(entry["msg"], dict) else {}).get("result") or {}).get("tools")
        if entry["dir"] == "s2c" and isinstance(tools, list):
            served = {t["name"]: t["inputSchema"] for t in tools}
    shown = {}
    for request in requests:
        for tool in ((request.get("body") or {}).get("tools") or []):
            if isinstance(tool, dict) and tool.get("name") == f"mcp__{SERVER}" and isinstance(tool.get("tools"), list):
                shown = {t["name"]: t.get("parameters") for t in tool["tools"]}
    if not c.check(bool(served) and set(shown) == set(served), "Codex shows its model every flagwarden tool", sorted(shown)):
        return
    rewrites = [f"{name}{r}" for name in sorted(served) for r in schema_rewrites(served[name], shown[name])]
    # An added `"properties": {}` constrains nothing (JSON Schema), so it is reported, not failed on.
    for note in (r for r in rewrites if ": properties {} added" in r):
        print(f"agent-clients: codex: note: schema rewrite without change in meaning: {note}")
    meaningful = [r for r in rewrites if ": properties {} added" not in r]
    c.check(not meaningful, "FIXED-BEHAVIOUR: Codex shows its model every schema unchanged in meaning", meaningful)


def check_client(c: Checks, model: ScriptedModel, proxy: RefusingProxy, code: int | None, elapsed: float) -> None:
    c.check(code == 0, f"the client exited 0 within {CLIENT_TIMEOUT_S} s", f"exit {code} after {elapsed:.1f} s")
    c.check(not model.transcript.errors, "the script found every tool it called", model.transcript.errors)
    c.check(not proxy.attempts, "nothing tried to leave the machine (no proxy connection)", proxy.attempts)
    c.check(len(model.transcript.results) == len(SCRIPT), f"all {len(SCRIPT)} turns ran", sorted(model.transcript.results))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--flagwarden", type=Path, required=True)
    ap.add_argument("--claude", type=Path, required=True)
    ap.add_argument("--codex", type=Path, required=True)
    ap.add_argument("--only", choices=["claude", "codex"])
    ap.add_argument("--keep", action="store_true", help="keep the work directory even when every check passed")
    opts = ap.parse_args()
    fw = opts.flagwarden.resolve()
    root = Path(tempfile.mkdtemp(prefix="flagwarden-agent-clients."))
    # (name, runner, executable, the name it calls itself, the answer it gives an elicitation by itself)
    clients = [
        ("claude", claude, opts.claude.resolve(), "claude-code", "cancel"),
        ("codex", codex, opts.codex.resolve(), "codex-mcp-client", "decline"),
    ]
    all_failures: list[str] = []
    for name, run, exe, actor, automatic_answer in clients:
        if opts.only and opts.only != name:
            continue
        work = root / name
        store = work / "store"
        store.mkdir(parents=True)
        (store / "flagwarden.toml").write_text(POLICY)
        c = Checks(name)
        with ScriptedModel(SCRIPT, SERVER) as model, RefusingProxy() as proxy:
            code, elapsed = run(exe, fw, store, work, model.url, proxy.url)
            (work / "requests.json").write_text(json.dumps(model.transcript.requests, indent=1, default=str))
            (work / "results.json").write_text(json.dumps(model.transcript.results, indent=1, default=str))
            check_client(c, model, proxy, code, elapsed)
            check_protocol(c, work, actor, automatic_answer)
            if name == "codex":
                check_codex_schemas(c, work, model.transcript.requests)
            check_store(c, fw, store, actor, model.transcript.results)
        status = "ok" if not c.failures else "FAILED"
        print(f"agent-clients: {name}: {status}: {c.passed} checks passed, {len(c.failures)} failed, client ran {elapsed:.1f} s")
        for f in c.failures:
            print(f"  FAIL {name}: {f}")
        all_failures += c.failures
    if all_failures or opts.keep:
        print(f"agent-clients: kept {root} (per client: stdout, stderr, requests.json, results.json, store/)")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if all_failures else 0


if __name__ == "__main__":
    sys.exit(main())
