"""``vkmock drift``: field-by-field differences between a live deployment and the bundled spec."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from breakers import BASE, broken_server, run_vkmock
from vkmock.check.drift import drift_command

TOKEN = "drift-tok-5c1a9e77d2"


def drift(url: str, *args: str, token: str | None = TOKEN) -> tuple[int, str, str]:
    cred = ["--token", token] if token else []
    result = CliRunner().invoke(drift_command, ["--base-url", url, *cred, *args], catch_exceptions=False)
    assert TOKEN not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def diffs(url: str, *args: str) -> tuple[int, list[dict[str, Any]], dict[str, Any]]:
    code, out, _ = drift(url, "--json", *args)
    doc = json.loads(out)
    return code, doc["differences"], doc


def kinds_at(found: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(d["kind"], d["path"]) for d in found}


def test_the_mock_has_no_drift() -> None:
    with broken_server(None) as server:
        code, out, _ = drift(server.url)
        json_code, found, doc = diffs(server.url)
    assert code == 0 and "RESULT: no drift" in out
    assert "5 key(s) read (5 x 200)" in out and "(no credentials): 401" in out
    assert json_code == 0 and found == [] and doc["drift"] is False


def test_an_unknown_field_and_a_dropped_required_one_are_both_named() -> None:
    with broken_server("unknown_and_missing_field") as server:
        code, out, _ = drift(server.url)
        json_code, found, _ = diffs(server.url)
    assert code == 1 and json_code == 1
    assert "extra" in out and "/virtual_keys/*/rotated_at" in out
    assert "missing" in out and "/virtual_keys/*/config_hash" in out
    assert "present (required by VirtualKey)" in out and "VirtualKey does not list it" in out
    assert {
        ("extra", "/virtual_keys/*/rotated_at"),
        ("missing", "/virtual_keys/*/config_hash"),
        ("extra", "/virtual_key/rotated_at"),
        ("missing", "/virtual_key/config_hash"),
    } == kinds_at(found)
    listed = next(d for d in found if d["path"] == "/virtual_keys/*/rotated_at")
    assert listed["count"] == 5 and listed["example"] == "/virtual_keys/0/rotated_at"
    assert listed["probe"] == "GET /api/governance/virtual-keys"


@pytest.mark.parametrize(
    ("brk", "expected"),
    [
        ("wrong_type", {("type", "/virtual_keys/*/is_active"), ("type", "/virtual_key/is_active")}),
        (
            "timestamp_not_rfc3339",
            {("format", "/virtual_keys/*/updated_at"), ("format", "/virtual_key/updated_at")},
        ),
        ("count_mismatch", {("value", "/count")}),
        (
            "missing_required",
            {("missing", "/virtual_keys/*/created_at"), ("missing", "/virtual_key/created_at")},
        ),
        (
            "error_not_envelope",
            {
                ("missing", "/is_bifrost_error"),
                ("missing", "/status_code"),
                ("type", "/error"),
                ("envelope", "/"),
            },
        ),
        ("html_not_json", {("status", "/"), ("content-type", "/")}),
        ("ignores_credentials", {("status", "/")}),
    ],
)
def test_each_kind_of_drift_is_reported_where_it_is(brk: str, expected: set[tuple[str, str]]) -> None:
    with broken_server(brk) as server:
        code, found, _ = diffs(server.url)
    assert code == 1
    assert kinds_at(found) == expected


def test_wrong_status_and_envelope_name_the_probe_and_the_statuses() -> None:
    with broken_server("ignores_credentials") as server:
        code, out, _ = drift(server.url)
    assert code == 1
    assert "status       GET /api/governance/virtual-keys (no credentials)" in out
    assert "expected 401 (documented: 200, 401, 500); got 200" in out


def test_an_allowlist_accepts_known_differences(tmp_path: Path) -> None:
    both = tmp_path / "accept.yaml"
    both.write_text(
        "- path: '*/rotated_at'\n  kind: extra\n  reason: newer Bifrost\n"
        "- path: '*/config_hash'\n  kind: missing\n"
    )
    one = tmp_path / "one.json"
    one.write_text(
        json.dumps(
            {"accept": [{"path": "/virtual_keys/*/rotated_at", "kind": "extra"}, {"path": "/nothing/here"}]}
        )
    )
    with broken_server("unknown_and_missing_field") as server:
        code, out, _ = drift(server.url, "--allowlist", str(both))
        partial_code, found, doc = diffs(server.url, "--allowlist", str(one))
    assert code == 0 and "accepted by the allowlist: 4" in out and "RESULT: no drift" in out
    assert partial_code == 1
    assert kinds_at(found) == {
        ("missing", "/virtual_keys/*/config_hash"),
        ("extra", "/virtual_key/rotated_at"),
        ("missing", "/virtual_key/config_hash"),
    }
    assert [d["path"] for d in doc["accepted"]] == ["/virtual_keys/*/rotated_at"]
    assert doc["unused_allowlist"] == [{"path": "/nothing/here"}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("- path: x\n  kind: weird\n", "unknown kind 'weird'"),
        ("- {colour: red}\n", "expected keys among"),
        ("path: x\n", "must be a list"),
        ("- [unclosed\n", "not valid YAML/JSON"),
    ],
)
def test_a_bad_allowlist_is_a_usage_error(content: str, message: str, tmp_path: Path) -> None:
    allow = tmp_path / "allow.yaml"
    allow.write_text(content)
    with broken_server(None) as server:
        code, _, err = drift(server.url, "--allowlist", str(allow))
    assert code == 2 and message in err


@pytest.mark.slow
def test_a_closed_port_exits_2_with_the_reason_and_no_traceback(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = run_vkmock("drift", "--base-url", url, "--token", TOKEN, cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot connect to {url}: Connection refused" in result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stdout + result.stderr


@pytest.mark.slow
def test_drift_as_a_real_process_exits_1_and_prints_json(tmp_path: Path) -> None:
    with broken_server("unknown_and_missing_field") as server:
        result = run_vkmock(
            "drift", "--base-url", server.url, "--json", env={"VKMOCK_CONTRACT_TOKEN": TOKEN}, cwd=tmp_path
        )
        seen = server.requests
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert doc["drift"] is True and {d["kind"] for d in doc["differences"]} == {"extra", "missing"}
    assert TOKEN not in result.stdout + result.stderr
    assert {r.method for r in seen} == {"GET"}  # drift only reads
    assert any(not r.authorized for r in seen) and any(r.authorized for r in seen)


@pytest.mark.slow
def test_refused_or_missing_credentials_are_usage_errors(serve: Any) -> None:
    server = serve("--count", "1", "--token", "right-token")
    code, _, err = drift(server.url, token="wrong-token-123")
    assert code == 2 and "refused the credentials (Bearer token)" in err and "wrong-token-123" not in err
    code, _, err = drift(server.url, token=None)
    assert code == 2 and "needs credentials" in err


def test_the_help_says_what_it_does_with_examples() -> None:
    result = CliRunner().invoke(drift_command, ["--help"])
    assert result.exit_code == 0
    assert (
        "field by field" in result.stdout and "Examples:" in result.stdout and "--allowlist" in result.stdout
    )


# ---- the schema comparison itself (jsonschema-rs on a closed copy of the spec) --------------------------


def _key(**changes: Any) -> dict[str, Any]:
    vk: dict[str, Any] = {
        "id": "k1",
        "name": "n",
        "value": "sk-bf-1",
        "is_active": True,
        "provider_configs": [],
        "mcp_configs": [],
        "config_hash": "",
        "created_at": "2026-10-02T09:14:03Z",
        "updated_at": "2026-10-02T09:14:03Z",
    }
    vk.update(changes)
    return vk


def _compare(doc: Any, profile: Any = None, status: int = 200, path: str = BASE) -> dict[tuple[str, str], Any]:
    from vkmock.check import profiles
    from vkmock.check.schemadiff import SchemaDiff

    diff = SchemaDiff(profile or profiles.load("1.4"))
    assert diff.compare("probe", doc, "GET", path, status)
    return {(d.kind, d.path): d for d in diff.found.values()}


def test_nested_and_nullable_objects_are_compared_field_by_field() -> None:
    env = {"value": "", "env_var": "", "from_env": False}
    good_key = {"id": 1, "name": "k", "provider": "openai", "key_id": "x", "value": env, "models": []}
    config = {"id": 1, "virtual_key_id": "k1", "provider": "openai", "weight": 1, "allowed_models": []}
    keys = [
        {**good_key, "azure_endpoint": None},  # the null branch of NullableEnvVar
        {**good_key, "azure_endpoint": {"value": 1, "colour": "red"}},  # the EnvVar branch, broken inside
        {**good_key, "vertex_region": 5},  # no branch has this type
    ]
    rate = {
        "id": "r", "token_current_usage": 2**64, "token_last_reset": "2026-10-02 09:14:03",
        "request_current_usage": 0, "request_last_reset": "2026-10-02T09:14:03Z", "config_hash": None,
        "created_at": "2026-10-02T09:14:03Z", "updated_at": "2026-10-02T09:14:03Z",
    }
    doc = {"virtual_keys": [_key(provider_configs=[{**config, "keys": keys}], rate_limit=rate)], "count": 1}
    found = _compare(doc)
    at = "/virtual_keys/*/provider_configs/*/keys/*"
    assert set(found) == {
        ("missing", f"{at}/azure_endpoint/env_var"),
        ("missing", f"{at}/azure_endpoint/from_env"),
        ("type", f"{at}/azure_endpoint/value"),
        ("extra", f"{at}/azure_endpoint/colour"),
        ("type", f"{at}/vertex_region"),
        ("format", "/virtual_keys/*/rate_limit/token_current_usage"),
        ("format", "/virtual_keys/*/rate_limit/token_last_reset"),
    }
    assert found[("missing", f"{at}/azure_endpoint/env_var")].expected == "present (required by EnvVar)"
    assert found[("extra", f"{at}/azure_endpoint/colour")].expected == "no such field (EnvVar does not list it)"
    assert found[("type", f"{at}/vertex_region")].expected == "null or object"
    assert found[("type", f"{at}/vertex_region")].actual == "integer 5"
    assert found[("format", "/virtual_keys/*/rate_limit/token_current_usage")].expected == "an int64"
    assert found[("format", "/virtual_keys/*/rate_limit/token_last_reset")].example == (
        "/virtual_keys/0/rate_limit/token_last_reset"
    )


def test_the_same_difference_in_every_key_is_counted_once() -> None:
    doc = {"virtual_keys": [_key(is_active="yes"), _key(is_active=1), _key()], "count": 3}
    found = _compare(doc)
    assert list(found) == [("type", "/virtual_keys/*/is_active")]
    assert found[("type", "/virtual_keys/*/is_active")].count == 2
    assert found[("type", "/virtual_keys/*/is_active")].example == "/virtual_keys/0/is_active"


def test_value_constraints_name_what_was_expected() -> None:
    from vkmock.check import profiles

    schema = {
        "type": "object",
        "properties": {
            "state": {"enum": ["on", "off"]},
            "kind": {"const": "vk"},
            "code": {"type": "string", "pattern": "^[a-z]+$"},
            "label": {"type": "string", "maxLength": 4},
            "spend": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
            "either": {"oneOf": [{"type": "string"}, {"type": "object", "required": ["a"]}]},
            # only subschemas are closed: a field named "properties" and values that look like schemas are kept
            "meta": {"type": "object", "properties": {"properties": {"type": "string"}}},
            "choice": {"enum": [{"properties": {"a": {}}}]},
        },
    }
    document = {
        "paths": {"/x": {"get": {"responses": {"200": {"content": {"application/json": {"schema": schema}}}}}}},
    }
    profile = profiles.Profile("1.4", Path("synthetic.yaml"), document, "a test")
    doc = {"state": "maybe", "kind": "team", "code": "AB", "label": "ABCDEF", "spend": 0, "either": {"b": 1}, "x": 1}
    doc |= {"meta": {"properties": "kept"}, "choice": {"properties": {"a": {}}}}
    found = _compare(doc, profile, path="/x")
    assert {key: d.expected for key, d in found.items()} == {
        ("value", "/state"): 'one of "on", "off"',
        ("value", "/kind"): '"vk"',
        ("value", "/code"): "matching ^[a-z]+$",
        ("value", "/label"): "at most 4 characters",
        ("value", "/spend"): "> 0",
        ("missing", "/either/a"): "present (required by the schema)",  # the branch whose type fits
        ("extra", "/x"): "no such field (the schema does not list it)",
    }
    assert found[("value", "/label")].actual == 'string "ABCDEF"'


# ---- --bifrost ------------------------------------------------------------------------------------------


def test_auto_asks_the_deployment_and_the_report_names_the_profile() -> None:
    with broken_server(None, version="v1.4.10") as server:
        code, out, _ = drift(server.url, "--bifrost", "auto")
        json_code, _, doc = diffs(server.url, "--bifrost", "auto")
    assert code == 0 and json_code == 0
    assert "against the spec of Bifrost 1.4 (auto: GET /api/version answered 'v1.4.10')" in out
    assert doc["bifrost"] == {"profile": "1.4", "chosen_by": "auto: GET /api/version answered 'v1.4.10'"}


def test_auto_without_a_version_route_exits_2_and_says_what_to_pass() -> None:
    with broken_server(None) as server:
        code, out, err = drift(server.url, "--bifrost", "auto")
    assert code == 2 and out == ""
    assert "GET /api/version answered 404" in err and "pass --bifrost 1.4 or --bifrost 1.5" in err


@pytest.mark.slow
def test_each_profile_reads_the_mock_of_its_own_version_without_drift(serve: Any) -> None:
    server = serve("--bifrost", "1.5", "--count", "4", "--token", TOKEN)
    code, out, _ = drift(server.url, "--bifrost", "1.5")
    assert code == 0 and "against the spec of Bifrost 1.5 (--bifrost 1.5)" in out and "RESULT: no drift" in out
    code, found, _ = diffs(server.url, "--bifrost", "1.4")  # 1.5's fields are no part of 1.4's spec
    assert code == 1
    assert ("extra", "/virtual_keys/*/provider_configs/*/allow_all_keys") in kinds_at(found)
