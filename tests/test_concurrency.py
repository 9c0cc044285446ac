"""Many clients at once, over real HTTP: threads against one server, and against three processes sharing one
``--db`` file (``--workers 2`` plus a second ``vkmock serve``), and against three replicas on one PostgreSQL
database (``--db postgresql://``, one of them ``--workers 2``). No request sees a 5xx, every client reads its
own acknowledged writes from any process and either view, contested names have exactly one winner, and the
world keeps every invariant at the end.
"""

from __future__ import annotations

import http.client
import json
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import AUTH, BASE, LiveServer
from vkmock import spec
from vkmock.clock import ts_micros

pytestmark = pytest.mark.slow  # the tests here start processes

JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}
OPS_PER_CLIENT = 150
HANG_GUARD = 120.0  # seconds; a guard against a hung server, not a speed limit
CONTESTED = [f"contested-{i}" for i in range(12)]


# ---- the invariants of a world -----------------------------------------------------------------------------


def _check_limits(owner: dict[str, Any], where: str) -> None:
    for name in ("budget", "rate_limit"):
        if name in owner:
            assert owner.get(f"{name}_id") == owner[name]["id"], f"{where}: {name}_id is not {name}.id"
        else:
            assert f"{name}_id" not in owner, f"{where}: {name}_id without {name}"


def check_world(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every invariant of a list body; returns its keys."""
    keys: list[dict[str, Any]] = body["virtual_keys"]
    assert body["count"] == len(keys)
    assert spec.validator("ListVirtualKeysResponse").is_valid(body), next(
        iter(spec.validator("ListVirtualKeysResponse").iter_errors(body))
    ).message[:300]
    ids = [vk["id"] for vk in keys]
    names = [vk["name"] for vk in keys]
    assert len(set(ids)) == len(ids), "duplicate key ids"
    assert len(set(names)) == len(names), "duplicate names"
    order = [(ts_micros(vk["created_at"]), vk["id"]) for vk in keys]
    assert order == sorted(order), "the list is not in created_at order"
    config_ids: list[int] = []
    mcp_ids: list[int] = []
    for vk in keys:
        _check_limits(vk, vk["id"])
        for pc in vk["provider_configs"]:
            assert pc["virtual_key_id"] == vk["id"], (
                f"{vk['id']}: config {pc['id']} belongs to {pc['virtual_key_id']}"
            )
            _check_limits(pc, f"{vk['id']}/provider_configs/{pc['id']}")
            config_ids.append(pc["id"])
        for mc in vk["mcp_configs"]:
            assert mc.get("virtual_key_id", vk["id"]) == vk["id"]
            mcp_ids.append(mc["id"])
    assert len(set(config_ids)) == len(config_ids), "two provider configs share an id"
    assert len(set(mcp_ids)) == len(mcp_ids), "two MCP configs share an id"
    return keys


# ---- clients -----------------------------------------------------------------------------------------------


class Conn:
    """A keep-alive connection to one server that reconnects when the server closes it."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        assert parts.hostname == "127.0.0.1"
        self.host, self.port = parts.hostname, int(parts.port or 80)
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=JSON_HEADERS if data else AUTH)
                response = self.conn.getresponse()
                raw = response.read()
                if response.will_close:
                    self.conn.close()
                assert response.getheader("Content-Type") == "application/json", raw[:200]
                return response.status, json.loads(raw)
            except (ConnectionError, http.client.RemoteDisconnected):
                # only an idle keep-alive connection the server closed may be retried, and only for reads
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt == 2 or method != "GET":
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


@dataclass
class Outcome:
    statuses: list[tuple[str, int]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    alive: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> last acknowledged doc
    deleted: set[str] = field(default_factory=set)
    won: list[str] = field(default_factory=list)
    ops: int = 0


def expect(outcome: Outcome, op: str, status: int, allowed: set[int], body: Any) -> bool:
    outcome.statuses.append((op, status))
    if status not in allowed:
        outcome.failures.append(f"{op}: {status} {json.dumps(body)[:300]}")
        return False
    envelope = {
        "is_bifrost_error": False,
        "status_code": status,
        "error": body.get("error"),
        "extra_fields": {},
    }
    if status >= 400 and body != envelope:
        outcome.failures.append(f"{op}: not an envelope: {body}")
    return status == 200


def random_body(rng: random.Random, name: str) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "description": f"written by {name}"}
    if rng.random() < 0.5:
        body["budget"] = {"max_limit": rng.randint(1, 1000), "reset_duration": rng.choice(["1d", "1w", "1M"])}
    if rng.random() < 0.5:
        body["rate_limit"] = {"request_max_limit": rng.randint(1, 100), "request_reset_duration": "1m"}
    configs = []
    for provider in rng.sample(["openai", "anthropic", "groq", "mistral"], rng.randint(0, 2)):
        config: dict[str, Any] = {"provider": provider, "weight": rng.choice([0.5, 1]), "allowed_models": []}
        if rng.random() < 0.5:
            config["budget"] = {"max_limit": rng.randint(1, 50), "reset_duration": "1d"}
        configs.append(config)
    body["provider_configs"] = configs
    return body


def client(number: int, urls: list[str], seed_names: list[str], deadline: float, outcome: Outcome) -> None:
    rng = random.Random(f"client-{number}")
    conns = [Conn(url) for url in urls]
    contested = CONTESTED[:]
    rng.shuffle(contested)
    serial = 0

    def pick() -> Conn:
        return rng.choice(conns)

    def check_read_back(vk_id: str) -> None:
        query = "?from_memory=true" if rng.random() < 0.5 else ""
        status, body = pick().call("GET", f"{BASE}/{vk_id}{query}")
        if vk_id in outcome.alive:
            if (
                expect(outcome, "get-own", status, {200}, body)
                and body["virtual_key"] != outcome.alive[vk_id]
            ):
                outcome.failures.append(
                    f"stale read of {vk_id}: {body['virtual_key']} != {outcome.alive[vk_id]}"
                )
        else:
            expect(outcome, "get-deleted", status, {404}, body)

    try:
        for _ in range(OPS_PER_CLIENT):
            if time.monotonic() > deadline:
                outcome.failures.append(f"client {number} still running after {HANG_GUARD}s")
                break
            outcome.ops += 1
            roll = rng.random()
            mine = sorted(outcome.alive)
            if roll < 0.25 or not mine:
                serial += 1
                status, body = pick().call("POST", BASE, random_body(rng, f"c{number}-{serial}"))
                if expect(outcome, "create", status, {200}, body):
                    outcome.alive[body["virtual_key"]["id"]] = body["virtual_key"]
            elif roll < 0.45:
                vk_id = rng.choice(mine)
                serial += 1
                status, body = pick().call(
                    "PUT", f"{BASE}/{vk_id}", random_body(rng, f"c{number}-{serial}-r")
                )
                if expect(outcome, "update", status, {200}, body):
                    outcome.alive[vk_id] = body["virtual_key"]
            elif roll < 0.52:
                vk_id = rng.choice(mine)
                status, body = pick().call("PUT", f"{BASE}/{vk_id}", {"name": rng.choice(seed_names)})
                expect(outcome, "rename-taken", status, {409}, body)
            elif roll < 0.62:
                vk_id = rng.choice(mine)
                status, body = pick().call("DELETE", f"{BASE}/{vk_id}")
                if expect(outcome, "delete", status, {200}, body):
                    outcome.deleted.add(vk_id)
                    del outcome.alive[vk_id]
                    status, body = pick().call("DELETE", f"{BASE}/{vk_id}")
                    expect(outcome, "delete-again", status, {404}, body)
            elif roll < 0.7 and contested:
                name = contested.pop()
                status, body = pick().call("POST", BASE, {"name": name})
                if expect(outcome, "contest", status, {200, 409}, body):
                    outcome.won.append(name)
            elif roll < 0.85:
                check_read_back(rng.choice(mine + sorted(outcome.deleted) if outcome.deleted else mine))
            else:
                query = "?from_memory=true" if rng.random() < 0.5 else ""
                status, body = pick().call("GET", BASE + query)
                if expect(outcome, "list", status, {200}, body):
                    listed = {vk["id"]: vk for vk in body["virtual_keys"]}
                    if body["count"] != len(listed):
                        outcome.failures.append("list count is not its length")
                    for vk_id, doc in outcome.alive.items():
                        if listed.get(vk_id) != doc:
                            outcome.failures.append(f"list does not show my last write to {vk_id}")
                    if set(listed) & outcome.deleted:
                        outcome.failures.append("list shows a key I deleted")
    except Exception as exc:  # collected and asserted by the test
        outcome.failures.append(f"client {number} crashed: {exc!r}")
    finally:
        for conn in conns:
            conn.close()


# ---- the test ----------------------------------------------------------------------------------------------


def list_of(url: str, from_memory: bool = False) -> dict[str, Any]:
    conn = Conn(url)
    try:
        status, body = conn.call("GET", BASE + ("?from_memory=true" if from_memory else ""))
    finally:
        conn.close()
    assert status == 200
    return dict(body)


SETUPS: dict[str, Callable[[Callable[..., LiveServer], Path, Callable[[], str]], list[LiveServer]]] = {
    "one-process-in-memory": lambda serve, tmp, pg: [serve("--count", "10", "--threads", "8")],
    "three-processes-one-db": lambda serve, tmp, pg: [
        serve("--count", "10", "--db", str(tmp / "shared.sqlite3"), "--workers", "2", "--threads", "4"),
        serve("--db", str(tmp / "shared.sqlite3"), "--threads", "4"),
    ],
    "three-replicas-one-postgres": lambda serve, tmp, pg: [
        serve("--count", "10", "--db", (url := pg()), "--workers", "2", "--threads", "4"),
        serve("--db", url, "--threads", "4"),
        serve("--db", url, "--threads", "4"),
    ],
}


@pytest.mark.parametrize("setup", list(SETUPS))
def test_mixed_writers_keep_every_invariant(
    serve: Any, tmp_path: Path, setup: str, request: pytest.FixtureRequest
) -> None:
    servers = SETUPS[setup](serve, tmp_path, lambda: str(request.getfixturevalue("pg_url")))
    urls = [s.url for s in servers]
    initial = check_world(list_of(urls[0]))
    seed_names = [vk["name"] for vk in initial]
    outcomes = [Outcome() for _ in range(6)]
    deadline = time.monotonic() + HANG_GUARD
    threads = [
        threading.Thread(target=client, args=(n, urls, seed_names, deadline, outcome))
        for n, outcome in enumerate(outcomes)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=HANG_GUARD + 30)
    assert not any(thread.is_alive() for thread in threads)

    failures = [failure for outcome in outcomes for failure in outcome.failures]
    assert failures == []
    statuses = [status for outcome in outcomes for _, status in outcome.statuses]
    assert all(outcome.ops == OPS_PER_CLIENT for outcome in outcomes) and max(statuses) < 500
    ops = {op for outcome in outcomes for op, _ in outcome.statuses}
    assert {"create", "update", "delete", "list", "contest", "rename-taken", "get-own"} <= ops

    # the same world from every process and both views, with every invariant
    final = list_of(urls[0])
    keys = {vk["id"]: vk for vk in check_world(final)}
    for url in urls:
        for from_memory in (False, True):
            for _ in range(3):  # with --workers 2 each request lands on either worker
                assert list_of(url, from_memory) == final
    for outcome in outcomes:
        for vk_id, doc in outcome.alive.items():
            assert keys.get(vk_id) == doc, f"{vk_id}: the last acknowledged write is not what is stored"
        assert not (outcome.deleted & set(keys))
    for vk in initial:
        assert keys[vk["id"]] == vk  # nobody managed to change a seeded key
    winners = [name for outcome in outcomes for name in outcome.won]
    assert len(winners) == len(set(winners)), "a contested name was created twice"
    contested_stored = [vk["name"] for vk in keys.values() if vk["name"] in CONTESTED]
    assert sorted(contested_stored) == sorted(winners)
    expected = {vk["id"] for vk in initial} | {i for o in outcomes for i in o.alive}
    assert set(keys) - expected == {vk["id"] for vk in keys.values() if vk["name"] in winners}

    # every key re-readable, the same by GET as in the list, from every process and view
    conns = [Conn(url) for url in urls]
    try:
        for vk_id, doc in keys.items():
            for conn in conns:
                for query in ("", "?from_memory=true"):
                    status, body = conn.call("GET", f"{BASE}/{vk_id}{query}")
                    assert status == 200 and body["virtual_key"] == doc
    finally:
        for conn in conns:
            conn.close()
    if setup == "three-processes-one-db":
        with sqlite3.connect(tmp_path / "shared.sqlite3") as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()
