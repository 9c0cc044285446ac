"""The PostgreSQL backend of the store (``--db postgresql://USER:PASS@HOST:PORT/DB``): many replicas, one world.

The store's logic is the same for both engines (``vkmock.serve.store.Store``); this module holds what differs:

- **Writes serialize** as SQLite's ``BEGIN IMMEDIATE`` makes them: each write transaction first takes one
  transaction-level advisory lock, so versions are handed out, and committed, one after the other by every
  replica, and the change log has no gap a reader could see.
- **Reads notice other replicas' writes** as SQLite workers do: a read asks the database for its version (one
  indexed row, on a pooled connection, without the store's lock) and re-reads only the keys the change log names
  when it moved. A read that starts after a write was acknowledged by any replica sees it.
- **The schema** is created (or given the columns it lacks) at start under the same advisory lock, so replicas
  starting together neither race on ``CREATE`` nor seed the world twice: the first seeds it, the others wait
  for its transaction and find it seeded.
- **Faults**: a database that is down, restarting or too slow answers ``ServiceUnavailable`` (503 in the Bifrost
  envelope) within bounded timeouts; the pool and the writer's connection reconnect by themselves.

Columns that hold ids and names use the ``"C"`` collation: the database view orders keys by byte, as SQLite and
the memory view do, whatever the cluster's locale. PostgreSQL's text cannot hold U+0000, which SQLite and the API
accept in a name: every string goes in through an order-preserving escape (``to_db``) and comes back unescaped.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from vkmock.errors import ServiceUnavailable
from vkmock.serve.store import redacted_url

try:
    import psycopg
    import psycopg_pool
    from psycopg.adapt import AdaptersMap
    from psycopg.types.string import StrDumperUnknown, TextLoader
except ImportError as exc:  # pragma: no cover - the extra is part of the test install
    raise ValueError(
        "--db postgresql://... needs the PostgreSQL driver: pip install 'vkmock[postgres]'"
    ) from exc

# one number for the whole world: every write of every replica takes it (pg_advisory_xact_lock)
WRITE_LOCK = 0x766B6D6F636B  # "vkmock"
BEGIN_WRITE = f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
CONNECT_TIMEOUT = 3  # seconds to open a connection
POOL_TIMEOUT = 3.0  # seconds a read waits for a pooled connection
DOWN_POOL_TIMEOUT = 0.5  # ... while the database was found down a moment ago (503s come quickly)
DOWN_MEMORY = 5.0  # seconds a failure is remembered for that
STATEMENT_TIMEOUT_MS = 10_000  # no statement (nor a wait for the write lock) runs longer
START_TIMEOUT = 20.0  # seconds a starting replica waits for the database to answer
POOL_SIZE = 16
OPTIONS = (
    f"-c statement_timeout={STATEMENT_TIMEOUT_MS} -c lock_timeout={STATEMENT_TIMEOUT_MS}"
    f" -c idle_in_transaction_session_timeout={3 * STATEMENT_TIMEOUT_MS} -c timezone=UTC"
)
SCHEMA = (
    'CREATE TABLE IF NOT EXISTS meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL)',
    """CREATE TABLE IF NOT EXISTS virtual_keys (
        id TEXT COLLATE "C" PRIMARY KEY,
        name TEXT COLLATE "C" NOT NULL,
        created_us BIGINT NOT NULL,
        doc TEXT NOT NULL,
        is_active INTEGER NOT NULL DEFAULT 1,
        team_id TEXT COLLATE "C",
        customer_id TEXT COLLATE "C",
        spent DOUBLE PRECISION NOT NULL DEFAULT 0
    )""",
    'CREATE TABLE IF NOT EXISTS teams (id TEXT COLLATE "C" PRIMARY KEY, name TEXT COLLATE "C" NOT NULL,'
    " created_us BIGINT NOT NULL, doc TEXT NOT NULL)",
    'CREATE TABLE IF NOT EXISTS customers (id TEXT COLLATE "C" PRIMARY KEY, name TEXT COLLATE "C" NOT NULL,'
    " created_us BIGINT NOT NULL, doc TEXT NOT NULL)",
    # a database made by an older vkmock gains the index columns (filled by the next reset or write)
    "ALTER TABLE virtual_keys ADD COLUMN IF NOT EXISTS is_active INTEGER NOT NULL DEFAULT 1",
    'ALTER TABLE virtual_keys ADD COLUMN IF NOT EXISTS team_id TEXT COLLATE "C"',
    'ALTER TABLE virtual_keys ADD COLUMN IF NOT EXISTS customer_id TEXT COLLATE "C"',
    "ALTER TABLE virtual_keys ADD COLUMN IF NOT EXISTS spent DOUBLE PRECISION NOT NULL DEFAULT 0",
    "CREATE UNIQUE INDEX IF NOT EXISTS virtual_keys_name ON virtual_keys(name)",
    "CREATE INDEX IF NOT EXISTS virtual_keys_order ON virtual_keys(created_us, id)",
    "CREATE TABLE IF NOT EXISTS changes (version BIGINT PRIMARY KEY, vk_id TEXT NOT NULL)",
)
# U+0000 and U+0001 become two-character codes that start with U+0001 (and sort as they did): a prefix code
# that keeps equality and byte order, so unique names and ``ORDER BY id`` mean what they mean in SQLite
_CODES = re.compile("\x01([\x01\x02])")


def to_db(text: str) -> str:
    if "\x00" in text or "\x01" in text:
        return text.replace("\x01", "\x01\x02").replace("\x00", "\x01\x01")
    return text


def from_db(text: str) -> str:
    if "\x01" in text:
        return _CODES.sub(lambda found: "\x00" if found.group(1) == "\x01" else "\x01", text)
    return text


class _Dumper(StrDumperUnknown):
    def dump(self, obj: str) -> Any:
        return super().dump(to_db(obj))


class _Loader(TextLoader):
    def load(self, data: Any) -> Any:
        text = super().load(data)
        return from_db(text) if isinstance(text, str) else text


ADAPTERS = AdaptersMap(psycopg.adapters)
ADAPTERS.register_dumper(str, _Dumper)
ADAPTERS.register_loader("text", _Loader)
DOWN = (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed)


# the pool logs every failed attempt while the database is down; ``Reachability`` says it once, and once back
logging.getLogger("psycopg.pool").setLevel(logging.ERROR)


class Reachability:
    """Whether the database answered last time: one line on stderr when it stops, one when it is back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.down_at: float | None = None
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> ServiceUnavailable:
        """The 503 a request gets while the database is unreachable (the driver's first line says why)."""
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        with self._lock:
            first, self.down_at = self.down_at is None, time.monotonic()
        if first:
            print(f"vkmock: database {redacted_url(self.url)} unavailable: {reason}",
                  file=sys.stderr, flush=True)
        return ServiceUnavailable(f"database unavailable: {reason}")

    def answered(self) -> None:
        if self.down_at is not None:
            with self._lock:
                was, self.down_at = self.down_at, None
            if was is not None:
                print(f"vkmock: database {redacted_url(self.url)} reachable again", file=sys.stderr, flush=True)

    def pool_timeout(self) -> float:
        down_at = self.down_at
        recent = down_at is not None and time.monotonic() - down_at < DOWN_MEMORY
        return DOWN_POOL_TIMEOUT if recent else POOL_TIMEOUT


def _sql(text: str, cache: dict[str, str] = {}) -> str:  # noqa: B006 - a deliberate, process-wide memo
    """The store's SQL (``?`` placeholders, as SQLite takes them) in psycopg's ``%s`` style."""
    found = cache.get(text)
    if found is None:
        found = cache[text] = text.replace("?", "%s")
    return found


class PgConnection:
    """The store's one writing connection (used under the store's lock), shaped like ``sqlite3.Connection``.

    Outside a transaction a connection found dead is replaced and the statement tried once more; inside one the
    failure is a 503 (and the transaction is gone with the connection)."""

    def __init__(self, url: str, reachability: Reachability) -> None:
        self.url = url
        self.reachability = reachability
        self._conn: psycopg.Connection[Any] | None = None
        self.in_transaction = False

    def _connection(self) -> psycopg.Connection[Any]:
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            if conn is not None:
                conn.close()
            self._conn = conn = psycopg.connect(
                self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT, options=OPTIONS, context=ADAPTERS
            )
        return conn

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        for attempt in (0, 1):
            try:
                conn = self._connection()
                cursor = conn.execute(_sql(sql), parameters or None)
            except DOWN as exc:
                # a connection the server closed (a restart) is found dead on its first use: open another and
                # send the statement again, unless it belonged to a transaction (gone with the connection)
                alive = self._conn is not None and not (self._conn.closed or self._conn.broken)
                if self.in_transaction or attempt or sql == "COMMIT" or alive:
                    raise self.reachability.failed(exc) from exc
                continue
            self.reachability.answered()
            return cursor
        raise AssertionError("unreachable")

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Any:
        try:
            with self._connection().cursor() as cursor:
                cursor.executemany(_sql(sql), list(parameters))
        except DOWN as exc:
            raise self.reachability.failed(exc) from exc

    def rollback(self) -> None:
        """Roll back whatever is open; a connection that is gone has nothing to roll back."""
        self.in_transaction = False
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return
        with contextlib.suppress(*DOWN):
            conn.execute("ROLLBACK")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PgBackend:
    """PostgreSQL behind the store: an advisory lock serializes writes, a pool serves the version reads."""

    shared = True
    integrity_errors: tuple[type[BaseException], ...] = (psycopg.IntegrityError,)

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: psycopg_pool.ConnectionPool[Any] | None = None
        self._pool_lock = threading.Lock()
        self.reachability = Reachability(url)

    def connect(self) -> PgConnection:
        return PgConnection(self.url, self.reachability)

    def pool(self) -> psycopg_pool.ConnectionPool[Any]:
        pool = self._pool
        if pool is None:
            with self._pool_lock:
                if self._pool is None:
                    self._pool = psycopg_pool.ConnectionPool(
                        self.url,
                        min_size=1,
                        max_size=POOL_SIZE,
                        kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT, "options": OPTIONS,
                                "context": ADAPTERS},
                        timeout=POOL_TIMEOUT,
                        reconnect_timeout=0,  # while the database is down keep trying (reads answer 503 meanwhile)
                        name="vkmock",
                        open=False,
                    )
                    self._pool.open(wait=False)
                pool = self._pool
        return pool

    def prepare(self, db: Any) -> None:
        """Create or complete the schema, waiting (bounded) for a database that is still starting."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                db.execute(BEGIN_WRITE)
                db.in_transaction = True
                try:
                    for statement in SCHEMA:
                        db.execute(statement)
                finally:
                    db.in_transaction = False
                db.execute("COMMIT")
                return
            except ServiceUnavailable as exc:
                db.rollback()
                if time.monotonic() > deadline:
                    raise ValueError(f"cannot reach the database {redacted_url(self.url)}: {exc.message}") from None
                time.sleep(0.5)

    def begin(self, db: Any) -> None:
        # one round trip; a dead connection found here is replaced and the whole statement sent again
        try:
            db.execute(BEGIN_WRITE)
        except BaseException:
            self.rollback(db)
            raise
        db.in_transaction = True

    def commit(self, db: Any) -> None:
        db.in_transaction = False
        db.execute("COMMIT")

    def rollback(self, db: Any) -> None:
        db.rollback()

    def db_version(self) -> int:
        for attempt in (0, 1):
            try:
                with self.pool().connection(timeout=self.reachability.pool_timeout()) as conn:
                    row = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            except DOWN as exc:
                if attempt or isinstance(exc, psycopg_pool.PoolTimeout):
                    raise self.reachability.failed(exc) from exc
                self.pool().check()  # idle connections the server closed (a restart) go; then one more try
                continue
            self.reachability.answered()
            return int(row[0]) if row else 0
        raise AssertionError("unreachable")

    def integrity_check(self, db: Any) -> str:
        row = db.execute(
            "SELECT bool_and(indisvalid) FROM pg_index WHERE indrelid = 'virtual_keys'::regclass"
        ).fetchone()
        return "ok" if row and row[0] else "invalid index on virtual_keys"

    def close(self) -> None:
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close(timeout=2.0)
                self._pool = None
