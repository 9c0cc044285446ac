"""Crash safety with ``--db``: SIGKILL in the middle of a write burst, restart on the same file.

Every write a client saw acknowledged is there after the restart; the one write each client had in flight is
either wholly there or not at all; nothing else appeared; ``PRAGMA integrity_check`` is ok. Two rounds on one
file: a single process, then ``--workers 2`` (the whole process group is killed).
"""

from __future__ import annotations

import http.client
import json
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import AUTH, BASE, LiveServer
from test_concurrency import check_world

pytestmark = pytest.mark.slow  # the tests here start processes

JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}
WRITERS = 4
ACKS_BEFORE_KILL = 150
BURST_TIMEOUT = 120.0  # seconds; a guard against a hung server, not a speed limit


@dataclass
class Writer:
    number: str
    acked: dict[str, dict[str, Any] | None] = field(
        default_factory=dict
    )  # id -> last acknowledged doc, None: deleted
    in_flight: tuple[str, str | None, dict[str, Any]] | None = (
        None  # (kind, id, body) sent but not acknowledged
    )
    failures: list[str] = field(default_factory=list)
    acks: int = 0


def body_for(writer: str, serial: int) -> dict[str, Any]:
    return {
        "name": f"w{writer}-{serial}",
        "description": f"write {serial} of writer {writer}",
        "provider_configs": [{"provider": "openai", "weight": 1, "allowed_models": []}] * (serial % 3),
        "budget": {"max_limit": serial + 1, "reset_duration": "1d"},
    }


def matches(doc: dict[str, Any], body: dict[str, Any]) -> bool:
    """Whether ``doc`` is the whole result of writing ``body`` (every field the body set, not some)."""
    return (
        doc["name"] == body["name"]
        and doc.get("description") == body["description"]
        and len(doc["provider_configs"]) == len(body["provider_configs"])
        and doc["budget"]["max_limit"] == body["budget"]["max_limit"]
    )


def write_burst(server: LiveServer, writer: Writer, stop: threading.Event) -> None:
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
    serial = 0
    try:
        while not stop.is_set():
            serial += 1
            alive = [vk_id for vk_id, doc in writer.acked.items() if doc is not None]
            if serial % 4 == 0 and alive:
                vk_id = alive[serial % len(alive)]
                kind, path, body = "delete", f"{BASE}/{vk_id}", None
            elif serial % 2 == 0 and alive:
                vk_id = alive[-1]
                kind, path, body = "update", f"{BASE}/{vk_id}", body_for(writer.number, serial)
            else:
                vk_id = None
                kind, path, body = "create", BASE, body_for(writer.number, serial)
            writer.in_flight = (kind, vk_id, body or {})
            try:
                conn.request(
                    "DELETE" if kind == "delete" else "PUT" if kind == "update" else "POST",
                    path,
                    body=json.dumps(body).encode() if body else None,
                    headers=JSON_HEADERS if body else AUTH,
                )
                response = conn.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException):
                return  # the server is gone: this write stays in flight
            if response.status != 200:
                writer.failures.append(f"{kind}: {response.status} {raw[:200]!r}")
                return
            doc = json.loads(raw).get("virtual_key")
            writer.acked[doc["id"] if doc else str(vk_id)] = doc
            writer.in_flight = None
            writer.acks += 1
    finally:
        conn.close()


def stored(server: LiveServer) -> dict[str, Any]:
    parts = urlsplit(server.url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
    try:
        bodies = []
        for query in ("", "?from_memory=true"):
            conn.request("GET", BASE + query, headers=AUTH)
            response = conn.getresponse()
            assert response.status == 200
            bodies.append(json.loads(response.read()))
    finally:
        conn.close()
    assert bodies[0] == bodies[1], "the memory view differs from the database after a restart"
    check_world(bodies[0])
    world: dict[str, Any] = bodies[0]
    return world


def verify(
    writers: list[Writer], before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
) -> None:
    accounted = set(before)
    for vk_id, seeded in before.items():
        assert after.get(vk_id) == seeded, f"a key nobody wrote changed: {vk_id}"
    for writer in writers:
        kind, target, body = writer.in_flight or ("", None, {})
        for vk_id, doc in writer.acked.items():
            accounted.add(vk_id)
            now = after.get(vk_id)
            if vk_id == target and kind == "update":
                assert now == doc or (now is not None and matches(now, body)), f"{vk_id}: {now}"
            elif vk_id == target and kind == "delete":
                assert now in (doc, None), f"{vk_id}: half deleted: {now}"
            else:
                assert now == doc, f"acknowledged write to {vk_id} lost: stored {now}, acknowledged {doc}"
        if kind == "create":
            created = [vk for vk in after.values() if vk["name"] == body["name"]]
            assert len(created) <= 1
            if created:
                assert matches(created[0], body), f"half-created key: {created[0]}"
                accounted.add(created[0]["id"])
    assert set(after) <= accounted, f"keys nobody wrote: {set(after) - accounted}"


def integrity(path: Path) -> str:
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()


def test_sigkill_mid_burst_keeps_every_acknowledged_write(serve: Any, tmp_path: Path) -> None:
    db = tmp_path / "world.sqlite3"
    expected: dict[str, dict[str, Any]] | None = None
    for round_number, round_args in enumerate(((), ("--workers", "2"))):
        server = serve("--db", str(db), "--count", "5", *round_args)
        before = {vk["id"]: vk for vk in stored(server)["virtual_keys"]}
        if expected is not None:
            assert before == expected, "the restart did not keep the world of the previous round"
        writers = [Writer(f"{round_number}.{n}") for n in range(WRITERS)]
        stop = threading.Event()
        threads = [threading.Thread(target=write_burst, args=(server, w, stop)) for w in writers]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + BURST_TIMEOUT
        while sum(w.acks for w in writers) < ACKS_BEFORE_KILL and time.monotonic() < deadline:
            time.sleep(0.01)
        assert all(thread.is_alive() for thread in threads), [f for w in writers for f in w.failures]
        server.stop(signal.SIGKILL)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert server.process.returncode == -signal.SIGKILL
        assert [f for w in writers for f in w.failures] == []
        assert sum(w.acks for w in writers) >= ACKS_BEFORE_KILL
        assert integrity(db) == "ok"

        again = serve("--db", str(db))
        after = {vk["id"]: vk for vk in stored(again)["virtual_keys"]}
        verify(writers, before, after)
        assert integrity(db) == "ok"
        # the restarted server takes writes again
        parts = urlsplit(again.url)
        conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=10)
        try:
            conn.request(
                "POST", BASE, body=json.dumps({"name": "after-the-crash"}).encode(), headers=JSON_HEADERS
            )
            response = conn.getresponse()
            created = json.loads(response.read())
            assert response.status == 200
            conn.request("DELETE", f"{BASE}/{created['virtual_key']['id']}", headers=AUTH)
            response = conn.getresponse()
            response.read()
            assert response.status == 200
        finally:
            conn.close()
        expected = {vk["id"]: vk for vk in stored(again)["virtual_keys"]}
        assert again.stop() == 0
