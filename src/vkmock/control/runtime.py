"""Values that scenario control changes while vkmock runs, and the time spans its options are written in.

``Shared`` keeps one small JSON value (the chaos settings, the live clock) in the store's meta table, so that
every worker process of a ``--workers N`` server sees a change made through any of them: a write bumps the
store version, and a reader re-reads the value only when the version has moved. No Flask here.

``OncePerRequest`` (the WSGI middleware around the app) opens ``store.request_scope`` for each request: the
first ``Store.sync`` of a request makes a shared store ask its database (with ``--db``: the change mark, then
perhaps a read of the database) and the later ones, whoever calls them, reuse the answer, unless this process
wrote in between; outside a request every call asks.

``WORLD_KEY`` records what the store was last loaded with (``world_origin``), so that a restart on a ``--db``
file can say what it serves.

``span`` reads the time spans of the options: ``250ms``, ``1.5s``, ``10s``, ``2m``, ``1h``, ``1d``; a bare
number is in ``unit`` (seconds unless the option says otherwise).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

from vkmock.serve.store import Store, request_scope
from vkmock.settings import Settings

WORLD_KEY = "world"

_SPAN = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3_600.0, "d": 86_400.0}


def world_origin(settings: Settings) -> dict[str, Any]:
    """What ``settings`` ask the world to be made of: a fixture, or a seed, a count and an anchor."""
    if settings.fixture:
        return {"fixture": settings.fixture, "bifrost": settings.bifrost}
    return {"seed": settings.seed, "count": settings.count, "now": settings.now, "bifrost": settings.bifrost}


def span(text: str | float | int, unit: str = "s") -> float:
    """Seconds in a time span: ``"250ms"``, ``"10s"``, ``"2m"``, ``"1h"``, ``"1d"``, or a bare number."""
    if isinstance(text, bool):
        raise ValueError(f"not a time span: {text!r}")
    if isinstance(text, int | float):
        return float(text) * _UNITS[unit]
    found = _SPAN.match(text) if isinstance(text, str) else None
    if not found:
        raise ValueError(f"not a time span: {text!r} (write e.g. 250ms, 10s, 2m, 1h or a number of {unit})")
    return float(found.group(1)) * _UNITS[found.group(2) or unit]


class OncePerRequest:
    """WSGI middleware: within one call of the app, each shared store asks its database once
    (``store.request_scope``)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with request_scope():
            return self.app(environ, start_response)


class Shared:
    """One JSON value in the store's meta table, cached per store version."""

    def __init__(self, store: Store, key: str, default: Callable[[], dict[str, Any]]) -> None:
        self.store = store
        self.key = key
        self._default = default
        self._lock = threading.Lock()
        self._seen = -2
        self._value: dict[str, Any] = {}

    # the store is called without holding ``_lock``: the store may call ``get`` while it holds its own lock
    def get(self) -> dict[str, Any]:
        version = self.store.sync()
        if version != self._seen:
            raw = self.store.get_meta(self.key)
            value = json.loads(raw) if raw else self._default()
            with self._lock:
                self._value, self._seen = value, version
        with self._lock:
            return dict(self._value)

    def stored(self) -> dict[str, Any] | None:
        raw = self.store.get_meta(self.key)
        return json.loads(raw) if raw else None

    def set(self, value: dict[str, Any]) -> dict[str, Any]:
        version = self.store.set_meta(self.key, json.dumps(value, sort_keys=True))
        with self._lock:
            self._value, self._seen = dict(value), version
        return dict(value)
