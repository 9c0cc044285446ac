"""Latency and faults: delays in the range asked for, injected 5xx that store nothing, and broken connections
that a real client sees (reset, empty, malformed, timeout), each bounded in time."""

from __future__ import annotations

import http.client
import json
import random
import re
import statistics
import subprocess
import sys
import threading
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import AUTH, BASE, ROOT, LiveServer, request
from vkmock.app import create_app
from vkmock.control.faults import MAX_DELAY_S, Latency
from vkmock.settings import Settings

JSON_AUTH = {**AUTH, "Content-Type": "application/json"}
ENVELOPE_KEYS = {"is_bifrost_error", "status_code", "error", "extra_fields"}


def timed(client: Any, url: str, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    answer = client.get(url, **kwargs)
    return answer, time.perf_counter() - started


# ---- the latency grammar -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "low", "high"),
    [
        ("0", "none", 0, 0),
        ("off", "none", 0, 0),
        ("50ms", "fixed", 0.05, 0.05),
        ("50", "fixed", 0.05, 0.05),
        ("1.5s", "fixed", 1.5, 1.5),
        ("20-200ms", "uniform", 0.02, 0.2),
        ("20ms-2s", "uniform", 0.02, 2.0),
        ("1-2s", "uniform", 1.0, 2.0),
        ("lognormal:80ms", "lognormal", 0.08, 0.08),
    ],
)
def test_latency_specs_parse(text: str, kind: str, low: float, high: float) -> None:
    latency = Latency.parse(text)
    assert (latency.kind, latency.low, latency.high) == (kind, pytest.approx(low), pytest.approx(high))


@pytest.mark.parametrize(
    "text", ["fast", "-5ms", "200-20ms", "lognormal:0ms", "lognormal:80ms:9", "61s", "5ms-"]
)
def test_bad_latency_specs_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="latency"):
        Latency.parse(text)


def test_samples_follow_the_distribution_and_stay_bounded() -> None:
    rng = random.Random(1)
    uniform = [Latency.parse("20-200ms").sample(rng) for _ in range(2000)]
    assert min(uniform) >= 0.02 and max(uniform) <= 0.2
    assert statistics.mean(uniform) == pytest.approx(0.11, abs=0.01)
    lognormal = [Latency.parse("lognormal:80ms").sample(rng) for _ in range(4000)]
    assert statistics.median(lognormal) == pytest.approx(0.08, rel=0.08)
    assert max(lognormal) > 0.16  # a tail
    wild = [Latency.parse("lognormal:20s:3").sample(rng) for _ in range(500)]
    assert max(wild) <= MAX_DELAY_S


@pytest.mark.slow
def test_serve_refuses_bad_chaos_options_before_listening() -> None:
    for args, says in (
        (["--latency", "fast"], "--latency: invalid latency 'fast'"),
        (["--fault-timeout", "10m"], "--fault-timeout: fault timeout must be above 0 and at most 300s"),
        (["--fault-rate", "2"], "0<=x<=1"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "vkmock", "serve", "--port", "0", *args],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
        assert done.returncode == 2 and says in done.stderr, done.stderr


@pytest.mark.slow
def test_serve_help_describes_every_scenario_control_option_with_its_default() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vkmock", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    # one entry per option: the lines from "  --option" to the next option
    entries = {
        " ".join(chunk.split()).split(" ", 1)[0]: " ".join(chunk.split())
        for chunk in re.split(r"\n(?=  -)", done.stdout)
        if chunk.startswith("  -")
    }
    for option, default in (
        ("--latency", "[default: 0]"),
        ("--fault-rate", "[default: 0]"),
        ("--fault-timeout", "[default: 30s]"),
        ("--cors-origin", "repeatable"),
        ("--admin-token", "loopback"),
        ("--journal-size", "[default: 500]"),
        ("--live", "POST /_vkmock/clock"),
        ("--flush-interval", "[default: 10s]"),
        ("--watch", "--fixture"),
    ):
        assert default in entries[option], entries.get(option)


def test_settings_read_the_environment() -> None:
    settings = Settings.from_env(
        {"VKMOCK_FAULT_RATE": "0.25", "VKMOCK_LATENCY": "20-30ms", "VKMOCK_LIVE": "1"}
    )
    assert (settings.fault_rate, settings.latency, settings.live) == (0.25, "20-30ms", True)


# ---- latency, measured ----------------------------------------------------------------------------------


def test_latency_lies_in_the_range_asked_for_and_prefer_delay_overrides_it() -> None:
    client = create_app(Settings(latency="200-300ms", count=3)).test_client()
    for _ in range(3):
        answer, took = timed(client, BASE, headers=AUTH)
        assert answer.status_code == 200 and 0.2 <= took < 3.0
    answer, took = timed(client, BASE, headers={**AUTH, "Prefer": "delay=0"})
    assert answer.headers["Preference-Applied"] == "delay=0" and took < 0.2
    answer, took = timed(client, BASE + "?__delay=400", headers=AUTH)
    assert answer.status_code == 200 and 0.4 <= took < 3.0


def test_admin_routes_and_the_spec_are_never_slowed_down() -> None:
    client = create_app(Settings(latency="2s", count=3)).test_client()
    for url in ("/_vkmock/health", "/openapi.yaml"):
        answer, took = timed(client, url)
        assert answer.status_code == 200 and took < 1.5
    answer, took = timed(client, BASE)  # no credentials: the 401 comes before any delay
    assert answer.status_code == 401 and took < 1.5


# ---- injected 5xx -----------------------------------------------------------------------------------------


def test_fault_rate_one_fails_every_request_and_stores_nothing() -> None:
    client = create_app(Settings(fault_rate=1.0, count=3)).test_client()
    store = client.application.extensions["vkmock"].store
    before = (store.list_bytes(), store.version)
    seen = set()
    for i in range(40):
        answer = client.post(BASE, headers=JSON_AUTH, data=json.dumps({"name": f"k{i}"}))
        body = json.loads(answer.data)
        assert answer.status_code in (500, 503) and set(body) == ENVELOPE_KEYS
        assert body["status_code"] == answer.status_code
        assert answer.headers["X-Vkmock-Fault"] == "fault-rate"
        if answer.status_code == 503:
            assert answer.headers["Retry-After"] == "1" and body["error"]["message"] == "Service Unavailable"
        else:
            assert body["error"]["message"] == "Failed to create virtual key"
        seen.add(answer.status_code)
    assert seen == {500, 503}
    listed = client.get(BASE, headers=AUTH)
    assert listed.status_code in (500, 503)
    if listed.status_code == 500:
        assert json.loads(listed.data)["error"]["message"] == "Failed to retrieve virtual keys"
    assert (store.list_bytes(), store.version) == before
    # an explicit preference is never picked, nor are vkmock's own routes
    assert client.get(BASE, headers={**AUTH, "Prefer": "example=empty"}).status_code == 200
    assert client.get("/_vkmock/health").status_code == 200


def test_a_fault_rate_fails_about_that_share() -> None:
    client = create_app(Settings(fault_rate=0.3, count=2)).test_client()
    failed = sum(client.get(BASE, headers=AUTH).status_code >= 500 for _ in range(400))
    assert 80 <= failed <= 160


def test_settings_change_at_run_time_and_bad_ones_are_refused() -> None:
    client = create_app(Settings(count=2)).test_client()
    assert client.get("/_vkmock/settings").data == b'{"fault_rate":0,"fault_timeout":"30s","latency":"0"}\n'
    assert json.loads(client.get("/_vkmock/settings").data) == {
        "latency": "0",
        "fault_rate": 0,
        "fault_timeout": "30s",
    }
    changed = client.put("/_vkmock/settings", json={"fault_rate": 1, "latency": "10-20ms"})
    assert json.loads(changed.data) == {"latency": "10-20ms", "fault_rate": 1, "fault_timeout": "30s"}
    assert client.get(BASE, headers=AUTH).status_code in (500, 503)
    client.put("/_vkmock/settings", json={"fault_rate": 0})
    assert client.get(BASE, headers=AUTH).status_code == 200
    for body, says in (
        ({"fault_rate": 2}, "fault_rate: fault rate must be a number from 0 to 1"),
        ({"fault_rate": True}, "fault rate must be a number"),
        ({"latency": "quick"}, "latency: invalid latency 'quick'"),
        ({"latency": None}, "latency must be a string"),
        ({"fault_timeout": "0s"}, "fault timeout must be above 0"),
        ({"speed": 2}, "unknown setting(s) speed; the settings are latency, fault_rate, fault_timeout"),
        ([1], "settings must be a JSON object"),
    ):
        answer = client.put("/_vkmock/settings", json=body)
        assert answer.status_code == 400 and says in json.loads(answer.data)["error"]["message"]
    assert client.put("/_vkmock/settings", data=b"{nope").status_code == 400
    assert json.loads(client.get("/_vkmock/settings").data)["latency"] == "10-20ms"


def test_a_worker_that_starts_later_keeps_the_settings_changed_at_run_time(tmp_path: Any) -> None:
    """A worker process that replaces one that died makes its app on the shared --db file: it must not put
    the start-up settings back for every worker."""
    settings = Settings(count=2, db=str(tmp_path / "world.sqlite3"), latency="0")
    first = create_app(settings).test_client()
    assert first.put("/_vkmock/settings", json={"fault_rate": 1, "latency": "5ms"}).status_code == 200
    replacement = create_app(settings).test_client()  # what gunicorn or granian does for a new worker
    for client in (first, replacement):
        assert json.loads(client.get("/_vkmock/settings").data) == {
            "latency": "5ms",
            "fault_rate": 1,
            "fault_timeout": "30s",
        }
        assert client.get(BASE, headers=AUTH).status_code in (500, 503)


@pytest.mark.slow
def test_a_new_start_on_a_db_serves_the_options_not_the_last_runs_settings(serve: Any, tmp_path: Any) -> None:
    db = str(tmp_path / "world.sqlite3")
    server = serve("--db", db, "--count", "2", "--latency", "1ms")
    changed = request(server.url + "/_vkmock/settings", "PUT", json.dumps({"fault_rate": 1}).encode())
    assert changed[0] == 200
    server.stop()
    again = serve("--db", db, "--count", "2", "--latency", "2ms")
    assert json.loads(request(again.url + "/_vkmock/settings")[2]) == {
        "latency": "2ms",
        "fault_rate": 0,
        "fault_timeout": "30s",
    }
    assert request(again.url + BASE, headers=AUTH)[0] == 200


def test_connection_faults_need_waitress() -> None:
    client = create_app(Settings(count=2)).test_client()
    for kind in ("reset", "timeout"):
        answer = client.get(BASE, headers={**AUTH, "Prefer": f"fault={kind}"})
        assert answer.status_code == 400
        assert f"Prefer fault={kind} needs the waitress server" in json.loads(answer.data)["error"]["message"]


# ---- broken connections, over real HTTP --------------------------------------------------------------------


def connect(server: LiveServer, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(server.url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=timeout)


def raw_call(
    server: LiveServer, method: str, path: str, prefer: str, body: Any = None, timeout: float = 10.0
) -> tuple[int, dict[str, str], bytes]:
    connection = connect(server, timeout)
    try:
        connection.request(
            method,
            path,
            body=json.dumps(body) if body is not None else None,
            headers={**JSON_AUTH, "Prefer": prefer},
        )
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def names(server: LiveServer) -> list[str]:
    return [vk["name"] for vk in json.loads(request(server.url + BASE, headers=AUTH)[2])["virtual_keys"]]


@pytest.mark.slow
def test_transport_faults_are_seen_by_a_real_client_after_the_write_is_done(serve: Any) -> None:
    server = serve("--count", "2", "--fault-timeout", "1s")
    with pytest.raises(ConnectionResetError):
        raw_call(server, "POST", BASE, "fault=reset", {"name": "reset-but-stored"})
    status, headers, body = raw_call(server, "GET", BASE, "fault=empty")
    assert (status, headers["Content-Length"], body) == (200, "0", b"")
    assert headers["X-Vkmock-Fault"] == "empty"
    status, headers, body = raw_call(
        server, "POST", BASE, "fault=malformed", {"name": "malformed-but-stored"}
    )
    assert status == 200 and int(headers["Content-Length"]) == len(body) > 0
    with pytest.raises(json.JSONDecodeError):
        json.loads(body)
    assert body.startswith(b'{"message":"Virtual key created successfully"')
    full = request(server.url + BASE, headers=AUTH)[2]
    status, _, body = raw_call(server, "GET", BASE, "fault=malformed")
    assert full.startswith(body) and len(body) == len(full) // 2
    started = time.monotonic()
    with pytest.raises(http.client.RemoteDisconnected):  # held for --fault-timeout, then closed, no answer
        raw_call(server, "GET", BASE, "fault=timeout", timeout=10)
    assert 0.9 <= time.monotonic() - started < 8
    journal = json.loads(request(server.url + "/_vkmock/requests?limit=6")[2])["requests"]
    assert {"reset-but-stored", "malformed-but-stored"} <= set(names(server))
    assert [entry["fault"] for entry in journal][:6] == [
        "timeout",
        "malformed",
        None,
        "malformed",
        "empty",
        "reset",
    ]


@pytest.mark.slow
def test_a_client_that_gives_up_frees_the_held_thread(serve: Any) -> None:
    server = serve("--count", "2", "--threads", "2", "--fault-timeout", "30s")
    for _ in range(4):  # each holds one of the two threads until its client gives up
        with pytest.raises(TimeoutError):
            raw_call(server, "GET", BASE, "fault=timeout", timeout=0.3)
    results: list[int] = []
    worker = threading.Thread(target=lambda: results.append(request(server.url + BASE, headers=AUTH)[0]))
    started = time.monotonic()
    worker.start()
    worker.join(15)
    assert results == [200] and time.monotonic() - started < 10  # not after the 30 s hold


@pytest.mark.slow
def test_a_real_server_applies_latency_and_fault_rate_options(serve: Any) -> None:
    server = serve("--count", "2", "--latency", "150ms", "--fault-rate", "1")
    started = time.monotonic()
    status, headers, body = request(server.url + BASE, headers=AUTH)
    assert time.monotonic() - started >= 0.15
    assert status in (500, 503) and headers["X-Vkmock-Fault"] == "fault-rate"
    assert json.loads(body)["status_code"] == status
