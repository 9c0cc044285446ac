"""The world's state in SQLite: CRUD, reset, load and dump. No Flask, no HTTP, no spec.

Each virtual key is one row; its ``doc`` column holds the key exactly as it is served (Go-style JSON), so a
read never re-serialises and a write rewrites only the key it changes. Names are unique by a database index.
Every write runs in one ``BEGIN IMMEDIATE`` transaction that also bumps ``meta.version`` and logs the changed id
in ``changes``: a failing write leaves nothing behind, and other worker processes on the same file catch up by
re-reading only the keys that changed since their last look.

Two views, as upstream has: the database view (``from_memory`` absent) reads rows, the memory view
(``from_memory=true``) reads this process's in-memory copy, which is brought in step after every write. The
list body of each view is built once per version and reused until the next write.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from vkmock.clock import ts_micros
from vkmock.errors import Conflict, NotFound
from vkmock.jsonio import go_dumps_str
from vkmock.serve.world import CREDENTIAL_FIELDS, IDS_PER_RECORD, REDACTED_ENV, Catalogue, World

DUPLICATE_NAME = "a record with this name already exists. Please use a different value"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS virtual_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS virtual_keys_name ON virtual_keys(name);
CREATE INDEX IF NOT EXISTS virtual_keys_order ON virtual_keys(created_us, id);
CREATE TABLE IF NOT EXISTS changes (version INTEGER PRIMARY KEY, vk_id TEXT NOT NULL);
"""
CHANGES_KEPT = 5_000
FULL_RELOAD = "*"
EXT_META = "ext:"  # meta rows of run-time modules (live clock, chaos settings), apart from the store's own
REWRITE_FULL_RELOAD = 200  # a bulk rewrite of more keys than this logs one full reload instead of each id


class Overlay(Protocol):
    """Rewrites memory-view docs as they are served (the live clock's counters); see ``Store.set_overlay``."""

    def tick(self) -> Hashable:
        """Changes whenever ``doc`` may answer differently for the same input (part of the list cache key)."""
        ...

    def doc(self, text: str) -> str:
        """The doc to serve for the stored ``text``."""
        ...


def _redacted_key(key: dict[str, Any]) -> dict[str, Any]:
    """A provider key as upstream serves it: ``value`` an empty EnvVar, every credential null."""
    credentials = any(key.get(name) is not None for name in CREDENTIAL_FIELDS)
    if not credentials and key.get("value") in (None, REDACTED_ENV):
        return key
    clean = {**key, "value": dict(REDACTED_ENV)}
    for name in CREDENTIAL_FIELDS:
        if clean.get(name) is not None:
            clean[name] = None
    return clean


def _redacted(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with the secrets of its provider keys blanked (a hand-written fixture may carry some); a
    record without secrets is returned as it is."""
    configs = record.get("provider_configs") or []
    if all(_redacted_key(key) is key for pc in configs for key in pc.get("keys") or []):
        return record
    clean_configs = [{**pc, "keys": [_redacted_key(key) for key in pc.get("keys") or []]} if "keys" in pc else pc
                     for pc in configs]
    return {**record, "provider_configs": clean_configs}


@dataclass
class Ids:
    """Allocates integer ids (provider configs, MCP configs) inside a write transaction."""

    next_provider_config: int
    next_mcp_config: int

    def provider_config(self) -> int:
        self.next_provider_config += 1
        return self.next_provider_config - 1

    def mcp_config(self) -> int:
        self.next_mcp_config += 1
        return self.next_mcp_config - 1


class Store:
    def __init__(self, path: str | None, world: Callable[[], World]) -> None:
        self.path = path
        self.shared = path is not None and path != ":memory:"
        self._world_factory = world
        self._lock = threading.RLock()
        self._db = sqlite3.connect(
            path or ":memory:", check_same_thread=False, isolation_level=None, timeout=30.0
        )
        if self.shared:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(SCHEMA)
        self._version = -1
        self._docs: dict[str, str] = {}  # id -> the key as served (JSON text): the memory view
        self._sort: dict[str, tuple[int, str]] = {}  # id -> its place in list order
        self._order: list[tuple[int, str]] | None = None  # the sort keys in list order, kept in step
        self._list_cache: dict[str, tuple[Hashable, bytes]] = {}
        self._overlay: Overlay | None = None
        self.catalogue = Catalogue()
        self.now = ""

    # ---- life cycle ---------------------------------------------------------------------------------

    def open(self, reset: bool = False) -> Store:
        """Seed the database when it is new (or when ``reset``), then load this process's memory view."""
        with self._lock, self._write() as db:
            empty = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() is None
            if empty or reset:
                self._load_world(db, self._world_factory())
        self.sync(force=True)
        return self

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def reset(self, world: World | None = None) -> None:
        """Put the seeded world (or ``world``) back, in one transaction."""
        with self._lock:
            with self._write() as db:
                self._load_world(db, world or self._world_factory())
            self.sync(force=True)

    def _load_world(self, db: sqlite3.Connection, world: World) -> None:
        db.execute("DELETE FROM virtual_keys")
        rows = []
        for record in world.virtual_keys:
            record = _redacted(record)
            rows.append((record["id"], record["name"], ts_micros(record["created_at"]), go_dumps_str(record)))
        try:
            db.executemany("INSERT INTO virtual_keys (id, name, created_us, doc) VALUES (?, ?, ?, ?)", rows)
        except sqlite3.IntegrityError as exc:
            raise Conflict(f"the world has two keys with the same id or name ({exc})") from exc
        top_pc = max((pc["id"] for vk in world.virtual_keys for pc in vk["provider_configs"]), default=0)
        top_mcp = max((mc["id"] for vk in world.virtual_keys for mc in vk["mcp_configs"]), default=0)
        first_free = len(world.virtual_keys) * IDS_PER_RECORD + 1
        self._set_meta(db, "next_provider_config", max(top_pc + 1, first_free))
        self._set_meta(db, "next_mcp_config", max(top_mcp + 1, first_free))
        catalogue = world.catalogue.to_dict()
        catalogue["provider_keys"] = {
            provider: [_redacted_key(key) for key in keys] for provider, keys in catalogue["provider_keys"].items()
        }
        self._set_meta(db, "catalogue", json.dumps(catalogue))
        self._set_meta(db, "now", world.now)
        self._bump(db, FULL_RELOAD)

    # ---- transactions -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")

    @staticmethod
    def _set_meta(db: sqlite3.Connection, key: str, value: Any) -> None:
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, str(value)))

    @staticmethod
    def _meta(db: sqlite3.Connection, key: str, default: str | None = None) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _bump(self, db: sqlite3.Connection, vk_id: str) -> int:
        row = db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'version' RETURNING value")
        found = row.fetchone()
        if found is None:  # a new database
            self._set_meta(db, "version", 1)
            version = 1
        else:
            version = int(found[0])
        db.execute("INSERT OR REPLACE INTO changes (version, vk_id) VALUES (?, ?)", (version, vk_id))
        if version % 500 == 0:
            db.execute("DELETE FROM changes WHERE version <= ?", (version - CHANGES_KEPT,))
        return version

    def _ids(self, db: sqlite3.Connection) -> Ids:
        found = dict(
            db.execute("SELECT key, value FROM meta WHERE key IN ('next_provider_config', 'next_mcp_config')")
        )
        return Ids(int(found.get("next_provider_config") or 1), int(found.get("next_mcp_config") or 1))

    def _save_ids(self, db: sqlite3.Connection, ids: Ids, before: tuple[int, int]) -> None:
        """Keep the id counters ``ids`` moved on from ``before`` (a key without configs moves none)."""
        if ids.next_provider_config != before[0]:
            self._set_meta(db, "next_provider_config", ids.next_provider_config)
        if ids.next_mcp_config != before[1]:
            self._set_meta(db, "next_mcp_config", ids.next_mcp_config)

    # ---- keeping the memory view in step ---------------------------------------------------------------

    @property
    def version(self) -> int:
        return self._version

    def sync(self, force: bool = False) -> int:
        """Bring this process's memory view up to the database's version; returns that version."""
        with self._lock:
            if not force and not self.shared and self._version >= 0:
                return self._version
            row = self._db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            version = int(row[0]) if row else 0
            if version == self._version and not force:
                return version
            changed = [
                r[0]
                for r in self._db.execute(
                    "SELECT vk_id FROM changes WHERE version > ? ORDER BY version", (self._version,)
                )
            ]
            oldest = self._db.execute("SELECT MIN(version) FROM changes").fetchone()[0]
            gap = self._version >= 0 and (oldest is None or oldest > self._version + 1)
            if force or gap or FULL_RELOAD in changed or self._version < 0:
                self._reload_all()
            else:
                for vk_id in dict.fromkeys(changed):
                    self._reload_one(vk_id)
            self._version = version
            return version

    def _reload_all(self) -> None:
        # built aside and swapped in: a reader without the lock (get_doc) sees the old world or the new one
        docs: dict[str, str] = {}
        sort: dict[str, tuple[int, str]] = {}
        for vk_id, created_us, doc in self._db.execute("SELECT id, created_us, doc FROM virtual_keys"):
            docs[vk_id] = doc
            sort[vk_id] = (created_us, vk_id)
        self._order = None
        self._docs, self._sort = docs, sort
        self.catalogue = Catalogue.from_dict(json.loads(self._meta(self._db, "catalogue", "{}") or "{}"))
        self.now = self._meta(self._db, "now", "") or ""

    def _reload_one(self, vk_id: str) -> None:
        row = self._db.execute("SELECT created_us, doc FROM virtual_keys WHERE id = ?", (vk_id,)).fetchone()
        if row:
            self._remember(vk_id, row[0], row[1])
        else:
            self._forget(vk_id)

    def _remember(self, vk_id: str, created_us: int, doc: str) -> None:
        """Put one key into the memory view; the list order is kept in step (no full re-sort)."""
        key = (created_us, vk_id)
        old = self._sort.get(vk_id)
        self._docs[vk_id] = doc
        if old == key:
            return
        self._sort[vk_id] = key
        if self._order is not None:
            if old is not None:
                del self._order[bisect.bisect_left(self._order, old)]
            bisect.insort(self._order, key)

    def _forget(self, vk_id: str) -> None:
        self._docs.pop(vk_id, None)
        old = self._sort.pop(vk_id, None)
        if old is not None and self._order is not None:
            del self._order[bisect.bisect_left(self._order, old)]

    # ---- reads --------------------------------------------------------------------------------------

    def count(self) -> int:
        self.sync()
        return len(self._docs)

    def list_bytes(self, from_memory: bool = False) -> bytes:
        """The list body ``{"virtual_keys": [...], "count": N}`` of one view, built once per version."""
        with self._lock:
            version = self.sync()
            view = "memory" if from_memory else "db"
            overlay = self._overlay if from_memory else None
            stamp: Hashable = (version, overlay.tick()) if overlay else version
            cached = self._list_cache.get(view)
            if cached and cached[0] == stamp:
                return cached[1]
            if from_memory:
                if self._order is None:
                    self._order = sorted(self._sort.values())
                docs = [self._docs[vk_id] for _, vk_id in self._order]
                if overlay:
                    docs = [overlay.doc(doc) for doc in docs]
            else:
                docs = [r[0] for r in self._db.execute("SELECT doc FROM virtual_keys ORDER BY created_us, id")]
            body = ('{"virtual_keys":[' + ",".join(docs) + '],"count":' + str(len(docs)) + "}\n").encode()
            self._list_cache[view] = (stamp, body)
            return body

    def get_doc(self, vk_id: str, from_memory: bool = False) -> str | None:
        """One key as served (JSON text), or ``None``.

        Both views read this process's copy, brought up to the database's version first (``sync``: free for a
        private database, one indexed read of the version for a shared one): the copy holds every row as
        stored, so the database view needs no query; the memory view adds the overlay."""
        if self.shared:
            self.sync()
        doc = self._docs.get(vk_id)
        overlay = self._overlay
        if from_memory and overlay is not None and doc is not None:
            return overlay.doc(doc)
        return doc

    def get(self, vk_id: str) -> dict[str, Any] | None:
        doc = self.get_doc(vk_id)
        return json.loads(doc) if doc is not None else None

    def records(self) -> list[dict[str, Any]]:
        """Every key, in list order (a copy)."""
        return json.loads(self.list_bytes())["virtual_keys"]

    def dump(self) -> dict[str, Any]:
        """The world as a fixture: the list body exactly as served."""
        return json.loads(self.list_bytes())

    # ---- writes -------------------------------------------------------------------------------------

    def create(self, build: Callable[[Ids, Catalogue], dict[str, Any]], *, conflict_status: int = 500) -> str:
        """Insert the key ``build`` returns; returns its JSON text. ``Conflict`` on a duplicate name."""
        with self._lock:  # held until the memory view has the write too
            with self._write() as db:
                ids = self._ids(db)
                before = (ids.next_provider_config, ids.next_mcp_config)
                record = build(ids, self.catalogue)
                doc = go_dumps_str(record)
                created_us = ts_micros(record["created_at"])
                try:
                    db.execute(
                        "INSERT INTO virtual_keys (id, name, created_us, doc) VALUES (?, ?, ?, ?)",
                        (record["id"], record["name"], created_us, doc),
                    )
                except sqlite3.IntegrityError as exc:
                    raise Conflict(DUPLICATE_NAME, upstream_status=conflict_status) from exc
                self._save_ids(db, ids, before)
                version = self._bump(db, record["id"])
            self._after_write(version, record["id"], (created_us, doc))
        return doc

    def update(
        self,
        vk_id: str,
        change: Callable[[dict[str, Any], Ids, Catalogue], dict[str, Any]],
        *,
        conflict_status: int = 400,
        prefix: str = "",
    ) -> str:
        """Replace key ``vk_id`` with ``change(current)``; returns its JSON text. ``NotFound`` when absent."""
        with self._lock:
            with self._write() as db:
                row = db.execute("SELECT created_us, doc FROM virtual_keys WHERE id = ?", (vk_id,)).fetchone()
                if row is None:
                    raise NotFound("Virtual key not found")
                ids = self._ids(db)
                before = (ids.next_provider_config, ids.next_mcp_config)
                record = change(json.loads(row[1]), ids, self.catalogue)
                doc = go_dumps_str(record)
                try:
                    db.execute("UPDATE virtual_keys SET name = ?, doc = ? WHERE id = ?", (record["name"], doc, vk_id))
                except sqlite3.IntegrityError as exc:
                    raise Conflict(prefix + DUPLICATE_NAME, upstream_status=conflict_status) from exc
                self._save_ids(db, ids, before)
                version = self._bump(db, vk_id)
            self._after_write(version, vk_id, (row[0], doc))
        return doc

    def delete(self, vk_id: str) -> None:
        """Hard delete (the key's configs, budgets and limits live in its row and go with it)."""
        with self._lock:
            with self._write() as db:
                if db.execute("DELETE FROM virtual_keys WHERE id = ?", (vk_id,)).rowcount == 0:
                    raise NotFound("Virtual key not found")
                version = self._bump(db, vk_id)
            self._after_write(version, vk_id)

    def _after_write(self, version: int, vk_id: str, written: tuple[int, str] | None = None) -> None:
        """Bring the memory view in step with a write this process just committed (lock held); ``written`` is
        the key's (created_us, doc) as stored, when the write has it at hand."""
        if self._version == version - 1:
            if written is not None:
                self._remember(vk_id, *written)
            elif vk_id:
                self._reload_one(vk_id)
            self._version = version
        else:  # another process wrote in between: catch up through the change log
            self.sync(force=not self.shared)

    # ---- for run-time modules (live clock, chaos settings, hot reload) -----------------------------------

    def set_overlay(self, overlay: Overlay | None) -> None:
        """Serve the memory view (``from_memory=true``) through ``overlay``; ``None`` serves it as stored."""
        with self._lock:
            self._overlay = overlay
            self._list_cache.pop("memory", None)

    def get_meta(self, key: str) -> str | None:
        """A run-time module's value (``set_meta``), read from the database; ``None`` when unset."""
        with self._lock:
            return self._meta(self._db, EXT_META + key)

    def set_meta(self, key: str, value: str) -> int:
        """Keep a run-time module's value and bump the version so that every worker notices; returns it."""
        with self._lock:
            with self._write() as db:
                self._set_meta(db, EXT_META + key, value)
                version = self._bump(db, "")  # no key changed: others re-read nothing but see the version
            self._after_write(version, "")
            return version

    def rewrite(
        self, change: Callable[[dict[str, Any]], dict[str, Any] | None], ids: Iterable[str] | None = None
    ) -> int:
        """Apply ``change`` to every stored key (or to ``ids``) in one write transaction; returns how many
        keys changed.

        ``change`` gets the key as stored and returns the new key, or ``None`` to leave it alone; it must keep
        the id, name and ``created_at``. It runs inside the transaction, so a concurrent write is never lost.
        """
        with self._lock:
            changed: list[str] = []
            with self._write() as db:
                select = "SELECT id, name, created_us, doc FROM virtual_keys"
                if ids is None:
                    rows = db.execute(select).fetchall()
                else:
                    rows = [
                        row for vk_id in dict.fromkeys(ids)
                        for row in db.execute(select + " WHERE id = ?", (vk_id,))
                    ]
                for vk_id, name, created_us, doc in rows:
                    record = change(json.loads(doc))
                    if record is None:
                        continue
                    if (record.get("id"), record.get("name")) != (vk_id, name) or ts_micros(
                        record.get("created_at", "")
                    ) != created_us:
                        raise ValueError(f"rewrite must keep the id, name and created_at of key {vk_id}")
                    new_doc = go_dumps_str(record)
                    if new_doc != doc:
                        db.execute("UPDATE virtual_keys SET doc = ? WHERE id = ?", (new_doc, vk_id))
                        changed.append(vk_id)
                if len(changed) > REWRITE_FULL_RELOAD:
                    versions = [self._bump(db, FULL_RELOAD)]
                else:
                    versions = [self._bump(db, vk_id) for vk_id in changed]
            if not changed:
                return 0
            if len(changed) <= REWRITE_FULL_RELOAD and self._version == versions[0] - 1:
                for vk_id in changed:
                    self._reload_one(vk_id)
                self._version = versions[-1]
            else:
                self.sync(force=True)
            return len(changed)

    def integrity_check(self) -> str:
        with self._lock:
            return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])
