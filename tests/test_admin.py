"""vkmock's admin API: the request journal (bounded, filtered, redacted), run-time settings, the clock route,
admin-token and loopback guards, and the admin OpenAPI document that describes every route."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml
from openapi_spec_validator import validate

from conftest import AUTH, BASE, FIXTURES, ROOT
from vkmock.app import create_app
from vkmock.settings import Settings

ADMIN_SPEC = ROOT / "openapi" / "vkmock-admin.yaml"
JSON_AUTH = {**AUTH, "Content-Type": "application/json"}
SECRET_TOKEN = "Bearer super-secret-token-123"
VK_VALUE = "sk-bf-3f1c2a8e-9b7d-4c1e-8a2f-5d6e7f809a1b"


def admin_document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ADMIN_SPEC.read_text())
    return loaded


def check_against_spec(method: str, path: str, answer: Any) -> None:
    """The answer's body validates against the admin spec's schema for its status."""
    document = admin_document()
    response = document["paths"][path][method.lower()]["responses"][str(answer.status_code)]
    if "$ref" in response:
        response = document["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    schema = response["content"]["application/json"]["schema"]
    jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]}).validate(
        json.loads(answer.data)
    )


def journal(client: Any, query: str = "") -> dict[str, Any]:
    answer = client.get("/_vkmock/requests" + query)
    check_against_spec("GET", "/_vkmock/requests", answer)
    loaded: dict[str, Any] = json.loads(answer.data)
    return loaded


# ---- the journal -------------------------------------------------------------------------------------------


def test_the_journal_records_requests_newest_first_without_admin_calls(client: Any) -> None:
    client.get(BASE, headers=AUTH)
    created = client.post(BASE, headers=JSON_AUTH, data=json.dumps({"name": "journaled"}))
    vk_id = json.loads(created.data)["virtual_key"]["id"]
    client.get(f"{BASE}/{vk_id}?from_memory=true", headers={**AUTH, "Prefer": "code=404"})
    client.get(BASE)  # a 401 is recorded too
    client.get("/_vkmock/health")
    body = journal(client)
    entries = body["requests"]
    assert body["count"] == len(entries) == 4 and body["size"] == 500
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", BASE, 401),
        ("GET", f"{BASE}/{vk_id}", 404),
        ("POST", BASE, 200),
        ("GET", BASE, 200),
    ]
    assert [e["id"] for e in entries] == sorted((e["id"] for e in entries), reverse=True)
    assert entries[1]["query"] == {"from_memory": "true"}
    assert entries[1]["preferences"] == {"code": "404"}
    assert json.loads(entries[2]["body"]) == {"name": "journaled"}
    assert entries[2]["body_bytes"] == len(b'{"name": "journaled"}')
    assert entries[2]["response_bytes"] == len(created.data) and entries[2]["duration_ms"] >= 0
    assert entries[3]["remote_addr"] == "127.0.0.1" and entries[3]["fault"] is None


def test_the_journal_filters_by_method_and_path(client: Any) -> None:
    client.get(BASE, headers=AUTH)
    client.post(BASE, headers=JSON_AUTH, data=json.dumps({"name": "one"}))
    client.delete(f"{BASE}/nope", headers=AUTH)
    client.get("/openapi.yaml")
    assert [e["method"] for e in journal(client, "?method=post")["requests"]] == ["POST"]
    assert [e["method"] for e in journal(client, "?method=POST,delete")["requests"]] == ["DELETE", "POST"]
    assert len(journal(client, f"?path={BASE}")["requests"]) == 3
    assert [e["path"] for e in journal(client, f"?path={BASE}/*")["requests"]] == [f"{BASE}/nope"]
    assert [e["path"] for e in journal(client, "?path=/openapi")["requests"]] == ["/openapi.yaml"]
    assert journal(client, "?limit=2")["count"] == 2
    for query, says in (
        ("?limit=0", "limit must be a positive integer"),
        ("?status=200", "unknown filter(s) status; filter by method, path, limit"),
    ):
        answer = client.get("/_vkmock/requests" + query)
        assert answer.status_code == 400 and says in json.loads(answer.data)["error"]["message"]
        check_against_spec("GET", "/_vkmock/requests", answer)


def test_the_journal_redacts_credentials_and_virtual_key_values(client: Any) -> None:
    body = {
        "name": "redaction",
        "description": f"copied {VK_VALUE} by mistake",
        "value": "plain-secret",
        "budget": {"max_limit": 5, "reset_duration": "1h"},
        "rate_limit": {"token_max_limit": 10, "token_reset_duration": "1h"},
    }
    client.set_cookie("session", "abc123secret")
    client.post(
        BASE,
        headers={"Authorization": SECRET_TOKEN, "Content-Type": "application/json", "X-Api-Key": "key-xyz"},
        data=json.dumps(body),
    )
    client.delete_cookie("session")
    client.get(
        f"{BASE}/{VK_VALUE}?token=qs-secret&from_memory=true",
        headers={"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()},
    )
    text = json.dumps(journal(client))
    for secret in (
        "super-secret-token-123",
        "abc123secret",
        "key-xyz",
        VK_VALUE,
        "plain-secret",
        "qs-secret",
        base64.b64encode(b"admin:pw").decode(),
    ):
        assert secret not in text
    newest, oldest = journal(client)["requests"]
    assert oldest["headers"]["Authorization"] == "Bearer [REDACTED]"
    assert newest["headers"]["Authorization"] == "Basic [REDACTED]"
    assert oldest["headers"]["Cookie"] == oldest["headers"]["X-Api-Key"] == "[REDACTED]"
    recorded = json.loads(oldest["body"])
    assert (
        recorded["description"] == "copied sk-bf-[REDACTED] by mistake" and recorded["value"] == "[REDACTED]"
    )
    assert (
        recorded["rate_limit"]["token_reset_duration"] == "1h"
    )  # a field named like a token is not a secret
    assert newest["path"] == f"{BASE}/sk-bf-[REDACTED]"
    assert newest["query"] == {"token": "[REDACTED]", "from_memory": "true"}


def test_the_journal_is_bounded_and_cleared() -> None:
    client = create_app(Settings(journal_size=5, count=2)).test_client()
    for i in range(12):
        client.get(f"{BASE}?n={i}", headers=AUTH)
    entries = journal(client)["requests"]
    assert [e["query"]["n"] for e in entries] == ["11", "10", "9", "8", "7"]
    assert entries[0]["id"] == 12
    cleared = client.delete("/_vkmock/requests")
    check_against_spec("DELETE", "/_vkmock/requests", cleared)
    assert json.loads(cleared.data) == {"message": "Journal cleared", "count": 5}
    assert journal(client)["requests"] == []
    off = create_app(Settings(journal_size=0, count=2)).test_client()
    off.get(BASE, headers=AUTH)
    assert journal(off) == {"requests": [], "count": 0, "size": 0}


def test_a_body_over_4_kib_is_kept_in_part_and_still_redacted(client: Any) -> None:
    long = {"name": "long", "description": VK_VALUE + " " + "x" * 5000}
    client.post(BASE, headers=JSON_AUTH, data=json.dumps(long))
    entry = journal(client)["requests"][0]
    assert entry["body_bytes"] == len(json.dumps(long)) and len(entry["body"]) <= 4096 + 20
    assert VK_VALUE not in entry["body"] and "sk-bf-[REDACTED]" in entry["body"]


# ---- guards ------------------------------------------------------------------------------------------------


def test_the_admin_token_guards_every_admin_route_but_health() -> None:
    client = create_app(Settings(admin_token="t0k3n", count=2)).test_client()
    routes = (
        ("GET", "/_vkmock/requests"),
        ("DELETE", "/_vkmock/requests"),
        ("GET", "/_vkmock/settings"),
        ("PUT", "/_vkmock/settings"),
        ("GET", "/_vkmock/clock"),
        ("POST", "/_vkmock/clock"),
        ("POST", "/_vkmock/reset"),
    )
    for method, path in routes:
        refused = client.open(path, method=method, json={})
        assert refused.status_code == 401, (method, path)
        check_against_spec(method, path, refused)
        wrong = client.open(path, method=method, json={}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
    assert client.get("/_vkmock/requests", headers={"Authorization": "Bearer t0k3n"}).status_code == 200
    assert client.get("/_vkmock/settings", headers={"X-Vkmock-Admin-Token": "t0k3n"}).status_code == 200
    assert client.get("/_vkmock/health").status_code == 200
    assert client.get("/_vkmock/openapi.yaml").status_code == 200


def test_without_a_token_admin_routes_answer_only_loopback(client: Any) -> None:
    remote = {"REMOTE_ADDR": "10.1.2.3"}
    for path in ("/_vkmock/requests", "/_vkmock/settings", "/_vkmock/clock"):
        answer = client.get(path, environ_base=remote)
        assert answer.status_code == 403
        check_against_spec("GET", path, answer)
    assert client.get("/_vkmock/requests", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200


# ---- settings, clock and reset as described ----------------------------------------------------------------


def test_settings_and_clock_answers_match_the_admin_spec(client: Any) -> None:
    check_against_spec("GET", "/_vkmock/settings", client.get("/_vkmock/settings"))
    check_against_spec("PUT", "/_vkmock/settings", client.put("/_vkmock/settings", json={"latency": "5ms"}))
    check_against_spec("PUT", "/_vkmock/settings", client.put("/_vkmock/settings", json={"nope": 1}))
    off = client.get("/_vkmock/clock")
    check_against_spec("GET", "/_vkmock/clock", off)
    assert json.loads(off.data) == {"live": False}
    refused = client.post("/_vkmock/clock", json={"advance": "1d"})
    assert refused.status_code == 409
    assert json.loads(refused.data)["error"]["message"] == (
        "the clock moves only in a live world: start vkmock serve with --live"
    )
    check_against_spec("POST", "/_vkmock/clock", refused)
    live = create_app(Settings(live=True, flush_interval="0", count=3)).test_client()
    for answer in (
        live.get("/_vkmock/clock"),
        live.post("/_vkmock/clock"),
        live.post("/_vkmock/clock", json={"freeze": True, "advance": "1h", "flush": True}),
        live.post("/_vkmock/clock", json={"speed": -1}),
    ):
        check_against_spec(answer.request.method, "/_vkmock/clock", answer)


def test_reset_refuses_a_fixture_that_went_bad_and_keeps_serving(tmp_path: Path) -> None:
    fixture = tmp_path / "mine.json"
    fixture.write_text((FIXTURES / "exhausted.json").read_text())
    client = create_app(Settings(fixture=str(fixture), fixtures_dir=str(FIXTURES))).test_client()
    before = client.get(BASE, headers=AUTH).data
    fixture.write_text('{"virtual_keys": [], "count": 3}')
    answer = client.post("/_vkmock/reset")
    assert answer.status_code == 400
    assert json.loads(answer.data)["error"]["message"] == (
        f"bad fixture: {fixture}: /count: count is 3 but virtual_keys has 0 entries"
    )
    check_against_spec("POST", "/_vkmock/reset", answer)
    assert client.get(BASE, headers=AUTH).data == before
    loaded = client.post("/_vkmock/fixtures/empty")
    check_against_spec("POST", "/_vkmock/fixtures/{name}", loaded)
    check_against_spec("POST", "/_vkmock/fixtures/{name}", client.post("/_vkmock/fixtures/none-such"))


# ---- the document ------------------------------------------------------------------------------------------


def test_the_admin_spec_is_valid_and_describes_every_admin_route(app: Any) -> None:
    document = admin_document()
    validate(document)
    served = {
        (method, rule.rule.replace("<name>", "{name}"))
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/_vkmock/")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    described = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert served == described
    assert app.test_client().get("/_vkmock/openapi.yaml").data.decode() == ADMIN_SPEC.read_text()


@pytest.mark.parametrize("path", ["/_vkmock/health"])
def test_open_routes_match_the_spec(client: Any, path: str) -> None:
    check_against_spec("GET", path, client.get(path))


def test_every_journal_entry_is_bounded_in_size_whatever_the_request_carries(client: Any) -> None:
    from vkmock.control import journal as journal_module

    huge = "x" * 20_000
    headers = {**AUTH, "X-Huge": huge, **{f"X-Filler-{i}": "y" * 900 for i in range(40)}}
    client.get(f"{BASE}/{huge}?q={huge}&from_memory=true", headers=headers)
    client.post(BASE, headers=JSON_AUTH, data=json.dumps({"name": "big", "description": huge}))
    entries = journal(client)["requests"]
    assert len(entries) == 2
    for entry in entries:
        assert len(entry["path"]) <= journal_module.FIELD_LIMIT
        assert sum(len(str(v)) for v in entry["query"].values()) <= journal_module.FIELD_LIMIT
        assert all(len(value) <= journal_module.FIELD_LIMIT for value in entry["headers"].values())
        assert sum(len(k) + len(v) for k, v in entry["headers"].items()) <= journal_module.HEADERS_LIMIT
        assert entry["body"] is None or len(entry["body"]) <= journal_module.BODY_LIMIT + 20
    get, post = entries[1], entries[0]
    assert get["headers"]["Authorization"] == "Bearer [REDACTED]"  # the first headers are the ones kept
    assert post["body_bytes"] > journal_module.BODY_LIMIT  # the size is still told in full
    # what is stored (raw, redacted only when read) is bounded too
    stored = [raw for _, raw in client.application.extensions["vkmock"].extras["journal"]._entries]
    for raw in stored:
        held = len(raw.path) + len(raw.query) + len(raw.body) + sum(len(k) + len(v) for k, v in raw.headers)
        assert held <= journal_module.ENTRY_LIMIT


def test_a_secret_cut_short_by_the_body_limit_is_still_redacted(client: Any) -> None:
    body = '{"name": "cut", "description": "' + "d" * 4040 + '", "value": "' + "s" * 200 + '"}'
    client.post(BASE, headers=JSON_AUTH, data=body)
    entry = journal(client)["requests"][0]
    assert "sss" not in entry["body"] and entry["body"].endswith('"value": "[REDACTED]"')
