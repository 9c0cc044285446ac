"""A shared database is asked for its version once per request, whoever asks (``Store.sync`` inside
``store.request_scope``, which ``vkmock.control.runtime.OncePerRequest`` opens around the app).

With ``--db`` a check is a read of the database (or of its change mark); the chaos hook, the live clock (once for
every key of a live list it rebuilds), ``Shared`` values and the store's own reads all ask for it. Inside a
request the first asks the database and the others reuse the answer, unless this process wrote in between;
outside a request each call asks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conftest import AUTH, BASE
from vkmock.app import build_store, create_app
from vkmock.control.runtime import OncePerRequest, Shared
from vkmock.serve.store import Store
from vkmock.settings import Settings


@pytest.fixture
def syncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per time a store asks its database for the version, from now on."""
    calls: list[int] = []
    real = Store._db_version

    def counted(self: Store) -> int:
        calls.append(1)
        return real(self)

    monkeypatch.setattr(Store, "_db_version", counted)
    return calls


def _store(tmp_path: Path) -> Store:
    return build_store(Settings(count=3, db=str(tmp_path / "world.sqlite3")), None)


def test_outside_a_request_every_call_asks_the_store(tmp_path: Path, syncs: list[int]) -> None:
    store = _store(tmp_path)
    syncs.clear()
    for _ in range(3):
        store.sync()
    assert len(syncs) == 3


def test_inside_a_request_the_first_call_asks_and_a_write_of_this_process_asks_again(
    tmp_path: Path, syncs: list[int]
) -> None:
    store = _store(tmp_path)
    shared = Shared(store, "probe", lambda: {"n": 0})
    seen: list[Any] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(store.sync())
        seen.append(shared.get()["n"])  # Shared reads through the same check
        shared.set({"n": 1})  # a write in the request moves the version: the next call asks again
        seen.append(store.sync())
        seen.append(shared.get()["n"])
        start_response("200 OK", [])
        return [b""]

    syncs.clear()
    OncePerRequest(app)({}, lambda *args: None)
    first, before, after, now = seen
    assert (before, now) == (0, 1)
    assert after == first + 1
    assert len(syncs) == 2  # the first check, and the one after the write (set_meta itself asks none)
    syncs.clear()
    store.sync()  # the request is over: back to asking every time
    store.sync()
    assert len(syncs) == 2


def _checks_per_live_list(tmp_path: Path, count: int, syncs: list[int]) -> list[int]:
    """The version checks of a ``from_memory`` list on a ``--live`` world with ``--db``, each rebuilt for a new
    virtual second (every key's counters are recomputed: the live clock is read once per key)."""
    app = create_app(Settings(live=True, flush_interval="0", count=count, db=str(tmp_path / f"w{count}.sqlite3")))
    client = app.test_client()
    assert client.post("/_vkmock/clock", json={"freeze": True}).status_code == 200
    checks = []
    for _ in range(3):
        assert client.post("/_vkmock/clock", json={"advance": "1h"}).status_code == 200
        syncs.clear()
        answer = client.get(BASE + "?from_memory=true", headers=AUTH)
        assert answer.status_code == 200
        assert json.loads(answer.data)["count"] == count
        checks.append(len(syncs))
    return checks


def test_a_rebuilt_live_list_checks_the_database_as_often_for_25_keys_as_for_2(
    tmp_path: Path, syncs: list[int]
) -> None:
    many, few = _checks_per_live_list(tmp_path, 25, syncs), _checks_per_live_list(tmp_path, 2, syncs)
    assert many == few  # once for the hooks, the clock and the store's own reads, whatever the number of keys
    assert max(many) <= 1
