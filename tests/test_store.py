"""State in SQLite and in PostgreSQL, with the same assertions: transactions, the two views, stores and
workers sharing one database, restarts, concurrent writers."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from conftest import AUTH, BASE, request
from vkmock.bifrost.v1_4 import rules
from vkmock.bifrost.v1_4 import world as fakes
from vkmock.clock import utcnow
from vkmock.errors import Conflict, NotFound
from vkmock.serve.store import ChangeMark, Store
from vkmock.settings import DEFAULT_NOW

JSON_HEADERS = {**AUTH, "Content-Type": "application/json"}


ENGINES = ("sqlite", pytest.param("postgresql", marks=pytest.mark.slow))


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def private_db(engine: str, request: pytest.FixtureRequest) -> str | None:
    """Where a store of one process lives: SQLite in memory, or a fresh PostgreSQL database."""
    return None if engine == "sqlite" else str(request.getfixturevalue("pg_url"))


@pytest.fixture
def shared_db(engine: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where several stores or processes share one world: a SQLite file, or a fresh PostgreSQL database."""
    return str(tmp_path / "world.sqlite3") if engine == "sqlite" else str(request.getfixturevalue("pg_url"))


OPENED: list[Store] = []


@pytest.fixture(autouse=True)
def close_stores() -> Any:
    yield
    while OPENED:
        OPENED.pop().close()


def make_store(path: str | None = None, count: int = 5) -> Store:
    world = fakes.generate_world(1, count, DEFAULT_NOW)
    store = Store(path, lambda: world).open()
    OPENED.append(store)
    return store


def create(store: Store, name: str) -> dict[str, Any]:
    return json.loads(store.create(rules.parse_create(json.dumps({"name": name}).encode(), utcnow)))


def test_list_is_cached_per_version_and_rebuilt_after_a_write(private_db: str | None) -> None:
    store = make_store(private_db)
    first = store.list_bytes()
    assert store.list_bytes() is first
    assert store.list_bytes(from_memory=True) == first
    create(store, "fresh")
    second = store.list_bytes()
    assert second is not first and json.loads(second)["count"] == 6
    assert store.list_bytes(from_memory=True) == second


def test_a_failed_write_leaves_nothing_behind(private_db: str | None) -> None:
    store = make_store(private_db)
    before, version = store.list_bytes(), store.version

    def explode(current: dict[str, Any], ids: Any, catalogue: Any) -> dict[str, Any]:
        ids.provider_config()
        raise Conflict("boom")

    vk_id = json.loads(before)["virtual_keys"][0]["id"]
    with pytest.raises(Conflict):
        store.update(vk_id, explode)
    assert store.list_bytes() == before and store.version == version
    with pytest.raises(NotFound):
        store.delete("missing")
    with pytest.raises(Conflict):
        create(store, json.loads(before)["virtual_keys"][1]["name"])
    assert store.list_bytes() == before


def test_reset_puts_the_world_back(private_db: str | None) -> None:
    store = make_store(private_db)
    original = store.list_bytes()
    vk = create(store, "temporary")
    assert store.get_doc(vk["id"], from_memory=True) is not None
    store.reset()
    assert store.list_bytes() == original
    assert store.list_bytes(from_memory=True) == original
    assert store.get_doc(vk["id"], from_memory=True) is None


def test_two_stores_on_one_database_see_each_others_writes(shared_db: str) -> None:
    path = shared_db
    first = make_store(path)
    second = Store(path, lambda: fakes.generate_world(99, 1, DEFAULT_NOW)).open()  # already seeded: kept
    OPENED.append(second)
    assert second.list_bytes() == first.list_bytes()
    vk = create(first, "written-by-first")
    assert json.loads(second.get_doc(vk["id"], from_memory=True) or "null") == vk
    second.delete(vk["id"])
    assert first.get_doc(vk["id"]) is None and first.get_doc(vk["id"], from_memory=True) is None
    assert first.list_bytes() == second.list_bytes()
    assert first.integrity_check() == "ok"


def _reads_of_the_database(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the times ``store`` asks its SQLite database for its version (the change mark's fallback)."""
    backend = store._backend
    asked: list[int] = []
    read = backend._read_version  # type: ignore[attr-defined]

    def counting() -> int:
        version = read()
        asked.append(version)
        return int(version)

    monkeypatch.setattr(backend, "_read_version", counting)
    return asked


def test_a_shared_sqlite_database_is_asked_only_after_a_commit_moves_its_change_mark(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(tmp_path / "world.sqlite3")
    writer, reader = make_store(path), make_store(path)
    assert Path(path + ChangeMark.SUFFIX).is_file()
    asked = _reads_of_the_database(reader, monkeypatch)
    reader.sync()
    for _ in range(50):  # nothing committed: the mark has not moved, the database is not asked
        reader.sync()
    assert len(asked) <= 1
    vk = create(writer, "seen-at-once")
    assert json.loads(reader.get_doc(vk["id"], from_memory=True) or "null") == vk  # read after write, no wait
    assert asked[-1] == writer.version
    writer.delete(vk["id"])
    assert reader.get_doc(vk["id"], from_memory=True) is None


def test_a_commit_that_does_not_move_the_mark_is_seen_after_trust_mark_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer killed between its commit and its bump, or one that is not vkmock: seen, a moment later."""
    import sqlite3

    from vkmock.serve import store as store_module

    monkeypatch.setattr(store_module, "TRUST_MARK_S", 0.2)
    path = str(tmp_path / "world.sqlite3")
    reader = make_store(path)
    reader.sync()
    outsider = sqlite3.connect(path, isolation_level=None)
    vk_id = json.loads(reader.list_bytes())["virtual_keys"][0]["id"]
    outsider.execute("DELETE FROM virtual_keys WHERE id = ?", (vk_id,))
    outsider.execute("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'version'")
    outsider.execute(
        "INSERT INTO changes (version, vk_id) SELECT CAST(value AS INTEGER), ? FROM meta WHERE key = 'version'",
        (vk_id,),
    )
    outsider.close()
    assert reader.get_doc(vk_id, from_memory=True) is not None  # trusted: the mark did not move
    time.sleep(0.3)
    assert reader.get_doc(vk_id, from_memory=True) is None


def test_threads_writing_at_once_keep_every_invariant(private_db: str | None) -> None:
    store = make_store(private_db, count=20)
    errors: list[BaseException] = []
    created: list[str] = []

    def worker(n: int) -> None:
        try:
            for i in range(25):
                vk = create(store, f"thread-{n}-{i}")
                created.append(vk["id"])
                body = json.dumps({"name": f"thread-{n}-{i}-renamed", "provider_configs": [{"provider": "openai"}]})
                store.update(vk["id"], rules.parse_update(body.encode(), utcnow))
                if i % 3 == 0:
                    store.delete(vk["id"])
                json.loads(store.list_bytes(from_memory=i % 2 == 0))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    body = json.loads(store.list_bytes())
    keys = body["virtual_keys"]
    assert body["count"] == len(keys) == 20 + 8 * 25 - 8 * 9
    assert len({vk["id"] for vk in keys}) == len(keys) and len({vk["name"] for vk in keys}) == len(keys)
    config_ids = [pc["id"] for vk in keys for pc in vk["provider_configs"]]
    assert len(config_ids) == len(set(config_ids))
    for vk in keys:
        assert all(pc["virtual_key_id"] == vk["id"] for pc in vk["provider_configs"])
    assert json.loads(store.list_bytes(from_memory=True)) == body


@pytest.mark.slow
def test_workers_share_one_database_and_a_restart_keeps_it(serve: Any, shared_db: str) -> None:
    db = shared_db
    server = serve("--workers", "2", "--db", db, "--count", "4")
    status, _, body = request(server.url + BASE, "POST", json.dumps({"name": "made-by-some-worker"}).encode(),
                              JSON_HEADERS)
    assert status == 200
    vk_id = json.loads(body)["virtual_key"]["id"]
    # every GET lands on one of the two workers; all of them must see the write
    for _ in range(30):
        status, _, body = request(f"{server.url}{BASE}/{vk_id}", headers=AUTH)
        assert status == 200
    assert server.stop() == 0
    again = serve("--db", db)
    status, _, body = request(f"{again.url}{BASE}/{vk_id}", headers=AUTH)
    assert status == 200 and json.loads(body)["virtual_key"]["name"] == "made-by-some-worker"
    status, _, body = request(again.url + BASE, headers=AUTH)
    assert json.loads(body)["count"] == 5
    again.stop()
    fresh = serve("--db", db, "--reset-on-start", "--count", "4")
    status, _, body = request(fresh.url + BASE, headers=AUTH)
    assert json.loads(body)["count"] == 4


def test_names_with_nul_and_control_characters_are_kept_and_unique(private_db: str | None) -> None:
    store = make_store(private_db)
    odd = ["a\x00b", "a\x01b", "a\x00", "a\x01\x02", "a\x01\x01"]
    made = {name: create(store, name) for name in odd}
    for name, vk in made.items():
        assert json.loads(store.get_doc(vk["id"]) or "null")["name"] == name
        with pytest.raises(Conflict):
            create(store, name)
    names = {row.name for row in store.rows()}
    assert set(odd) <= names
    store.sync(force=True)  # read back from the database itself
    assert {row.name for row in store.rows()} == names
    assert store.list_bytes() == store.list_bytes(from_memory=True)
