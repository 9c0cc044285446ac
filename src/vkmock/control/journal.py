"""The request journal: the last ``--journal-size`` requests, newest first, with secrets redacted.

Every request except vkmock's own ``/_vkmock/`` routes is recorded after it is answered: method, path, query,
status, time taken, request headers and the first 4 KiB of the request body, the preferences applied and the
fault injected. Redacted: the credentials of ``Authorization`` (the scheme is kept), ``Cookie``, the admin
token and API-key headers; ``token``-like query parameters; in bodies, every virtual-key value (``sk-bf-...``)
and JSON fields that hold secrets (``value``, ``password``, ``token``, ``*_secret``...). Each worker process
keeps its own journal. ``--journal-size 0`` turns it off.

Recording is on every request's path, so it only copies the raw facts (``Raw``); they are redacted and shaped
when the journal is read (``GET /_vkmock/requests``), which is rare. Every stored field is bounded: the path,
the query string and each header value to ``FIELD_LIMIT`` (1 KiB), the headers together to ``HEADERS_LIMIT``
(8 KiB), the body to ``BODY_LIMIT`` (4 KiB), so the journal's memory is bounded by its size times
``ENTRY_LIMIT`` whatever the requests carry.
"""

from __future__ import annotations

import collections
import fnmatch
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from flask import Flask, Response, request
from werkzeug.datastructures import EnvironHeaders

from vkmock.clock import format_ts
from vkmock.control import prefer
from vkmock.errors import BadRequest

BODY_LIMIT = 4096
FIELD_LIMIT = 1024  # the path, the query string and each header value, as stored
HEADERS_LIMIT = 8192  # every header name and value of one entry, together
ENTRY_LIMIT = BODY_LIMIT + 2 * FIELD_LIMIT + HEADERS_LIMIT  # bytes of request data one entry may hold
HEADER_KEYS = ("CONTENT_TYPE", "CONTENT_LENGTH")
STARTED = "vkmock.started"
INPUT = "vkmock.input"
REDACTED = "[REDACTED]"
SECRET_HEADERS = {
    "cookie",
    "proxy-authorization",
    "x-vkmock-admin-token",
    "x-api-key",
    "x-bf-vk",
    "api-key",
    "x-goog-api-key",
}
SECRET_FIELD = re.compile(
    r"^(value|password|passwd|secret|token|api_key|apikey|access_token|refresh_token|session_token|authorization"
    r"|client_secret|.*_secret|.*_secret_key|.*_password|.*_access_key|.*_session_token|.*_credentials)$",
    re.IGNORECASE,
)
SECRET_QUERY = re.compile(r"^(token|access_token|api_key|apikey|key|password|secret)$", re.IGNORECASE)
VIRTUAL_KEY = re.compile(r"sk-bf-[A-Za-z0-9_-]+", re.IGNORECASE)
FILTERS = ("method", "path", "limit")


def redact_text(text: str) -> str:
    return VIRTUAL_KEY.sub("sk-bf-" + REDACTED, text)


def _redact_json(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: REDACTED
            if SECRET_FIELD.match(str(key)) and isinstance(value, str) and value
            else _redact_json(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_redact_json(item) for item in node]
    return redact_text(node) if isinstance(node, str) else node


def redact_body(data: bytes, truncated: bool) -> str:
    text = data.decode("utf-8", errors="replace")
    if not truncated:
        try:
            return json.dumps(_redact_json(json.loads(text)), ensure_ascii=False, separators=(",", ":"))
        except ValueError:
            pass
    # not JSON (or cut short): mask secret-looking "field": "value" pairs and every virtual key
    text = re.sub(
        r'("([^"\\]*)"\s*:\s*)"(?:[^"\\]|\\.)*(?:"|\\?$)',
        lambda m: m.group(1) + f'"{REDACTED}"' if SECRET_FIELD.match(m.group(2)) else m.group(0),
        text,
    )
    return redact_text(text)


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    clean: dict[str, str] = {}
    for name, value in headers:
        lowered = name.lower()
        if lowered == "authorization":
            scheme = value.strip().partition(" ")[0]
            clean[name] = f"{scheme} {REDACTED}" if scheme and " " in value.strip() else REDACTED
        elif lowered in SECRET_HEADERS:
            clean[name] = REDACTED
        else:
            clean[name] = redact_text(value)
    return clean


def redact_query(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    query: dict[str, list[str]] = {}
    for key, value in pairs:
        query.setdefault(key, []).append(REDACTED if SECRET_QUERY.match(key) else redact_text(value))
    return {key: values[0] if len(values) == 1 else values for key, values in query.items()}


class Tee:
    """Wraps ``wsgi.input`` and keeps a copy of the first ``limit`` bytes the app reads."""

    def __init__(self, stream: Any, limit: int = BODY_LIMIT) -> None:
        self.stream = stream
        self.limit = limit
        self.kept = bytearray()
        self.total = 0

    def _keep(self, data: bytes) -> bytes:
        self.total += len(data)
        room = self.limit - len(self.kept)
        if room > 0:
            self.kept += data[:room]
        return data

    def read(self, *args: Any) -> bytes:
        return self._keep(self.stream.read(*args))

    def readline(self, *args: Any) -> bytes:
        return self._keep(self.stream.readline(*args))

    def readlines(self, *args: Any) -> list[bytes]:
        return [self._keep(line) for line in self.stream.readlines(*args)]

    def __iter__(self) -> Any:
        return (self._keep(line) for line in self.stream)

    def close(self) -> None:
        close = getattr(self.stream, "close", None)
        if close:
            close()


class Raw(NamedTuple):
    """One request as recorded: raw facts, each bounded; ``public()`` redacts and shapes them when read (a
    tuple: recording is on every request's path, and a tuple is the cheapest record Python builds)."""

    when: float  # time.time() when answered
    method: str
    path: str
    query: str  # the raw query string
    status: int
    duration_ms: float
    remote_addr: str
    headers: tuple[tuple[str, str], ...]  # (environ key, value): HTTP_* and CONTENT_TYPE/CONTENT_LENGTH
    body: bytes
    body_bytes: int
    response_bytes: int
    preferences: Mapping[str, str]
    fault: str | None

    @property
    def public_path(self) -> str:
        return redact_text(self.path)

    def public(self, entry_id: int) -> dict[str, Any]:
        pairs = parse_qsl(self.query, keep_blank_values=True) if self.query else []
        return {
            "id": entry_id,
            "time": format_ts(datetime.fromtimestamp(self.when, UTC)),
            "method": self.method,
            "path": self.public_path,
            "query": redact_query(pairs),
            "status": self.status,
            "duration_ms": self.duration_ms,
            "remote_addr": self.remote_addr,
            "headers": redact_headers(EnvironHeaders(dict(self.headers)).items()),
            "body": redact_body(self.body, self.body_bytes > len(self.body)) if self.body else None,
            "body_bytes": self.body_bytes,
            "response_bytes": self.response_bytes,
            "preferences": dict(self.preferences),
            "fault": self.fault,
        }


def _bounded(text: str, limit: int = FIELD_LIMIT) -> str:
    return text if len(text) <= limit else text[:limit]


def _header_items(environ: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The request headers as the environ holds them: ``HTTP_*``, then ``CONTENT_TYPE``/``CONTENT_LENGTH``."""
    kept = [(key, value) for key, value in environ.items() if key[:5] == "HTTP_" and value.__class__ is str]
    for key in HEADER_KEYS:
        value = environ.get(key)
        if value.__class__ is str:
            kept.append((key, value))
    return kept


def _small(kept: list[tuple[str, str]]) -> bool:
    return len("".join(itertools.chain.from_iterable(kept))) <= min(HEADERS_LIMIT, FIELD_LIMIT)


def request_headers(environ: Mapping[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """The request headers (``_header_items``), or ``None`` when together they are over ``FIELD_LIMIT``,
    which ``_headers`` would have to cut."""
    kept = _header_items(environ)
    return tuple(kept) if _small(kept) else None


def _headers(environ: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """The request headers, each value cut to ``FIELD_LIMIT`` and all of them together to ``HEADERS_LIMIT``
    (later headers are dropped)."""
    kept = _header_items(environ)
    if _small(kept):
        return tuple(kept)  # the usual case: small headers, nothing to cut
    bounded: list[tuple[str, str]] = []
    room = HEADERS_LIMIT
    for key, value in kept:
        value = _bounded(value)
        room -= len(key) + len(value)
        if room < 0:
            break
        bounded.append((key, value))
    return tuple(bounded)


class Journal:
    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._entries: collections.deque[tuple[int, Raw]] = collections.deque(
            maxlen=self.size or 1
        )
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry: Raw) -> None:
        """Keep ``entry``, dropping the oldest beyond ``size``."""
        if not self.size:
            return
        with self._lock:
            self._entries.append((next(self._ids), entry))

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count

    def entries(
        self, method: str | None = None, path: str | None = None, limit: int | None = None
    ) -> list[dict]:
        """Newest first. ``method``: one or more, comma-separated; ``path``: a prefix, or a ``*`` glob."""
        methods = {m.strip().upper() for m in method.split(",") if m.strip()} if method else None
        with self._lock:
            snapshot = list(reversed(self._entries))
        found = []
        for entry_id, entry in snapshot:
            if methods and entry.method not in methods:
                continue
            shown = entry.public_path
            if path and not (fnmatch.fnmatchcase(shown, path) if "*" in path else shown.startswith(path)):
                continue
            found.append(entry.public(entry_id))
            if limit is not None and len(found) >= limit:
                break
        return found

    def query(self, args: Any) -> dict[str, Any]:
        """The ``GET /_vkmock/requests`` body for the query ``args``; ``BadRequest`` on unknown filters."""
        unknown = sorted(set(args) - set(FILTERS))
        if unknown:
            raise BadRequest(f"unknown filter(s) {', '.join(unknown)}; filter by {', '.join(FILTERS)}")
        limit = args.get("limit")
        if limit is not None and not (limit.isdigit() and int(limit) > 0):
            raise BadRequest(f"limit must be a positive integer, not {limit!r}")
        found = self.entries(args.get("method"), args.get("path"), int(limit) if limit else None)
        return {"requests": found, "count": len(found), "size": self.size}


def raw(
    environ: dict[str, Any], status: int, response_bytes: int, headers: tuple[tuple[str, str], ...] | None = None
) -> Raw:
    """The record of the request ``environ`` answered with ``status`` and ``response_bytes`` of body;
    ``headers``: its ``request_headers``, when the caller has them already."""
    tee = environ.get(INPUT)
    started = environ.get(STARTED)
    prefs = environ.get(prefer.ENVIRON_KEY)
    path = environ.get("PATH_INFO", "")
    query = environ.get("QUERY_STRING", "")
    if tee.__class__ is Tee:
        body, body_bytes = bytes(tee.kept), tee.total
    else:
        body, body_bytes = b"", 0
    return Raw(
        time.time(),
        environ.get("REQUEST_METHOD", ""),
        path if len(path) <= FIELD_LIMIT else path[:FIELD_LIMIT],
        query if len(query) <= FIELD_LIMIT else query[:FIELD_LIMIT],
        status,
        round((time.perf_counter() - started) * 1000, 3) if started is not None else 0.0,
        environ.get("REMOTE_ADDR") or "",
        headers if headers is not None else _headers(environ),
        body,
        body_bytes,
        response_bytes,
        prefs.given if prefs is not None else {},
        environ.get("vkmock.fault"),
    )


class JournalMiddleware:
    """Notes when a request started and copies the start of its body as the app reads it."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[STARTED] = time.perf_counter()
        if environ.get("wsgi.input") is not None and (
            environ.get("CONTENT_LENGTH") not in (None, "", "0") or "HTTP_TRANSFER_ENCODING" in environ
        ):  # a request with a body: most have none
            environ[INPUT] = environ["wsgi.input"] = Tee(environ["wsgi.input"])
        return self.app(environ, start_response)


def init_app(app: Flask, state: Any) -> None:
    journal = Journal(state.settings.journal_size)
    state.extras["journal"] = journal
    if not journal.size:
        return
    app.wsgi_app = JournalMiddleware(app.wsgi_app)  # type: ignore[method-assign]

    @app.after_request
    def remember(response: Response) -> Response:
        environ = request.environ
        if not environ.get("PATH_INFO", "").startswith("/_vkmock/"):
            journal.record(raw(environ, response.status_code, response.calculate_content_length() or 0))
        return response
