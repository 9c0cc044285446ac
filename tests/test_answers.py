"""Quiet reads (``vkmock.control.answers``): a repeated governance GET is answered again, without the app,
with the very status, headers and bytes the app gave, until anything it depends on changes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from conftest import AUTH, BASE, FIXTURES
from vkmock.app import create_app
from vkmock.settings import Settings

JSON = {**AUTH, "Content-Type": "application/json"}


def _app(**changes: Any) -> Any:
    app = create_app(Settings(fixtures_dir=str(FIXTURES), **changes))
    dispatched: list[str] = []
    full_dispatch = app.full_dispatch_request

    def counting() -> Any:
        from flask import request

        dispatched.append(f"{request.method} {request.full_path.rstrip('?')}")
        return full_dispatch()

    app.full_dispatch_request = counting  # type: ignore[method-assign]
    app.dispatched = dispatched
    return app


def _answer(client: Any, path: str, headers: dict[str, str] | None = None) -> tuple[int, list[tuple[str, str]], bytes]:
    response = client.get(path, headers=AUTH if headers is None else headers)
    return response.status_code, sorted(response.headers.items()), response.get_data()


READS_1_4 = [BASE, BASE + "?from_memory=true"]
READS_1_5 = [
    BASE,
    BASE + "?limit=2&offset=1",
    BASE + "?search=a&sort_by=name&order=asc",
    "/api/governance/teams",
    "/api/governance/customers?limit=1",
]


@pytest.mark.parametrize(("bifrost", "paths"), [("1.4", READS_1_4), ("1.5", READS_1_5)])
def test_a_repeated_read_is_answered_again_with_the_same_bytes_without_the_app(bifrost: str, paths: list[str]) -> None:
    cached, plain = _app(bifrost=bifrost), _app(bifrost=bifrost, no_answer_cache=True)
    one = json.loads(plain.test_client().get(paths[0], headers=AUTH).get_data())
    first_id = (one.get("virtual_keys") or [{}])[0].get("id")
    paths = [*paths, f"{BASE}/{first_id}"]
    with cached.test_client() as client, plain.test_client() as reference:
        for path in paths:
            expected = _answer(reference, path)
            assert expected[0] == 200, path
            assert _answer(client, path) == expected  # answered by the app, and kept
            assert _answer(client, path) == expected  # replayed
            assert _answer(client, path) == expected
    assert cached.dispatched == [f"GET {path}" for path in paths]  # once each


def test_a_write_is_seen_by_the_next_read() -> None:
    app = _app()
    client = app.test_client()
    before = json.loads(client.get(BASE, headers=AUTH).get_data())
    created = client.post(BASE, headers=JSON, data=json.dumps({"name": "after-the-cache"}))
    assert created.status_code == 200
    after = json.loads(client.get(BASE, headers=AUTH).get_data())
    assert after["count"] == before["count"] + 1
    assert "after-the-cache" in {vk["name"] for vk in after["virtual_keys"]}
    vk_id = json.loads(created.get_data())["virtual_key"]["id"]
    assert client.get(f"{BASE}/{vk_id}", headers=AUTH).status_code == 200
    assert client.delete(f"{BASE}/{vk_id}", headers=AUTH).status_code == 200
    assert client.get(f"{BASE}/{vk_id}", headers=AUTH).status_code == 404
    assert json.loads(client.get(BASE, headers=AUTH).get_data())["count"] == before["count"]


def test_requests_that_differ_in_any_header_are_answered_apart() -> None:
    app = _app(tokens=("right",))
    client = app.test_client()
    assert client.get(BASE, headers={"Authorization": "Bearer right"}).status_code == 200
    assert client.get(BASE, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(BASE, headers={"Authorization": "Bearer right", "X-Other": "1"}).status_code == 200
    assert client.get(BASE).status_code == 401
    assert len(app.dispatched) == 4


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (BASE, {**AUTH, "Prefer": "code=500"}),
        (BASE + "?__code=500", AUTH),
        (BASE, {**AUTH, "Origin": "http://localhost:3000"}),
        (BASE, {**AUTH, "X-Cookie": "session=x"}),  # a Cookie, set below
        ("/_vkmock/health", AUTH),
        ("/openapi.yaml", AUTH),
    ],
)
def test_reads_that_may_answer_otherwise_always_reach_the_app(path: str, headers: dict[str, str]) -> None:
    app = _app(cors_origins=("http://localhost:3000",))
    client = app.test_client()
    if "X-Cookie" in headers:
        client.set_cookie("session", "x")
    for _ in range(3):
        client.get(path, headers=headers)
    assert len(app.dispatched) == 3


def test_no_read_is_replayed_while_latency_or_a_fault_rate_is_set() -> None:
    app = _app(fault_rate=0.5, seed=3)
    client = app.test_client()
    statuses = {client.get(BASE, headers=AUTH).status_code for _ in range(30)}
    assert statuses >= {200, 500} or statuses >= {200, 503}  # the rate goes on failing some of them
    assert len(app.dispatched) == 30
    settled = _app()
    settled_client = settled.test_client()
    assert settled_client.get(BASE, headers=AUTH).status_code == 200
    changed = settled_client.put("/_vkmock/settings", json={"latency": "1ms"})
    assert changed.status_code == 200, changed.get_data()
    for _ in range(3):
        assert settled_client.get(BASE, headers=AUTH).status_code == 200
    assert settled.dispatched.count(f"GET {BASE}") == 4  # the settings bumped the version; latency is not quiet


def test_replayed_reads_are_in_the_journal_like_any_other() -> None:
    app = _app()
    client = app.test_client()
    for _ in range(3):
        assert client.get(BASE + "?x=1", headers={**AUTH, "X-Trace": "abc"}).status_code == 200
    entries = client.get("/_vkmock/requests").get_json()["requests"]
    assert len(app.dispatched) == 2  # the three reads once, the journal's own route once
    assert [(e["method"], e["path"], e["query"], e["status"]) for e in entries] == [("GET", BASE, {"x": "1"}, 200)] * 3
    first, *others = entries
    for other in others:
        assert other["headers"] == first["headers"] and other["response_bytes"] == first["response_bytes"]
    assert first["headers"]["Authorization"] == "Bearer [REDACTED]" and first["headers"]["X-Trace"] == "abc"


def test_the_live_clock_turns_it_off() -> None:
    app = _app(live=True)
    try:
        client = app.test_client()
        for _ in range(3):
            assert client.get(BASE, headers=AUTH).status_code == 200
        assert len(app.dispatched) == 3
    finally:
        app.extensions["vkmock"].extras["live"].stop()


def test_after_a_change_only_answers_of_the_new_version_are_kept() -> None:
    app = _app()
    client = app.test_client()
    for path in (BASE, BASE + "?from_memory=true"):
        assert client.get(path, headers=AUTH).status_code == 200
    from vkmock.control.answers import AnswerCache

    cache = app.wsgi_app
    while not isinstance(cache, AnswerCache):
        cache = cache.app
    assert len(cache._answers) == 2
    assert client.post(BASE, headers=JSON, data=json.dumps({"name": "moves-the-version"})).status_code == 200
    assert client.get(BASE, headers=AUTH).status_code == 200
    versions = {answer[0] for answer in cache._answers.values()}
    assert len(cache._answers) == 1 and versions == {app.extensions["vkmock"].store.version}
