"""The Agent Skills in skills/: valid per the format, naming only tools that exist, with snippets that work.

* Every folder under skills/ passes `agentskills validate` (skills-ref, the Agent Skills reference
  validator), and none is left out.
* Every tool a skill calls exists in tools-schema/tools.json (plus PENDING_TOOLS, tools being built that
  are not in tools.json yet). The checker is tested on synthetic text: a misspelled tool is caught, field
  names in backticks are not.
* Code fences carry their language. `json tool=NAME` blocks are a tool's arguments, checked against its
  input schema; other JSON and every TOML block parse; a TOML block that is a whole policy file passes
  `flagwarden policy check`; Python blocks compile, and the OpenFeature Python reference runs against a
  real `flagwarden serve` with the targeting its own `json tool=set_targeting` block sets.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_skills.py
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from scenario import Workspace, new_workspace, ok, run, serve

REPO_ROOT = Path(__file__).resolve().parents[2]
SKILLS = REPO_ROOT / "skills"
TOOLS_JSON = REPO_ROOT / "tools-schema" / "tools.json"

# Every skill the project ships. A new folder must be added here, and each one here must exist.
EXPECTED_SKILLS = {
    "ship-behind-flag",
    "run-canary",
    "rollback-and-ask-human",
    "cleanup-stale-flags",
    "openfeature-integration",
    "version-prompts-and-models",
}

# Tools the skills teach that have not landed in tools-schema/tools.json yet, with the arguments they
# will take. Remove an entry once the tool is in tools.json (a test below says when that happened).
PENDING_TOOLS: dict[str, set[str]] = {}

# The base URL the skills use for flagwarden's OFREP endpoint; replaced by the test server's.
DOC_BASE_URL = "http://127.0.0.1:7070"


# --------------------------------------------------------------------------------------------------------
# Reading the skills
# --------------------------------------------------------------------------------------------------------


def tool_schemas() -> dict[str, dict[str, Any]]:
    return {t["name"]: t["inputSchema"] for t in json.loads(TOOLS_JSON.read_text())}


def known_tools() -> set[str]:
    return set(tool_schemas()) | set(PENDING_TOOLS)


def skill_dirs() -> list[Path]:
    return sorted(p for p in SKILLS.iterdir() if p.is_dir())


def markdown_files() -> list[Path]:
    return sorted(SKILLS.rglob("*.md"))


@dataclass(frozen=True)
class Fence:
    path: Path
    line: int
    lang: str
    attrs: dict[str, str]
    body: str

    def where(self) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{self.line}"


FENCE_OPEN = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>.*)$")


def fences(path: Path) -> list[Fence]:
    """Fenced code blocks with their info string: the language, then `name=value` attributes (a value
    runs to the end of the line when it has spaces, as in `http=POST /api/v1/signals`)."""
    out: list[Fence] = []
    lines = path.read_text().split("\n")
    i = 0
    while i < len(lines):
        m = FENCE_OPEN.match(lines[i])
        if not m:
            i += 1
            continue
        indent, info = m.group("indent"), m.group("info").strip()
        start = i + 1
        j = start
        while j < len(lines) and lines[j].strip() != "```":
            j += 1
        body = "\n".join(line[len(indent):] if line.startswith(indent) else line for line in lines[start:j])
        lang, _, rest = info.partition(" ")
        attrs = {}
        if rest:
            name, _, value = rest.partition("=")
            attrs[name.strip()] = value.strip()
        out.append(Fence(path=path, line=start, lang=lang, attrs=attrs, body=body))
        i = j + 1
    return out


def all_fences() -> list[Fence]:
    return [f for p in markdown_files() for f in fences(p)]


# --------------------------------------------------------------------------------------------------------
# The tool-name checker
# --------------------------------------------------------------------------------------------------------

# A backticked span that starts with an identifier: `advance_canary`, or written as a tool call in the
# README's notation, `advance_canary {key, environment}`. (Not `name(...)`: that is how SDK methods like
# `unwrap_or(false)` appear.) Multi-line fences are removed before inline spans are read.
INLINE_CODE = re.compile(r"`([^`\n]+)`")
IDENT_AT_START = re.compile(r"^([a-z][a-z0-9]*(?:_[a-z0-9]+)*)\b(\s*\{)?")
# Words in the prose right before a span that say it names a tool: "call `x`", "the tool `x`".
TOOL_CUE = re.compile(r"\b(?:call|calls|calling|tool)\s*$", re.I)


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def near_tool(name: str, tools: set[str]) -> str | None:
    """A known tool this unknown name is probably a misspelling of."""
    for tool in sorted(tools):
        limit = 1 if len(tool) <= 8 else 2
        if edit_distance(name, tool) <= limit:
            return tool
    return None


def unknown_tool_mentions(text: str, tools: set[str]) -> list[str]:
    """Backticked identifiers that look like tool calls but are no known tool. A span counts as a tool
    mention when it is written as a call (`name {…}`), when the prose right before it says
    so ("call `name`", "the tool `name`"), or when its name is one or two edits away from a real tool
    (`advance_canery`). Field names, reason codes and settings in backticks are none of those."""
    problems = [
        f"a json block names tool={name}, which is no tool"
        for name in re.findall(r"```json tool=([A-Za-z0-9_]+)", text)
        if name not in tools
    ]
    text = re.sub(r"^[ \t]*```.*?^[ \t]*```", "", text, flags=re.S | re.M)
    for m in INLINE_CODE.finditer(text):
        span = m.group(1).strip()
        im = IDENT_AT_START.match(span)
        if not im:
            continue
        name, call = im.group(1), im.group(2)
        if name in tools:
            continue
        before = text[max(0, m.start() - 20):m.start()]
        if (close := near_tool(name, tools)) is not None:
            problems.append(f"`{name}` is no tool; did you mean `{close}`?")
        elif call and "_" in name:
            problems.append(f"`{span}` is written as a tool call but {name} is no tool")
        elif TOOL_CUE.search(before) and "_" in name:
            problems.append(f"`{name}` is introduced as a tool but is none")
    return problems


def test_checker_catches_a_misspelled_tool() -> None:
    tools = known_tools()
    assert unknown_tool_mentions("Then call `advance_canery` with the version.", tools) == [
        "`advance_canery` is no tool; did you mean `advance_canary`?"
    ]
    assert unknown_tool_mentions("Read `canary_statuss` first.", tools)
    assert unknown_tool_mentions("`promote_canary {key, environment}` moves it on.", tools)
    assert unknown_tool_mentions("Then call `promote_canary`.", tools)
    assert unknown_tool_mentions("```json tool=advance_canery\n{}\n```\n", tools)


def test_checker_leaves_fields_and_codes_alone() -> None:
    text = (
        "Call `cleanup_flag` with `keep_variant` and `expected_version`; reasons are `past_lifetime`, "
        "`ready_for_code_removal` and `ready_to_archive`; set `agent_rollback = \"propose\"` and "
        "`max_auto_percent`; pass `dry_run: true`, `idempotency_key`, `candidate_variant`, `eval_pairs`, "
        "`content_sha256`, `model_id`, `start_line`, `end_line`, `change_type`. Then `advance_canary {key}`, "
        "`rollback`, and `add_version`.\n```json tool=start_canary\n{}\n```\n"
    )
    assert unknown_tool_mentions(text, known_tools()) == []


def test_skills_name_only_tools_that_exist() -> None:
    tools = known_tools()
    problems = []
    for path in markdown_files():
        for p in unknown_tool_mentions(path.read_text(), tools):
            problems.append(f"{path.relative_to(REPO_ROOT)}: {p}")
    assert not problems, "\n".join(problems)


def test_pending_tools_have_not_landed_yet() -> None:
    landed = set(PENDING_TOOLS) & set(tool_schemas())
    assert not landed, f"{sorted(landed)} are in tools-schema/tools.json now: remove them from PENDING_TOOLS"


def test_every_tool_is_taught_somewhere() -> None:
    text = "\n".join(p.read_text() for p in markdown_files())
    untaught = sorted(t for t in known_tools() if f"`{t}" not in text and f"tool={t}" not in text)
    assert not untaught, f"no skill mentions {untaught}"


# --------------------------------------------------------------------------------------------------------
# The Agent Skills format
# --------------------------------------------------------------------------------------------------------


def agentskills() -> list[str]:
    """The skills-ref CLI: `agentskills` beside this Python, else on PATH."""
    beside = Path(sys.executable).parent / "agentskills"
    if beside.exists():
        return [str(beside)]
    found = shutil.which("agentskills")
    if found:
        return [found]
    pytest.fail("the `agentskills` CLI (pip package skills-ref) is not installed", pytrace=False)


def test_every_skill_folder_is_expected() -> None:
    found = {p.name for p in skill_dirs()}
    assert found == EXPECTED_SKILLS, f"unexpected {sorted(found - EXPECTED_SKILLS)}, missing {sorted(EXPECTED_SKILLS - found)}"


@pytest.mark.parametrize("skill", sorted(EXPECTED_SKILLS))
def test_skill_validates(skill: str) -> None:
    result = subprocess.run([*agentskills(), "validate", str(SKILLS / skill)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"agentskills validate skills/{skill}:\n{result.stdout}{result.stderr}"
    assert "Valid skill" in result.stdout


@pytest.mark.parametrize("skill", sorted(EXPECTED_SKILLS))
def test_skill_shape(skill: str) -> None:
    """Beyond the validator: a description that says when not to use the skill, a concise body, and
    links to reference files that exist."""
    text = (SKILLS / skill / "SKILL.md").read_text()
    _, front, body = text.split("---", 2)
    description = re.search(r"^description: (.*)$", front, re.M)
    assert description, "description must be a one-line plain scalar"
    assert "Use when" in description.group(1) and re.search(r"Do not|never", description.group(1)), (
        "the description says what the skill does, when to use it and when not to"
    )
    assert len(body.splitlines()) < 120, "keep SKILL.md short: detail goes in references/"
    for link in re.findall(r"\]\((references/[^)]+)\)", body):
        assert (SKILLS / skill / link).is_file(), f"{skill}/SKILL.md links to missing {link}"
    for ref in (SKILLS / skill / "references").glob("*.md"):
        assert f"references/{ref.name}" in body, f"{skill}/SKILL.md never points to references/{ref.name}"


def test_openfeature_has_one_reference_per_language() -> None:
    refs = {p.stem for p in (SKILLS / "openfeature-integration" / "references").glob("*.md")}
    assert refs == {"rust", "typescript", "javascript", "python", "go", "java", "csharp"}


# --------------------------------------------------------------------------------------------------------
# Snippets
# --------------------------------------------------------------------------------------------------------

FENCE_LANGS = {"json", "toml", "python", "bash", "rust", "typescript", "javascript", "go", "java", "csharp",
               "xml", "groovy"}


def test_every_fence_names_its_language() -> None:
    bad = [f"{f.where()}: ```{f.lang}" for f in all_fences() if f.lang not in FENCE_LANGS]
    assert not bad, "fences need a known language:\n" + "\n".join(bad)


def check_arguments(tool: str, args: dict[str, Any]) -> list[str]:
    if tool in PENDING_TOOLS:
        unknown = set(args) - PENDING_TOOLS[tool]
        return [f"unknown argument(s) {sorted(unknown)}"] if unknown else []
    schema = tool_schemas()[tool]
    props = schema.get("properties", {})
    problems = [f"missing required {r}" for r in schema.get("required", []) if r not in args]
    problems += [f"unknown argument {k}" for k in args if k not in props]
    for k, v in args.items():
        kind = props.get(k, {}).get("type")
        want = {"string": str, "integer": int, "boolean": bool, "object": dict, "array": list, "number": (int, float)}
        if kind in want and not isinstance(v, want[kind]):
            problems.append(f"{k} should be a {kind}")
    return problems


def test_json_snippets_parse_and_tool_arguments_fit_their_schema() -> None:
    problems = []
    blocks = [f for f in all_fences() if f.lang == "json"]
    assert blocks
    for f in blocks:
        try:
            value = json.loads(f.body)
        except json.JSONDecodeError as e:
            problems.append(f"{f.where()}: not JSON: {e}")
            continue
        if "tool" in f.attrs:
            if not isinstance(value, dict):
                problems.append(f"{f.where()}: tool arguments must be an object")
                continue
            problems += [f"{f.where()}: {f.attrs['tool']}: {p}" for p in check_arguments(f.attrs["tool"], value)]
        if f.attrs.get("http") == "POST /api/v1/signals":
            assert set(value) <= {"batch_id", "environment", "signals"} and value["signals"], f.where()
    assert not problems, "\n".join(problems)


def test_toml_snippets_parse_and_policies_pass_the_check(tmp_path: Path, flagwarden_bin: Path) -> None:
    blocks = [f for f in all_fences() if f.lang == "toml"]
    assert blocks
    for n, f in enumerate(blocks):
        try:
            value = tomllib.loads(f.body)
        except tomllib.TOMLDecodeError as e:
            pytest.fail(f"{f.where()}: not TOML: {e}")
        if "version" in value and "environments" in value:
            policy = tmp_path / f"policy-{n}.toml"
            policy.write_text(f.body)
            result = subprocess.run([str(flagwarden_bin), "--policy", str(policy), "--db", str(tmp_path / f"{n}.db"),
                                     "policy", "check"], capture_output=True, text=True, timeout=60)
            assert result.returncode == 0, f"{f.where()}: flagwarden policy check:\n{result.stdout}{result.stderr}"


def test_python_snippets_compile() -> None:
    for f in all_fences():
        if f.lang == "python":
            compile(f.body, f.where(), "exec")


def test_bash_snippets_are_valid_shell() -> None:
    for f in all_fences():
        if f.lang == "bash":
            result = subprocess.run(["bash", "-n"], input=f.body, capture_output=True, text=True)
            assert result.returncode == 0, f"{f.where()}: {result.stderr}"


PYTHON_REF = SKILLS / "openfeature-integration" / "references" / "python.md"


def test_python_openfeature_snippets_run_against_flagwarden(tmp_path: Path, flagwarden_bin: Path) -> None:
    """Each Python block of the OpenFeature Python reference runs on its own, against a real
    `flagwarden serve` on loopback, after the targeting its `json tool=set_targeting` block sets."""
    blocks = fences(PYTHON_REF)
    snippets = [f for f in blocks if f.lang == "python"]
    targeting = [json.loads(f.body) for f in blocks if f.attrs.get("tool") == "set_targeting"]
    assert len(snippets) >= 3 and len(targeting) == 1
    assert all(DOC_BASE_URL in f.body for f in snippets if "OFREPProvider(" in f.body)

    ws = new_workspace(tmp_path, flagwarden_bin)
    with serve(ws) as server:
        async def set_up(w: Workspace, _mode: str) -> None:
            async with w.client("2026-07-28", "flagwarden-skills-test") as c:
                await ok(c, "create_flag", {"key": "new-checkout", "description": "Single-page checkout",
                                            "change_type": "code", "reason": "skills test"})
                out = await ok(c, "set_targeting", targeting[0])
                assert out["decision"]["result"] == "allow", out

        run("2026-07-28", set_up, dataclasses.replace(ws, url=server.mcp), "2026-07-28")
        outputs = []
        for f in snippets:
            code = f.body.replace(DOC_BASE_URL, server.base.rstrip("/"))
            result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                    cwd=tmp_path)
            assert result.returncode == 0, f"{f.where()} failed:\n{code}\n---\n{result.stdout}{result.stderr}"
            outputs.append(result.stdout)
    # The first program evaluates for an internal user: the targeting above serves the new path.
    assert outputs[0].strip() == "single-page checkout", outputs[0]
    assert "both paths pass" in "".join(outputs)
    assert "new path for internal users, old path for everyone else" in "".join(outputs)
