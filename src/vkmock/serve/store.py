"""The world's state in SQLite: CRUD, reset, load and dump. No Flask, no HTTP, no spec.

Each virtual key is one row; its ``doc`` column holds the key exactly as it is served (Go-style JSON), so a
read never re-serialises and a write rewrites only the key it changes. Names are unique by a database index.
Every write runs in one ``BEGIN IMMEDIATE`` transaction that also bumps ``meta.version`` and logs the changed id
in ``changes``: a failing write leaves nothing behind, and other worker processes on the same file catch up by
re-reading only the keys that changed since their last look.

The database is SQLite (a file, or memory) or PostgreSQL (``postgresql://`` URL, ``vkmock.serve.postgres``):
one ``Store`` holds the logic; a small backend (``SqliteBackend`` here, ``PgBackend`` there) holds what differs by
engine: connections, how a write transaction starts (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's advisory lock,
both serialize every writer), the schema, and which driver errors mean a duplicate or a database that is down.

Two views, as upstream has: the database view (``from_memory`` absent) reads rows, the memory view
(``from_memory=true``) reads this process's in-memory copy, which is brought in step after every write. The
list body of each view is built once per version and reused until the next write.
"""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import fcntl
import json
import mmap
import os
import sqlite3
import struct
import threading
import time
import urllib.parse
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from vkmock.bifrost.base import Ids
from vkmock.bifrost.v1_4.world import CREDENTIAL_FIELDS, IDS_PER_RECORD, REDACTED_ENV, Catalogue
from vkmock.clock import ts_micros
from vkmock.errors import Conflict, NotFound
from vkmock.jsonio import go_dumps_str

DUPLICATE_NAME = "a record with this name already exists. Please use a different value"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS virtual_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_us INTEGER NOT NULL,
    doc TEXT NOT NULL,
    is_active INTEGER NOT NULL DEFAULT 1,
    team_id TEXT,
    customer_id TEXT,
    spent REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS teams (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_us INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, created_us INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS virtual_keys_name ON virtual_keys(name);
CREATE INDEX IF NOT EXISTS virtual_keys_order ON virtual_keys(created_us, id);
CREATE TABLE IF NOT EXISTS changes (version INTEGER PRIMARY KEY, vk_id TEXT NOT NULL);
"""
KINDS = ("team", "customer")  # collections beside the keys (Bifrost 1.5); their change-log ids are "kind:id"
TABLES = {"team": "teams", "customer": "customers"}
VK_COLUMNS = "id, name, created_us, doc, is_active, team_id, customer_id, spent"
CHANGES_KEPT = 5_000
FULL_RELOAD = "*"
EXT_META = "ext:"  # meta rows of run-time modules (live clock, chaos settings), apart from the store's own
REWRITE_FULL_RELOAD = 200  # a bulk rewrite of more keys than this logs one full reload instead of each id
PAGE_CACHE_SIZE = 256  # list pages (1.5 paging, search, sort) kept per store version


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the store asks of a connection (``sqlite3.Connection`` is one; ``vkmock.serve.postgres`` wraps
    psycopg's into one, ``?`` placeholders included)."""

    def execute(self, sql: str, parameters: Any = (), /) -> Any: ...
    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any: ...
    def close(self) -> None: ...


class Backend(Protocol):
    """What differs by engine; see ``SqliteBackend`` and ``vkmock.serve.postgres.PgBackend``."""

    shared: bool  # other processes may write the same database
    integrity_errors: tuple[type[BaseException], ...]  # a duplicate id or name

    def connect(self) -> Connection: ...
    def prepare(self, db: Connection) -> None: ...
    def begin(self, db: Connection) -> None: ...
    def commit(self, db: Connection) -> None: ...
    def rollback(self, db: Connection) -> None: ...
    def db_version(self) -> int: ...
    def integrity_check(self, db: Connection) -> str: ...
    def close(self) -> None: ...


class ChangeMark:
    """A counter in a small file beside a shared SQLite database (``<database>-vkmock``), mapped into the memory
    of every process that opens the database: each commit adds one, under a lock on the file. A reader that
    finds the number it saw before its last look at the database knows nothing was committed since: one memory
    read, where asking the database is a read transaction, whose locks every thread of the process queues for
    (with two gunicorn or granian workers, half of a worker's Python time was spent there)."""

    SUFFIX = "-vkmock"

    def __init__(self, database: str) -> None:
        self.path = database + self.SUFFIX
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if os.fstat(self._fd).st_size < 8:
                os.ftruncate(self._fd, 8)  # only ever grows: another process may be counting in it already
            self._map = mmap.mmap(self._fd, 8)
        except BaseException:
            os.close(self._fd)
            raise

    @classmethod
    def beside(cls, database: str) -> ChangeMark | None:
        """The mark for ``database``, or ``None`` where it cannot be made (then every look asks the database)."""
        try:
            return cls(database)
        except (OSError, ValueError):
            return None

    def read(self) -> int:
        return int(struct.unpack_from("<Q", self._map)[0])

    def bump(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            struct.pack_into("<Q", self._map, 0, (self.read() + 1) & 0xFFFF_FFFF_FFFF_FFFF)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._map.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)


#: Seconds a version learnt from the database is trusted while the change mark stays put; the mark is bumped
#: after each commit, so this bounds only what a writer killed between its commit and its bump (or a writer
#: that is not vkmock) leaves unseen.
TRUST_MARK_S = 1.0


class SqliteBackend:
    """A SQLite file shared by the processes that open it (WAL), or a private database in memory."""

    integrity_errors: tuple[type[BaseException], ...] = (sqlite3.IntegrityError,)

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.shared = path is not None and path != ":memory:"
        self._local = threading.local()  # each reading thread's own connection to a shared database
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._mark = ChangeMark.beside(path) if path is not None and self.shared else None
        self._known: tuple[int, int, float] | None = None  # (mark, version, trusted until) of the last look

    def connect(self) -> Connection:
        db = sqlite3.connect(self.path or ":memory:", check_same_thread=False, isolation_level=None, timeout=30.0)
        if self.shared:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=30000")
        return db

    def prepare(self, db: Connection) -> None:
        self._migrate(db)
        assert isinstance(db, sqlite3.Connection)
        db.executescript(SCHEMA)

    @staticmethod
    def _migrate(db: Connection) -> None:
        """A database written before keys had their index columns gains them (filled from each doc)."""
        columns = {row[1] for row in db.execute("PRAGMA table_info(virtual_keys)")}
        if not columns or "spent" in columns:
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            for ddl in ("is_active INTEGER NOT NULL DEFAULT 1", "team_id TEXT", "customer_id TEXT",
                        "spent REAL NOT NULL DEFAULT 0"):
                db.execute(f"ALTER TABLE virtual_keys ADD COLUMN {ddl}")
            for vk_id, doc in db.execute("SELECT id, doc FROM virtual_keys").fetchall():
                fields = index_fields(json.loads(doc))
                db.execute(
                    "UPDATE virtual_keys SET is_active = ?, team_id = ?, customer_id = ?, spent = ? WHERE id = ?",
                    (*fields, vk_id),
                )
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def begin(self, db: Connection) -> None:
        db.execute("BEGIN IMMEDIATE")

    def commit(self, db: Connection) -> None:
        db.execute("COMMIT")
        if self._mark is not None:
            self._mark.bump()

    def rollback(self, db: Connection) -> None:
        db.execute("ROLLBACK")

    def db_version(self) -> int:
        """The shared database's version: the last one read while the change mark has not moved since (and
        for at most ``TRUST_MARK_S``), else read on this thread's own connection, so no reader waits for the
        store's lock."""
        mark = self._mark
        if mark is not None:
            seen = mark.read()  # before the database is asked: a commit after that look moves the mark
            known = self._known
            if known is not None and known[0] == seen and time.monotonic() < known[2]:
                return known[1]
        version = self._read_version()
        if mark is not None:
            self._known = (seen, version, time.monotonic() + TRUST_MARK_S)
        return version

    def _read_version(self) -> int:
        connection = getattr(self._local, "db", None)
        if connection is None:
            connection = sqlite3.connect(self.path or ":memory:", timeout=30.0, isolation_level=None)
            connection.execute("PRAGMA busy_timeout=30000")
            self._local.db = connection
            with self._readers_lock:
                self._readers.append(connection)
        row = connection.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
        return int(row[0]) if row else 0

    def integrity_check(self, db: Connection) -> str:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])

    def close(self) -> None:
        with self._readers_lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
        if self._mark is not None:
            self._mark.close()
            self._mark = None


def redacted_url(target: str) -> str:
    """``--db`` as messages show it: a PostgreSQL URL without its password; a file name as it is."""
    parts = urllib.parse.urlsplit(target)
    if "://" not in target or parts.password is None:
        return target
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)))


def backend_for(target: str | None) -> Backend:
    """The backend of ``--db``: a ``postgresql://`` (or ``postgres://``) URL, a SQLite file, or memory."""
    if target and target.startswith(("postgresql://", "postgres://")):
        from vkmock.serve.postgres import PgBackend

        return PgBackend(target)
    return SqliteBackend(target)


class WorldLike(Protocol):
    """A world the store can load: 1.4's ``World`` or 1.5's ``World15`` (which adds teams and customers)."""

    @property
    def virtual_keys(self) -> list[dict[str, Any]]: ...
    @property
    def catalogue(self) -> Catalogue: ...
    @property
    def now(self) -> str: ...


class Overlay(Protocol):
    """Rewrites memory-view docs as they are served (the live clock's counters); see ``Store.set_overlay``."""

    def tick(self) -> Hashable:
        """Changes whenever ``doc`` may answer differently for the same input (part of the list cache key)."""
        ...

    def doc(self, text: str) -> str:
        """The doc to serve for the stored ``text``."""
        ...


@dataclass(frozen=True)
class Row:
    """What lists filter and sort keys by, kept beside each key's doc (no JSON parsing on a read)."""

    id: str
    name: str
    created_us: int
    is_active: bool
    team_id: str | None
    customer_id: str | None
    spent: float  # the highest current usage of the key's own budgets (1.5 ``sort_by=budget_spent``)


def index_fields(record: dict[str, Any]) -> tuple[int, str | None, str | None, float]:
    """(is_active, team_id, customer_id, spent) of a key record of either profile."""
    budgets = record.get("budgets")
    if budgets is None:
        budgets = [record["budget"]] if isinstance(record.get("budget"), dict) else []
    spent = max((float(b.get("current_usage") or 0) for b in budgets if isinstance(b, dict)), default=0.0)
    return (1 if record.get("is_active", True) else 0, record.get("team_id"), record.get("customer_id"), spent)


def _vk_row(record: dict[str, Any], doc: str) -> tuple[Any, ...]:
    return (record["id"], record["name"], ts_micros(record["created_at"]), doc, *index_fields(record))


_CREDENTIALS = frozenset(CREDENTIAL_FIELDS)


def _redacted_key(key: dict[str, Any]) -> dict[str, Any]:
    """A provider key as upstream serves it: ``value`` an empty EnvVar, every credential null."""
    present = _CREDENTIALS.intersection(key)  # most keys (all of 1.5's) carry no credential field at all
    credentials = any(key[name] is not None for name in present)
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


#: Inside ``request_scope``: the version each store (by ``id``) was last found at during this request.
_CHECKED: contextvars.ContextVar[dict[int, int] | None] = contextvars.ContextVar("vkmock_checked", default=None)


@contextlib.contextmanager
def request_scope() -> Iterator[None]:
    """Within the block (one request: ``control.runtime.OncePerRequest``), a shared store asks its database
    for the version once, whoever calls ``sync``, unless this process writes in between; outside one, every
    ``sync`` asks."""
    token = _CHECKED.set({})
    try:
        yield
    finally:
        _CHECKED.reset(token)


class Store:
    def __init__(self, path: str | None, world: Callable[[], WorldLike]) -> None:
        self.path = path
        self._backend = backend_for(path)
        self.shared = self._backend.shared
        self._integrity_errors = self._backend.integrity_errors
        self._world_factory = world
        self._lock = threading.RLock()
        try:
            self._db = self._backend.connect()
            self._backend.prepare(self._db)
        except BaseException:
            self._backend.close()
            raise
        self._version = -1
        self._rows: dict[str, Row] = {}  # id -> what lists filter and sort by
        self._others: dict[str, dict[str, tuple[int, str]]] = {kind: {} for kind in KINDS}  # kind -> id -> (us, doc)
        self._docs: dict[str, str] = {}  # id -> the key as served (JSON text): the memory view
        self._sort: dict[str, tuple[int, str]] = {}  # id -> its place in list order
        self._order: list[tuple[int, str]] | None = None  # the sort keys in list order, kept in step
        self._list_cache: dict[str, tuple[Hashable, bytes]] = {}
        self._page_cache: dict[Hashable, tuple[Hashable, Any]] = {}
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
            self._backend.close()
            self._db.close()

    def reset(self, world: WorldLike | None = None) -> None:
        """Put the seeded world (or ``world``) back, in one transaction."""
        with self._lock:
            with self._write() as db:
                self._load_world(db, world or self._world_factory())
            self.sync(force=True)

    def _load_world(self, db: Connection, world: WorldLike) -> None:
        db.execute("DELETE FROM virtual_keys")
        rows = []
        for record in world.virtual_keys:
            record = _redacted(record)
            rows.append(_vk_row(record, go_dumps_str(record)))
        try:
            db.executemany(f"INSERT INTO virtual_keys ({VK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except self._integrity_errors as exc:
            raise Conflict(f"the world has two keys with the same id or name ({exc})") from exc
        for table in TABLES.values():
            db.execute(f"DELETE FROM {table}")
            others = [
                (r["id"], r["name"], ts_micros(r["created_at"]), go_dumps_str(r)) for r in getattr(world, table, [])
            ]
            try:
                db.executemany(f"INSERT INTO {table} (id, name, created_us, doc) VALUES (?, ?, ?, ?)", others)
            except self._integrity_errors as exc:
                raise Conflict(f"the world has two {table} with the same id ({exc})") from exc
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
    def _write(self) -> Iterator[Connection]:
        with self._lock:
            self._backend.begin(self._db)
            try:
                yield self._db
            except BaseException:
                self._backend.rollback(self._db)
                raise
            else:
                self._backend.commit(self._db)

    @staticmethod
    def _set_meta(db: Connection, key: str, value: Any) -> None:
        db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, str(value)),
        )

    @staticmethod
    def _meta(db: Connection, key: str, default: str | None = None) -> str | None:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def _bump(self, db: Connection, vk_id: str) -> int:
        row = db.execute(
            "UPDATE meta SET value = CAST(CAST(value AS BIGINT) + 1 AS TEXT) WHERE key = 'version' RETURNING value"
        )
        found = row.fetchone()
        if found is None:  # a new database
            self._set_meta(db, "version", 1)
            version = 1
        else:
            version = int(found[0])
        db.execute(
            "INSERT INTO changes (version, vk_id) VALUES (?, ?)"
            " ON CONFLICT (version) DO UPDATE SET vk_id = excluded.vk_id",
            (version, vk_id),
        )
        if version % 500 == 0:
            db.execute("DELETE FROM changes WHERE version <= ?", (version - CHANGES_KEPT,))
        return version

    def _ids(self, db: Connection) -> Ids:
        found = dict(
            db.execute("SELECT key, value FROM meta WHERE key IN ('next_provider_config', 'next_mcp_config')")
        )
        return Ids(int(found.get("next_provider_config") or 1), int(found.get("next_mcp_config") or 1))

    def _save_ids(self, db: Connection, ids: Ids, before: tuple[int, int]) -> None:
        """Keep the id counters ``ids`` moved on from ``before`` (a key without configs moves none)."""
        if ids.next_provider_config != before[0]:
            self._set_meta(db, "next_provider_config", ids.next_provider_config)
        if ids.next_mcp_config != before[1]:
            self._set_meta(db, "next_mcp_config", ids.next_mcp_config)

    # ---- keeping the memory view in step ---------------------------------------------------------------

    @property
    def version(self) -> int:
        return self._version

    def _db_version(self) -> int:
        """The shared database's version, asked without the store's lock (the backend's own connection)."""
        return self._backend.db_version()

    def sync(self, force: bool = False) -> int:
        """Bring this process's memory view up to the database's version; returns that version.

        Lock-free when nothing changed: a private database changes only through this process's writes, and a
        shared one is asked for its version on the reading thread's own connection, once per request inside
        ``request_scope`` (again after a write of this process, which moves ``version``)."""
        settled = not force and self._version >= 0
        if settled and not self.shared:
            return self._version
        checked = _CHECKED.get()
        if settled and checked is not None and checked.get(id(self)) == self._version:
            return self._version
        version = self._version if settled and self._db_version() == self._version else self._catch_up(force)
        if checked is not None:
            checked[id(self)] = version
        return version

    def _catch_up(self, force: bool) -> int:
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
        rows: dict[str, Row] = {}
        for vk_id, name, created_us, doc, active, team, customer, spent in self._db.execute(
            f"SELECT {VK_COLUMNS} FROM virtual_keys"
        ):
            docs[vk_id] = doc
            sort[vk_id] = (created_us, vk_id)
            rows[vk_id] = Row(vk_id, name, created_us, bool(active), team, customer, spent)
        others: dict[str, dict[str, tuple[int, str]]] = {}
        for kind, table in TABLES.items():
            others[kind] = {r[0]: (r[1], r[2]) for r in self._db.execute(f"SELECT id, created_us, doc FROM {table}")}
        self._order = None
        self._docs, self._sort, self._rows, self._others = docs, sort, rows, others
        self.catalogue = Catalogue.from_dict(json.loads(self._meta(self._db, "catalogue", "{}") or "{}"))
        self.now = self._meta(self._db, "now", "") or ""

    def _reload_one(self, vk_id: str) -> None:
        kind, _, other_id = vk_id.partition(":")
        if other_id and kind in TABLES:
            found = self._db.execute(
                f"SELECT created_us, doc FROM {TABLES[kind]} WHERE id = ?", (other_id,)
            ).fetchone()
            others = dict(self._others[kind])  # copied and swapped: a reader without the lock sees one or the other
            if found:
                others[other_id] = (found[0], found[1])
            else:
                others.pop(other_id, None)
            self._others[kind] = others
            return
        row = self._db.execute(f"SELECT {VK_COLUMNS} FROM virtual_keys WHERE id = ?", (vk_id,)).fetchone()
        if row:
            self._remember(vk_id, row[2], row[3], Row(row[0], row[1], row[2], bool(row[4]), row[5], row[6], row[7]))
        else:
            self._forget(vk_id)

    def _remember(self, vk_id: str, created_us: int, doc: str, row: Row | None = None) -> None:
        """Put one key into the memory view; the list order is kept in step (no full re-sort)."""
        key = (created_us, vk_id)
        old = self._sort.get(vk_id)
        self._docs[vk_id] = doc
        if row is None:
            record = json.loads(doc)
            row = Row(vk_id, record["name"], created_us, *_bool_first(index_fields(record)))
        self._rows[vk_id] = row
        if old == key:
            return
        self._sort[vk_id] = key
        if self._order is not None:
            if old is not None:
                del self._order[bisect.bisect_left(self._order, old)]
            bisect.insort(self._order, key)

    def _forget(self, vk_id: str) -> None:
        self._docs.pop(vk_id, None)
        self._rows.pop(vk_id, None)
        old = self._sort.pop(vk_id, None)
        if old is not None and self._order is not None:
            del self._order[bisect.bisect_left(self._order, old)]

    # ---- reads --------------------------------------------------------------------------------------

    def count(self) -> int:
        self.sync()
        return len(self._docs)

    def list_bytes(self, from_memory: bool = False) -> bytes:
        """The list body ``{"virtual_keys": [...], "count": N}`` of one view, built once per version; a
        body already built is served without taking the store's lock."""
        view = "memory" if from_memory else "db"
        overlay = self._overlay if from_memory else None
        version = self.sync()
        stamp: Hashable = (version, overlay.tick()) if overlay else version
        cached = self._list_cache.get(view)
        if cached and cached[0] == stamp:
            return cached[1]
        with self._lock:
            version = self.sync()
            stamp = (version, overlay.tick()) if overlay else version
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

    def rows(self) -> list[Row]:
        """Every key's list fields, in the default list order (``created_at``, then id)."""
        with self._lock:
            self.sync()
            if self._order is None:
                self._order = sorted(self._sort.values())
            return [self._rows[vk_id] for _, vk_id in self._order]

    def docs(self, ids: Iterable[str], from_memory: bool = False) -> list[str]:
        """The docs of ``ids`` as served (the memory view through the overlay); unknown ids are skipped."""
        found = [doc for doc in map(self._docs.get, ids) if doc is not None]
        overlay = self._overlay
        if from_memory and overlay is not None:
            return [overlay.doc(doc) for doc in found]
        return found

    def others(self, kind: str) -> list[tuple[str, str]]:
        """``(id, doc)`` of every team or customer, ordered by ``created_at`` then id."""
        if self.shared:
            self.sync()
        items = self._others[kind]
        return [(other_id, doc) for other_id, (_, doc) in sorted(items.items(), key=lambda item: (item[1][0], item[0]))]

    def other(self, kind: str, other_id: str) -> str | None:
        if self.shared:
            self.sync()
        found = self._others[kind].get(other_id)
        return found[1] if found else None

    def cached(self, key: Hashable, build: Callable[[], Any]) -> Any:
        """``build()``, remembered until the next write (list pages and selections; bounded)."""
        version = self.sync()
        stamp = (version, self._overlay.tick() if self._overlay else None)
        found = self._page_cache.get(key)  # read without the lock: a dict look-up is atomic
        if found and found[0] == stamp:
            return found[1]
        body = build()
        with self._lock:
            if len(self._page_cache) >= PAGE_CACHE_SIZE:
                self._page_cache.clear()
            self._page_cache[key] = (stamp, body)
        return body

    def dry_run(self, work: Callable[[Tx], Any]) -> Any:
        """Run ``work(tx)`` as ``transact`` would, then roll everything back: its answer without its effects
        (``Prefer: dynamic=true`` and ``scenario=`` on a write)."""
        with self._lock:
            self._backend.begin(self._db)
            try:
                return work(Tx(self, self._db))
            finally:
                self._backend.rollback(self._db)

    def transact(self, work: Callable[[Tx], Any]) -> Any:
        """Run ``work(tx)`` in one write transaction: every change it makes lands together or not at all."""
        with self._lock:
            with self._write() as db:
                tx = Tx(self, db)
                result = work(tx)
                tx.finish()
                versions = [self._bump(db, change) for change in dict.fromkeys(tx.changed)]
            if versions and self._version == versions[0] - 1:
                for change in dict.fromkeys(tx.changed):
                    self._reload_one(change)
                self._version = versions[-1]
            elif versions:
                self.sync(force=not self.shared)
            return result

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
                        f"INSERT INTO virtual_keys ({VK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        _vk_row(record, doc),
                    )
                except self._integrity_errors as exc:
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
                    db.execute(
                        "UPDATE virtual_keys SET name = ?, doc = ?, is_active = ?, team_id = ?, customer_id = ?,"
                        " spent = ? WHERE id = ?",
                        (record["name"], doc, *index_fields(record), vk_id),
                    )
                except self._integrity_errors as exc:
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
                        db.execute(
                            "UPDATE virtual_keys SET doc = ?, is_active = ?, team_id = ?, customer_id = ?, spent = ?"
                            " WHERE id = ?",
                            (new_doc, *index_fields(record), vk_id),
                        )
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
            return self._backend.integrity_check(self._db)


def _bool_first(fields: tuple[int, str | None, str | None, float]) -> tuple[bool, str | None, str | None, float]:
    return (bool(fields[0]), fields[1], fields[2], fields[3])


class Tx:
    """The records one ``Store.transact`` may read and change, by kind: ``virtual_key``, ``team``, ``customer``.

    Reads see the transaction's own writes. A duplicate key name raises ``Conflict`` (the caller words it)."""

    def __init__(self, store: Store, db: Connection) -> None:
        self._store = store
        self.db = db
        self.changed: list[str] = []
        self.catalogue = store.catalogue
        self.ids = store._ids(db)
        self._ids_before = (self.ids.next_provider_config, self.ids.next_mcp_config)

    @staticmethod
    def _table(kind: str) -> str:
        return "virtual_keys" if kind == "virtual_key" else TABLES[kind]

    def _log(self, kind: str, record_id: str) -> None:
        self.changed.append(record_id if kind == "virtual_key" else f"{kind}:{record_id}")

    def get(self, kind: str, record_id: str) -> dict[str, Any] | None:
        row = self.db.execute(f"SELECT doc FROM {self._table(kind)} WHERE id = ?", (record_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def all(self, kind: str) -> list[dict[str, Any]]:
        table = self._table(kind)
        return [json.loads(r[0]) for r in self.db.execute(f"SELECT doc FROM {table} ORDER BY created_us, id")]

    def keys_of(self, *, team_id: str | None = None, customer_id: str | None = None) -> list[dict[str, Any]]:
        """The keys attached to a team or to a customer (stored order)."""
        column, value = ("team_id", team_id) if team_id is not None else ("customer_id", customer_id)
        query = f"SELECT doc FROM virtual_keys WHERE {column} = ? ORDER BY created_us, id"
        return [json.loads(r[0]) for r in self.db.execute(query, (value,))]

    def name_taken(self, name: str, other_than: str | None = None) -> bool:
        """Whether a key other than ``other_than`` has ``name`` (names of keys are unique)."""
        query = "SELECT 1 FROM virtual_keys WHERE name = ? AND id != ?"
        return self.db.execute(query, (name, other_than or "")).fetchone() is not None

    def key_named(self, name: str) -> str | None:
        """The id of the key called ``name``, if any."""
        row = self.db.execute("SELECT id FROM virtual_keys WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def put(self, kind: str, record: dict[str, Any], *, new: bool) -> str:
        """Insert (``new``) or replace one record; returns its doc."""
        doc = go_dumps_str(record)
        try:
            if kind == "virtual_key":
                if new:
                    self.db.execute(
                        f"INSERT INTO virtual_keys ({VK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        _vk_row(record, doc),
                    )
                else:
                    self.db.execute(
                        "UPDATE virtual_keys SET name = ?, doc = ?, is_active = ?, team_id = ?, customer_id = ?,"
                        " spent = ? WHERE id = ?",
                        (record["name"], doc, *index_fields(record), record["id"]),
                    )
            elif new:
                self.db.execute(
                    f"INSERT INTO {TABLES[kind]} (id, name, created_us, doc) VALUES (?, ?, ?, ?)",
                    (record["id"], record["name"], ts_micros(record["created_at"]), doc),
                )
            else:
                self.db.execute(
                    f"UPDATE {TABLES[kind]} SET name = ?, doc = ? WHERE id = ?", (record["name"], doc, record["id"])
                )
        except self._store._integrity_errors as exc:
            raise Conflict(DUPLICATE_NAME, upstream_status=500) from exc
        self._log(kind, record["id"])
        return doc

    def delete(self, kind: str, record_id: str) -> bool:
        gone = self.db.execute(f"DELETE FROM {self._table(kind)} WHERE id = ?", (record_id,)).rowcount > 0
        if gone:
            self._log(kind, record_id)
        return gone

    def finish(self) -> None:
        self._store._save_ids(self.db, self.ids, self._ids_before)
