"""Replicas of ``vkmock serve --db postgresql://...`` on one real PostgreSQL: seeded once, one world for all,
503 while the database is down and recovery by itself, no acknowledged write lost (a restart of the database,
a SIGKILL of a replica), both Bifrost profiles."""

from __future__ import annotations

import http.client
import json
import signal
import threading
import time
from typing import Any

import pytest

from conftest import AUTH, BASE, LiveServer, request
from pg import Cluster
from test_concurrency import Conn, check_world, list_of

pytestmark = pytest.mark.slow
JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}
RECOVERY = 20.0  # seconds a replica may take to answer again once the database is back
DOWN_ANSWER = 5.0  # seconds a request may take to get its 503 while the database is down


def start_replicas(serve: Any, url: str, *args: str, n: int = 3) -> list[LiveServer]:
    """``n`` replicas started at the same moment on one database."""
    started: list[LiveServer | BaseException] = [RuntimeError("not started")] * n

    def one(i: int) -> None:
        try:
            started[i] = serve("--db", url, *args)
        except BaseException as exc:  # collected and raised below
            started[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    servers = []
    for item in started:
        if isinstance(item, BaseException):
            raise item
        servers.append(item)
    return servers


def health(url: str) -> tuple[int, dict[str, Any]]:
    status, _, body = request(url + "/_vkmock/health", timeout=DOWN_ANSWER + 5)
    return status, json.loads(body)


def wait_healthy(urls: list[str]) -> None:
    deadline = time.monotonic() + RECOVERY
    for url in urls:
        while health(url)[0] != 200:
            assert time.monotonic() < deadline, f"{url} did not recover within {RECOVERY}s of the database"
            time.sleep(0.2)


def test_replicas_started_together_seed_the_world_once_and_share_it(serve: Any, pg_url: str) -> None:
    servers = start_replicas(serve, pg_url, "--count", "7")
    for server in servers:
        status, body = health(server.url)
        # one seeding, by one replica: the world, then its record of what it was made from (vkmock.app.build_store)
        assert status == 200 and body["count"] == 7 and body["version"] == 2
    bodies = {request(s.url + BASE, headers=AUTH)[2] for s in servers}
    assert len(bodies) == 1
    status, _, body = request(servers[0].url + BASE, "POST", json.dumps({"name": "from-a"}).encode(), JSON_HEADERS)
    assert status == 200
    created = json.loads(body)["virtual_key"]
    for server in servers[1:]:  # read-your-writes on the other replicas, at once
        for query in ("", "?from_memory=true"):
            status, _, body = request(f"{server.url}{BASE}/{created['id']}{query}", headers=AUTH)
            assert status == 200 and json.loads(body)["virtual_key"] == created
    status, _, body = request(servers[2].url + BASE, "POST", json.dumps({"name": "from-a"}).encode(), JSON_HEADERS)
    assert status == 409 and "already exists" in json.loads(body)["error"]["message"]
    # run-time settings live in the database: changed through one replica, in force on all
    status, _, body = request(servers[0].url + "/_vkmock/settings", "PUT", json.dumps({"latency": "7ms"}).encode(),
                              {"Content-Type": "application/json"})
    assert status == 200 and json.loads(body)["latency"] == "7ms"
    for server in servers[1:]:
        status, _, body = request(server.url + "/_vkmock/settings")
        assert status == 200 and json.loads(body)["latency"] == "7ms"
    quirky = serve("--db", pg_url, "--upstream-quirks")
    status, _, _ = request(quirky.url + BASE, "POST", json.dumps({"name": "from-a"}).encode(), JSON_HEADERS)
    assert status == 500  # upstream's status for a duplicate name on create


def test_the_live_clock_is_one_clock_for_every_replica(serve: Any, pg_url: str) -> None:
    a, b = start_replicas(serve, pg_url, "--live", "--count", "3", n=2)
    status, _, body = request(a.url + "/_vkmock/clock", "POST", json.dumps({"freeze": True}).encode(),
                              {"Content-Type": "application/json"})
    assert status == 200, body
    status, _, body = request(a.url + "/_vkmock/clock", "POST", json.dumps({"advance": "1d"}).encode(),
                              {"Content-Type": "application/json"})
    assert status == 200, body
    clock_a = json.loads(request(a.url + "/_vkmock/clock")[2])
    clock_b = json.loads(request(b.url + "/_vkmock/clock")[2])
    assert clock_a == clock_b
    memory = [request(s.url + BASE + "?from_memory=true", headers=AUTH)[2] for s in (a, b)]
    assert memory[0] == memory[1]


class Writer(threading.Thread):
    """Creates keys through the replicas in turn until stopped; remembers what was acknowledged."""

    def __init__(self, urls: list[str], tag: str) -> None:
        super().__init__(daemon=True)
        self.conns = [Conn(url) for url in urls]
        self.tag = tag
        self.acknowledged: dict[str, dict[str, Any]] = {}
        self.statuses: list[int] = []
        self.unanswered = 0  # connection refused or reset: a replica killed mid-request (never acknowledged)
        self.slowest = 0.0
        self.bad: list[Any] = []  # 503 answers that are not the database's envelope
        self.halt = threading.Event()

    def run(self) -> None:
        serial = 0
        while not self.halt.is_set():
            serial += 1
            conn = self.conns[serial % len(self.conns)]
            started = time.monotonic()
            try:
                status, body = conn.call("POST", BASE, {"name": f"{self.tag}-{serial}"})
            except (OSError, http.client.HTTPException):
                self.unanswered += 1
                conn.close()
                time.sleep(0.05)
                continue
            self.slowest = max(self.slowest, time.monotonic() - started)
            self.statuses.append(status)
            if status == 200:
                self.acknowledged[body["virtual_key"]["id"]] = body["virtual_key"]
            elif status == 503:
                if not (body["status_code"] == 503 and body["error"]["message"].startswith("database unavailable")):
                    self.bad.append(body)
                time.sleep(0.05)

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        assert not self.is_alive()
        for conn in self.conns:
            conn.close()


def assert_one_world(urls: list[str], acknowledged: dict[str, dict[str, Any]]) -> None:
    """Every replica serves the same bytes in both views; every acknowledged key is there as acknowledged."""
    first = request(urls[0] + BASE, headers=AUTH)[2]
    for url in urls:
        for query in ("", "?from_memory=true"):
            status, _, body = request(url + BASE + query, headers=AUTH)
            assert status == 200 and body == first, f"{url}{query} serves another world"
    keys = {vk["id"]: vk for vk in check_world(list_of(urls[0]))}
    lost = [vk_id for vk_id, doc in acknowledged.items() if keys.get(vk_id) != doc]
    assert lost == [], f"{len(lost)} acknowledged writes lost"


def test_a_database_restart_answers_503_then_recovers_losing_nothing(
    serve: Any, pg_url: str, postgres: Cluster
) -> None:
    servers = [serve("--db", pg_url, "--count", "5", "--workers", "2"), *start_replicas(serve, pg_url, n=2)]
    urls = [s.url for s in servers]
    writer = Writer(urls, "restart")
    writer.start()
    try:
        time.sleep(1.0)
        postgres.stop()
        try:
            time.sleep(0.5)
            for url in urls:
                started = time.monotonic()
                status, body = health(url)
                assert status == 503 and body["error"]["message"].startswith("database unavailable"), body
                assert time.monotonic() - started < DOWN_ANSWER
                status, _, raw = request(url + BASE, headers=AUTH, timeout=DOWN_ANSWER + 5)
                assert status == 503 and json.loads(raw)["status_code"] == 503
            time.sleep(1.0)
        finally:
            postgres.start()
        wait_healthy(urls)
        time.sleep(1.0)
    finally:
        writer.stop()
    assert set(writer.statuses) <= {200, 503}, sorted(set(writer.statuses))
    assert writer.bad == []
    assert writer.statuses.count(503) > 0 and writer.statuses[-1] == 200
    assert writer.unanswered == 0 and writer.slowest < DOWN_ANSWER + 1
    assert len(writer.acknowledged) > 10
    assert_one_world(urls, writer.acknowledged)
    for server in servers:
        assert "Traceback" not in server.output


def test_a_replica_killed_mid_write_loses_no_acknowledged_write(serve: Any, pg_url: str) -> None:
    servers = start_replicas(serve, pg_url, "--count", "3")
    writer = Writer([s.url for s in servers], "kill")
    writer.start()
    try:
        time.sleep(1.5)
        servers[0].stop(signal.SIGKILL)
        time.sleep(1.0)
    finally:
        writer.stop()
    survivors = [s.url for s in servers[1:]]
    again = serve("--db", pg_url)  # a replacement replica joins the same world
    assert set(writer.statuses) == {200}
    assert_one_world([*survivors, again.url], writer.acknowledged)


def test_bifrost_1_5_teams_customers_and_keys_are_one_world_across_replicas(serve: Any, pg_url: str) -> None:
    a, b = start_replicas(serve, pg_url, "--bifrost", "1.5", "--count", "4", n=2)

    def call(server: LiveServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        status, _, raw = request(server.url + path, method, data, JSON_HEADERS)
        return status, json.loads(raw)

    status, customer = call(a, "POST", "/api/governance/customers", {"name": "Acme"})
    assert status == 200, customer
    customer_id = customer["customer"]["id"]
    status, team = call(b, "POST", "/api/governance/teams", {"name": "Payments", "customer_id": customer_id})
    assert status == 200, team
    team_id = team["team"]["id"]
    status, key = call(a, "POST", BASE, {"name": "payments-key", "team_id": team_id})
    assert status == 200, key
    status, listed = call(b, "GET", "/api/governance/customers")
    acme = [c for c in listed["customers"] if c["id"] == customer_id]
    assert status == 200 and [t["name"] for t in acme[0]["teams"]] == ["Payments"]
    status, got = call(b, "GET", f"{BASE}/{key['virtual_key']['id']}")
    assert status == 200 and got["virtual_key"]["team_id"] == team_id
    version = health(a.url)[1]["version"]
    status, refused = call(b, "POST", BASE, {"name": "payments-key"})
    assert status == 409 and "already exists" in refused["error"]["message"]
    status, refused = call(b, "POST", BASE, {"name": "orphan", "team_id": "no-such-team"})
    assert 400 <= status < 500
    assert health(a.url)[1]["version"] == health(b.url)[1]["version"] == version  # refusals wrote nothing
    status, _ = call(b, "DELETE", f"/api/governance/teams/{team_id}")
    assert status == 200
    status, got = call(a, "GET", f"{BASE}/{key['virtual_key']['id']}")
    assert status == 200 and got["virtual_key"].get("team_id") is None
    for path in (BASE, "/api/governance/teams", "/api/governance/customers"):
        assert request(a.url + path, headers=AUTH)[2] == request(b.url + path, headers=AUTH)[2]


def test_a_replica_started_before_its_database_waits_for_it(serve: Any, pg_url: str, postgres: Cluster) -> None:
    postgres.stop()
    started: list[Any] = []
    thread = threading.Thread(target=lambda: started.append(serve("--db", pg_url, "--count", "3")))
    try:
        thread.start()
        time.sleep(2.0)
        assert not started  # still waiting for the database
    finally:
        postgres.start()
    thread.join(timeout=60)
    assert started, "the replica did not start once its database was up"
    status, body = health(started[0].url)
    assert status == 200 and body["count"] == 3 and body["version"] == 2  # one seeding and its record
    assert "unavailable" in started[0].output and "Traceback" not in started[0].output
