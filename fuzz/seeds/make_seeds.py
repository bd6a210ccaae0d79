#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/ from the project's own
inputs: policies in the tests and the embedded default policy, the evaluation spec's flags and
contexts, OFREP bodies, signal batches and tool arguments as the tests send them. Run from the
repository root; names are content hashes, so running it again adds nothing twice."""

import hashlib
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


# ---- policy: every policy literal in the tests, and the default policy ----
put("policy", (ROOT / "src/cli/default_policy.toml").read_text())
for f in sorted((ROOT / "tests").glob("*.rs")):
    for m in re.finditer(r'r#"(\s*version = \d.*?)"#', f.read_text(), re.S):
        put("policy", m.group(1))
put("policy", (ROOT / "fuzz/src/lib.rs").read_text().split('r#"')[1].split('"#')[0])

# ---- eval: the evaluation spec's flags, each with every context the spec evaluates ----
spec = json.loads((ROOT / "tests/data/evaluation.json").read_text())
contexts = [c["context"] for c in spec["cases"]][:40]
for flag in spec["flags"]:
    env = flag["env"]
    case = {"variants": flag["variants"], "rules": env.get("rules", []), "enabled": env["enabled"],
            "contexts": contexts[:12]}
    if env.get("pinned"):
        case["pinned"] = env["pinned"]
    if flag.get("rollout"):
        r = flag["rollout"]
        case["rollout"] = [r["candidate"], r["lkg"], r["percent"]]
    put("eval", json.dumps(case))

# ---- ofrep: bodies as applications and the tests send them ----
for body in [b"{}", b'{"context": {}}', b'{"context": {"targetingKey": "user-1"}}',
             b'{"context": {"targetingKey": "user-2", "email": "a@corp.com", "version": "2.1.0", "age": 42, "plan": "pro"}}',
             b'{"context": {"targetingKey": null, "country": "FR", "name": "ana"}}',
             b'{"context": "user-1"}', b'{"context": {"targetingKey": ["a"]}}', b'{"context": {"targetingKey": 5}}',
             b'{"context": 1}', b'{"context": {"targetingKey": {"a": 1}}}', b'{"context": null}']:
    put("ofrep", body)
for c in contexts[:20]:
    put("ofrep", json.dumps({"context": c}))

# ---- signals: batches for the seeded canary (checkout in development) ----
batches = [
    {"batch_id": "b1", "signals": [{"flag": "checkout", "arm": "canary", "requests": 100, "errors": 2, "exposures": 100},
                                   {"flag": "checkout", "arm": "control", "requests": 100, "errors": 1, "exposures": 100}]},
    {"batch_id": "b2", "environment": "development", "signals": [{"flag": "checkout", "arm": "canary", "requests": 50, "errors": 40}]},
    {"batch_id": "b3", "signals": [{"flag": "checkout", "arm": "canary", "requests": 10, "latency_ms": {"10": 5, "25": 3, "+Inf": 2}}]},
    {"batch_id": "b4", "signals": [{"flag": "checkout", "arm": "control", "eval_scores": [0.1, 0.9, 1.0], "custom": {"refunds": {"events": 3, "trials": 1200}}}]},
    {"batch_id": "b5", "environment": "production", "signals": [{"flag": "dark-mode", "arm": "canary", "requests": 1}]},
    {"batch_id": "b6", "signals": [{"flag": "nope", "arm": "canary", "requests": 1}]},
    {"batch_id": 5, "signals": []}, {"batch_id": "b1"}, {"batch_id": "b1", "signals": {}},
    {"batch_id": "", "environment": "development", "signals": []},
    {"batch_id": "b1", "environment": "development", "signals": [{}]},
]
for b in batches:
    put("signals", json.dumps(b))

# ---- tools: a selector byte (tool index; +128 for a human caller) and the JSON arguments ----
TOOLS = ["list_flags", "get_flag", "evaluate_flag", "get_policy", "canary_status", "list_stale_flags",
         "list_approvals", "audit_log", "create_flag", "wrap_change", "set_targeting", "start_canary",
         "advance_canary", "record_signals", "rollback", "cleanup_flag", "add_version", "approve", "reject"]
calls = [
    ("list_flags", {}), ("list_flags", {"environment": "development", "query": "check"}),
    ("get_flag", {"key": "checkout"}), ("get_flag", {"key": "../x"}),
    ("evaluate_flag", {"key": "checkout", "environment": "development", "context": {"targetingKey": "u1"}}),
    ("get_policy", {"environment": "production"}), ("canary_status", {"key": "checkout", "environment": "development"}),
    ("list_stale_flags", {"min_age_days": 0}), ("list_approvals", {"status": "pending"}),
    ("audit_log", {"key": "checkout", "limit": 5}),
    ("create_flag", {"key": "new-one", "description": "d", "change_type": "code", "reason": "r"}),
    ("create_flag", {"key": "model", "description": "d", "change_type": "model", "variants": {"a": "gpt-a", "b": "gpt-b"}, "off_variant": "a", "reason": "r", "idempotency_key": "k1"}),
    ("create_flag", {"key": "n", "description": "d", "change_type": "config", "variants": {"x": 1, "y": 2.5}, "tags": ["t"], "lifetime_days": 30, "reason": "r", "dry_run": True}),
    ("wrap_change", {"key": "checkout", "language": "typescript", "change_description": "new total", "file": "src/checkout.ts", "start_line": 2, "end_line": 4, "reason": "r"}),
    ("wrap_change", {"key": "fresh", "language": "rust", "change_description": "c", "change_type": "code", "reason": "r"}),
    ("set_targeting", {"key": "dark-mode", "environment": "development", "enabled": True, "rules": [
        {"conditions": [{"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}], "serve": {"variant": "on"}},
        {"serve": {"split": [{"variant": "on", "percent": 25}, {"variant": "off", "percent": 75}]}}], "reason": "r"}),
    ("set_targeting", {"key": "checkout", "environment": "production", "rules": [], "expected_version": 1, "reason": "r"}),
    ("start_canary", {"key": "dark-mode", "environment": "development", "candidate_variant": "on", "steps": [1, 50, 100], "reason": "r"}),
    ("start_canary", {"key": "dark-mode", "environment": "production", "candidate_variant": "on", "reason": "r", "dry_run": True}),
    ("advance_canary", {"key": "checkout", "environment": "development", "reason": "r"}),
    ("record_signals", {"key": "checkout", "environment": "development", "arm": "canary", "requests": 100, "errors": 1, "exposures": 100, "idempotency_key": "s1"}),
    ("record_signals", {"key": "checkout", "environment": "development", "arm": "control", "eval_pairs": [{"item": "a", "candidate": 0.9, "baseline": 0.8}]}),
    ("rollback", {"key": "checkout", "environment": "development", "reason": "r"}),
    ("rollback", {"key": "checkout", "environment": "production", "reason": "r"}),
    ("cleanup_flag", {"key": "dark-mode", "keep_variant": "on", "reason": "r"}),
    ("add_version", {"key": "prompt", "content": "You are helpful.", "model_id": "m-1", "parameters": {"temperature": 0.2}, "change_type": "prompt", "reason": "r"}),
    ("add_version", {"key": "prompt", "content_sha256": "00" * 32, "reason": "r"}),
    ("approve", {"id": 1, "reason": "ok"}), ("reject", {"id": 1, "reason": "no"}),
]
for tool, args in calls:
    i = TOOLS.index(tool)
    human = tool in ("approve", "reject") or tool == "rollback"
    put("tools", bytes([i | (0x80 if human else 0)]) + json.dumps(args).encode())
    if not human:
        put("tools", bytes([i | 0x80]) + json.dumps(args).encode())
