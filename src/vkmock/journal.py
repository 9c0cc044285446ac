"""The request journal: the last ``--journal-size`` requests, newest first, with secrets redacted.

Every request except vkmock's own ``/_vkmock/`` routes is recorded after it is answered: method, path, query,
status, time taken, request headers and the first 4 KiB of the request body, the preferences applied and the
fault injected. Redacted: the credentials of ``Authorization`` (the scheme is kept), ``Cookie``, the admin
token and API-key headers; ``token``-like query parameters; in bodies, every virtual-key value (``sk-bf-...``)
and JSON fields that hold secrets (``value``, ``password``, ``token``, ``*_secret``...). Each worker process
keeps its own journal. ``--journal-size 0`` turns it off.
"""

from __future__ import annotations

import collections
import fnmatch
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, g, request

from vkmock.clock import format_ts, utcnow
from vkmock.errors import BadRequest

BODY_LIMIT = 4096
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
        r'("([^"\\]*)"\s*:\s*)"(?:[^"\\]|\\.)*"',
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


class Journal:
    def __init__(self, size: int) -> None:
        self.size = max(0, size)
        self._entries: collections.deque[dict[str, Any]] = collections.deque(maxlen=self.size or 1)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        if not self.size:
            return
        with self._lock:
            entry["id"] = next(self._ids)
            self._entries.append(entry)

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
        for entry in snapshot:
            if methods and entry["method"] not in methods:
                continue
            if path and not (
                fnmatch.fnmatchcase(entry["path"], path) if "*" in path else entry["path"].startswith(path)
            ):
                continue
            found.append(entry)
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


def _entry(response: Response) -> dict[str, Any]:
    environ = request.environ
    tee = environ.get(INPUT)
    started = environ.get(STARTED, time.perf_counter())
    kept = bytes(tee.kept) if isinstance(tee, Tee) else b""
    total = tee.total if isinstance(tee, Tee) else 0
    prefs = g.get("vkmock_prefs")
    return {
        "id": 0,
        "time": format_ts(utcnow()),
        "method": request.method,
        "path": redact_text(request.path),
        "query": redact_query(request.args.items(multi=True)),
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        "remote_addr": request.remote_addr or "",
        "headers": redact_headers(request.headers.items()),
        "body": redact_body(kept, total > len(kept)) if kept else None,
        "body_bytes": total,
        "response_bytes": response.calculate_content_length() or 0,
        "preferences": dict(prefs.given) if prefs is not None else {},
        "fault": environ.get("vkmock.fault"),
    }


class JournalMiddleware:
    """Notes when a request started and copies the start of its body as the app reads it."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        environ[STARTED] = time.perf_counter()
        if environ.get("wsgi.input") is not None:
            environ[INPUT] = environ["wsgi.input"] = Tee(environ["wsgi.input"])
        return self.app(environ, start_response)


def init_app(app: Flask, state: Any) -> None:
    journal = Journal(state.settings.journal_size)
    state.extras["journal"] = journal
    if journal.size:
        app.wsgi_app = JournalMiddleware(app.wsgi_app)  # type: ignore[method-assign]

    @app.after_request
    def remember(response: Response) -> Response:
        if journal.size and not request.path.startswith("/_vkmock/"):
            journal.record(_entry(response))
        return response
