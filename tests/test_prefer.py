"""Per-request control with ``Prefer`` and its ``__*`` query twins: the spec's examples, generated data and
scenarios, refused with a clear 400 when malformed, after authentication, and never changing state."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from conftest import AUTH, BASE, FIXTURES
from vkmock import spec
from vkmock.app import create_app
from vkmock.settings import Settings

JSON_AUTH = {**AUTH, "Content-Type": "application/json"}
OPERATIONS = sorted(spec.operations())
UPSTREAM_500 = {  # what upstream's handlers answer when the operation fails inside the server
    ("GET", BASE): "Failed to retrieve virtual keys",
    ("POST", BASE): "Failed to create virtual key",
    ("GET", BASE + "/{vk_id}"): "Failed to retrieve virtual key",
    ("PUT", BASE + "/{vk_id}"): "Failed to update virtual key",
    ("DELETE", BASE + "/{vk_id}"): "Failed to delete virtual key",
}


def response_validator(method: str, path: str, code: str) -> Any:
    content = spec.resolve(spec.operations()[(method, path)]["responses"][code])["content"]["application/json"]
    return jsonschema_rs.Draft202012Validator({**content["schema"], "components": spec.spec()["components"]})


def url_for(client: Any, path: str) -> str:
    if "{vk_id}" not in path:
        return path
    return path.replace("{vk_id}", json.loads(client.get(BASE, headers=AUTH).data)["virtual_keys"][0]["id"])


def call(client: Any, method: str, url: str, prefer: str | None = None, body: Any = None) -> Any:
    headers = dict(JSON_AUTH)
    if prefer is not None:
        headers["Prefer"] = prefer
    data = json.dumps(body) if body is not None else (b"{}" if method in ("POST", "PUT") else None)
    return client.open(url, method=method, headers=headers, data=data)


def world(client: Any) -> tuple[bytes, bytes, int]:
    return (
        client.get(BASE, headers=AUTH).data,
        client.get(BASE + "?from_memory=true", headers=AUTH).data,
        client.application.extensions["vkmock"].store.version,
    )


@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_every_declared_code_answers_the_specs_example_valid_against_its_schema(
    client: Any, method: str, path: str
) -> None:
    before = world(client)
    url = url_for(client, path)
    for code, response in spec.operations()[(method, path)]["responses"].items():
        answer = call(client, method, url, f"code={code}")
        assert answer.status_code == int(code), answer.data
        assert answer.headers["Preference-Applied"] == f"code={code}"
        body = json.loads(answer.data)
        response_validator(method, path, code).validate(body)
        content = spec.resolve(response)["content"]["application/json"]
        example = content.get("example")
        if example is None and content.get("examples"):
            example = spec.resolve(next(iter(content["examples"].values())))["value"]
        if int(code) >= 400:
            # a 500 is the operation's own upstream message (the spec's one example is the list's)
            message = UPSTREAM_500[(method, path)] if code == "500" else example["error"]["message"]
            assert body == {
                "is_bifrost_error": False,
                "status_code": int(code),
                "error": {"message": message},
                "extra_fields": {},
            }
        elif example is not None:
            assert body == example
        elif "{vk_id}" in path:  # no example: a generated key that carries the id asked for
            assert body["virtual_key"]["id"] == url.rsplit("/", 1)[1]
    assert world(client) == before  # no preference changes state


def test_an_undeclared_code_is_refused_naming_the_declared_ones(client: Any) -> None:
    answer = call(client, "GET", BASE, "code=404")
    assert answer.status_code == 400
    assert json.loads(answer.data)["error"]["message"] == (
        "Invalid Prefer code=404: GET /api/governance/virtual-keys declares only 200, 401, 500"
    )
    assert call(client, "DELETE", BASE + "/x", "code=409").status_code == 400


def test_named_examples_are_chosen_and_unknown_ones_refused(client: Any) -> None:
    empty = call(client, "GET", BASE, "example=empty")
    assert (empty.status_code, json.loads(empty.data)) == (200, {"virtual_keys": [], "count": 0})
    one = call(client, "GET", BASE, 'code=200, example="one-key"')
    assert json.loads(one.data)["count"] == 1
    assert one.headers["Preference-Applied"] == "example=one-key, code=200"
    unknown = call(client, "GET", BASE, "example=lots")
    assert unknown.status_code == 400
    assert json.loads(unknown.data)["error"]["message"] == (
        "Invalid Prefer example=lots: GET /api/governance/virtual-keys declares these examples for 200: "
        "one-key, empty"
    )
    none = call(client, "GET", BASE + "/x", "example=any")
    assert "declares no named examples for 200" in json.loads(none.data)["error"]["message"]


@pytest.mark.parametrize(
    ("prefer", "says"),
    [
        ("code=abc", "code must be an integer from 100 to 599"),
        ("code=99", "code must be an integer from 100 to 599"),
        ("code=404, code=500", "given twice with different values"),
        ("dynamic=maybe", "dynamic must be true or false"),
        ("seed=7", "seed chooses the generated world of dynamic=true; add dynamic=true"),
        ("dynamic=true, seed=x", "seed must be an integer"),
        ("delay=-5", "delay must be an integer from 0 to 60000"),
        ("delay=600000", "delay must be an integer from 0 to 60000"),
        ("fault=explode", "fault must be one of reset, empty, malformed, timeout"),
        ("teapot=1", "unknown preference (Prefer header); vkmock understands code, example, dynamic, seed"),
        ("code=200, dynamic=true", "code and dynamic cannot be combined"),
        ("scenario=empty, example=empty", "example and scenario cannot be combined"),
        ("example=", "example needs a name"),
        ('code="200', "cannot read"),
        ("=5", "cannot read"),
    ],
)
def test_a_malformed_prefer_is_a_clear_400(client: Any, prefer: str, says: str) -> None:
    before = world(client)
    answer = call(client, "POST", BASE, prefer, {"name": "never-stored"})
    assert answer.status_code == 400, answer.data
    body = json.loads(answer.data)
    assert body["status_code"] == 400 and body["extra_fields"] == {}
    assert says in body["error"]["message"]
    assert world(client) == before


def test_code_500_answers_each_operations_own_message_as_the_fault_rate_does(client: Any) -> None:
    before = world(client)
    faulty = create_app(Settings(fixtures_dir=str(FIXTURES), fault_rate=1.0)).test_client()
    for (method, path), message in UPSTREAM_500.items():
        asked = call(client, method, url_for(client, path), "code=500")
        assert asked.status_code == 500 and json.loads(asked.data)["error"]["message"] == message, (method, path)
        # --fault-rate answers a 500 or a 503 at random: ask until the 500 comes
        injected = next(
            answer
            for answer in (call(faulty, method, url_for(client, path)) for _ in range(64))
            if answer.status_code == 500
        )
        assert json.loads(injected.data)["error"]["message"] == message, (method, path)
    assert world(client) == before


def test_query_twins_act_like_the_header_and_other_parameters_are_ignored(client: Any) -> None:
    assert call(client, "GET", BASE + "?__code=401").status_code == 401
    assert json.loads(call(client, "GET", BASE + "?__example=empty").data)["count"] == 0
    bad = call(client, "GET", BASE + "?__code=404")
    assert (
        bad.status_code == 400 and "declares only 200, 401, 500" in json.loads(bad.data)["error"]["message"]
    )
    assert call(client, "GET", BASE + "?__code=401", "code=500").status_code == 400  # two different values
    memory = client.get(BASE + "?from_memory=true", headers=AUTH).data
    # a parameter that is not a preference (known to the route or not) keeps the real answer
    assert client.get(BASE + "?from_memory=true&__delay=0&x=2&_code=500&__dict__=1", headers=AUTH).data == memory
    vk_id = json.loads(memory)["virtual_keys"][0]["id"]
    one = client.get(f"{BASE}/{vk_id}?from_memory=true&unknown=1&__unknown=1&__x=", headers=AUTH)
    assert one.status_code == 200 and json.loads(one.data)["virtual_key"]["id"] == vk_id


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("__cod=500", "Invalid Prefer cod=500: unknown preference (query parameter __cod); did you mean code?"),
        ("__Scenari0=empty", "unknown preference (query parameter __Scenari0); did you mean scenario?"),
        ("__fualt=empty", "unknown preference (query parameter __fualt); did you mean fault?"),
        ("__dely=300&from_memory=true", "unknown preference (query parameter __dely); did you mean delay?"),
        ("__codes=500", "did you mean code? vkmock understands code, example, dynamic, seed, scenario, delay, fault"),
    ],
)
def test_a_mistyped_query_twin_is_a_400_like_an_unknown_prefer(client: Any, query: str, says: str) -> None:
    before = world(client)
    for method, url in (("GET", f"{BASE}?{query}"), ("POST", f"{BASE}?{query}"), ("GET", f"{BASE}/x?{query}")):
        answer = call(client, method, url, body={"name": "never-stored"} if method == "POST" else None)
        assert answer.status_code == 400, answer.data
        assert says in json.loads(answer.data)["error"]["message"]
    header = call(client, "GET", BASE, "cod=500")
    assert header.status_code == 400 and "did you mean code?" in json.loads(header.data)["error"]["message"]
    assert world(client) == before


def test_authentication_comes_before_prefer(client: Any) -> None:
    for headers in ({"Prefer": "code=200"}, {"Authorization": "Bearer invalid", "Prefer": "dynamic=true"}):
        answer = client.get(BASE, headers=headers)
        assert answer.status_code == 401
        assert json.loads(answer.data)["error"]["message"] == "Unauthorized"
        assert "Preference-Applied" not in answer.headers
    assert client.get(BASE + "?__scenario=nope").status_code == 401  # not a 400 about the scenario


def test_prefer_acts_on_the_bifrost_api_only(client: Any) -> None:
    assert client.get("/openapi.yaml", headers={"Prefer": "code=500"}).status_code == 200
    assert client.get("/_vkmock/health?__code=500", headers={"Prefer": "teapot=1"}).status_code == 200
    assert call(client, "GET", BASE, "return=minimal, respond-async, wait=5").status_code == 200  # RFC 7240


def test_dynamic_is_fresh_repeatable_with_a_seed_and_valid(client: Any) -> None:
    before = world(client)
    first = call(client, "GET", BASE, "dynamic=true, seed=7")
    again = call(client, "GET", BASE + "?__dynamic=true&__seed=7")
    other = call(client, "GET", BASE, "dynamic=true, seed=8")
    assert first.status_code == 200 and first.data == again.data != other.data
    assert first.data not in (before[0], before[1])
    spec.validator("ListVirtualKeysResponse").validate(json.loads(first.data))
    unseeded = call(client, "GET", BASE, "dynamic=true")
    seed = re.fullmatch(r"dynamic=true, seed=(\d+)", unseeded.headers["Preference-Applied"])
    assert seed, unseeded.headers["Preference-Applied"]
    assert call(client, "GET", BASE, f"dynamic=true, seed={seed.group(1)}").data == unseeded.data
    one = call(client, "GET", BASE + "/any-id-at-all", "dynamic=true, seed=3")
    key = json.loads(one.data)["virtual_key"]
    assert one.status_code == 200 and key["id"] == "any-id-at-all"
    assert all(pc["virtual_key_id"] == "any-id-at-all" for pc in key["provider_configs"])
    spec.validator("GetVirtualKeyResponse").validate(json.loads(one.data))
    assert world(client) == before


def test_dynamic_writes_are_dry_runs_checked_by_the_same_rules(client: Any) -> None:
    before = world(client)
    created = call(
        client,
        "POST",
        BASE,
        "dynamic=true",
        {"name": "dry", "budget": {"max_limit": 5, "reset_duration": "1d"}},
    )
    assert created.status_code == 200
    body = json.loads(created.data)
    assert body["message"] == "Virtual key created successfully" and body["virtual_key"]["name"] == "dry"
    assert body["virtual_key"]["budget"]["max_limit"] == 5
    spec.validator("VirtualKeyResponse").validate(body)
    real = call(client, "POST", BASE, None, {"name": ""})
    dry = call(client, "POST", BASE, "dynamic=true", {"name": ""})
    assert (dry.status_code, dry.data) == (real.status_code, real.data) == (400, dry.data)
    vk_id = json.loads(before[0])["virtual_keys"][0]["id"]
    renamed = call(client, "PUT", f"{BASE}/{vk_id}", "dynamic=true", {"name": "renamed-in-a-dry-run"})
    assert json.loads(renamed.data)["virtual_key"]["name"] == "renamed-in-a-dry-run"
    assert call(client, "PUT", f"{BASE}/missing", "dynamic=true", {"name": "x"}).status_code == 404
    assert call(client, "DELETE", f"{BASE}/{vk_id}", "dynamic=true").status_code == 200
    assert call(client, "DELETE", f"{BASE}/missing", "dynamic=true").status_code == 404
    assert world(client) == before


def test_a_scenario_answers_as_if_the_fixture_were_loaded(tmp_path: Path) -> None:
    # a fixtures folder of its own: the message lists what it holds, whatever a user adds to fixtures/
    for name in ("default", "empty", "exhausted"):
        shutil.copy(FIXTURES / f"{name}.json", tmp_path / f"{name}.json")
    client = create_app(Settings(fixtures_dir=str(tmp_path))).test_client()
    before = world(client)
    loaded = create_app(Settings(fixtures_dir=str(tmp_path), fixture="exhausted")).test_client()
    expected = loaded.get(BASE, headers=AUTH).data
    assert call(client, "GET", BASE, "scenario=exhausted").data == expected
    assert call(client, "GET", BASE + "?from_memory=true&__scenario=exhausted").data == expected
    first = json.loads(expected)["virtual_keys"][0]
    one = call(client, "GET", f"{BASE}/{first['id']}", "scenario=exhausted")
    assert one.data == loaded.get(f"{BASE}/{first['id']}", headers=AUTH).data
    ours = json.loads(before[0])["virtual_keys"][0]["id"]
    assert call(client, "GET", f"{BASE}/{ours}", "scenario=exhausted").status_code == 404
    assert json.loads(call(client, "GET", BASE, "scenario=empty").data) == {"virtual_keys": [], "count": 0}
    unknown = call(client, "GET", BASE, "scenario=nope")
    assert unknown.status_code == 400
    assert json.loads(unknown.data)["error"]["message"] == (
        "Invalid Prefer scenario=nope: no fixture named 'nope'; available: default, empty, exhausted"
    )
    assert call(client, "GET", BASE, "scenario=../etc").status_code == 400  # a name, never a path
    # writes are dry runs against the fixture's keys
    duplicate = call(client, "POST", BASE, "scenario=exhausted", {"name": first["name"]})
    assert duplicate.status_code == 409
    fresh = call(client, "POST", BASE, "scenario=exhausted", {"name": "new-in-scenario"})
    assert fresh.status_code == 200 and json.loads(fresh.data)["virtual_key"]["name"] == "new-in-scenario"
    patched = call(client, "PUT", f"{BASE}/{first['id']}", "scenario=exhausted", {"is_active": True})
    assert json.loads(patched.data)["virtual_key"]["budget"] == first["budget"]  # usage kept, as upstream
    assert call(client, "PUT", f"{BASE}/{ours}", "scenario=exhausted", {"name": "x"}).status_code == 404
    assert call(client, "DELETE", f"{BASE}/{first['id']}", "scenario=exhausted").status_code == 200
    assert world(client) == before
    assert loaded.get(BASE, headers=AUTH).data == expected
