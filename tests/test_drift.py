"""``vkmock drift``: field-by-field differences between a live deployment and the bundled spec."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from breakers import broken_server, run_vkmock
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


def test_a_closed_port_exits_2_with_the_reason_and_no_traceback(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = run_vkmock("drift", "--base-url", url, "--token", TOKEN, cwd=tmp_path)
    assert result.returncode == 2
    assert f"cannot connect to {url}: Connection refused" in result.stderr
    assert "Traceback" not in result.stderr and TOKEN not in result.stdout + result.stderr


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
