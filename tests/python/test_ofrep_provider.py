"""End-to-end: an application's view of flagwarden. OpenFeature's Python SDK with the OFREP provider
(openfeature-sdk, openfeature-provider-ofrep) evaluates flags served by `flagwarden serve`.

One server and store for the module. The flags are set up the way an agent does it: through the MCP tools
(create_flag, set_targeting) with the official MCP Python SDK over the same server's /mcp endpoint. Then the
OpenFeature client evaluates boolean, string, integer, float and object flags with targeting rules, a 50 %
split (every answer checked against an independent murmur3 bucketing oracle), unknown flags, type
mismatches, and the environment chosen by the `X-Flagwarden-Environment` header passed through the
provider's headers option (`headers_factory`).

    FLAGWARDEN_BIN=target/debug/flagwarden .venv/bin/python -m pytest -q tests/python/test_ofrep_provider.py
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagEvaluationDetails, Reason

from scenario import Served, Workspace, new_workspace, ok, run, serve

ENV_HEADER = "X-Flagwarden-Environment"

# --------------------------------------------------------------------------------------------------------
# The flags, as an agent creates them (create_flag, then set_targeting in development)
# --------------------------------------------------------------------------------------------------------

CORP_EMAIL = {"attribute": "email", "op": "ends_with", "values": ["@corp.com"]}

FLAGS: dict[str, dict[str, Any]] = {
    # boolean, default variants {"on": true, "off": false}
    "checkout-enabled": {
        "create": {"description": "New checkout flow", "change_type": "code"},
        "rules": [{"conditions": [CORP_EMAIL], "serve": {"variant": "on"}}],
    },
    "banner-text": {
        "create": {
            "description": "Home page banner copy",
            "change_type": "config",
            "variants": {"classic": "Welcome back", "holiday": "Happy holidays!"},
            "off_variant": "classic",
        },
        "rules": [
            {"conditions": [{"attribute": "country", "op": "in", "values": ["NL", "BE"]}], "serve": {"variant": "holiday"}}
        ],
    },
    "max-items": {
        "create": {
            "description": "Items per page",
            "change_type": "config",
            "variants": {"small": 10, "large": 50},
            "off_variant": "small",
        },
        "rules": [{"conditions": [{"attribute": "plan", "op": "equals", "values": ["pro"]}], "serve": {"variant": "large"}}],
    },
    "discount-rate": {
        "create": {
            "description": "Loyalty discount",
            "change_type": "experiment",
            "variants": {"none": 0.0, "loyal": 0.15},
            "off_variant": "none",
        },
        "rules": [{"conditions": [{"attribute": "orders", "op": "gte", "values": [10]}], "serve": {"variant": "loyal"}}],
    },
    "checkout-theme": {
        "create": {
            "description": "Checkout look",
            "change_type": "config",
            "variants": {
                "light": {"background": "#ffffff", "density": "comfortable", "columns": 3},
                "dark": {"background": "#101010", "density": "compact", "columns": 4, "beta": True},
            },
            "off_variant": "light",
        },
        "rules": [
            {"conditions": [{"attribute": "targetingKey", "op": "in", "values": ["user-7", "user-42"]}], "serve": {"variant": "dark"}}
        ],
    },
    "new-search": {
        "create": {"description": "New search backend", "change_type": "code"},
        "rules": [{"serve": {"split": [{"variant": "on", "percent": 50}, {"variant": "off", "percent": 50}]}}],
    },
}

SPLIT_FLAG = "new-search"
SPLIT_KEYS = [f"user-{i}" for i in range(1000)]

SDK_SECRET = "fw-e2e-sdk-" + secrets.token_hex(16)


async def set_up_flags(ws: Workspace) -> None:
    async with ws.client("2026-07-28", "flagwarden-e2e-ofrep-setup") as c:
        for key, spec in FLAGS.items():
            out = await ok(c, "create_flag", {"key": key, **spec["create"], "reason": "e2e: ofrep"})
            assert out["decision"]["result"] == "allow", out
            out = await ok(
                c,
                "set_targeting",
                {"key": key, "environment": "development", "rules": spec["rules"], "reason": "e2e: ofrep"},
            )
            assert out["decision"]["result"] == "allow", out


@dataclasses.dataclass(frozen=True)
class Setup:
    ws: Workspace
    server: Served


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, flagwarden_bin: Path) -> Iterator[Setup]:
    ws = new_workspace(tmp_path_factory.mktemp("ofrep"), flagwarden_bin)
    with serve(ws) as server:
        run("2026-07-28", set_up_flags, dataclasses.replace(ws, url=server.mcp))
        yield Setup(ws=ws, server=server)
    api.clear_providers()


def of_client(base: str, domain: str, headers: dict[str, str] | None = None) -> OpenFeatureClient:
    """An OpenFeature client bound (by domain) to its own OFREP provider for `base`."""
    provider = OFREPProvider(base, headers_factory=(lambda: dict(headers)) if headers is not None else None, timeout=10)
    api.set_provider_and_wait(provider, domain=domain)
    return api.get_client(domain)


@pytest.fixture(scope="module")
def dev(setup: Setup) -> OpenFeatureClient:
    """No environment header: the server's default environment, development."""
    return of_client(setup.server.base, "flagwarden-dev")


@pytest.fixture(scope="module")
def prod(setup: Setup) -> OpenFeatureClient:
    return of_client(setup.server.base, "flagwarden-prod", {ENV_HEADER: "production"})


def ctx(targeting_key: str | None = None, **attributes: Any) -> EvaluationContext:
    return EvaluationContext(targeting_key=targeting_key, attributes=attributes)


def assert_ok(d: FlagEvaluationDetails[Any], value: Any, variant: str, reason: Reason, env: str = "development") -> None:
    assert d.error_code is None, f"{d.flag_key}: {d.error_code} {d.error_message}"
    assert (d.value, d.variant, d.reason) == (value, variant, reason), d
    assert type(d.value) is type(value), f"{d.flag_key}: {d.value!r} is a {type(d.value).__name__}"
    assert d.flag_metadata.get("environment") == env, d.flag_metadata


# --------------------------------------------------------------------------------------------------------
# Typed flags and targeting
# --------------------------------------------------------------------------------------------------------


def test_boolean_targeting(dev: OpenFeatureClient) -> None:
    assert_ok(dev.get_boolean_details("checkout-enabled", False, ctx("user-1", email="dana@corp.com")),
              True, "on", Reason.TARGETING_MATCH)
    assert_ok(dev.get_boolean_details("checkout-enabled", True, ctx("user-2", email="eve@example.com")),
              False, "off", Reason.DEFAULT)
    assert dev.get_boolean_value("checkout-enabled", False, ctx("user-1", email="dana@corp.com")) is True


def test_string_targeting(dev: OpenFeatureClient) -> None:
    assert_ok(dev.get_string_details("banner-text", "fallback", ctx("user-1", country="NL")),
              "Happy holidays!", "holiday", Reason.TARGETING_MATCH)
    assert_ok(dev.get_string_details("banner-text", "fallback", ctx("user-1", country="US")),
              "Welcome back", "classic", Reason.DEFAULT)


def test_integer_targeting(dev: OpenFeatureClient) -> None:
    assert_ok(dev.get_integer_details("max-items", 1, ctx("user-1", plan="pro")), 50, "large", Reason.TARGETING_MATCH)
    assert_ok(dev.get_integer_details("max-items", 1, ctx("user-1", plan="free")), 10, "small", Reason.DEFAULT)


def test_float_targeting(dev: OpenFeatureClient) -> None:
    assert_ok(dev.get_float_details("discount-rate", 0.5, ctx("user-1", orders=12)), 0.15, "loyal", Reason.TARGETING_MATCH)
    assert_ok(dev.get_float_details("discount-rate", 0.5, ctx("user-1", orders=3)), 0.0, "none", Reason.DEFAULT)


def test_object_targeting(dev: OpenFeatureClient) -> None:
    variants = FLAGS["checkout-theme"]["create"]["variants"]
    assert_ok(dev.get_object_details("checkout-theme", {}, ctx("user-42")), variants["dark"], "dark", Reason.TARGETING_MATCH)
    assert_ok(dev.get_object_details("checkout-theme", {}, ctx("user-1")), variants["light"], "light", Reason.DEFAULT)


# --------------------------------------------------------------------------------------------------------
# The 50 % split: every key against an independent bucketing oracle
# --------------------------------------------------------------------------------------------------------


def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit, written out from the reference algorithm."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF

    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & mask

    h = seed
    full = len(data) // 4 * 4
    for i in range(0, full, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = rotl((k * c1) & mask, 15) * c2 & mask
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & mask
    tail = data[full:]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= rotl((k * c1) & mask, 15) * c2 & mask
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    return h ^ (h >> 16)


def test_murmur3_oracle_reference_vectors() -> None:
    assert murmur3_x86_32(b"") == 0
    assert murmur3_x86_32(b"", 1) == 0x514E28B7
    assert murmur3_x86_32(b"hello") == 0x248BFA47
    assert murmur3_x86_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723
    assert murmur3_x86_32(b"Hello, world!", 1234) == 0xFAF6CDB3


def cbor_text(value: str) -> bytes:
    """The canonical CBOR encoding of a text string (RFC 8949: major type 3, shortest length form)."""
    data = value.encode()
    n = len(data)
    if n < 24:
        head = bytes([0x60 | n])
    elif n < 0x100:
        head = bytes([0x78, n])
    elif n < 0x10000:
        head = bytes([0x79]) + n.to_bytes(2, "big")
    else:
        head = bytes([0x7A]) + n.to_bytes(4, "big")
    return head + data


def test_cbor_oracle_against_the_shared_vectors() -> None:
    vectors = json.loads((Path(__file__).parents[1] / "data" / "bucketing-vectors.json").read_text())
    for v in vectors["vectors"]:
        value = v["value"] if "value" in v else v["repeat"] * v["times"]
        assert murmur3_x86_32(cbor_text(value)) == v["cbor_murmur3"], value[:40]


def expected_split_variant(flag: str, targeting_key: str) -> str:
    """flagwarden's documented bucketing, flagd's `fractional`: murmur3_x86_32 over the canonical CBOR
    encoding of salt "/" targetingKey, slot (hash * 10 000) >> 32 in basis points, the salt being the
    flag key, splits as cumulative ranges in the order given ("on" takes [0, 5000))."""
    h = murmur3_x86_32(cbor_text(f"{flag}/{targeting_key}"))
    return "on" if (h * 10_000) >> 32 < 5_000 else "off"


def test_fifty_percent_split(dev: OpenFeatureClient) -> None:
    served: dict[str, bool] = {}
    wrong: list[str] = []
    for key in SPLIT_KEYS:
        d = dev.get_boolean_details(SPLIT_FLAG, False, ctx(key))
        assert d.error_code is None, f"{key}: {d.error_code} {d.error_message}"
        assert d.reason == Reason.SPLIT, f"{key}: {d}"
        assert d.variant in ("on", "off") and d.value is (d.variant == "on"), f"{key}: {d}"
        served[key] = d.value
        expected = expected_split_variant(SPLIT_FLAG, key)
        if d.variant != expected:
            wrong.append(f"{key}: served {d.variant}, bucketing says {expected}")
    on = sum(served.values())
    # Binomial(1000, 0.5): sd ~ 15.8, so 430..570 is more than 4 sd either side.
    assert 430 <= on <= 570, f"a 50% split served 'on' to {on} of {len(SPLIT_KEYS)} keys"
    assert not wrong, f"{len(wrong)} keys off the murmur3 bucketing, e.g. {wrong[:5]}"
    # Sticky: the same keys get the same answer again.
    for key in SPLIT_KEYS[:50]:
        assert dev.get_boolean_value(SPLIT_FLAG, not served[key], ctx(key)) is served[key], key


def test_split_without_targeting_key(dev: OpenFeatureClient) -> None:
    d = dev.get_boolean_details(SPLIT_FLAG, True, ctx(None, email="dana@corp.com"))
    assert (d.value, d.error_code, d.reason) == (True, ErrorCode.TARGETING_KEY_MISSING, Reason.ERROR), d


# --------------------------------------------------------------------------------------------------------
# Errors: the caller's default with the right error code
# --------------------------------------------------------------------------------------------------------


def test_unknown_flag_is_default_with_flag_not_found(dev: OpenFeatureClient) -> None:
    for default in (True, False):
        d = dev.get_boolean_details("no-such-flag", default, ctx("user-1"))
        assert (d.value, d.error_code, d.reason) == (default, ErrorCode.FLAG_NOT_FOUND, Reason.ERROR), d
    d = dev.get_object_details("no-such-flag", {"fallback": 1}, ctx("user-1"))
    assert (d.value, d.error_code) == ({"fallback": 1}, ErrorCode.FLAG_NOT_FOUND), d


def test_type_mismatch_is_default(dev: OpenFeatureClient) -> None:
    d = dev.get_string_details("checkout-enabled", "fallback", ctx("user-1", email="dana@corp.com"))
    assert (d.value, d.error_code, d.reason) == ("fallback", ErrorCode.TYPE_MISMATCH, Reason.ERROR), d
    d = dev.get_integer_details("banner-text", 7, ctx("user-1", country="NL"))
    assert (d.value, d.error_code) == (7, ErrorCode.TYPE_MISMATCH), d


# --------------------------------------------------------------------------------------------------------
# Environments: the header, through the provider's headers option
# --------------------------------------------------------------------------------------------------------


def test_environment_header_selects_production(dev: OpenFeatureClient, prod: OpenFeatureClient) -> None:
    # Targeting was set in development only: production still has every flag off (create_flag's state).
    user = ctx("user-1", email="dana@corp.com", country="NL", plan="pro", orders=12)
    assert_ok(dev.get_boolean_details("checkout-enabled", False, user), True, "on", Reason.TARGETING_MATCH)
    assert_ok(prod.get_boolean_details("checkout-enabled", True, user), False, "off", Reason.DISABLED, "production")
    assert_ok(prod.get_string_details("banner-text", "x", user), "Welcome back", "classic", Reason.DISABLED, "production")
    assert_ok(prod.get_integer_details("max-items", 1, user), 10, "small", Reason.DISABLED, "production")
    assert_ok(prod.get_float_details("discount-rate", 0.5, user), 0.0, "none", Reason.DISABLED, "production")
    d = prod.get_boolean_details("no-such-flag", True, user)
    assert (d.value, d.error_code) == (True, ErrorCode.FLAG_NOT_FOUND), d


def test_unknown_environment_header_is_an_error(setup: Setup) -> None:
    moon = of_client(setup.server.base, "flagwarden-moon", {ENV_HEADER: "moon"})
    d = moon.get_boolean_details("checkout-enabled", True, ctx("user-1", email="dana@corp.com"))
    assert (d.value, d.error_code, d.reason) == (True, ErrorCode.GENERAL, Reason.ERROR), d
    assert "moon" in (d.error_message or ""), d


def test_sdk_token_bound_to_production(setup: Setup) -> None:
    """With tokens configured, the provider's headers carry the sdk token; its environment (production)
    applies without an environment header, and without the token the provider gets the default."""
    tokens = {"FLAGWARDEN_TOKENS": f"sdk:e2e-web@production={SDK_SECRET}"}
    with serve(setup.ws, env=tokens) as server:
        with_token = of_client(server.base, "flagwarden-token", {"Authorization": f"Bearer {SDK_SECRET}"})
        user = ctx("user-1", email="dana@corp.com")
        assert_ok(with_token.get_boolean_details("checkout-enabled", True, user), False, "off", Reason.DISABLED,
                  "production")
        anonymous = of_client(server.base, "flagwarden-no-token")
        d = anonymous.get_boolean_details("checkout-enabled", True, user)
        assert (d.value, d.error_code, d.reason) == (True, ErrorCode.GENERAL, Reason.ERROR), d
        assert "unauthorized" in (d.error_message or ""), d
